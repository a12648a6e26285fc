// The owner items' write-sharded indexes (functions/domain/shards.ts), for the state store: the
// keys an owner item carries (byOwner, byPendingSince, byDue; shard = hash(userId) mod `shards`)
// and the listings that fan out over them (shard-merge.ts). Every read is one query per shard of
// at most `limit` items, so a page reads at most `limit x shards` items whatever the table holds.
import { createHash } from 'node:crypto';
import type { DynamoDBDocumentClient, QueryCommandInput } from '@aws-sdk/lib-dynamodb';
import { QueryCommand } from '@aws-sdk/lib-dynamodb';
import type { StateStore } from '../domain/ports';
import { indexKeys, shardOf } from '../domain/shards';
import type { OwnerItem } from '../domain/types';
import {
  checkLimit,
  decodeCursor,
  encodeCursor,
  invalidCursor,
  isInvalidStartKey,
  type Key,
} from './dynamo';
import {
  decodeShardPositions,
  encodeShardPositions,
  mergeShardPage,
  type ShardMergeOptions,
  type ShardPosition,
  startPositions,
} from './shard-merge';

/** The attributes ownerIndexKeys may add: stripped on every read. */
export const OWNER_INDEX_ATTRIBUTES = [
  'ownerPk',
  'ownerSk',
  'pendingPk',
  'pendingSince',
  'duePk',
  'dueSk',
] as const;

const userPk = (userId: string) => `USER#${userId}`;

/** A pending cursor's position per shard: `{pendingSince}#{userId}`. */
const PENDING_POSITION = /^\d{4}-\d{2}-\d{2}T[\d:.]+Z#./s;
/** Pending cursors stay inside the process (reconcile): room for a long user id per shard. */
const PENDING_CURSOR_CHARS = 16_384;

/** `markedAt` in `toISOString` form, so that the index sorts by time. */
const sortableInstant = (iso: string): string => {
  const ms = Date.parse(iso);
  if (Number.isNaN(ms)) throw new Error('A pending marker needs a valid markedAt time.');
  return new Date(ms).toISOString();
};

/**
 * The index keys an owner item gets with `shards` index shards, all in the shard of its user:
 * byOwner always; byPendingSince while a marker is set; byDue while a timer (`dueAt`, which the
 * timers set) is. Pure: tests and tools compute where an item is listed with it.
 */
export const ownerIndexKeys = (
  item: Pick<OwnerItem, 'userId' | 'owner' | 'pending'> & { dueAt?: unknown },
  shards: number,
): Record<string, string> => {
  const shard = shardOf(item.userId, shards);
  const keys: Record<string, string> = {
    ownerPk: indexKeys.owner(item.owner, shard),
    ownerSk: item.userId,
  };
  if (item.pending) {
    keys.pendingPk = indexKeys.pending(shard);
    keys.pendingSince = sortableInstant(item.pending.markedAt);
  }
  if (item.dueAt !== undefined && item.dueAt !== null) {
    const ms = typeof item.dueAt === 'string' ? Date.parse(item.dueAt) : Number.NaN;
    if (Number.isNaN(ms)) {
      throw new Error('An owner item timer (dueAt) must be an ISO-8601 instant.');
    }
    keys.duePk = indexKeys.due(shard);
    keys.dueSk = `${new Date(ms).toISOString()}#${item.userId}`;
  }
  return keys;
};

