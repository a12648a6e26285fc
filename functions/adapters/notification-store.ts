// The outbox (the `NotificationStore` port) on the state table: one item per notification,
// `pk = NOTIFY#{id}`, with the NotificationItem fields as they are, plus the sparse, write-sharded
// byNotificationStatus index: `ntfPk = NTF#{status}#{shard}` (shard = hash(id) mod N) and
// `ntfSk = {createdAt}#{id}`. Every write replaces the item whole (conditional: a first put on
// the key's absence, later ones on `version`), so the index follows the status.
// Readers fan out over every shard of a status (all three statuses without one) and merge the
// shards' pages by ntfSk, newest first for `list`, oldest first for `listPendingBefore`. The index
// projects what the listing shows, not the body: `list` returns summaries of exactly those
// attributes (NotificationSummary), and `listPendingBefore` reads each item again. The
// merge is this file's own: the shared one (shard-merge.ts) reads in ascending order only; its
// cursor encoding and key order are reused.
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { GetCommand, PutCommand, type QueryCommandInput } from '@aws-sdk/lib-dynamodb';
import { NOTIFICATION_LISTED } from '../contracts/tables';
import type { NotificationStore, NotificationSummary } from '../domain/ports';
import {
  allShards,
  checkReadShards,
  DEFAULT_INDEX_SHARDS,
  indexKeys,
  shardOf,
} from '../domain/shards';
import type { NotificationItem, NotificationStatus, Page } from '../domain/types';
import {
  checkLimit,
  collectQuery,
  decodeCursor,
  encodeCursor,
  invalidCursor,
  isConditionFailure,
  isInvalidStartKey,
} from './dynamo';
import {
  compareSortKeys,
  decodeShardPositions,
  encodeShardPositions,
  type ShardPosition,
  successor,
} from './shard-merge';

export interface NotificationStoreOptions {
  client: DynamoDBDocumentClient;
  tableName: string;
  /** Index shards per status items are written with. @default DEFAULT_INDEX_SHARDS */
  shards?: number;
  /** Index shards per status the listings fan out over (readShardsOf). @default shards */
  readShards?: number;
  /** Items one shard's query may read per page under a `service` filter. @default 1000 */
  maxReadPerShard?: number;
}

const INDEX = 'byNotificationStatus';
const STATUSES: readonly NotificationStatus[] = ['pending', 'sent', 'failed'];
const ADDED = ['pk', 'ntfPk', 'ntfSk'] as const;
/** ntfSk: an ISO instant, `#`, a notification id. */
const SORT_KEY = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z#[!-~]{1,128}$/;

const notifyPk = (id: string) => `NOTIFY#${id}`;

/** What the status index projects: every one a summary's field (the build checks it). */
const LISTED: readonly (keyof NotificationSummary)[] = NOTIFICATION_LISTED;

/** The listed attributes of an index entry: the summary, nothing else the index may hold. */
const summaryOf = (stored: Record<string, unknown>): NotificationSummary =>
  Object.fromEntries(LISTED.map((name) => [name, stored[name]])) as unknown as NotificationSummary;

const sortableInstant = (iso: string): string => {
  const ms = Date.parse(iso);
  if (Number.isNaN(ms)) throw new Error('A notification needs a valid createdAt time.');
  return new Date(ms).toISOString();
};

/**
 * The byNotificationStatus keys an outbox item gets with `shards` index shards: its status's
 * partition in the shard of its id, sorted by creation. Pure: the bench and the reindex use it.
 */
export const notificationIndexKeys = (
  item: Pick<NotificationItem, 'id' | 'status' | 'createdAt'>,
  shards: number,
): { ntfPk: string; ntfSk: string } => ({
  ntfPk: indexKeys.notificationStatus(item.status, shardOf(item.id, shards)),
  ntfSk: `${sortableInstant(item.createdAt)}#${item.id}`,
});

type Direction = 'asc' | 'desc';
/** Negative when `a` comes first in `direction`. */
const order = (direction: Direction, a: string, b: string) =>
  direction === 'asc' ? compareSortKeys(a, b) : compareSortKeys(b, a);

interface Segment {
  items: Record<string, unknown>[];
  /** The ntfSk of the last item read when the shard may hold more; absent when it is done. */
  next?: string;
  read: number;
}

