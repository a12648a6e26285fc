// A stage's sharded data for the tests of lowering indexShards (DESIGN.md "Changing N"): users with
// v3 chains of records over three days, their owner items (some with a pending marker, some with a
// timer), an outbox item per record in each status, a first-inbound note per user; written through
// the stores themselves with the stage's N. `listEverything` reads every sharded listing to its end
// with the stores of another N, and `expectedListings` says what each must return, from what was
// written (never from the stores).
import { createHash } from 'node:crypto';
import { CreateTableCommand, DescribeTableCommand } from '@aws-sdk/client-dynamodb';
import { type DynamoDBDocumentClient, ScanCommand } from '@aws-sdk/lib-dynamodb';
import { createHistoryStore } from '../../functions/adapters/history-store';
import { createMetricsStore } from '../../functions/adapters/metrics-store';
import { createNotificationStore } from '../../functions/adapters/notification-store';
import { createStateStore } from '../../functions/adapters/state-store';
import {
  createTableInput,
  historyTable,
  stateTable,
  type TableDefinition,
} from '../../functions/contracts/tables';
import { finalizeRecord, GENESIS_HASH, sealMetadata } from '../../functions/domain/chain';
import type {
  HandoverRecord,
  NotificationItem,
  NotificationStatus,
  OwnerItem,
  Page,
} from '../../functions/domain/types';

export const BOT = 'as272d6g2ds766fcdfgh';
export const AGENT = 'Jlk9e7cSf9g3FFsaqe39';
const DAY = '2026-03-02';
const START = Date.parse('2026-03-01T06:00:00.000Z');
/** Every record, marker and timer lies before this. */
export const LATER = '2026-03-09T00:00:00.000Z';
const STATUSES: NotificationStatus[] = ['pending', 'sent', 'failed'];

export interface Tables {
  history: string;
  state: string;
}

export interface ShardCounts {
  /** The writers' indexShards. */
  shards: number;
  /** What readers fan out over (indexShardsFrom while lowering). */
  readShards?: number;
}

/** Creates both tables under the given names (the local stack's, for the CLI's local run). */
export const createNamedTables = async (client: DynamoDBDocumentClient, names: Tables) => {
  const create = async (definition: TableDefinition, name: string) => {
    await client.send(new CreateTableCommand(createTableInput(definition, name)));
    for (let attempt = 0; attempt < 100; attempt += 1) {
      const out = await client.send(new DescribeTableCommand({ TableName: name }));
      const indexes = out.Table?.GlobalSecondaryIndexes ?? [];
      if (out.Table?.TableStatus === 'ACTIVE' && indexes.every((i) => i.IndexStatus === 'ACTIVE')) {
        return;
      }
    }
    throw new Error(`Table ${name} did not become active.`);
  };
  await create(historyTable, names.history);
  await create(stateTable, names.state);
};

/** The stores of one function, with its shard counts. */
export const storesOf = (client: DynamoDBDocumentClient, tables: Tables, counts: ShardCounts) => ({
  history: createHistoryStore({ client, tableName: tables.history, ...counts }),
  state: createStateStore({ client, tableName: tables.state, ...counts }),
  notifications: createNotificationStore({ client, tableName: tables.state, ...counts }),
  metrics: createMetricsStore({ client, tableName: tables.state, ...counts }),
});
export type Stores = ReturnType<typeof storesOf>;

const digest = (text: string) => createHash('sha256').update(text).digest('hex').slice(0, 8);

export interface Written {
  users: string[];
  records: HandoverRecord[];
  owners: OwnerItem[];
  notifications: NotificationItem[];
}

/** n linked v3 records of a user, Bot and Agent in turn, spread over three days. */
const chainOf = (userId: string, i: number, n: number): HandoverRecord[] => {
  const records: HandoverRecord[] = [];
  for (let seq = 1; seq <= n; seq++) {
    records.push(
      finalizeRecord(
        {
          handoverId: `h-${digest(`${userId}#${seq}`)}`,
          userId,
          seq,
          fromOwner: seq === 1 ? null : seq % 2 === 0 ? AGENT : BOT,
          toOwner: seq % 2 === 1 ? AGENT : BOT,
          reason: 'question_too_complex',
          ...sealMetadata({ ticket: i * 10 + seq }),
          requestedBy: BOT,
          source: 'api',
          createdAt: new Date(START + seq * 9 * 3_600_000 + i * 180_000).toISOString(),
          prevHash: records.at(-1)?.hash ?? GENESIS_HASH,
        },
        'completed',
        { status: 200, code: null, durationMs: 5 },
      ),
    );
  }
  return records;
};

