// The metrics' items in the state table (docs/METRICS.md), beside the owner items:
// - `ROLLUP#{day}`: a mature day's figures, put once on the key's absence, kept (no expiry);
// - `INBOUND#{day}#{userId}`: a user's first inbound message of a day, put once; listed through
//   the sparse, write-sharded byInbound index (`INBOUND#{day}#{shard}` / userId, shard =
//   hash(userId) mod `shards`); expires after NOTE_DAYS;
// - `REPLY#{since}#{userId}`: an agent's first message in the tenure that began at `since`, put
//   once; read by key for each escalation; expires after NOTE_DAYS.
// The leased owner items come from the byDue index (every item with a timer), one shard after
// another; that cursor never leaves the process.
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { GetCommand, PutCommand, QueryCommand } from '@aws-sdk/lib-dynamodb';
import type {
  DayRollup,
  InboundNote,
  LeasedOwner,
  MetricsStore,
  ReplyNote,
} from '../domain/metrics/types';
import {
  allShards,
  checkReadShards,
  DEFAULT_INDEX_SHARDS,
  indexKeys,
  shardOf,
} from '../domain/shards';
import { decodeCursor, encodeCursor, invalidCursor, isConditionFailure, type Key } from './dynamo';

/** Notes outlive a day's maturity by weeks: a rollup rebuilt within a month still finds them. */
export const NOTE_DAYS = 35;
/** Reply-note reads in flight at once. */
const READS_IN_FLIGHT = 16;

export interface MetricsStoreOptions {
  client: DynamoDBDocumentClient;
  tableName: string;
  /** Index shards notes are written with (the stage's `indexShards`). @default DEFAULT_INDEX_SHARDS */
  shards?: number;
  /** Index shards byInbound and byDue are read over (readShardsOf). @default shards */
  readShards?: number;
  /** Epoch ms, for the notes' expiry. @default Date.now */
  now?: () => number;
}

const rollupPk = (day: string) => `ROLLUP#${day}`;
const inboundPk = (day: string, userId: string) => `INBOUND#${day}#${userId}`;
const replyPk = (since: string, userId: string) => `REPLY#${since}#${userId}`;

/**
 * The byInbound keys of a first-inbound note with `shards` index shards: its day's partition in
 * the shard of its user. Pure: the reindex uses it.
 */
export const inboundIndexKeys = (
  note: Pick<InboundNote, 'day' | 'userId'>,
  shards: number,
): { inboundPk: string; inboundSk: string } => ({
  inboundPk: indexKeys.inbound(note.day, shardOf(note.userId, shards)),
  inboundSk: note.userId,
});

const text = (item: Record<string, unknown>, name: string): string | null =>
  typeof item[name] === 'string' ? (item[name] as string) : null;

