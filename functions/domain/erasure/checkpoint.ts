// The signed checkpoints seen from an erasure (checkpoints/ is the checkpoint job's room):
// - while the user id is still known, the eraser notes in the tombstone the newest checkpoint that
//   held the user's head (checkpoints/coverage.ts finds it);
// - afterwards, without the user id, the erased chain is compared with that checkpoint by seq and
//   hash: the checkpoint must verify on its own (signature, heads, tree), hold a head with exactly
//   that seq and hash, and the erased record at that seq must carry that hash. A record hash is
//   sha256 over fields that include the user id, so a head cannot match another user's by chance.
import { findUserCheckpoint } from '../checkpoints/coverage';
import { checkpointFault } from '../checkpoints/document';
import type { CheckpointPorts } from '../checkpoints/ports';
import type { ErasedCheckpointChecker } from './verify-erased';

/** The tombstone's note: the user's newest checkpoint, or null (none, or one that fails). */
export const checkpointOfUser =
  (ports: CheckpointPorts) =>
  async (userId: string): Promise<{ checkpointId: string; seq: number; hash: string } | null> => {
    const found = await findUserCheckpoint(userId, ports);
    return found.status === 'found'
      ? {
          checkpointId: found.checkpoint.checkpointId,
          seq: found.head.lastSeq,
          hash: found.head.lastHash,
        }
      : null;
  };

/** Compares an erased chain with the checkpoint its tombstone names. */
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
    const head = stored.checkpoint.heads.find(
      (h) => h.lastSeq === named.seq && h.lastHash === named.hash,
    );
    if (!head) return { status: 'broken', ...base, fault: 'head_missing' };
    const record = records.find((r) => r.seq === named.seq);
    if (record?.hash !== named.hash) return { status: 'broken', ...base, fault: 'record_mismatch' };
    return { status: 'verified', ...base };
  };
