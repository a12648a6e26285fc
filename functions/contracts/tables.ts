// The two DynamoDB tables, declared once. The CDK data stack and the local runtime both build
// their tables from these definitions, so the deployed and the local schema cannot drift.
import type { CreateTableCommandInput } from '@aws-sdk/client-dynamodb';

export interface KeyAttribute {
  name: string;
  type: 'S' | 'N';
}

/**
 * What an index holds besides its keys and the table's. An index write is charged by the size of
 * what it holds, and a table write that changes no projected attribute writes nothing there: so
 * each index projects only what its readers take.
 */
export type Projection =
  | { type: 'ALL' }
  | { type: 'KEYS_ONLY' }
  | { type: 'INCLUDE'; attributes: readonly string[] };

export interface TableDefinition {
  partitionKey: KeyAttribute;
  sortKey?: KeyAttribute;
  globalIndexes: {
    name: string;
    partitionKey: KeyAttribute;
    sortKey?: KeyAttribute;
    projection: Projection;
  }[];
  localIndexes: { name: string; sortKey: KeyAttribute; projection: Projection }[];
  /** Epoch-seconds attribute that DynamoDB's TTL deletes by (checked on read as well). */
  ttlAttribute?: string;
}

/**
 * History: append-only. `pk = USER#{userId}`, `sk = SEQ#{seq, 10 digits}`. Shared partition keys
 * are write-sharded (functions/domain/shards.ts; shard = hash(handoverId) mod indexShards):
 * - byDay: `DAY#{yyyy-mm-dd}#{shard}` / `{createdAt}#{handoverId}`, time ranges across all users;
 * - byDestination: `TO#{service}#{yyyy-mm-dd}#{shard}` / `{createdAt}#{handoverId}`, handovers to
 *   one service;
 * - byTime (local): a user's records by `createdAt`, for "who owned user X at instant T".
 * All three project every attribute: the audit and the owner lookup return whole records, and a
 * record is written once (810 B with a 169-byte metadata: one unit either way).
 */
export const historyTable: TableDefinition = {
  partitionKey: { name: 'pk', type: 'S' },
  sortKey: { name: 'sk', type: 'S' },
  globalIndexes: [
    {
      name: 'byDay',
      partitionKey: { name: 'dayPk', type: 'S' },
      sortKey: { name: 'timeSk', type: 'S' },
      projection: { type: 'ALL' },
    },
    {
      name: 'byDestination',
      partitionKey: { name: 'toPk', type: 'S' },
      sortKey: { name: 'timeSk', type: 'S' },
      projection: { type: 'ALL' },
    },
  ],
  localIndexes: [
    { name: 'byTime', sortKey: { name: 'createdAt', type: 'S' }, projection: { type: 'ALL' } },
  ],
};

/** What the outbox listing (GET /notifications) returns of an item: all but `body` and `version`. */
export const NOTIFICATION_LISTED = [
  'id',
  'kind',
  'type',
  'recipient',
  'userId',
  'seq',
  'handoverId',
  'status',
  'attempts',
  'lastStatus',
  'lastError',
  'createdAt',
  'updatedAt',
  'sentAt',
] as const;

/**
 * State: owner items `USER#{userId}`, idempotency items `IDEM#{caller}#{key}`, delivery items
 * `CB#{deliveryId}`, outbox items `NOTIFY#{id}`, circuit items `CIRCUIT#{serviceId}`. Every index
 * is sparse and write-sharded (functions/domain/shards.ts; owner items by hash(userId), outbox
 * items by hash(id)):
 * - byPendingSince: owner items with a pending marker, `PENDING#{shard}` / `pendingSince`;
 * - byOwner: every owner item, `OWNER#{service}#{shard}` / `{userId}` (a Service's users);
 * - byDue: owner items with a timer, `DUE#{shard}` / `{dueAt}#{userId}` (the sweep);
 * - byNotificationStatus: outbox items, `NTF#{status}#{shard}` / `{createdAt}#{id}`;
 * - byInbound: the metrics' notes of a user's first inbound message of a day,
 *   `INBOUND#{day}#{shard}` / `{userId}` (docs/METRICS.md, the containment cohort).
 * Projections: reconcile and release take only user ids (keys only: a pending marker's write then
 * leaves byOwner untouched); the sweep and the metrics decide on the listed lease, offer and
 * version (ALL); the outbox listing returns everything but the body (the relay reads the item).
 */