export const createMetricsStore = ({
  client,
  tableName,
  shards = DEFAULT_INDEX_SHARDS,
  readShards: readShardsOption,
  now = Date.now,
}: MetricsStoreOptions): MetricsStore => {
  const readShards = checkReadShards(shards, readShardsOption);
  const expiresAt = (fromMs: number) => Math.floor(fromMs / 1000) + NOTE_DAYS * 86_400;

  const putOnce = async (item: Record<string, unknown>): Promise<boolean> => {
    try {
      await client.send(
        new PutCommand({
          TableName: tableName,
          Item: item,
          ConditionExpression: 'attribute_not_exists(pk)',
        }),
      );
      return true;
    } catch (err) {
      if (isConditionFailure(err)) return false;
      throw err;
    }
  };

  const get = async (pk: string): Promise<Record<string, unknown> | null> => {
    const out = await client.send(
      new GetCommand({ TableName: tableName, Key: { pk }, ConsistentRead: true }),
    );
    return (out.Item as Record<string, unknown> | undefined) ?? null;
  };

  const replyNote = async (key: { userId: string; since: string }): Promise<ReplyNote | null> => {
    const item = await get(replyPk(key.since, key.userId));
    const owner = item && text(item, 'owner');
    const at = item && text(item, 'at');
    return owner && at ? { userId: key.userId, owner, since: key.since, at } : null;
  };

  return {
    async getRollup(day) {
      const item = await get(rollupPk(day));
      return item ? { day, metrics: item.metrics as DayRollup['metrics'] } : null;
    },

    putRollup: (rollup) =>
      putOnce({
        pk: rollupPk(rollup.day),
        day: rollup.day,
        metrics: rollup.metrics,
        writtenAt: new Date(now()).toISOString(),
      }),

    async inboundNotes(day) {
      const notes: InboundNote[] = [];
      await Promise.all(
        allShards(readShards).map(async (shard) => {
          let startKey: Key | undefined;
          do {
            const out = await client.send(
              new QueryCommand({
                TableName: tableName,
                IndexName: 'byInbound',
                KeyConditionExpression: 'inboundPk = :pk',
                ExpressionAttributeValues: { ':pk': indexKeys.inbound(day, shard) },
                ...(startKey ? { ExclusiveStartKey: startKey } : {}),
              }),
            );
            for (const item of (out.Items ?? []) as Record<string, unknown>[]) {
              const [userId, service, at] = [
                text(item, 'userId'),
                text(item, 'service'),
                text(item, 'at'),
              ];
              if (userId && service && at) notes.push({ userId, day, service, at });
            }
            startKey = out.LastEvaluatedKey;
          } while (startKey);
        }),
      );
      return notes.sort((a, b) => (a.userId < b.userId ? -1 : a.userId > b.userId ? 1 : 0));
    },

    putInboundNote: (note) =>
      putOnce({
        pk: inboundPk(note.day, note.userId),
        userId: note.userId,
        day: note.day,
        service: note.service,
        at: note.at,
        ...inboundIndexKeys(note, shards),
        expiresAt: expiresAt(Date.parse(note.at)),
      }),

    async replyNotes(keys) {
      const found: ReplyNote[] = [];
      for (let i = 0; i < keys.length; i += READS_IN_FLIGHT) {
        const batch = await Promise.all(keys.slice(i, i + READS_IN_FLIGHT).map(replyNote));
        for (const note of batch) if (note) found.push(note);
      }
      return found;
    },

    putReplyNote: (note) =>
      putOnce({
        pk: replyPk(note.since, note.userId),
        userId: note.userId,
        owner: note.owner,
        since: note.since,
        at: note.at,
        expiresAt: expiresAt(Date.parse(note.at)),
      }),

    async listLeased({ limit, cursor }) {
      let shard = 0;
      let startKey: Key | undefined;
      if (cursor) {
        const state = decodeCursor(cursor, 'leased');
        if (typeof state.shard !== 'number' || !Number.isInteger(state.shard))
          throw invalidCursor();
        shard = state.shard;
        startKey = (state.key as Key | undefined) ?? undefined;
      }
      const items: LeasedOwner[] = [];
      while (shard < readShards && items.length < limit) {
        const out = await client.send(
          new QueryCommand({
            TableName: tableName,
            IndexName: 'byDue',
            KeyConditionExpression: 'duePk = :pk',
            ExpressionAttributeValues: { ':pk': indexKeys.due(shard) },
            Limit: limit - items.length,
            ...(startKey ? { ExclusiveStartKey: startKey } : {}),
          }),
        );
        for (const item of (out.Items ?? []) as Record<string, unknown>[]) {
          const lease = item.lease as Record<string, unknown> | null | undefined;
          const [userId, owner] = [text(item, 'userId'), text(item, 'owner')];
          const lastUserAt = lease ? text(lease, 'lastUserAt') : null;
          const lastOwnerAt = lease ? text(lease, 'lastOwnerAt') : null;
          if (userId && owner && lastUserAt && lastOwnerAt) {
            items.push({ userId, owner, lastUserAt, lastOwnerAt });
          }
        }
        startKey = out.LastEvaluatedKey;
        if (!startKey) shard += 1;
      }
      return shard < readShards
        ? { items, cursor: encodeCursor({ kind: 'leased', shard, key: startKey }) }
        : { items };
    },
  };
};
