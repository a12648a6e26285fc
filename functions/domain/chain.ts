// The per-user hash chain over the history (DESIGN.md, "Hash chain"). Two versions:
//
//   v1 (no `chain` field):  metadataDigest = sha256hex(canonical(metadata))
//   v2 (`chain: 2`):        metadataDigest = hex(HMAC-SHA256(key = the record's salt, canonical(metadata)))
//   both:                   hash = sha256hex(prevHash + canonical(record without hash, metadata,
//                                                                  salt, metadataErased))
//
// The digest is chained and the metadata is not, so metadata can be erased later without breaking
// the chain. A v2 record carries a random per-record `salt` (32 bytes, base64url) outside the
// chained part: once metadata and salt are erased, the digest kept in the chain can no longer
// confirm a guessed value (a plain sha256 of `{"reason":"x"}` could). `metadataErased: { at,
// erasureId }` marks such a record; it is outside the chained part too. New records are v2; v1 is
// still verified (local data and tests).
// verifyChain walks a user's records by seq and names the first broken link or gap. It detects edits
// and deletions made outside this service; it cannot stop someone who rewrites the whole table, and
// a deleted or rewritten *newest* record is only visible against the owner item's lastSeq/lastHash
// (verify.ts, the use case behind the verify routes, checks it there).
import { createHash, createHmac, randomBytes } from 'node:crypto';
import { canonicalJson } from './canonical';
import type { HistoryStore } from './ports';
import type { DraftRecord, HandoverRecord, HandoverStatus, ParleyOutcomeInfo } from './types';

export const GENESIS_HASH = '0'.repeat(64);
/** The chain version new records carry. */
export const CHAIN_VERSION = 2;
export const SALT_BYTES = 32;
const SALT_SHAPE = /^[A-Za-z0-9_-]{43}$/;

export const sha256Hex = (text: string): string =>
  createHash('sha256').update(text, 'utf8').digest('hex');

/** The v1 digest: sha256hex of the canonical metadata (null included). */
export function metadataDigest(metadata: Record<string, unknown> | null): string {
  return sha256Hex(canonicalJson(metadata));
}

/** Where a record's salt comes from: random in production, fixed in tests. */
export interface SaltSource {
  /** 32 bytes, base64url (43 characters). */
  next(): string;
}

export const randomSalts: SaltSource = {
  next: () => randomBytes(SALT_BYTES).toString('base64url'),
};

/**
 * A salt derived from `seed`, for records that must come out the same from every writer and whose
 * metadata is null (nothing for a derivable salt to give away).
 */
export const saltFrom = (seed: string): SaltSource => ({
  next: () => createHash('sha256').update(seed, 'utf8').digest('base64url'),
});

/** A well-formed salt's 32 bytes, or null (a salt this service never writes). */
const saltBytes = (salt: unknown): Buffer | null =>
  typeof salt === 'string' && SALT_SHAPE.test(salt) ? Buffer.from(salt, 'base64url') : null;

/** The v2 digest: hex HMAC-SHA256 keyed with the salt's 32 bytes over the canonical metadata. */
export function saltedMetadataDigest(
  metadata: Record<string, unknown> | null,
  salt: string,
): string {
  const key = saltBytes(salt);
  if (!key) throw new Error('A salt is 32 bytes written as base64url (43 characters).');
  return createHmac('sha256', key).update(canonicalJson(metadata), 'utf8').digest('hex');
}

/**
 * The fields a new (v2) draft carries for its metadata: every writer of a draft spreads these in,
 * so the salt is fixed with the draft (a recovery finishing a stored draft builds the same record).
 */
export function sealMetadata(
  metadata: Record<string, unknown> | null,
  salts: SaltSource = randomSalts,
): Pick<DraftRecord, 'chain' | 'salt' | 'metadata' | 'metadataDigest'> {
  const salt = salts.next();
  return {
    chain: CHAIN_VERSION,
    salt,
    metadata,
    metadataDigest: saltedMetadataDigest(metadata, salt),
  };
}

export function hashRecord(record: Omit<HandoverRecord, 'hash'>): string {
  // A full record may be passed too: its `hash` is never part of what it chains, nor are the
  // metadata, its salt and the erasure mark (all may be removed or added later).
  const {
    metadata: _metadata,
    hash: _hash,
    salt: _salt,
    metadataErased: _erased,
    ...chained
  } = record as HandoverRecord;
  return sha256Hex(record.prevHash + canonicalJson(chained));
}

/** The one way a draft becomes a record: every writer (handover, observed, offer, recovery). */
export function finalizeRecord(
  draft: DraftRecord,
  status: HandoverStatus,
  parley: ParleyOutcomeInfo | null,
): HandoverRecord {
  const unhashed: Omit<HandoverRecord, 'hash'> = { ...draft, status, parley };
  return { ...unhashed, hash: hashRecord(unhashed) };
}

/**
 * Whether a record's metadata agrees with its chained digest: `ok`, `erased` (v2: metadata and salt
 * gone and the erasure marked; v1: metadata null, which v1 cannot tell from "none"), or `mismatch`.
 */
