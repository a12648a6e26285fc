// Offline verify: what an external auditor runs with nothing of ours running (docs/AUDIT.md). From
// files only: the public key, the checkpoints (a copy of the bucket) and one user's records.
//
// Input: the key, every stored checkpoint at hand (any order), the user's records (any order), and
// the user's subjectRef when the auditor has it (verify's and the export's answers carry it).
// Output: the report. Steps:
//   1. every checkpoint on its own: heads sorted, tree size, root, signature;
//   2. the checkpoints as a chain: consecutive ids, each naming the previous one's hash, the
//      first of all (id 1) naming 64 zeros; a gap, a fork (two different checkpoints with one id)
//      or a bad link is a break of the evidence;
//   3. the records as a hash chain (chain.ts), from seq 1;
//   4. the user's heads: by its subjectRef when given; else by a head whose (lastSeq, lastHash) is
//      a walked record's, whose subjectRef then names the user (`located: "hash"`: weaker, a
//      history rewritten wholly matches no head and looks never checkpointed);
//   5. the newest checkpoint holding the subjectRef: its head must be a record of the walk, with
//      that hash. Records after it are not yet checkpointed (no break).
// What it cannot see without the owner item: newest records deleted after the newest checkpoint
// that holds the user (the route checks those against the owner item).
import { ChainWalker } from '../chain';
import type { HandoverRecord } from '../types';
import type { BrokenLink } from '../verify';
import {
  type CheckpointCoverage,
  type CoverageFault,
  coverageIn,
  coverageOf,
  linkFault,
} from './coverage';
import {
  checkpointFault,
  checkpointHash,
  FIRST_PREVIOUS_HASH,
  indexOfCheckpoint,
  type StoredCheckpoint,
} from './document';

export interface OfflineInput {
  publicKeyPem: string;
  checkpoints: readonly StoredCheckpoint[];
  records: readonly HandoverRecord[];
  /** The user; by default the records' (all of them must be that user's). */
  userId?: string;
  /** The user's subjectRef (verify's or the export's): finds its heads by name. */
  subjectRef?: string;
}

/** Why a head found by seq and hash proves less than one found by subjectRef (the report says it). */
export const LOCATED_BY_HASH_WARNING =
  "no subjectRef given: the user's head was located by matching a record's seq and hash, so a " +
  'history rewritten as a whole matches no head and reads as not checkpointed instead of broken; ' +
  "give the user's subjectRef (verify's or the export's) for the full check";

export interface OfflineReport {
  userId: string;
  /** The user's name in the checkpoints: given, or read off the head found by hash (else null). */
  subjectRef: string | null;
  /** How the user's heads were found: by the given subjectRef, or by a record's seq and hash. */
  located: 'subjectRef' | 'hash';
  /** With `located: "hash"`: why that is weaker. */
  warning?: string;
  ok: boolean;
  /** Records found sound: all of them when ok; those before firstBroken if not. */
  count: number;
  /** The newest record's seq. */
  lastSeq: number;
  firstBroken?: BrokenLink;
  /** The checkpoints read: how many, their first and newest id, and the first fault. */
  chain: {
    checkpoints: number;
    first: string | null;
    newest: string | null;
    fault?: { checkpointId: string; fault: CoverageFault | 'fork' | 'gap' };
  };
  checkpoint: CheckpointCoverage;
}

type ChainFault = NonNullable<OfflineReport['chain']['fault']>;

/** Steps 1 and 2: the first fault of the set, in id order. */
const chainFaultOf = (
  sorted: readonly StoredCheckpoint[],
  publicKeyPem: string,
): ChainFault | undefined => {
  for (let i = 0; i < sorted.length; i++) {
    const stored = sorted[i]!;
    const checkpointId = stored.checkpoint.checkpointId;
    const own = checkpointFault(stored, publicKeyPem);
    if (own) return { checkpointId, fault: own };
    const previous = sorted[i - 1];
    if (previous === undefined) {
      const first = indexOfCheckpoint(checkpointId) === 1;
      if (first && stored.checkpoint.previousCheckpointHash !== FIRST_PREVIOUS_HASH) {
        return { checkpointId, fault: 'chain_broken' };
      }
      continue;
    }
    const gap =
      indexOfCheckpoint(checkpointId) - indexOfCheckpoint(previous.checkpoint.checkpointId);
    if (gap === 0) {
      // The same id twice: the same checkpoint copied twice is fine, two different ones a fork.
      if (checkpointHash(previous.checkpoint) !== checkpointHash(stored.checkpoint)) {
        return { checkpointId, fault: 'fork' };
      }
      continue;
    }
    if (gap > 1) return { checkpointId, fault: 'gap' };
    const link = linkFault(previous.checkpoint, stored.checkpoint);
    if (link) return { checkpointId, fault: link };
  }
  return undefined;
};

