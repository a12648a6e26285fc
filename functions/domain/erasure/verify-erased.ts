// Verify of a fully erased chain (`GET /erasures/{erasureId}`): the erased records keep seq,
// prevHash and hash but not the fields their hash covers (the user id, the metadata digest, the
// Parley outcome), so a hash cannot be recomputed; what is checked is what remains provable:
// - links: seqs contiguous from the tombstone's firstSeq, the first one chained to the genesis
//   hash (firstSeq 1), each prevHash the hash of the record before;
// - the tombstone: count, firstSeq, lastSeq and lastHash those of the records;
// - the signed checkpoint the tombstone names (when the user had one): it verifies (signature,
//   tree), it holds a head at that seq with that hash, and the erased record at that seq has it.
//   The checkpoint holds the user's id; the comparison is by seq and hash (checkpoint.ts).
import { GENESIS_HASH } from '../chain';
import type { ErasedRecord, Tombstone } from './types';

export type ErasedChainProblem =
  | 'tombstone_missing'
  | 'seq_gap'
  | 'prev_hash_mismatch'
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
  /** Erased records found linked (all of them when ok). */
  count: number;
  firstBroken?: { seq: number; problem: ErasedChainProblem };
  checkpoint: ErasedCheckpointCheck;
}

/** Compares a tombstone's checkpoint with the erased records (checkpoint.ts), when one is kept. */
export type ErasedCheckpointChecker = (
  tombstone: Tombstone,
  records: ErasedRecord[],
) => Promise<ErasedCheckpointCheck>;

/** The links and the tombstone, then the checkpoint when a checker is given. */
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
      firstBroken: { seq: 0, problem: 'tombstone_missing' },
      checkpoint: none,
    };
  }
  let count = 0;
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
    ...(broken ? { firstBroken: broken } : {}),
    checkpoint,
  };
}