export const createOwnerIndexReads = ({
  client,
  tableName,
  shards,
}: {
  client: DynamoDBDocumentClient;
  tableName: string;
  /** The shards the listings fan out over (the store's readShards). */
  shards: number;
}): Pick<StateStore, 'listOwnedBy' | 'listStalePending'> => {
  /**
   * One page of a sharded index of owner items: every shard's partition read in parallel (one
   * query of at most `limit` items each, so at most `limit x shards` items read) and merged.
   */
  const shardedPage = async (
    limit: number,
    positions: ShardPosition[],
    query: (shard: number, after: string | undefined) => Omit<QueryCommandInput, 'Limit'>,
    order: Pick<ShardMergeOptions, 'sortKeyOf' | 'sortKeyOfPosition' | 'positionOf'> & {
      uniqueSortKeys: boolean;
      positionOfKey: (key: Key) => string;
    },
    hasCursor: boolean,
  ) => {
    try {
      return await mergeShardPage({
        ...order,
        positions,
        want: limit,
        read: async (shard, after) => {
          const out = await client.send(new QueryCommand({ ...query(shard, after), Limit: limit }));
          const last = out.LastEvaluatedKey;
          return {
            items: (out.Items ?? []) as Record<string, unknown>[],
            ...(last ? { next: order.positionOfKey(last) } : {}),
            read: out.ScannedCount ?? 0,
            queries: 1,
          };
        },
      });
    } catch (err) {
      if (hasCursor && isInvalidStartKey(err)) throw invalidCursor();
      throw err;
    }
  };

  // byOwner: `OWNER#{service}#{shard}` / userId. The cursor names the Service by a digest, so a
  // cursor of one Service's listing is refused for another's.
  const listOwnedBy: StateStore['listOwnedBy'] = async (serviceId, { limit, cursor }) => {
    checkLimit(limit);
    const service = createHash('sha256').update(serviceId).digest('base64url').slice(0, 12);
    let positions = startPositions(shards);
    if (cursor !== undefined) {
      const state = decodeCursor(cursor, 'owned');
      if (state.service !== service) throw invalidCursor();
      positions = decodeShardPositions(state, shards, () => true);
    }
    const merged = await shardedPage(
      limit,
      positions,
      (shard, after) => ({
        TableName: tableName,
        IndexName: 'byOwner',
        KeyConditionExpression: `ownerPk = :pk${after === undefined ? '' : ' AND ownerSk > :after'}`,
        ExpressionAttributeValues: {
          ':pk': indexKeys.owner(serviceId, shard),
          ...(after === undefined ? {} : { ':after': after }),
        },
        ProjectionExpression: 'ownerSk',
      }),
      {
        sortKeyOf: (item) => item.ownerSk as string,
        sortKeyOfPosition: (position) => position,
        positionOf: (item) => item.ownerSk as string,
        positionOfKey: (key) => key.ownerSk as string,
        uniqueSortKeys: true,
      },
      cursor !== undefined,
    );
    return {
      items: merged.items.map((item) => ({ userId: item.ownerSk as string })),
      ...(merged.positions.some((p) => p.state !== 'done')
        ? {
            cursor: encodeCursor({
              kind: 'owned',
              service,
              ...encodeShardPositions(merged.positions),
            }),
          }
        : {}),
      itemsRead: merged.read,
    };
  };

  // byPendingSince: `PENDING#{shard}` / markedAt. Markers of one instant may share a shard, so a
  // shard's position is its DynamoDB start key, `{pendingSince}#{userId}`.
  const listStalePending: StateStore['listStalePending'] = async (
    markedBefore,
    { limit, cursor },
  ) => {
    checkLimit(limit);
    const before = sortableInstant(markedBefore);
    let positions = startPositions(shards);
    if (cursor !== undefined) {
      const state = decodeCursor(cursor, 'pending', PENDING_CURSOR_CHARS);
      positions = decodeShardPositions(state, shards, (key) => PENDING_POSITION.test(key));
    }
    const merged = await shardedPage(
      limit,
      positions,
      (shard, after) => {
        const pendingPk = indexKeys.pending(shard);
        const split = after?.indexOf('#') ?? -1;
        return {
          TableName: tableName,
          IndexName: 'byPendingSince',
          KeyConditionExpression: 'pendingPk = :pending AND pendingSince < :before',
          ExpressionAttributeValues: { ':pending': pendingPk, ':before': before },
          ScanIndexForward: true,
          ...(after === undefined
            ? {}
            : {
                ExclusiveStartKey: {
                  pk: userPk(after.slice(split + 1)),
                  pendingPk,
                  pendingSince: after.slice(0, split),
                },
              }),
        };
      },
      {
        sortKeyOf: (item) => item.pendingSince as string,
        sortKeyOfPosition: (position) => position.slice(0, position.indexOf('#')),
        positionOf: (item) => `${item.pendingSince}#${(item.pk as string).slice('USER#'.length)}`,
        positionOfKey: (key) => `${key.pendingSince}#${(key.pk as string).slice('USER#'.length)}`,
        uniqueSortKeys: false,
      },
      cursor !== undefined,
    );
    // The index holds keys only: the user from the item's key, the marker's time from its sort key.
    return {
      items: merged.items.map((item) => ({
        userId: (item.pk as string).slice('USER#'.length),
        markedAt: item.pendingSince as string,
      })),
      ...(merged.positions.some((p) => p.state !== 'done')
        ? { cursor: encodeCursor({ kind: 'pending', ...encodeShardPositions(merged.positions) }) }
        : {}),
      itemsRead: merged.read,
    };
  };

  return { listOwnedBy, listStalePending };
};
