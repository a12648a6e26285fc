// How a user is named where its id must not appear: `subjectRef = hex(HMAC-SHA256(subject key,
// UTF-8 of the user id))`. The signed checkpoints name each head and note by it, and a full
// erasure's tombstone names its subject by it, so a tombstone's subjectRef finds the user's heads
// directly. Whoever holds the tables or the checkpoint bucket but not the key cannot tell whose
// they are, nor whether a given user was erased; the functions that hold the key (the checkpoint
// job, verify, the console, the eraser) find a user's heads, notes and tombstones from the id.
import { createHmac } from 'node:crypto';

/** The subject key (a secret of its own; adapters/erasure-key.ts reads it). */
export interface SubjectKeySource {
  key(): Promise<Uint8Array>;
}

const SUBJECT_REF = /^[0-9a-f]{64}$/;

export const subjectRefOf = (key: Uint8Array, userId: string): string =>
  createHmac('sha256', key).update(userId, 'utf8').digest('hex');

/** 64 lowercase hex digits: the form subjectRefOf gives. */
export const isSubjectRef = (value: unknown): value is string =>
  typeof value === 'string' && SUBJECT_REF.test(value);