/**
 * One page over several partitions, merged by sort key in `direction`. An item is taken only
 * while no open partition could still hold one that comes before it (the bound: where the least
 * advanced open partition stopped), so walking the returned positions lists every item once, in
 * order; a page may be short while partitions are open.
 */
async function mergePage(
  positions: ShardPosition[],
  want: number,
  direction: Direction,
  read: (partition: number, after: string | undefined) => Promise<Segment>,
): Promise<{ items: Record<string, unknown>[]; positions: ShardPosition[]; read: number }> {
  const segments = await Promise.all(
    positions.map((p, i) =>
      p.state === 'done' ? undefined : read(i, p.state === 'after' ? p.key : undefined),
    ),
  );
  let bound: string | undefined;
  for (const s of segments) {
    if (s?.next !== undefined && (bound === undefined || order(direction, s.next, bound) < 0)) {
      bound = s.next;
    }
  }
  const heads = segments.map(() => 0);
  const items: Record<string, unknown>[] = [];
  while (items.length < want) {
    let pick = -1;
    segments.forEach((s, i) => {
      const item = s?.items[heads[i]!];
      if (!item) return;
      const best = pick === -1 ? undefined : segments[pick]!.items[heads[pick]!]!;
      if (!best || order(direction, item.ntfSk as string, best.ntfSk as string) < 0) pick = i;
    });
    if (pick === -1) break;
    const key = segments[pick]!.items[heads[pick]!]!.ntfSk as string;
    if (bound !== undefined && order(direction, key, bound) > 0) break;
    items.push(segments[pick]!.items[heads[pick]!]!);
    heads[pick]! += 1;
  }
  // Every partition has been read up to `floor`: open ones can all resume there (a short cursor).
  const floor = items.length === want ? (items[items.length - 1]!.ntfSk as string) : bound;
  const next = positions.map((p, i): ShardPosition => {
    const s = segments[i];
    if (!s) return p;
    let at: ShardPosition = p;
    if (heads[i] === s.items.length) {
      at = s.next === undefined ? { state: 'done' } : { state: 'after', key: s.next };
    } else if (heads[i]! > 0) {
      at = { state: 'after', key: s.items[heads[i]! - 1]!.ntfSk as string };
    }
    if (at.state === 'done' || floor === undefined) return at;
    if (at.state === 'after' && order(direction, at.key, floor) >= 0) return at;
    return { state: 'after', key: floor };
  });
  return { items, positions: next, read: segments.reduce((n, s) => n + (s?.read ?? 0), 0) };
}

