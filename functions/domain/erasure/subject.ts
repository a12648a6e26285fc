// How an erased subject is named: `subjectRef = hex(HMAC-SHA256(erasure key, UTF-8 of the user
// id))`. Whoever holds the tables but not the key cannot tell whether a given user was erased; the
// eraser, which holds it, finds a user's tombstones and erasures from the user id.
import { createHmac } from 'node:crypto';

export const subjectRefOf = (key: Uint8Array, userId: string): string =>
  createHmac('sha256', key).update(userId, 'utf8').digest('hex');