/** The owner item at the head of a chain: every fifth user with a marker, every third a timer. */
const ownerOf = (records: HandoverRecord[], i: number): OwnerItem => {
  const last = records.at(-1)!;
  const item: OwnerItem = {
    userId: last.userId,
    owner: last.toOwner,
    version: records.length + 1,
    since: last.createdAt,
    lastSeq: last.seq,
    lastHash: last.hash,
    lastCreatedAt: last.createdAt,
    lastHandoverId: last.handoverId,
    pending: null,
    refreshedAt: last.createdAt,
  };
  if (i % 5 === 0) {
    const markedAt = new Date(Date.parse('2026-03-03T00:00:00.000Z') + i * 60_000).toISOString();
    item.pending = {
      draft: {
        handoverId: `h-${digest(`${last.userId}#pending`)}`,
        userId: last.userId,
        seq: last.seq + 1,
        fromOwner: last.toOwner,
        toOwner: last.toOwner === BOT ? AGENT : BOT,
        reason: 'question_too_complex',
        ...sealMetadata(null),
        requestedBy: last.toOwner,
        source: 'api',
        createdAt: markedAt,
        prevHash: last.hash,
      },
      markedAt,
      actingService: last.toOwner,
    };
  }
  if (i % 3 === 0) {
    item.dueAt = new Date(Date.parse('2026-03-04T00:00:00.000Z') + i * 90_000).toISOString();
  }
  return item;
};

const notificationOf = (record: HandoverRecord, n: number): NotificationItem => ({
  id: `ntf_${digest(`${record.handoverId}#${record.toOwner}`)}`,
  kind: 'notification',
  type: 'handover.completed',
  recipient: record.toOwner,
  userId: record.userId,
  seq: record.seq,
  handoverId: record.handoverId,
  body: JSON.stringify({ id: record.handoverId }),
  status: STATUSES[n % 3]!,
  attempts: n % 3 === 0 ? 0 : 1,
  lastStatus: n % 3 === 0 ? null : 200,
  lastError: null,
  createdAt: record.createdAt,
  updatedAt: record.createdAt,
  sentAt: null,
  version: 1,
});

/** Writes the stage's data with the stores of `stores` (their N), a few writes in flight. */
export const writeStage = async (stores: Stores, userCount = 24): Promise<Written> => {
  const users = Array.from({ length: userCount }, (_, i) => `user-${i}-${digest(String(i))}`);
  const written: Written = { users, records: [], owners: [], notifications: [] };
  await Promise.all(
    users.map(async (userId, i) => {
      const records = chainOf(userId, i, 1 + (i % 4));
      for (const record of records) await stores.history.append(record);
      const owner = ownerOf(records, i);
      await stores.state.createOwner(owner);
      const notifications = records.map((r, k) => notificationOf(r, i + k));
      for (const item of notifications) await stores.notifications.put(item);
      await stores.metrics.putInboundNote({
        userId,
        day: DAY,
        service: BOT,
        at: `${DAY}T08:00:00.000Z`,
      });
      written.records.push(...records);
      written.owners.push(owner);
      written.notifications.push(...notifications);
    }),
  );
  return written;
};

/** Follows a listing's cursors to the end. */
const walk = async <T>(read: (cursor?: string) => Promise<Page<T>>): Promise<T[]> => {
  const items: T[] = [];
  let cursor: string | undefined;
  let pages = 0;
  do {
    const page = await read(cursor);
    items.push(...page.items);
    cursor = page.cursor;
    pages += 1;
  } while (cursor && pages < 1_000);
  return items;
};

const RANGE = { from: '2026-03-01T00:00:00.000Z', to: '2026-03-03T23:59:59.999Z' };

