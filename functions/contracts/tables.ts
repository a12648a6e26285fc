// The two DynamoDB tables, declared once. The CDK data stack and the local runtime both build
// their tables from these definitions, so the deployed and the local schema cannot drift.
import type { CreateTableCommandInput } from '@aws-sdk/client-dynamodb';

export interface KeyAttribute {
  name: string;
  type: 'S' | 'N';
}

export interface TableDefinition {
  partitionKey: KeyAttribute;
  sortKey?: KeyAttribute;
  globalIndexes: { name: string; partitionKey: KeyAttribute; sortKey?: KeyAttribute }[];
  localIndexes: { name: string; sortKey: KeyAttribute }[];
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
 */
export const historyTable: TableDefinition = {
  partitionKey: { name: 'pk', type: 'S' },
  sortKey: { name: 'sk', type: 'S' },
  globalIndexes: [
    {
      name: 'byDay',
      partitionKey: { name: 'dayPk', type: 'S' },
      sortKey: { name: 'timeSk', type: 'S' },
    },
    {
      name: 'byDestination',
      partitionKey: { name: 'toPk', type: 'S' },
      sortKey: { name: 'timeSk', type: 'S' },
    },
  ],
  localIndexes: [{ name: 'byTime', sortKey: { name: 'createdAt', type: 'S' } }],
};

/**
 * State: owner items `USER#{userId}`, idempotency items `IDEM#{caller}#{key}`, delivery items
 * `CB#{deliveryId}`, outbox items `NOTIFY#{id}`, circuit items `CIRCUIT#{serviceId}`. Every index
 * is sparse and write-sharded (functions/domain/shards.ts; owner items by hash(userId), outbox
 * items by hash(id)):
 * - byPendingSince: owner items with a pending marker, `PENDING#{shard}` / `pendingSince`;
 * - byOwner: every owner item, `OWNER#{service}#{shard}` / `{userId}` (a Service's users);
 * - byDue: owner items with a timer, `DUE#{shard}` / `{dueAt}#{userId}` (the sweep);
 * - byNotificationStatus: outbox items, `NTF#{status}#{shard}` / `{createdAt}#{id}`.
 */
export const stateTable: TableDefinition = {
  partitionKey: { name: 'pk', type: 'S' },
  globalIndexes: [
    {
      name: 'byPendingSince',
      partitionKey: { name: 'pendingPk', type: 'S' },
      sortKey: { name: 'pendingSince', type: 'S' },
    },
    {
      name: 'byOwner',
      partitionKey: { name: 'ownerPk', type: 'S' },
      sortKey: { name: 'ownerSk', type: 'S' },
    },
    {
      name: 'byDue',
      partitionKey: { name: 'duePk', type: 'S' },
      sortKey: { name: 'dueSk', type: 'S' },
    },
    {
      name: 'byNotificationStatus',
      partitionKey: { name: 'ntfPk', type: 'S' },
      sortKey: { name: 'ntfSk', type: 'S' },
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
            Projection: { ProjectionType: 'ALL' as const },
          })),
        }
      : {}),
    ...(definition.localIndexes.length
      ? {
          LocalSecondaryIndexes: definition.localIndexes.map((l) => ({
            IndexName: l.name,
            KeySchema: keySchema(definition.partitionKey, l.sortKey),
            Projection: { ProjectionType: 'ALL' as const },
          })),
        }
      : {}),
  };
};
