// The per-user hash chain over the history (DESIGN.md, "Hash chain"). Three versions:
//
//   v1 (no `chain` field):  metadataDigest = sha256hex(canonical(metadata))
//   v2 (`chain: 2`):        metadataDigest = hex(HMAC-SHA256(key = the record's salt, canonical(metadata)))
//   v1, v2:                 hash = sha256hex(prevHash + canonical(record without hash, metadata,
//                                                                  salt, metadataErased))
//   v3 (`chain: 3`):        metadataDigest as v2; subjectDigest = hex(HMAC-SHA256(key = the
//                           record's subjectSalt, canonical({ offerId, reason, userId })));
//                           hash = sha256hex(prevHash + canonical(chainedViewOf(record)))
//
// The digest is chained and the metadata is not, so metadata can be erased later without breaking
// the chain. A v2/v3 record carries a random per-record `salt` (32 bytes, base64url) outside the
// chained part: once metadata and salt are erased, the digest kept in the chain can no longer
// confirm a guessed value (a plain sha256 of `{"reason":"x"}` could). `metadataErased: { at,
// erasureId }` marks such a record; it is outside the chained part too.
// v3 also keeps the user id, the reason's free text and the offer id (which names the user) out of
// the hashed text: they reach it only through the subject digest, keyed by a second salt. A full
// erasure keeps the chained view and drops both salts, so an erased record can be hashed again
// (erasure/verify-erased.ts) while nothing kept confirms a guessed user id. New records are v3;
// v1 and v2 are still verified (local data and tests).
// verifyChain walks a user's records by seq and names the first broken link or gap. It detects edits
// and deletions made outside this service; it cannot stop someone who rewrites the whole table, and
// a deleted or rewritten *newest* record is only visible against the owner item's lastSeq/lastHash
// (verify.ts, the use case behind the verify routes, checks it there).
import { createHash, createHmac, randomBytes } from 'node:crypto';
import { canonicalJson } from './canonical';
import type { HistoryStore } from './ports';
import type {
  DraftRecord,
  HandoverRecord,
  HandoverSource,
  HandoverStatus,
  OfferRef,
  ParleyOutcomeInfo,
} from './types';

export const GENESIS_HASH = '0'.repeat(64);
/** The chain version new records carry. */
export const CHAIN_VERSION = 3;
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
 * Salts derived from seeds, for records that must come out the same from every writer: the n-th
 * draw from the n-th seed (the last one once they run out). A derived salt gives away what its seed
 * does: seed a metadata salt only where the metadata is null, and a subject salt only from a value
 * a full erasure removes (offers/records.ts).
 */
export const saltFrom = (...seeds: [string, ...string[]]): SaltSource => {
  let drawn = 0;
  return {
    next: () => {
      const seed = seeds[Math.min(drawn++, seeds.length - 1)]!;
      return createHash('sha256').update(seed, 'utf8').digest('base64url');
    },
  };
};

/** A well-formed salt's 32 bytes, or null (a salt this service never writes). */
const saltBytes = (salt: unknown): Buffer | null =>
  typeof salt === 'string' && SALT_SHAPE.test(salt) ? Buffer.from(salt, 'base64url') : null;

const SALT_ERROR = 'A salt is 32 bytes written as base64url (43 characters).';

/** The v2/v3 digest: hex HMAC-SHA256 keyed with the salt's 32 bytes over the canonical metadata. */
export function saltedMetadataDigest(
  metadata: Record<string, unknown> | null,
  salt: string,
): string {
  const key = saltBytes(salt);
  if (!key) throw new Error(SALT_ERROR);
  return createHmac('sha256', key).update(canonicalJson(metadata), 'utf8').digest('hex');
}

/** A reason that is a code (`user_requested_human`): chained and kept as is; free text is not. */
export const REASON_CODE = /^[a-z][a-z0-9_.-]{0,63}$/;

/** The record's reason when it is a code, else null (free text, or none). */
export const reasonCodeOf = (reason: string | null): string | null =>
  reason !== null && REASON_CODE.test(reason) ? reason : null;

/** What of a record names its user, or may: bound to a v3 chain only through its salted digest. */
export interface RecordSubject {
  userId: string;
  /** The reason as written, free text included. */
  reason: string | null;
  /** The offer's id, which holds the user id (offers/ids.ts); null without an offer. */
  offerId: string | null;
}

/** The v3 subject digest: hex HMAC-SHA256 keyed with the subject salt's 32 bytes. */
export function subjectDigest(subject: RecordSubject, subjectSalt: string): string {
  const key = saltBytes(subjectSalt);
  if (!key) throw new Error(SALT_ERROR);
  const { userId, reason, offerId } = subject;
  return createHmac('sha256', key)
    .update(canonicalJson({ offerId, reason, userId }), 'utf8')
    .digest('hex');
}

/**
 * A live v3 record's subject digest, or null when its subject salt is gone or malformed (its user
 * id and reason can then not be checked, nor its hash recomputed).
 */
