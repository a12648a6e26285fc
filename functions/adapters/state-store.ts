// The state table on DynamoDB (layout: functions/contracts/tables.ts). Three kinds of item:
// - owner items `USER#{userId}`: the OwnerItem fields as they are (`pending` as a map or null),
//   replaced whole on every write with a condition on `version`, plus the write-sharded index keys
//   of ownerIndexKeys (shard = hash(userId) mod `shards`): always `ownerPk`/`ownerSk` (byOwner),
//   while `pending` is set `pendingPk`/`pendingSince` (byPendingSince), while a timer is set
//   `duePk`/`dueSk` (byDue). A whole-item put drops the keys a write no longer gives, and moves the
//   item to its new owner's partition. Reads strip them all;
// - idempotency items `IDEM#{callerServiceId}#{key}` and delivery items `CB#{deliveryId}`, both
//   with `expiresAt` (epoch seconds). An item counts as absent from `expiresAt` on: reads return
//   null for it and conditional writes may replace it (`expiresAt <= now`), while DynamoDB's TTL
//   deletes it some time later in AWS.
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import {
  GetCommand,
  PutCommand,
  QueryCommand,
  type QueryCommandOutput,
  ScanCommand,
  type ScanCommandOutput,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import type { StateStore } from '../domain/ports';
import { checkReadShards, DEFAULT_INDEX_SHARDS, indexKeys } from '../domain/shards';
import type { DeliveryItem, IdempotencyItem, OwnerItem } from '../domain/types';
import {
  checkLimit,
  cursorString,
  decodeCursor,
  encodeCursor,
  invalidCursor,
  isConditionFailure,
  isInvalidStartKey,
  type Key,
} from './dynamo';
import { createOwnerIndexReads, OWNER_INDEX_ATTRIBUTES, ownerIndexKeys } from './owner-index';

export { ownerIndexKeys } from './owner-index';

export interface StateStoreOptions {
  client: DynamoDBDocumentClient;
  tableName: string;
  /**
   * Items one `listUsers` page may read (owner, idempotency and delivery items alike; only owner
   * items are returned). @default 5000
   */
  maxScannedPerPage?: number;
  /** Index shards owner items are written with (the stage's `indexShards`). @default DEFAULT_INDEX_SHARDS */
  shards?: number;
  /**
   * Index shards the listings fan out over (byOwner, byPendingSince) and listDue accepts:
   * `shards`, or more while N is being lowered (readShardsOf). @default shards
   */
  readShards?: number;
}

const OWNER_ATTRIBUTES_ADDED = ['pk', ...OWNER_INDEX_ATTRIBUTES] as const;

const ownerPk = (userId: string) => `USER#${userId}`;
const idempotencyPk = (callerServiceId: string, key: string) => `IDEM#${callerServiceId}#${key}`;
const deliveryPk = (deliveryId: string) => `CB#${deliveryId}`;

const toOwnerItem = (item: OwnerItem, shards: number): Record<string, unknown> => ({
  ...item,
  pk: ownerPk(item.userId),
  ...ownerIndexKeys(item, shards),
});

const withoutAttributes = <T>(item: Record<string, unknown>, names: readonly string[]): T => {
  const copy: Record<string, unknown> = { ...item };
  for (const name of names) delete copy[name];
  return copy as T;
};

/** Live at `nowMs`: not yet at its `expiresAt` (epoch seconds). */
const isLive = (item: { expiresAt?: unknown }, nowMs: number) =>
  typeof item.expiresAt === 'number' && item.expiresAt * 1000 > nowMs;

/** The delivery fields `updateDelivery` may change. */
const DELIVERY_FIELDS = [
  'state',
  'disposition',
  'replyState',
  'handoverId',
  'leaseUntil',
  'expiresAt',
  'forwardedTo',
  'failures',
  'lastStatus',
  'failover',
] as const;

const ABSENT_OR_EXPIRED = 'attribute_not_exists(pk) OR expiresAt <= :nowSeconds';

/** A byDue position: `{dueAt}#{userId}`, the item's own sort key (unique per user). */
const DUE_POSITION = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z#./s;

export const createStateStore = ({
  client,
  tableName,
  maxScannedPerPage = 5000,
  shards = DEFAULT_INDEX_SHARDS,
  readShards: readShardsOption,
}: StateStoreOptions): StateStore => {
  const readShards = checkReadShards(shards, readShardsOption);
  const { listOwnedBy, listStalePending } = createOwnerIndexReads({
    client,
    tableName,
    shards: readShards,
  });
  const conditionalPut = async (
    item: Record<string, unknown>,
    condition: string,
    values?: Record<string, unknown>,
    names?: Record<string, string>,
  ): Promise<boolean> => {
    try {
      await client.send(
        new PutCommand({
          TableName: tableName,
          Item: item,
          ConditionExpression: condition,
          ...(values ? { ExpressionAttributeValues: values } : {}),
          ...(names ? { ExpressionAttributeNames: names } : {}),
        }),
      );
      return true;
    } catch (err) {
      if (isConditionFailure(err)) return false;
      throw err;
    }
  };

  const read = async (
    pk: string,
    consistent = true,
  ): Promise<Record<string, unknown> | undefined> => {
    const out = await client.send(
      new GetCommand({ TableName: tableName, Key: { pk }, ConsistentRead: consistent }),
    );
    return out.Item;
  };

  const getOwner: StateStore['getOwner'] = async (userId, readOptions) => {
    const item = await read(ownerPk(userId), readOptions?.consistent ?? true);
    return item ? withoutAttributes<OwnerItem>(item, OWNER_ATTRIBUTES_ADDED) : null;
  };

  // No index lists the owner items: a scan, filtered to them, bounded per page by items read. The
  // cursor is the key of the last user returned, so a page may end inside a DynamoDB page.
  const listUsers: StateStore['listUsers'] = async ({ limit, cursor }) => {
    checkLimit(limit);
    let startKey: Key | undefined;
    if (cursor !== undefined) {
      // Any key of the table: a bounded page may stop on an idempotency or delivery item.
      startKey = { pk: cursorString(decodeCursor(cursor, 'users'), 'pk') };
    }
    const users: { userId: string }[] = [];
    let read = 0;
    const page = (lastPk?: unknown) => ({
      items: users,
      ...(typeof lastPk === 'string'
        ? { cursor: encodeCursor({ kind: 'users', pk: lastPk }) }
        : {}),
      itemsRead: read,
    });
    for (;;) {
      let out: ScanCommandOutput;
      try {
        out = await client.send(
          new ScanCommand({
            TableName: tableName,
            FilterExpression: 'begins_with(#pk, :owner)',
            ProjectionExpression: '#pk, #userId',
            ExpressionAttributeNames: { '#pk': 'pk', '#userId': 'userId' },
            ExpressionAttributeValues: { ':owner': 'USER#' },
            Limit: Math.max(1, Math.min(1000, maxScannedPerPage - read)),
            ExclusiveStartKey: startKey,
          }),
        );
      } catch (err) {
        if (cursor !== undefined && isInvalidStartKey(err)) throw invalidCursor();
        throw err;
      }
      read += out.ScannedCount ?? 0;
      const found = out.Items ?? [];
      for (const [i, item] of found.entries()) {
        users.push({ userId: item.userId as string });
        if (users.length === limit) {
          const more = i < found.length - 1 || out.LastEvaluatedKey !== undefined;
          return page(more ? item.pk : undefined);
        }
      }
      if (!out.LastEvaluatedKey) return page();
      startKey = out.LastEvaluatedKey;
      if (read >= maxScannedPerPage) return page(startKey.pk);
    }
  };

  // byDue, one shard a call (the sweep walks the shards in turn): oldest first, below the bound.
  // The cursor is the last sort key read; the item's own key follows from it.
  const listDue: StateStore['listDue'] = async (shard, beforeDueSk, { limit, cursor }) => {
    checkLimit(limit);
    if (!Number.isInteger(shard) || shard < 0 || shard >= readShards) {
      throw new RangeError(`shard must be a whole number from 0 to ${readShards - 1}`);
    }
    const duePk = indexKeys.due(shard);
    let after: string | undefined;
    if (cursor !== undefined) {
      const state = decodeCursor(cursor, 'due');
      after = cursorString(state, 'sk');
      if (state.shard !== shard || !DUE_POSITION.test(after)) throw invalidCursor();
    }
    let out: QueryCommandOutput;
    try {
      out = await client.send(
        new QueryCommand({
          TableName: tableName,
          IndexName: 'byDue',
          KeyConditionExpression: 'duePk = :pk AND dueSk < :before',
          ExpressionAttributeValues: { ':pk': duePk, ':before': beforeDueSk },
          ScanIndexForward: true,
          Limit: limit,
          ...(after === undefined
            ? {}
            : {
                ExclusiveStartKey: {
                  pk: ownerPk(after.slice(after.indexOf('#') + 1)),
                  duePk,
                  dueSk: after,
                },
              }),
        }),
      );
    } catch (err) {
      if (cursor !== undefined && isInvalidStartKey(err)) throw invalidCursor();
      throw err;
    }
    const last = out.LastEvaluatedKey?.dueSk;
    return {
      items: (out.Items ?? []).map((item) =>
        withoutAttributes<OwnerItem>(item, OWNER_ATTRIBUTES_ADDED),
      ),
      ...(typeof last === 'string'
        ? { cursor: encodeCursor({ kind: 'due', shard, sk: last }) }
        : {}),
      itemsRead: out.ScannedCount ?? 0,
    };
  };

  const createOwner: StateStore['createOwner'] = async (item) =>
    conditionalPut(toOwnerItem(item, shards), 'attribute_not_exists(pk)');

  const compareAndSetOwner: StateStore['compareAndSetOwner'] = async (item, expectedVersion) => {
    if (item.version !== expectedVersion + 1) {
      throw new Error('An owner item write must advance the version by exactly one.');
    }
    // A fenced item (a full erasure under way) is the eraser's: no write passes it.
    return conditionalPut(
      toOwnerItem(item, shards),
      '#version = :expected AND attribute_not_exists(#erasing)',
      { ':expected': expectedVersion },
      { '#version': 'version', '#erasing': 'erasing' },
    );
  };

  const getIdempotency: StateStore['getIdempotency'] = async (callerServiceId, key, nowMs) => {
    const item = await read(idempotencyPk(callerServiceId, key));
    return item && isLive(item, nowMs) ? withoutAttributes<IdempotencyItem>(item, ['pk']) : null;
  };

  const putIdempotency: StateStore['putIdempotency'] = (item, nowMs) =>
    conditionalPut(
      { ...item, pk: idempotencyPk(item.callerServiceId, item.key) },
      ABSENT_OR_EXPIRED,
      {
        ':nowSeconds': nowMs / 1000,
      },
    );

  const replaceIdempotency: StateStore['replaceIdempotency'] = (item, previousHandoverId, nowMs) =>
    conditionalPut(
      { ...item, pk: idempotencyPk(item.callerServiceId, item.key) },
      `handoverId = :previous OR ${ABSENT_OR_EXPIRED}`,
      { ':previous': previousHandoverId, ':nowSeconds': nowMs / 1000 },
    );

  const getDelivery: StateStore['getDelivery'] = async (deliveryId, nowMs) => {
    const item = await read(deliveryPk(deliveryId));
    return item && isLive(item, nowMs) ? withoutAttributes<DeliveryItem>(item, ['pk']) : null;
  };

  const claimDelivery: StateStore['claimDelivery'] = async (item, nowMs, read) => {
    // Conditioned on the item as read, not on the clock: an attempt that stalled between its read
    // and its claim must lose to any attempt that claimed meanwhile. The lease alone cannot tell
    // (a released lease reads 0 again), so the fields a retry carries over are compared too.
    const values: Record<string, unknown> = { ':nowSeconds': nowMs / 1000 };
    let condition = ABSENT_OR_EXPIRED;
    if (read) {
      Object.assign(values, {
        ':inProgress': 'in_progress',
        ':nowMs': nowMs,
        ':readLease': read.leaseUntil,
        ':readReply': read.replyState,
        ...(read.handoverId === null
          ? { ':nullType': 'NULL' }
          : { ':readHandover': read.handoverId }),
      });
      const handover =
        read.handoverId === null
          ? 'attribute_type(handoverId, :nullType)'
          : 'handoverId = :readHandover';
      condition +=
        ' OR (#state = :inProgress AND leaseUntil = :readLease AND leaseUntil < :nowMs' +
        ` AND replyState = :readReply AND ${handover})`;
    }
    // A claim that loses reads the winner; should that item vanish or expire in between, the
    // claim is simply tried again (a few times at most).
    for (let attempt = 0; attempt < 3; attempt += 1) {
      const claimed = await conditionalPut(
        { ...item, pk: deliveryPk(item.deliveryId) },
        condition,
        values,
        read ? { '#state': 'state' } : undefined,
      );
      if (claimed) return { claimed: true };
      const existing = await getDelivery(item.deliveryId, nowMs);
      if (existing) return { claimed: false, existing };
    }
    throw new Error(`The delivery ${item.deliveryId} could not be claimed or read.`);
  };

  const updateDelivery: StateStore['updateDelivery'] = async (deliveryId, patch, lease) => {
    const entries = DELIVERY_FIELDS.flatMap((field) =>
      patch[field] === undefined ? [] : [[field, patch[field]] as const],
    );
    if (entries.length === 0) return true;
    const names: Record<string, string> = {};
    const values: Record<string, unknown> = {};
    const sets = entries.map(([field, value], i) => {
      names[`#f${i}`] = field;
      values[`:v${i}`] = value;
      return `#f${i} = :v${i}`;
    });
    if (lease !== undefined) {
      names['#lease'] = 'leaseUntil';
      values[':lease'] = lease;
    }
    try {
      await client.send(
        new UpdateCommand({
          TableName: tableName,
          Key: { pk: deliveryPk(deliveryId) },
          UpdateExpression: `SET ${sets.join(', ')}`,
          ConditionExpression:
            lease === undefined
              ? 'attribute_exists(pk)'
              : 'attribute_exists(pk) AND #lease = :lease',
          ExpressionAttributeNames: names,
          ExpressionAttributeValues: values,
        }),
      );
      return true;
    } catch (err) {
      if (isConditionFailure(err)) {
        if (lease !== undefined) return false;
        throw new Error(`The delivery ${deliveryId} does not exist; it cannot be updated.`);
      }
      throw err;
    }
  };

  return {
    getOwner,
    createOwner,
    compareAndSetOwner,
    listOwnedBy,
    listStalePending,
    listDue,
    listUsers,
    getIdempotency,
    putIdempotency,
    replaceIdempotency,
    getDelivery,
    claimDelivery,
    updateDelivery,
  };
};