/** Every sharded listing, read to its end (small pages, so cursors are crossed). */
export const listEverything = async (stores: Stores, readShards: number) => {
  const due: string[] = [];
  for (let shard = 0; shard < readShards; shard++) {
    const items = await walk((cursor) => stores.state.listDue(shard, LATER, { limit: 2, cursor }));
    due.push(...items.map((o) => `${o.dueAt}#${o.userId}`));
  }
  const ids = (items: { id: string }[]) => items.map((i) => i.id);
  return {
    range: (await walk((cursor) => stores.history.listRange({ ...RANGE, limit: 5, cursor }))).map(
      (r) => r.handoverId,
    ),
    toAgent: (
      await walk((cursor) =>
        stores.history.listRange({ ...RANGE, limit: 4, cursor, filters: { toOwner: AGENT } }),
      )
    ).map((r) => r.handoverId),
    ownedByBot: (await walk((cursor) => stores.state.listOwnedBy(BOT, { limit: 3, cursor }))).map(
      (u) => u.userId,
    ),
    ownedByAgent: (
      await walk((cursor) => stores.state.listOwnedBy(AGENT, { limit: 3, cursor }))
    ).map((u) => u.userId),
    pending: (
      await walk((cursor) => stores.state.listStalePending(LATER, { limit: 2, cursor }))
    ).map((p) => p.userId),
    due: due.sort(),
    notifications: ids(await walk((cursor) => stores.notifications.list({ limit: 4, cursor }))),
    failed: ids(
      await walk((cursor) => stores.notifications.list({ status: 'failed', limit: 3, cursor })),
    ),
    relay: ids(
      await walk((cursor) => stores.notifications.listPendingBefore(LATER, { limit: 3, cursor })),
    ),
    inbound: (await stores.metrics.inboundNotes(DAY)).map((n) => n.userId),
  };
};
export type Listings = Awaited<ReturnType<typeof listEverything>>;

const byBytes = (a: string, b: string) => Buffer.compare(Buffer.from(a), Buffer.from(b));

/** What every listing must return, from what was written, in each listing's documented order. */
export const expectedListings = (written: Written): Listings => {
  const timeSk = (r: HandoverRecord) => `${r.createdAt}#${r.handoverId}`;
  const inRange = written.records
    .filter((r) => r.createdAt >= RANGE.from && r.createdAt <= RANGE.to)
    .sort((a, b) => byBytes(timeSk(a), timeSk(b)));
  const ntfSk = (n: NotificationItem) => `${n.createdAt}#${n.id}`;
  const newestFirst = [...written.notifications].sort((a, b) => byBytes(ntfSk(b), ntfSk(a)));
  const oldestFirst = [...newestFirst].reverse();
  const owned = (service: string) =>
    written.owners
      .filter((o) => o.owner === service)
      .map((o) => o.userId)
      .sort(byBytes);
  return {
    range: inRange.map((r) => r.handoverId),
    toAgent: inRange.filter((r) => r.toOwner === AGENT).map((r) => r.handoverId),
    ownedByBot: owned(BOT),
    ownedByAgent: owned(AGENT),
    pending: written.owners
      .filter((o) => o.pending)
      .sort(
        (a, b) => byBytes(a.pending!.markedAt, b.pending!.markedAt) || byBytes(a.userId, b.userId),
      )
      .map((o) => o.userId),
    due: written.owners
      .filter((o) => o.dueAt)
      .map((o) => `${o.dueAt}#${o.userId}`)
      .sort(),
    notifications: newestFirst.map((n) => n.id),
    failed: newestFirst.filter((n) => n.status === 'failed').map((n) => n.id),
    relay: oldestFirst.filter((n) => n.status === 'pending').map((n) => n.id),
    inbound: [...written.users].sort(),
  };
};

/** Every item of a table, keyed by its primary key, as stored. */
export const tableContents = async (
  client: DynamoDBDocumentClient,
  table: string,
): Promise<Map<string, Record<string, unknown>>> => {
  const items = new Map<string, Record<string, unknown>>();
  let startKey: Record<string, unknown> | undefined;
  do {
    const out = await client.send(
      new ScanCommand({ TableName: table, ExclusiveStartKey: startKey, ConsistentRead: true }),
    );
    for (const item of out.Items ?? []) items.set(`${item.pk}|${item.sk ?? ''}`, item);
    startKey = out.LastEvaluatedKey;
  } while (startKey);
  return items;
};

/** The attributes the sharded indexes are keyed by (everything else a reindex must leave alone). */
export const INDEX_ATTRIBUTES = [
  'dayPk',
  'toPk',
  'timeSk',
  'ownerPk',
  'ownerSk',
  'pendingPk',
  'pendingSince',
  'duePk',
  'dueSk',
  'ntfPk',
  'ntfSk',
  'inboundPk',
  'inboundSk',
];

/** A table's items without their index attributes. */
export const withoutIndexKeys = (items: Map<string, Record<string, unknown>>) =>
  new Map(
    [...items].map(([key, item]) => [
      key,
      Object.fromEntries(Object.entries(item).filter(([name]) => !INDEX_ATTRIBUTES.includes(name))),
    ]),
  );
