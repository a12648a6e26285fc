// The checkpoint document (DESIGN.md "Signed checkpoints"): the chain heads of the users whose
// history changed since the previous checkpoint, each naming its user by subjectRef (a keyed
// reference, ../erasure/subject.ts: the bucket holds nothing computable from a user id without the
// subject key), sorted by it, as the leaves of a Merkle tree (merkle.ts), and the tree head that is
// signed and chained.
//
//   leaf      = sha256(0x00 || canonical({ subjectRef, lastSeq, lastHash }))
//   signed    = canonical(the document without `heads`): the heads are committed by rootHash and
//               treeSize, as Certificate Transparency signs tree heads, so what is signed stays a
//               few hundred bytes whatever the tree holds (KMS signs at most 4096 bytes as RAW)
//   chain     = previousCheckpointHash = sha256hex(signed bytes of the previous checkpoint)
//
// Canonical JSON is RFC 8785 (../canonical.ts); a stored checkpoint is the canonical document and
// its signature (base64 of the DER ECDSA P-256 SHA-256 signature) in one object, so that it is
// written once, whole.
import { createHash, verify as verifySignatureBytes } from 'node:crypto';
import { canonicalJson } from '../canonical';
import { GENESIS_HASH } from '../chain';
import { isSubjectRef } from '../erasure/subject';
import { inclusionProof, leafHash, rootOf } from './merkle';

/** A user's chain head: its newest record's seq and hash, the user named by its subjectRef. */
export interface ChainHead {
  /** hex HMAC-SHA256(subject key, userId): never the user id. */
  subjectRef: string;
  lastSeq: number;
  lastHash: string;
}

export interface Checkpoint {
  /** Its place in the chain, 1, 2, 3 ... as 12 digits: a place is written once. */
  checkpointId: string;
  createdAt: string;
  /**
   * Every user with a record created before this instant has its head in this checkpoint or an
   * earlier one (records written later than the job's lookback after their creation aside). It
   * moves on only with the last checkpoint of a collection; null until the first one completed.
   */
  coveredUntil: string | null;
  /** sha256hex of the previous checkpoint's signed bytes; 64 zeros for the first. */
  previousCheckpointHash: string;
  treeSize: number;
  /** hex of the Merkle root over the heads' leaves. */
  rootHash: string;
  /** Sorted by subjectRef (lowercase hex: code-unit and byte order agree), one per user. */
  heads: ChainHead[];
}

/** What the bucket holds per checkpoint. */
export interface StoredCheckpoint {
  checkpoint: Checkpoint;
  /** DER ECDSA P-256 SHA-256 over signedBytes(checkpoint). */
  signature: Buffer;
}

/** A checkpoint without its heads: what routes answer and logs name. */
export type CheckpointSummary = Omit<Checkpoint, 'heads'> & { hash: string };

export const FIRST_PREVIOUS_HASH = GENESIS_HASH;
const ID_DIGITS = 12;
const HEX64 = /^[0-9a-f]{64}$/;
const ISO_INSTANT = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

/** A checkpoint or its stored form that cannot be read: named, never quoted at length. */
export class CheckpointFormatError extends Error {
  override readonly name = 'CheckpointFormatError';
}

export const checkpointIdOf = (index: number): string => {
  if (!Number.isSafeInteger(index) || index < 1 || index >= 10 ** ID_DIGITS) {
    throw new RangeError(`checkpoint index ${index} is out of range`);
  }
  return String(index).padStart(ID_DIGITS, '0');
};

export const indexOfCheckpoint = (checkpointId: string): number => {
  if (!/^\d{12}$/.test(checkpointId) || /^0+$/.test(checkpointId)) {
    throw new CheckpointFormatError(`"${checkpointId.slice(0, 20)}" is not a checkpoint id.`);
  }
  return Number(checkpointId);
};

const byCodeUnits = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

export const sortHeads = (heads: readonly ChainHead[]): ChainHead[] =>
  [...heads].sort((a, b) => byCodeUnits(a.subjectRef, b.subjectRef));

export const headLeaf = (head: ChainHead): Buffer =>
  leafHash(
    Buffer.from(
      canonicalJson({
        subjectRef: head.subjectRef,
        lastSeq: head.lastSeq,
        lastHash: head.lastHash,
      }),
      'utf8',
    ),
  );

