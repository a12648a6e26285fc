// A user's newest checkpoint and what it proves about the user's records: used by verify (the
// route, through the store's user notes), the eraser and the offline verify (from files). A user
// is found by its subjectRef (../erasure/subject.ts), the name its heads and notes carry.
//
// A checkpoint that holds a user's head (seq n, hash h), signed and chained, proves that records
// 1..n of that user were, when it was made, exactly the ones whose chain ends in h: a history
// rewritten below it, even with the owner item rewritten to agree, no longer ends in h.
import type { HandoverRecord } from '../types';
import {
  type ChainHead,
  type Checkpoint,
  type CheckpointFault,
  checkpointFault,
  checkpointHash,
  headProof,
  indexOfCheckpoint,
  type StoredCheckpoint,
} from './document';
import type { CheckpointPorts } from './ports';

/** Why the newest checkpoint of a user cannot be relied on. */
export type CoverageFault = CheckpointFault | 'chain_broken' | 'unreadable';

export type UserCheckpoint =
  | { status: 'none' }
  | { status: 'found'; checkpoint: Checkpoint; head: ChainHead; proof: string[] }
  | { status: 'invalid'; checkpointId: string; head: ChainHead | null; fault: CoverageFault };

/** What verify reports about the checkpoints (the route, the CLI, the offline verify). */
export interface CheckpointCoverage {
  /**
   * `verified`: the records agree with the newest checkpoint holding the user; `none`: no
   * checkpoint holds the user yet; `broken`: they disagree, or that checkpoint does not verify.
   */
  status: 'verified' | 'none' | 'broken';
  checkpointId: string | null;
  createdAt: string | null;
  /** The user's head in that checkpoint. */
  seq: number | null;
  /** Records after that head: written since the checkpoint, not yet checkpointed (no break). */
  notYetCheckpointed: number;
  fault?: CoverageFault;
}

/**
 * How a checkpoint links to the one before it: the next place, the previous one's hash, no step
 * back in time. Null when it does.
 */
export const linkFault = (previous: Checkpoint, next: Checkpoint): 'chain_broken' | null =>
  indexOfCheckpoint(next.checkpointId) === indexOfCheckpoint(previous.checkpointId) + 1 &&
  next.previousCheckpointHash === checkpointHash(previous) &&
  next.createdAt >= previous.createdAt
    ? null
    : 'chain_broken';

/** The subject's head, proof and faults in one stored checkpoint that holds it. */
export const coverageIn = (
  stored: StoredCheckpoint,
  subjectRef: string,
  publicKeyPem: string,
  previous: StoredCheckpoint | null | 'first',
): UserCheckpoint | null => {
  const found = headProof(stored.checkpoint, subjectRef);
  if (!found) return null;
  const checkpointId = stored.checkpoint.checkpointId;
  const fault =
    checkpointFault(stored, publicKeyPem) ??
    (previous === 'first'
      ? null
      : previous === null
        ? 'chain_broken'
        : linkFault(previous.checkpoint, stored.checkpoint));
  return fault
    ? { status: 'invalid', checkpointId, head: found.head, fault }
    : { status: 'found', checkpoint: stored.checkpoint, head: found.head, proof: found.proof };
};

/** Notes of one user read before giving up (stale notes are rare: a run that lost its place). */
const MAX_NOTES = 1000;

/**
 * The newest checkpoint holding the subject (a user, by its subjectRef), from the store's notes,
 * checked: its heads and root, its signature, and its link to the checkpoint before it.
 */
export async function findUserCheckpoint(
  subjectRef: string,
  ports: CheckpointPorts,
): Promise<UserCheckpoint> {
  let cursor: string | undefined;
  let read = 0;
  let newestId: string | null | undefined;
  do {
    const page = await ports.store.listForUser(subjectRef, { limit: 100, cursor });
    for (const checkpointId of page.items) {
      if (++read > MAX_NOTES) return { status: 'none' };
      let found: UserCheckpoint | null;
      try {
        const stored = await ports.store.get(checkpointId);
        if (!stored) {
          // A note past the newest checkpoint is a run that died before storing; one at or
          // below it names a place of the chain, and that checkpoint is gone.
          newestId ??= (await ports.store.latest())?.checkpoint.checkpointId ?? null;
          if (newestId === null || checkpointId > newestId) continue;
          return { status: 'invalid', checkpointId, head: null, fault: 'chain_broken' };
        }
        const index = indexOfCheckpoint(checkpointId);
        const previous =
          index === 1 ? 'first' : await ports.store.get(String(index - 1).padStart(12, '0'));
        found = coverageIn(stored, subjectRef, await ports.signer.publicKeyPem(), previous);
      } catch (err) {
        if ((err as Error).name !== 'CheckpointFormatError') throw err;
        return { status: 'invalid', checkpointId, head: null, fault: 'unreadable' };
      }
      if (found) return found;
    }
    cursor = page.cursor;
  } while (cursor);
  return { status: 'none' };
}

/** The coverage of the user's records (ascending, all of them) by its newest checkpoint. */
export const coverageOf = (
  found: UserCheckpoint,
  recordCount: number,
  atHead: HandoverRecord | null,
): CheckpointCoverage => {
  if (found.status === 'none') {
    return {
      status: 'none',
      checkpointId: null,
      createdAt: null,
      seq: null,
      notYetCheckpointed: recordCount,
    };
  }
  const head = found.head;
  const base = {
    checkpointId: found.status === 'found' ? found.checkpoint.checkpointId : found.checkpointId,
    createdAt: found.status === 'found' ? found.checkpoint.createdAt : null,
    seq: head?.lastSeq ?? null,
    notYetCheckpointed: Math.max(0, recordCount - (head?.lastSeq ?? 0)),
  };
  if (found.status === 'invalid') return { status: 'broken', ...base, fault: found.fault };
  const agrees =
    atHead !== null && atHead.seq === found.head.lastSeq && atHead.hash === found.head.lastHash;
  return { status: agrees ? 'verified' : 'broken', ...base };
};
