// The CheckpointStore port over any bucket of objects that can create a key only when it is absent
// (S3 with If-None-Match, a directory with exclusive creates, memory in tests): the key layout is
// functions/contracts/checkpoints.ts, the object format domain/checkpoints/document.ts. Stored
// checkpoints never change, so the ones read are kept (a few hundred at most).
import {
  CHECKPOINT_PREFIX,
  checkpointIdOfKey,
  checkpointIdOfNote,
  checkpointKey,
  userNoteKey,
  userNotePrefix,
} from '../contracts/checkpoints';
import { decodeStored, encodeStored, type StoredCheckpoint } from '../domain/checkpoints/document';
import type { CheckpointStore } from '../domain/checkpoints/ports';
import { ValidationError } from '../domain/errors';

export interface ObjectBucket {
  /** Writes the object unless its key exists ('exists' then: nothing is overwritten). */
  create(key: string, body: Uint8Array, contentType: string): Promise<'stored' | 'exists'>;
  /** Null when absent. */
  read(key: string): Promise<Buffer | null>;
  /** Keys under `prefix`, ascending, after `startAfter`, at most `limit`. */
  keys(
    prefix: string,
    options: { limit: number; startAfter?: string },
  ): Promise<{ keys: string[]; more: boolean }>;
}

const CACHED = 256;

const cursorOf = (key: string) => Buffer.from(key, 'utf8').toString('base64url');
const keyOfCursor = (cursor: string, prefix: string): string => {
  const key = Buffer.from(cursor, 'base64url').toString('utf8');
  if (!key.startsWith(prefix))
    throw new ValidationError('The cursor is not valid.', 'invalid_cursor');
  return key;
};

export function createCheckpointStore(bucket: ObjectBucket): CheckpointStore {
  const cache = new Map<string, StoredCheckpoint>();
  const remember = (id: string, stored: StoredCheckpoint) => {
    if (cache.size >= CACHED) cache.delete(cache.keys().next().value!);
    cache.set(id, stored);
  };

  const listIds = async (
    prefix: string,
    idOf: (key: string) => string | null,
    options: { limit: number; cursor?: string },
  ) => {
    const startAfter = options.cursor ? keyOfCursor(options.cursor, prefix) : undefined;
    const page = await bucket.keys(prefix, { limit: options.limit, startAfter });
    const items = page.keys.map(idOf).filter((id): id is string => id !== null);
    const last = page.keys.at(-1);
    return { items, ...(page.more && last ? { cursor: cursorOf(last) } : {}) };
  };

  const get: CheckpointStore['get'] = async (checkpointId) => {
    const hit = cache.get(checkpointId);
    if (hit) return hit;
    const body = await bucket.read(checkpointKey(checkpointId));
    if (!body) return null;
    const stored = decodeStored(body);
    remember(checkpointId, stored);
    return stored;
  };

  return {
    put: (checkpointId, document, signature) =>
      bucket.create(
        checkpointKey(checkpointId),
        encodeStored(document, signature),
        'application/json',
      ),
    get,
    list: (options) => listIds(CHECKPOINT_PREFIX, checkpointIdOfKey, options),
    async latest() {
      const page = await bucket.keys(CHECKPOINT_PREFIX, { limit: 1 });
      const id = page.keys[0] ? checkpointIdOfKey(page.keys[0]) : null;
      return id ? get(id) : null;
    },
    async markUser(subjectRef, checkpointId) {
      // A note another run of the same place wrote is as good as ours.
      await bucket.create(
        userNoteKey(subjectRef, checkpointId),
        new Uint8Array(0),
        'application/octet-stream',
      );
    },
    listForUser: (subjectRef, options) =>
      listIds(userNotePrefix(subjectRef), checkpointIdOfNote, options),
  };
}