export const rootOfHeads = (heads: readonly ChainHead[]): Buffer => rootOf(heads.map(headLeaf));

/** The bytes the signature covers: the document without its heads, canonical. */
export const signedBytes = (checkpoint: Checkpoint): Buffer => {
  const { heads: _heads, ...head } = checkpoint;
  return Buffer.from(canonicalJson(head), 'utf8');
};

export const checkpointHash = (checkpoint: Checkpoint): string =>
  createHash('sha256').update(signedBytes(checkpoint)).digest('hex');

/** The whole document, canonical: the `checkpoint` member of the stored object. */
export const documentBytes = (checkpoint: Checkpoint): Buffer =>
  Buffer.from(canonicalJson(checkpoint), 'utf8');

export const summaryOf = (checkpoint: Checkpoint): CheckpointSummary => {
  const { heads: _heads, ...rest } = checkpoint;
  return { ...rest, hash: checkpointHash(checkpoint) };
};

/** The next checkpoint after `previous` (none: the first), over `heads` (sorted here). */
export const buildCheckpoint = (input: {
  previous: Checkpoint | null;
  createdAt: string;
  coveredUntil: string | null;
  heads: readonly ChainHead[];
}): Checkpoint => {
  const heads = sortHeads(input.heads);
  for (let i = 0; i < heads.length; i++) {
    // Only a reference goes into the bucket: a user id here would stay there for years.
    if (!isSubjectRef(heads[i]!.subjectRef)) {
      throw new RangeError('a head names its user by subjectRef (64 hex digits)');
    }
    if (i > 0 && heads[i - 1]!.subjectRef === heads[i]!.subjectRef) {
      throw new RangeError('a checkpoint holds one head per user');
    }
  }
  const previous = input.previous;
  return {
    checkpointId: checkpointIdOf(previous ? indexOfCheckpoint(previous.checkpointId) + 1 : 1),
    createdAt: input.createdAt,
    coveredUntil: input.coveredUntil,
    previousCheckpointHash: previous ? checkpointHash(previous) : FIRST_PREVIOUS_HASH,
    treeSize: heads.length,
    rootHash: rootOfHeads(heads).toString('hex'),
    heads,
  };
};

// ---------------------------------------------------------------- reading what was stored

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

const field = <T>(
  value: Record<string, unknown>,
  name: string,
  ok: (v: unknown) => v is T,
  what: string,
): T => {
  const v = value[name];
  if (!ok(v)) throw new CheckpointFormatError(`The checkpoint's ${name} is not ${what}.`);
  return v;
};

const isString = (v: unknown): v is string => typeof v === 'string';
const isHex64 = (v: unknown): v is string => isString(v) && HEX64.test(v);
const isInstant = (v: unknown): v is string => isString(v) && ISO_INSTANT.test(v);
const isCount = (v: unknown): v is number => Number.isSafeInteger(v) && (v as number) >= 0;
const CHECKPOINT_KEYS = new Set([
  'checkpointId',
  'createdAt',
  'coveredUntil',
  'previousCheckpointHash',
  'treeSize',
  'rootHash',
  'heads',
]);

/** A checkpoint from parsed JSON: every field of its type, or CheckpointFormatError. */
export const parseCheckpoint = (value: unknown): Checkpoint => {
  if (!isObject(value)) throw new CheckpointFormatError('The checkpoint is not a JSON object.');
  const unknown = Object.keys(value).filter((k) => !CHECKPOINT_KEYS.has(k));
  if (unknown.length > 0) {
    throw new CheckpointFormatError(`The checkpoint has unknown fields (${unknown.length}).`);
  }
  const checkpointId = field(value, 'checkpointId', isString, 'a checkpoint id');
  indexOfCheckpoint(checkpointId);
  const rawHeads = field(value, 'heads', Array.isArray, 'a list');
  const heads = rawHeads.map((h, i): ChainHead => {
    if (isObject(h) && 'userId' in h) {
      throw new CheckpointFormatError(
        `Head ${i} of the checkpoint names a user id: the format before subject references, ` +
          'which this version does not read (a new chain starts in a bucket or folder of its own).',
      );
    }
    if (
      !isObject(h) ||
      Object.keys(h).length !== 3 ||
      !isSubjectRef(h.subjectRef) ||
      !(isCount(h.lastSeq) && h.lastSeq >= 1) ||
      !isHex64(h.lastHash)
    ) {
      throw new CheckpointFormatError(
        `Head ${i} of the checkpoint is not { subjectRef, lastSeq, lastHash }.`,
      );
    }
    return { subjectRef: h.subjectRef, lastSeq: h.lastSeq, lastHash: h.lastHash };
  });
  const coveredUntil = value.coveredUntil;
  if (coveredUntil !== null && !isInstant(coveredUntil)) {
    throw new CheckpointFormatError("The checkpoint's coveredUntil is not an instant or null.");
  }
  return {
    checkpointId,
    createdAt: field(value, 'createdAt', isInstant, 'an ISO instant'),
    coveredUntil,
    previousCheckpointHash: field(value, 'previousCheckpointHash', isHex64, '64 hex digits'),
    treeSize: field(value, 'treeSize', isCount, 'a count'),
    rootHash: field(value, 'rootHash', isHex64, '64 hex digits'),
    heads,
  };
};