export function verifyOffline(input: OfflineInput): OfflineReport {
  const sorted = [...input.checkpoints].sort(
    (a, b) =>
      indexOfCheckpoint(a.checkpoint.checkpointId) - indexOfCheckpoint(b.checkpoint.checkpointId),
  );
  const chainFault = chainFaultOf(sorted, input.publicKeyPem);

  const records = [...input.records].sort((a, b) => a.seq - b.seq);
  const userId = input.userId ?? records[0]?.userId ?? '';
  const walker = new ChainWalker(userId);
  let walked = 0;
  for (const record of records) {
    if (!walker.add(record)) break;
    walked++;
  }
  const walk = walker.report();
  const sound = records.slice(0, walked);

  // Step 4: the subjectRef, given or read off the newest head that is one of the walked records.
  let subjectRef = input.subjectRef ?? null;
  if (subjectRef === null) {
    const hashAt = new Map(sound.map((r) => [r.seq, r.hash]));
    for (let i = sorted.length - 1; i >= 0 && subjectRef === null; i--) {
      const head = sorted[i]!.checkpoint.heads.find((h) => hashAt.get(h.lastSeq) === h.lastHash);
      subjectRef = head?.subjectRef ?? null;
    }
  }
  // Step 5: newest first; the chain was checked over the whole set, so each is taken as it is.
  let found: ReturnType<typeof coverageIn> = null;
  for (let i = sorted.length - 1; i >= 0 && !found && subjectRef !== null; i--) {
    found = coverageIn(sorted[i]!, subjectRef, input.publicKeyPem, 'first');
  }
  const userCheckpoint = found ?? { status: 'none' as const };
  const headSeq = userCheckpoint.status === 'none' ? null : (userCheckpoint.head?.lastSeq ?? null);
  const atHead = headSeq === null ? null : (sound.find((r) => r.seq === headSeq) ?? null);

  const candidates: BrokenLink[] = [];
  if (!walk.ok) candidates.push(walk.firstBroken);
  if (userCheckpoint.status === 'found') {
    const head = userCheckpoint.head;
    if (walk.count < head.lastSeq) {
      candidates.push({
        seq: walk.count + 1,
        handoverId: null,
        problem: 'checkpoint_record_missing',
      });
    } else if (atHead?.hash !== head.lastHash) {
      candidates.push({
        seq: head.lastSeq,
        handoverId: atHead?.handoverId ?? null,
        problem: 'checkpoint_mismatch',
      });
    }
  }
  if (userCheckpoint.status === 'invalid' || chainFault) {
    candidates.push({ seq: headSeq ?? 1, handoverId: null, problem: 'checkpoint_invalid' });
  }
  const firstBroken = candidates.sort((a, b) => a.seq - b.seq)[0];
  const coverage = coverageOf(userCheckpoint, walk.count, atHead);
  const byHash = input.subjectRef === undefined;
  return {
    userId,
    subjectRef,
    located: byHash ? 'hash' : 'subjectRef',
    ...(byHash ? { warning: LOCATED_BY_HASH_WARNING } : {}),
    ok: firstBroken === undefined,
    count: firstBroken ? firstBroken.seq - 1 : walk.count,
    lastSeq: records.at(-1)?.seq ?? 0,
    ...(firstBroken ? { firstBroken } : {}),
    chain: {
      checkpoints: sorted.length,
      first: sorted[0]?.checkpoint.checkpointId ?? null,
      newest: sorted.at(-1)?.checkpoint.checkpointId ?? null,
      ...(chainFault ? { fault: chainFault } : {}),
    },
    checkpoint:
      chainFault && coverage.status !== 'none'
        ? { ...coverage, status: 'broken', fault: coverage.fault ?? 'chain_broken' }
        : coverage,
  };
}
