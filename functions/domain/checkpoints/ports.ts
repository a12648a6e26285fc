// The two ports of the signed checkpoints: who signs (AWS KMS, or a key file locally) and where
// checkpoints are kept (an S3 bucket under Object Lock, or a directory locally). Both stores keep
// the same objects under the same keys (functions/contracts/checkpoints.ts).
import type { Page } from '../types';
import type { StoredCheckpoint } from './document';

export interface Signer {
  /** A DER ECDSA P-256 SHA-256 signature over `bytes` (at most 4096 of them). */
  sign(bytes: Uint8Array): Promise<Uint8Array>;
  /** The verifying key, SPKI PEM. */
  publicKeyPem(): Promise<string>;
}

export interface CheckpointStore {
  /**
   * Writes the checkpoint (its canonical document and signature, one object) unless its id is
   * taken: 'exists' then, and nothing is overwritten.
   */
  put(
    checkpointId: string,
    document: Uint8Array,
    signature: Uint8Array,
  ): Promise<'stored' | 'exists'>;
  /** Null when absent; CheckpointFormatError when the object cannot be read. */
  get(checkpointId: string): Promise<StoredCheckpoint | null>;
  /** Checkpoint ids, newest first. */
  list(options: { limit: number; cursor?: string }): Promise<Page<string>>;
  /** The newest checkpoint, or null before the first. */
  latest(): Promise<StoredCheckpoint | null>;
  /**
   * Notes, written once and before the checkpoint itself, that `checkpointId` holds a head of the
   * user named by `subjectRef` (never a user id): verify finds a user's newest checkpoint from
   * these without reading the others.
   */
  markUser(subjectRef: string, checkpointId: string): Promise<void>;
  /**
   * The ids noted for a subjectRef, newest first. A note may name a checkpoint that is absent or
   * lacks the user (its writer lost the place to another run): readers check.
   */
  listForUser(
    subjectRef: string,
    options: { limit: number; cursor?: string },
  ): Promise<Page<string>>;
}

export interface CheckpointPorts {
  store: CheckpointStore;
  signer: Signer;
}