/** The stored object: `{ "checkpoint": <canonical document>, "signature": "<base64 DER>" }`. */
export const encodeStored = (document: Uint8Array, signature: Uint8Array): Buffer =>
  Buffer.concat([
    Buffer.from('{"checkpoint":', 'utf8'),
    document,
    Buffer.from(`,"signature":"${Buffer.from(signature).toString('base64')}"}\n`, 'utf8'),
  ]);

export const decodeStored = (body: Uint8Array | string): StoredCheckpoint => {
  let parsed: unknown;
  try {
    parsed = JSON.parse(typeof body === 'string' ? body : Buffer.from(body).toString('utf8'));
  } catch {
    throw new CheckpointFormatError('The stored checkpoint is not JSON.');
  }
  if (!isObject(parsed) || typeof parsed.signature !== 'string') {
    throw new CheckpointFormatError('The stored checkpoint has no signature.');
  }
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(parsed.signature)) {
    throw new CheckpointFormatError("The stored checkpoint's signature is not base64.");
  }
  return {
    checkpoint: parseCheckpoint(parsed.checkpoint),
    signature: Buffer.from(parsed.signature, 'base64'),
  };
};

// ---------------------------------------------------------------- checking one checkpoint

/** Why a checkpoint does not hold up by itself (the chain is checked in chain.ts of this folder). */
export type CheckpointFault =
  | 'heads_not_sorted'
  | 'tree_size_mismatch'
  | 'root_mismatch'
  | 'signature_invalid';

/** DER ECDSA P-256 SHA-256 over `bytes` by the key `publicKeyPem`. */
export const signatureValid = (
  bytes: Uint8Array,
  signature: Uint8Array,
  publicKeyPem: string,
): boolean => {
  try {
    return verifySignatureBytes(
      'sha256',
      bytes,
      { key: publicKeyPem, dsaEncoding: 'der' },
      signature,
    );
  } catch {
    return false;
  }
};

/** The first fault of a stored checkpoint on its own, or null: heads, tree, signature. */
export const checkpointFault = (
  stored: StoredCheckpoint,
  publicKeyPem: string,
): CheckpointFault | null => {
  const { checkpoint } = stored;
  const heads = checkpoint.heads;
  for (let i = 1; i < heads.length; i++) {
    if (byCodeUnits(heads[i - 1]!.subjectRef, heads[i]!.subjectRef) >= 0) {
      return 'heads_not_sorted';
    }
  }
  if (checkpoint.treeSize !== heads.length) return 'tree_size_mismatch';
  if (rootOfHeads(heads).toString('hex') !== checkpoint.rootHash) return 'root_mismatch';
  if (!signatureValid(signedBytes(checkpoint), stored.signature, publicKeyPem)) {
    return 'signature_invalid';
  }
  return null;
};

/** The head of a subject in a checkpoint and its inclusion proof (hex, nearest sibling first). */
export const headProof = (
  checkpoint: Checkpoint,
  subjectRef: string,
): { index: number; head: ChainHead; proof: string[] } | null => {
  const index = checkpoint.heads.findIndex((h) => h.subjectRef === subjectRef);
  if (index < 0) return null;
  const proof = inclusionProof(index, checkpoint.heads.map(headLeaf)).map((b) => b.toString('hex'));
  return { index, head: checkpoint.heads[index]!, proof };
};