export function subjectDigestOf(
  record: Pick<HandoverRecord, 'userId' | 'reason' | 'offer' | 'subjectSalt'>,
): string | null {
  if (!saltBytes(record.subjectSalt)) return null;
  const subject = {
    userId: record.userId,
    reason: record.reason,
    offerId: record.offer?.offerId ?? null,
  };
  return subjectDigest(subject, record.subjectSalt!);
}

/** An offer as a v3 hash covers it: without its id, which names the user. */
export type ChainedOffer = Omit<OfferRef, 'offerId'>;

/**
 * What a v3 record's hash covers (after its prevHash), and what a full erasure keeps of it: no
 * user id, no free text, no offer id, no salt (erasure/types.ts ErasedRecord).
 */
export interface ChainedView {
  chain: 3;
  handoverId: string;
  seq: number;
  fromOwner: string | null;
  toOwner: string;
  reasonCode: string | null;
  requestedBy: string;
  source: HandoverSource;
  status: HandoverStatus;
  parley: ParleyOutcomeInfo | null;
  createdAt: string;
  kind?: 'offer';
  offer?: ChainedOffer;
  metadataDigest: string;
  subjectDigest: string;
}

/** The chained view of a live v3 record; null when its subject salt is gone or malformed. */
export function chainedViewOf(record: Omit<HandoverRecord, 'hash'>): ChainedView | null {
  const digest = subjectDigestOf(record);
  if (digest === null) return null;
  const offer = record.offer ? chainedOffer(record.offer) : undefined;
  return {
    chain: 3,
    handoverId: record.handoverId,
    seq: record.seq,
    fromOwner: record.fromOwner,
    toOwner: record.toOwner,
    reasonCode: reasonCodeOf(record.reason),
    requestedBy: record.requestedBy,
    source: record.source,
    status: record.status,
    parley: record.parley,
    createdAt: record.createdAt,
    ...(record.kind !== undefined ? { kind: record.kind } : {}),
    ...(offer ? { offer } : {}),
    metadataDigest: record.metadataDigest,
    subjectDigest: digest,
  };
}

const chainedOffer = (offer: OfferRef): ChainedOffer => {
  const { offerId: _named, ...rest } = offer;
  // Written without undefined members: the view is also what the eraser stores.
  return Object.fromEntries(
    Object.entries(rest).filter(([, value]) => value !== undefined),
  ) as ChainedOffer;
};

/** A v3 hash: of the view alone, so an erased record (which keeps the view) is hashed the same. */
export const hashChainedView = (prevHash: string, view: ChainedView): string =>
  sha256Hex(prevHash + canonicalJson(view));

/**
 * The fields a new (v3) draft carries for its metadata and subject: every writer of a draft
 * spreads these in, so both salts (drawn in that order) are fixed with the draft, and a recovery
 * finishing a stored draft builds the same record.
 */
export function sealMetadata(
  metadata: Record<string, unknown> | null,
  salts: SaltSource = randomSalts,
): Pick<DraftRecord, 'chain' | 'salt' | 'subjectSalt' | 'metadata' | 'metadataDigest'> {
  const salt = salts.next();
  const subjectSalt = salts.next();
  if (!saltBytes(subjectSalt)) throw new Error(SALT_ERROR);
  return {
    chain: CHAIN_VERSION,
    salt,
    subjectSalt,
    metadata,
    metadataDigest: saltedMetadataDigest(metadata, salt),
  };
}

export function hashRecord(record: Omit<HandoverRecord, 'hash'>): string {
  if (record.chain === 3) {
    const view = chainedViewOf(record);
    if (!view) throw new Error('A chain 3 record is hashed with its subject salt.');
    return hashChainedView(record.prevHash, view);
  }
  // v1, v2. A full record may be passed too: its `hash` is never part of what it chains, nor are
  // the metadata, its salt and the erasure mark (all may be removed or added later).
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
 * Whether a record's metadata agrees with its chained digest: `ok`, `erased` (v2, v3: metadata and
 * salt gone and the erasure marked; v1: metadata null, which v1 cannot tell from "none"), or
 * `mismatch`.
 */
export function metadataState(record: HandoverRecord): 'ok' | 'erased' | 'mismatch' {
  if (record.chain === undefined) {
    if (record.metadata === null) return record.metadataErased ? 'erased' : 'ok';
    return metadataDigest(record.metadata) === record.metadataDigest ? 'ok' : 'mismatch';
  }
  if (record.chain !== 2 && record.chain !== 3) return 'mismatch';
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
  /** A v3 record whose subject salt is gone or malformed: its user id and reason are unbound. */
  | 'subject_digest_mismatch'
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
    // v3: the user id and reason reach the hash through the subject salt; without it, nothing does.
    if (record.chain === 3 && subjectDigestOf(record) === null) return 'subject_digest_mismatch';
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
