// The signed checkpoints seen from an erasure (checkpoints/ is the checkpoint job's room). Heads
// and notes name a user by subjectRef, the name a tombstone gives its subject (subject.ts), so:
// - while the user id is still known, the eraser notes in the tombstone the newest checkpoint
//   holding the user's head, found by the user's subjectRef (checkpoints/coverage.ts);
// - afterwards, without the user id, the erased chain is compared with that checkpoint: it must
//   verify on its own (signature, heads, tree), hold a head under the tombstone's subjectRef with
//   exactly the seq and hash the tombstone names, and the erased record at that seq must carry
//   that hash.
import { findUserCheckpoint } from '../checkpoints/coverage';
import { checkpointFault } from '../checkpoints/document';
import type { CheckpointPorts } from '../checkpoints/ports';
import { type SubjectKeySource, subjectRefOf } from './subject';
import type { ErasedCheckpointChecker } from './verify-erased';

/**
 * The tombstone's note: the newest checkpoint holding the user, by its subjectRef under `key`, or
 * null (none, or one that fails).
 */
export const checkpointOfUser =
  (ports: CheckpointPorts, key: SubjectKeySource) =>
  async (userId: string): Promise<{ checkpointId: string; seq: number; hash: string } | null> => {
    const found = await findUserCheckpoint(subjectRefOf(await key.key(), userId), ports);
    return found.status === 'found'
      ? {
          checkpointId: found.checkpoint.checkpointId,
          seq: found.head.lastSeq,
          hash: found.head.lastHash,
        }
      : null;
  };

/** Compares an erased chain with the checkpoint its tombstone names (no key needed). */
export const erasedCheckpointChecker =
  (ports: CheckpointPorts): ErasedCheckpointChecker =>
  async (tombstone, records) => {
    const named = tombstone.checkpoint!;
    const base = { checkpointId: named.checkpointId, seq: named.seq };
    let stored: Awaited<ReturnType<CheckpointPorts['store']['get']>>;
    try {
      stored = await ports.store.get(named.checkpointId);
    } catch (err) {
      if ((err as Error).name !== 'CheckpointFormatError') throw err;
      return { status: 'broken', ...base, fault: 'unreadable' };
    }
    if (!stored) return { status: 'broken', ...base, fault: 'checkpoint_missing' };
    const fault = checkpointFault(stored, await ports.signer.publicKeyPem());
    if (fault) return { status: 'broken', ...base, fault };
    const head = stored.checkpoint.heads.find((h) => h.subjectRef === tombstone.subjectRef);
    if (!head) return { status: 'broken', ...base, fault: 'head_missing' };
    if (head.lastSeq !== named.seq || head.lastHash !== named.hash) {
      return { status: 'broken', ...base, fault: 'head_mismatch' };
    }
    const record = records.find((r) => r.seq === named.seq);
    if (record?.hash !== named.hash) return { status: 'broken', ...base, fault: 'record_mismatch' };
    return { status: 'verified', ...base };
  };