export function metadataState(record: HandoverRecord): 'ok' | 'erased' | 'mismatch' {
  if (record.chain === undefined) {
    if (record.metadata === null) return record.metadataErased ? 'erased' : 'ok';
    return metadataDigest(record.metadata) === record.metadataDigest ? 'ok' : 'mismatch';
  }
  if (record.chain !== CHAIN_VERSION) return 'mismatch';
  if (record.salt === undefined) {
    return record.metadata === null && record.metadataErased ? 'erased' : 'mismatch';
  }
  if (!saltBytes(record.salt)) return 'mismatch';
  return saltedMetadataDigest(record.metadata, record.salt) === record.metadataDigest
    ? 'ok'
    : 'mismatch';
}

export type ChainProblem =
  | 'hash_mismatch'
  | 'prev_hash_mismatch'
  | 'seq_gap'
  | 'metadata_digest_mismatch'
  | 'wrong_user'
  /** The record at the expected head's seq does not carry the expected head's hash. */
  | 'head_mismatch';

/**
 * What the owner item says the newest record is (`lastSeq`/`lastHash`). The chain alone cannot
 * show that its newest records were deleted; against this head it can. Records after the head
 * are allowed: a handover may have written its record before its owner item caught up.
 */
export interface ExpectedHead {
  lastSeq: number;
  lastHash: string;
}

/**
 * `count`: records checked and found sound (all of them when ok, those before the break if not);
 * `erased`: how many of those had their metadata erased (marked so), when any did.
 */
export type ChainReport =
  | { ok: true; count: number; lastHash: string; erased?: number }
  | {
      ok: false;
      count: number;
      /** For a gap, `seq` is the missing one and `handoverId` is null. */
      firstBroken: { seq: number; handoverId: string | null; problem: ChainProblem };
    };

/**
 * Checks records one at a time, in ascending order, remembering only the previous link (so a
 * history of any length is walked in bounded memory, page by page).
 */
export class ChainWalker {
  private count = 0;
  private erased = 0;
  private expectedSeq = 1;
  private prevHash = GENESIS_HASH;
  /** The hash of the record at the expected head's seq, once walked past. */
  private headHash: string | null = null;
  private headHandoverId: string | null = null;
  private broken: Extract<ChainReport, { ok: false }>['firstBroken'] | null = null;

  constructor(
    private readonly userId: string,
    private readonly head?: ExpectedHead,
  ) {}

  /** Records walked so far whose metadata was erased (`metadataErased`). */
  get erasedCount(): number {
    return this.erased;
  }

  /** False once a break was found (further records are not looked at). */
  add(record: HandoverRecord): boolean {
    if (this.broken) return false;
    const problem = this.problemOf(record);
    if (problem) {
      this.broken =
        problem === 'seq_gap'
          ? { seq: this.expectedSeq, handoverId: null, problem }
          : { seq: record.seq, handoverId: record.handoverId, problem };
      return false;
    }
    this.count++;
    if (record.metadataErased) this.erased++;
    this.expectedSeq++;
    this.prevHash = record.hash;
    if (this.head && record.seq === this.head.lastSeq) {
      this.headHash = record.hash;
      this.headHandoverId = record.handoverId;
    }
    return true;
  }

  private problemOf(record: HandoverRecord): ChainProblem | null {
    if (record.userId !== this.userId) return 'wrong_user';
    if (record.seq !== this.expectedSeq) return 'seq_gap';
    if (record.prevHash !== this.prevHash) return 'prev_hash_mismatch';
    if (hashRecord(record) !== record.hash) return 'hash_mismatch';
    // Erased metadata is allowed (reported as erased); a present one must match its digest.
    if (metadataState(record) === 'mismatch') return 'metadata_digest_mismatch';
    return null;
  }

  report(): ChainReport {
    const head = this.head;
    if (!this.broken && head && head.lastSeq > 0) {
      if (this.count < head.lastSeq) {
        // The newest records (up to the head) are gone: name the first missing one.
        this.broken = { seq: this.expectedSeq, handoverId: null, problem: 'seq_gap' };
      } else if (this.headHash !== head.lastHash) {
        this.broken = {
          seq: head.lastSeq,
          handoverId: this.headHandoverId,
          problem: 'head_mismatch',
        };
      }
    }
    return this.broken
      ? { ok: false, count: this.count, firstBroken: this.broken }
      : {
          ok: true,
          count: this.count,
          lastHash: this.prevHash,
          ...(this.erased > 0 ? { erased: this.erased } : {}),
        };
  }
}

/** `head`: the owner item's lastSeq/lastHash, so that deleted newest records are reported too. */
export function verifyChain(
  userId: string,
  recordsAscending: HandoverRecord[],
  head?: ExpectedHead,
): ChainReport {
  const walker = new ChainWalker(userId, head);
  for (const record of recordsAscending) {
    if (!walker.add(record)) break;
  }
  return walker.report();
}

const VERIFY_PAGE_SIZE = 500;

/**
 * Verifies a user's whole history, page by page in ascending order, holding one page at a time.
 * `head`: the owner item's lastSeq/lastHash (see ExpectedHead); without it a deleted newest
 * record cannot be seen.
 */
export async function verifyUserChain(
  userId: string,
  history: HistoryStore,
  head?: ExpectedHead,
): Promise<ChainReport> {
  const walker = new ChainWalker(userId, head);
  let cursor: string | undefined;
  do {
    const page = await history.listUser(userId, { limit: VERIFY_PAGE_SIZE, cursor, order: 'asc' });
    for (const record of page.items) {
      if (!walker.add(record)) return walker.report();
    }
    cursor = page.cursor;
  } while (cursor);
  return walker.report();
}