export const createNotificationStore = ({
  client,
  tableName,
  shards = DEFAULT_INDEX_SHARDS,
  readShards: readShardsOption,
  maxReadPerShard = 1000,
}: NotificationStoreOptions): NotificationStore => {
  const readShards = checkReadShards(shards, readShardsOption);
  const toItem = (item: NotificationItem): Record<string, unknown> => ({
    ...item,
    pk: notifyPk(item.id),
    ...notificationIndexKeys(item, shards),
  });
  const fromItem = (stored: Record<string, unknown>): NotificationItem => {
    const item = { ...stored };
    for (const name of ADDED) delete item[name];
    return item as unknown as NotificationItem;
  };

  const put = async (
    item: Record<string, unknown>,
    condition: string,
    values?: Record<string, unknown>,
  ): Promise<boolean> => {
    try {
      await client.send(
        new PutCommand({
          TableName: tableName,
          Item: item,
          ConditionExpression: condition,
          ...(values ? { ExpressionAttributeNames: { '#version': 'version' } } : {}),
          ...(values ? { ExpressionAttributeValues: values } : {}),
        }),
      );
      return true;
    } catch (err) {
      if (isConditionFailure(err)) return false;
      throw err;
    }
  };

  /** The partitions a listing reads: every shard of each status, status by status. */
  const partitions = (statuses: readonly NotificationStatus[]) =>
    statuses.flatMap((status) =>
      allShards(readShards).map((shard) => indexKeys.notificationStatus(status, shard)),
    );

  const readPartition = async (
    ntfPk: string,
    direction: Direction,
    after: string | undefined,
    want: number,
    bounds: { before?: string },
    service: string | undefined,
  ): Promise<Segment> => {
    const values: Record<string, unknown> = { ':pk': ntfPk };
    let condition = 'ntfPk = :pk';
    if (direction === 'asc') {
      // Oldest first, up to (not including) `before`; BETWEEN keeps both ends in one condition.
      values[':hi'] = bounds.before;
      if (after !== undefined) {
        condition += ' AND ntfSk BETWEEN :lo AND :hi';
        values[':lo'] = successor(after);
      } else {
        condition += ' AND ntfSk < :hi';
      }
    } else if (after !== undefined) {
      condition += ' AND ntfSk < :after';
      values[':after'] = after;
    }
    const input: QueryCommandInput = {
      TableName: tableName,
      IndexName: INDEX,
      KeyConditionExpression: condition,
      ExpressionAttributeValues: values,
      ScanIndexForward: direction === 'asc',
    };
    if (service !== undefined) {
      input.FilterExpression = '#recipient = :service';
      input.ExpressionAttributeNames = { '#recipient': 'recipient' };
      values[':service'] = service;
    }
    const segment = await collectQuery(client, input, {
      want,
      keyAttributes: ['pk', 'ntfPk', 'ntfSk'],
      maxRead: maxReadPerShard,
    });
    return {
      items: segment.items,
      ...(segment.next ? { next: segment.next.ntfSk as string } : {}),
      read: segment.read,
    };
  };

  /** A page over `statuses`, resuming at the cursor (which must be of the same query). */
  const page = async (
    query: Record<string, unknown>,
    statuses: readonly NotificationStatus[],
    direction: Direction,
    limit: number,
    cursor: string | undefined,
    bounds: { before?: string },
    service: string | undefined,
  ): Promise<Page<NotificationSummary>> => {
    checkLimit(limit);
    const keys = partitions(statuses);
    let positions: ShardPosition[] = keys.map(() => ({ state: 'start' }));
    if (cursor !== undefined) {
      const state = decodeCursor(cursor, 'notifications');
      for (const [name, value] of Object.entries(query)) {
        if (state[name] !== value) throw invalidCursor();
      }
      positions = decodeShardPositions(state, keys.length, (key) => SORT_KEY.test(key));
    }
    let merged: Awaited<ReturnType<typeof mergePage>>;
    try {
      merged = await mergePage(positions, limit, direction, (i, after) =>
        readPartition(keys[i]!, direction, after, limit, bounds, service),
      );
    } catch (err) {
      // A position DynamoDB refuses as a key condition came from a cursor that is not ours.
      if (cursor !== undefined && isInvalidStartKey(err)) throw invalidCursor();
      throw err;
    }
    const more = merged.positions.some((p) => p.state !== 'done');
    return {
      items: merged.items.map(summaryOf),
      ...(more
        ? {
            cursor: encodeCursor({
              kind: 'notifications',
              ...query,
              ...encodeShardPositions(merged.positions),
            }),
          }
        : {}),
      itemsRead: merged.read,
    };
  };

  const getItem = async (id: string): Promise<NotificationItem | null> => {
    const out = await client.send(
      new GetCommand({ TableName: tableName, Key: { pk: notifyPk(id) }, ConsistentRead: true }),
    );
    return out.Item ? fromItem(out.Item) : null;
  };

  return {
    put: (item) => put(toItem(item), 'attribute_not_exists(pk)'),

    get: getItem,

    async compareAndSet(item, expectedVersion) {
      if (item.version !== expectedVersion + 1) {
        throw new Error('A notification write must advance the version by exactly one.');
      }
      return put(toItem(item), '#version = :expected', { ':expected': expectedVersion });
    },

    list({ service, status, limit, cursor }) {
      const query = { q: 'list', status: status ?? null, service: service ?? null };
      return page(query, status ? [status] : STATUSES, 'desc', limit, cursor, {}, service);
    },

    // The index holds no body (tables.ts NOTIFICATION_LISTED) and the relay writes each item back
    // whole: every listed item is read again, consistently, and kept only if still pending.
    async listPendingBefore(before, { limit, cursor }) {
      const at = sortableInstant(before);
      const listed = await page(
        { q: 'pending', before: at },
        ['pending'],
        'asc',
        limit,
        cursor,
        { before: at },
        undefined,
      );
      const fresh = await Promise.all(listed.items.map((item) => getItem(item.id)));
      return {
        ...listed,
        items: fresh.filter((item): item is NotificationItem => item?.status === 'pending'),
      };
    },
  };
};
