// Verify of a fully erased chain (`GET /erasures/{erasureId}`). An erased v3 record keeps every
// field its hash covers (chain.ts ChainedView) but no user id, free text, offer id or salt, so:
// - links: seqs contiguous from the tombstone's firstSeq, the first one chained to the genesis
//   hash (firstSeq 1), each prevHash the hash of the record before;
// - hashes: each v3 record's hash computed again from what it keeps (`hash_mismatch`), so a kept
//   field changed afterwards breaks at its own seq. A v1 or v2 record's hash covered the user id
//   and cannot be computed again: it is checked by its links alone (`recomputed` counts the
//   others). Versions never go back along a chain: a record labelled older than one before it is
//   refused, or relabelling a v3 record would spare it the hashing;
// - the tombstone: count, firstSeq, lastSeq and lastHash those of the records;
// - the signed checkpoint the tombstone names (when the user had one): it verifies (signature,
//   tree), it holds a head at that seq with that hash, and the erased record at that seq has it.
//   The comparison is by seq and hash (checkpoint.ts).
import { GENESIS_HASH, hashChainedView } from '../chain';
import type { ErasedRecord, Tombstone } from './types';

export type ErasedChainProblem =
  | 'tombstone_missing'
  | 'seq_gap'
  | 'prev_hash_mismatch'
  /** A v3 record whose kept fields do not hash to its hash, or a record whose version went back. */
  | 'hash_mismatch'
  | 'tombstone_mismatch'
  | 'checkpoint_mismatch';

/** What the comparison with the tombstone's checkpoint found. */
export interface ErasedCheckpointCheck {
  /** `none`: the tombstone names none; `unchecked`: no checkpoint store here. */
  status: 'verified' | 'broken' | 'none' | 'unchecked';
  checkpointId: string | null;
  seq: number | null;
  /** Why it is broken (a checkpoint fault, or `head_missing` / `record_mismatch`). */
  fault?: string;
}

export interface ErasedChainReport {
  erasureId: string;
  ok: boolean;
  /** Erased records found sound (all of them when ok). */
  count: number;
  /** How many of those had their hash computed again (v3); the rest were checked by links. */
  recomputed: number;
  firstBroken?: { seq: number; problem: ErasedChainProblem };
  checkpoint: ErasedCheckpointCheck;
}

/** Compares a tombstone's checkpoint with the erased records (checkpoint.ts), when one is kept. */
export type ErasedCheckpointChecker = (
  tombstone: Tombstone,
  records: ErasedRecord[],
) => Promise<ErasedCheckpointCheck>;

const versionOf = (record: ErasedRecord): number => record.chain ?? 1;

/**
 * An erased v3 record's hash computed from what it keeps; null for a v1 or v2 record, or one that
 * lacks a field its hash covers.
 */
export function erasedHashOf(record: ErasedRecord): string | null {
  const { parley, metadataDigest, subjectDigest } = record;
  if (record.chain !== 3 || parley === undefined) return null;
  if (metadataDigest === undefined || subjectDigest === undefined) return null;
  return hashChainedView(record.prevHash, {
    chain: 3,
    handoverId: record.handoverId,
    seq: record.seq,
    fromOwner: record.fromOwner,
    toOwner: record.toOwner,
    reasonCode: record.reason,
    requestedBy: record.requestedBy,
    source: record.source,
    status: record.status,
    parley,
    createdAt: record.createdAt,
    ...(record.kind !== undefined ? { kind: record.kind } : {}),
    ...(record.offer !== undefined ? { offer: record.offer } : {}),
    metadataDigest,
    subjectDigest,
  });
}

/** The links, hashes and the tombstone, then the checkpoint when a checker is given. */
export async function verifyErasedChain(
  erasureId: string,
  erased: { tombstone: Tombstone | null; records: ErasedRecord[] },
  checker?: ErasedCheckpointChecker,
): Promise<ErasedChainReport> {
  const { tombstone, records } = erased;
  const none: ErasedCheckpointCheck = { status: 'none', checkpointId: null, seq: null };
  if (!tombstone) {
    return {
      erasureId,
      ok: false,
      count: 0,
      recomputed: 0,
      firstBroken: { seq: 0, problem: 'tombstone_missing' },
      checkpoint: none,
    };
  }
  let count = 0;
  let recomputed = 0;
  let newestVersion = 1;
  let broken: ErasedChainReport['firstBroken'];
  let prev = tombstone.firstSeq === 1 ? GENESIS_HASH : (records[0]?.prevHash ?? GENESIS_HASH);
  for (const record of records) {
    const expected = tombstone.firstSeq + count;
    if (record.seq !== expected) {
      broken = { seq: expected, problem: 'seq_gap' };
      break;
    }
    if (record.prevHash !== prev) {
      broken = { seq: record.seq, problem: 'prev_hash_mismatch' };
      break;
    }
    const version = versionOf(record);
    const known = version === 1 || version === 2 || version === 3;
    if (!known || version < newestVersion) {
      broken = { seq: record.seq, problem: 'hash_mismatch' };
      break;
    }
    newestVersion = version;
    if (version === 3) {
      if (erasedHashOf(record) !== record.hash) {
        broken = { seq: record.seq, problem: 'hash_mismatch' };
        break;
      }
      recomputed++;
    }
    prev = record.hash;
    count++;
  }
  const last = records.at(-1);
  if (
    !broken &&
    (count !== tombstone.count ||
      (last?.seq ?? 0) !== tombstone.lastSeq ||
      (last?.hash ?? GENESIS_HASH) !== tombstone.lastHash)
  ) {
    broken = {
      seq: count < tombstone.count ? tombstone.firstSeq + count : tombstone.lastSeq,
      problem: 'tombstone_mismatch',
    };
  }
  const checkpoint = tombstone.checkpoint
    ? checker
      ? await checker(tombstone, records)
      : {
          status: 'unchecked' as const,
          checkpointId: tombstone.checkpoint.checkpointId,
          seq: tombstone.checkpoint.seq,
        }
    : none;
  if (!broken && checkpoint.status === 'broken') {
    broken = { seq: checkpoint.seq ?? tombstone.lastSeq, problem: 'checkpoint_mismatch' };
  }
  return {
    erasureId,
    ok: broken === undefined,
    count,
    recomputed,
    ...(broken ? { firstBroken: broken } : {}),
    checkpoint,
  };
}
