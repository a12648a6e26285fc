// An in-memory ErasureStore (functions/domain/erasure/types.ts) over the fake history and state
// stores of ./fakes, with only what a full erasure needs: registering it (requestErasure) and
// applying it (applyErasure). Its writes keep the conditions of the DynamoDB adapter
// (functions/adapters/erasure-store.ts): an erased copy is put only where none is, a record is
// deleted only while it still has the hash read, the owner item only at the version read, the
// register and the work list on their version. The retention, listing and restore paths are not
// here and say so when called.
import type {
  ErasedRecord,
  ErasureItem,
  ErasureStore,
  OpenErasures,
  Tombstone,
} from '../../functions/domain/erasure/types';
import type { DeliveryItem, IdempotencyItem, OwnerItem } from '../../functions/domain/types';
import type { FakeHistoryStore, FakeStateStore } from './fakes';

/** What the store did to items others can see: the user's records, the owner item, state items. */
export type ErasureStoreEvent =
  | { kind: 'record_deleted'; userId: string; seq: number; hash: string }
  | { kind: 'owner_deleted'; item: OwnerItem }
  | { kind: 'delivery_deleted'; item: DeliveryItem }
  | { kind: 'idempotency_deleted'; item: IdempotencyItem }
  /** A page of the state scan read: what it did not find was not there yet. */
  | { kind: 'user_items_scanned'; userId: string };

const clone = <T>(v: T): T => structuredClone(v);

// A scan's cursor names the last key it read, as DynamoDB's LastEvaluatedKey does: items deleted
// behind it move nothing (an offset would skip one).
const pageCursor = (after: string) => Buffer.from(JSON.stringify({ after })).toString('base64url');
const pageAfter = (cursor: string | undefined): string | null => {
  if (cursor === undefined) return null;
  const { after } = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as {
    after?: unknown;
  };
  if (typeof after !== 'string') throw new Error('The scan cursor is not valid.');
  return after;
};

const notHere = (method: string) => async (): Promise<never> => {
  throw new Error(`${method} is not part of the fake erasure store (full level only).`);
};

export class FakeErasureStore implements ErasureStore {
  readonly register = new Map<string, ErasureItem>();
  /** `ERASED#{erasureId}`: the erased records by seq, and the tombstone. */
  readonly erased = new Map<string, Map<number, ErasedRecord>>();
  readonly tombstones = new Map<string, Tombstone>();
  readonly subjects = new Map<string, string[]>();
  private open: OpenErasures = { entries: [], leaseUntil: 0, version: 0 };

  constructor(
    private readonly history: FakeHistoryStore,
    private readonly state: FakeStateStore,
    /** Sees every change to an item another use case reads. */
    private readonly onEvent: (event: ErasureStoreEvent) => void = () => {},
  ) {}

  async getErasure(erasureId: string) {
    return clone(this.register.get(erasureId) ?? null);
  }

  async putErasure(item: ErasureItem) {
    if (this.register.has(item.erasureId)) return false;
    this.register.set(item.erasureId, clone(item));
    return true;
  }

  async compareAndSetErasure(item: ErasureItem, expectedVersion: number) {
    if (this.register.get(item.erasureId)?.version !== expectedVersion) return false;
    this.register.set(item.erasureId, clone(item));
    return true;
  }

  async erasuresOfSubject(subjectRef: string) {
    return [...(this.subjects.get(subjectRef) ?? [])];
  }

  async addSubjectErasure(subjectRef: string, erasureId: string) {
    const ids = this.subjects.get(subjectRef) ?? [];
    if (!ids.includes(erasureId)) this.subjects.set(subjectRef, [...ids, erasureId]);
  }

  async getOpen() {
    return clone(this.open);
  }

  async compareAndSetOpen(list: OpenErasures, expectedVersion: number) {
    if (this.open.version !== expectedVersion) return false;
    this.open = clone(list);
    return true;
  }

  async putErasedRecord(record: ErasedRecord) {
    const partition = this.erased.get(record.erasureId) ?? new Map<number, ErasedRecord>();
    this.erased.set(record.erasureId, partition);
    // attribute_not_exists: the first copy of a seq stays.
    if (!partition.has(record.seq)) partition.set(record.seq, clone(record));
  }

  async deleteRecord(userId: string, seq: number, hash: string) {
    for (const [key, record] of this.history.records) {
      if (record.userId !== userId || record.seq !== seq) continue;
      if (record.hash !== hash) return false;
      this.history.records.delete(key);
      this.onEvent({ kind: 'record_deleted', userId, seq, hash });
      return true;
    }
    // The adapter's condition on the hash fails on a missing item too.
    return false;
  }

  async putTombstone(tombstone: Tombstone) {
    this.tombstones.set(tombstone.erasureId, clone(tombstone));
  }

  async readErased(erasureId: string) {
    const records = [...(this.erased.get(erasureId)?.values() ?? [])].sort((a, b) => a.seq - b.seq);
    return { tombstone: clone(this.tombstones.get(erasureId) ?? null), records: clone(records) };
  }

  async deleteOwner(userId: string, expectedVersion: number) {
    const item = this.state.owners.get(userId);
    if (item?.version !== expectedVersion) return false;
    this.state.owners.delete(userId);
    this.onEvent({ kind: 'owner_deleted', item: clone(item) });
    return true;
  }

  /** The state items naming the user, by key: its delivery and idempotency items. */
  private userItems(userId: string): Record<string, unknown>[] {
    const items: Record<string, unknown>[] = [];
    for (const [id, item] of this.state.deliveries) {
      if (item.userId === userId) items.push({ ...clone(item), pk: `CB#${id}` });
    }
    for (const [key, item] of this.state.idempotency) {
      if (item.userId === userId) items.push({ ...clone(item), pk: `IDEM#${key}` });
    }
    return items.sort((a, b) => (String(a.pk) < String(b.pk) ? -1 : 1));
  }

  async scanUserItems(userId: string, options: { cursor?: string; maxRead: number }) {
    const after = pageAfter(options.cursor);
    const all = this.userItems(userId).filter((i) => after === null || String(i.pk) > after);
    this.onEvent({ kind: 'user_items_scanned', userId });
    const items = all.slice(0, options.maxRead);
    const last = items.at(-1);
    return {
      items,
      read: items.length,
      ...(last && items.length < all.length ? { cursor: pageCursor(String(last.pk)) } : {}),
    };
  }

  async deleteStateItem(pk: string) {
    if (pk.startsWith('CB#')) {
      const id = pk.slice('CB#'.length);
      const item = this.state.deliveries.get(id);
      if (item && this.state.deliveries.delete(id)) {
        this.onEvent({ kind: 'delivery_deleted', item: clone(item) });
      }
    } else if (pk.startsWith('IDEM#')) {
      const key = pk.slice('IDEM#'.length);
      const item = this.state.idempotency.get(key);
      if (item && this.state.idempotency.delete(key)) {
        this.onEvent({ kind: 'idempotency_deleted', item: clone(item) });
      }
    }
    // NOTIFY# and other keys: the fake state store keeps no such items.
  }

  readonly listErasures = notHere('listErasures');
  readonly eraseRecordMetadata = notHere('eraseRecordMetadata');
  readonly findSubjects = notHere('findSubjects');
  readonly getRetention = notHere('getRetention');
  readonly setRetention = notHere('setRetention');
}