export const stateTable: TableDefinition = {
  partitionKey: { name: 'pk', type: 'S' },
  globalIndexes: [
    {
      name: 'byPendingSince',
      partitionKey: { name: 'pendingPk', type: 'S' },
      sortKey: { name: 'pendingSince', type: 'S' },
      projection: { type: 'KEYS_ONLY' },
    },
    {
      name: 'byOwner',
      partitionKey: { name: 'ownerPk', type: 'S' },
      sortKey: { name: 'ownerSk', type: 'S' },
      projection: { type: 'KEYS_ONLY' },
    },
    {
      name: 'byDue',
      partitionKey: { name: 'duePk', type: 'S' },
      sortKey: { name: 'dueSk', type: 'S' },
      projection: { type: 'ALL' },
    },
    {
      name: 'byNotificationStatus',
      partitionKey: { name: 'ntfPk', type: 'S' },
      sortKey: { name: 'ntfSk', type: 'S' },
      projection: { type: 'INCLUDE', attributes: NOTIFICATION_LISTED },
    },
    {
      name: 'byInbound',
      partitionKey: { name: 'inboundPk', type: 'S' },
      sortKey: { name: 'inboundSk', type: 'S' },
      projection: { type: 'ALL' },
    },
  ],
  localIndexes: [],
  ttlAttribute: 'expiresAt',
};

/** A CreateTable request (on-demand) for a definition: used by the local runtime and tests. */
export const createTableInput = (
  definition: TableDefinition,
  tableName: string,
): CreateTableCommandInput => {
  const attributes = new Map<string, KeyAttribute>();
  const add = (a?: KeyAttribute) => {
    if (a) attributes.set(a.name, a);
  };
  add(definition.partitionKey);
  add(definition.sortKey);
  for (const g of definition.globalIndexes) {
    add(g.partitionKey);
    add(g.sortKey);
  }
  for (const l of definition.localIndexes) add(l.sortKey);
  const projection = (p: Projection) =>
    p.type === 'INCLUDE'
      ? { ProjectionType: 'INCLUDE' as const, NonKeyAttributes: [...p.attributes] }
      : { ProjectionType: p.type };
  const keySchema = (pk: KeyAttribute, sk?: KeyAttribute) => [
    { AttributeName: pk.name, KeyType: 'HASH' as const },
    ...(sk ? [{ AttributeName: sk.name, KeyType: 'RANGE' as const }] : []),
  ];
  return {
    TableName: tableName,
    BillingMode: 'PAY_PER_REQUEST',
    AttributeDefinitions: [...attributes.values()].map((a) => ({
      AttributeName: a.name,
      AttributeType: a.type,
    })),
    KeySchema: keySchema(definition.partitionKey, definition.sortKey),
    ...(definition.globalIndexes.length
      ? {
          GlobalSecondaryIndexes: definition.globalIndexes.map((g) => ({
            IndexName: g.name,
            KeySchema: keySchema(g.partitionKey, g.sortKey),
            Projection: projection(g.projection),
          })),
        }
      : {}),
    ...(definition.localIndexes.length
      ? {
          LocalSecondaryIndexes: definition.localIndexes.map((l) => ({
            IndexName: l.name,
            KeySchema: keySchema(definition.partitionKey, l.sortKey),
            Projection: projection(l.projection),
          })),
        }
      : {}),
  };
};
