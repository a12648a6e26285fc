// The per-user hash chain over the history (DESIGN.md, "Hash chain").
//
//   hash = sha256hex(prevHash + canonicalJson(record without `hash` and without `metadata`))
//
// `metadataDigest` (sha256hex of the canonical metadata) is part of the chained fields and the
// metadata itself is not, so metadata can be erased later (set to null) without breaking the chain.
// verifyChain walks a user's records by seq and names the first broken link or gap. It detects edits
// and deletions made outside this service; it cannot stop someone who rewrites the whole table, and
// a deleted or rewritten *newest* record is only visible against the owner item's lastSeq/lastHash
// (verify.ts, the use case behind the verify routes, checks it there).
import { createHash } from 'node:crypto';
import { canonicalJson } from './canonical';
import type { HistoryStore } from './ports';
import type { DraftRecord, HandoverRecord, HandoverStatus, ParleyOutcomeInfo } from './types';

export const GENESIS_HASH = '0'.repeat(64);

export const sha256Hex = (text: string): string =>
  createHash('sha256').update(text, 'utf8').digest('hex');

export function metadataDigest(metadata: Record<string, unknown> | null): string {
  return sha256Hex(canonicalJson(metadata));
}

export function hashRecord(record: Omit<HandoverRecord, 'hash'>): string {
  // A full record may be passed too: its `hash` is never part of what it chains.
  const { metadata: _metadata, hash: _hash, ...chained } = record as HandoverRecord;
  return sha256Hex(record.prevHash + canonicalJson(chained));
}

export function finalizeRecord(
  draft: DraftRecord,
  status: HandoverStatus,
  parley: ParleyOutcomeInfo | null,
): HandoverRecord {
  const unhashed: Omit<HandoverRecord, 'hash'> = { ...draft, status, parley };
  return { ...unhashed, hash: hashRecord(unhashed) };
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

/** `count`: records checked and found sound (all of them when ok, those before the break if not). */
export type ChainReport =
  | { ok: true; count: number; lastHash: string }
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
    // An erased metadata (null) is allowed; a present one must still match its digest.
    if (record.metadata !== null && metadataDigest(record.metadata) !== record.metadataDigest) {
      return 'metadata_digest_mismatch';
    }
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
      : { ok: true, count: this.count, lastHash: this.prevHash };
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
