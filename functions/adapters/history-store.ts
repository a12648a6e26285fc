// The append-only handover history on DynamoDB (table layout: functions/contracts/tables.ts).
// One item per record: `pk = USER#{userId}`, `sk = SEQ#{seq, 10 digits}`, plus the write-sharded
// index keys of historyIndexKeys (`dayPk = DAY#{yyyy-mm-dd, UTC}#{shard}`, `toPk =
// TO#{toOwner}#{yyyy-mm-dd}#{shard}`, `timeSk = {createdAt}#{handoverId}`, shard = hash(handoverId)
// mod `shards`) and every record field as it is (`createdAt` doubles as the byTime LSI's sort key).
// Items are only ever put, conditionally on their key; nothing here updates or deletes.
//
// Ranges walk the days; each day's shards are read in parallel and merged by timeSk
// (shard-merge.ts), the cursor holding the day, the exhausted shards and where the others resume.
// `itemsRead` is the sum of DynamoDB's ScannedCount. An unfiltered page reads at most `limit` items
// per shard, so at most `limit x shards` whatever the table holds; a cursor may come with a last
// full page and lead to an empty one. Filtered pages (reason, status, source) may be short; they
// stop after `maxItemsReadPerPage` items (passed by at most one item per shard) or
// `maxQueriesPerPage` queries, and only then can a page be empty while carrying a cursor.
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { GetCommand, PutCommand, QueryCommand } from '@aws-sdk/lib-dynamodb';
import { ValidationError } from '../domain/errors';
import type { HistoryStore } from '../domain/ports';
import { checkReadShards, DEFAULT_INDEX_SHARDS, indexKeys, shardOf } from '../domain/shards';
import type { HandoverRecord, HistoryFilters, Page } from '../domain/types';
import {
  checkLimit,
  collectQuery,
  cursorString,
  decodeCursor,
  encodeCursor,
  invalidCursor,
  isConditionFailure,
  isInvalidStartKey,
  type Key,
} from './dynamo';
import {
  allDone,
  compareSortKeys,
  decodeShardPositions,
  encodeShardPositions,
  mergeShardPage,
  type ShardPosition,
  type ShardSegment,
  startPositions,
  successor,
} from './shard-merge';

export interface HistoryStoreOptions {
  client: DynamoDBDocumentClient;
  tableName: string;
  /** Work bound for one filtered or multi-day page. @default 5000 */
  maxItemsReadPerPage?: number;
  /**
   * Query bound for one range page: a day costs one query per shard; a page always reads at least
   * one day. @default 100
   */
  maxQueriesPerPage?: number;
  /** Index shards records are written with (the stage's `indexShards`). @default DEFAULT_INDEX_SHARDS */
  shards?: number;
  /**
   * Index shards ranges fan out over: `shards`, or more while N is being lowered (readShardsOf:
   * the stage's `indexShardsFrom`), so records keyed under the old N stay listed. @default shards
   */
  readShards?: number;
}

const KEY_ATTRIBUTES = ['pk', 'sk', 'dayPk', 'toPk', 'timeSk'] as const;
const BASE_KEY = ['pk', 'sk'];
const DAY_MS = 86_400_000;
/** Items a filtered range query reads per shard and step (matches may be sparse). */
const FILTERED_STEP = 100;

const userPk = (userId: string) => `USER#${userId}`;
const seqSk = (seq: number) => `SEQ#${String(seq).padStart(10, '0')}`;
const SK_PATTERN = /^SEQ#\d{10}$/;
const DAY_PATTERN = /^\d{4}-\d{2}-\d{2}$/;

/** An ISO instant in `toISOString` form (the form every stored time has), or 400. */
const instantOf = (value: string, what: string): string => {
  const ms = Date.parse(value);
  if (Number.isNaN(ms)) {
    throw new ValidationError(`The ${what} time is not a valid ISO-8601 instant.`);
  }
  return new Date(ms).toISOString();
};

const dayOf = (iso: string) => iso.slice(0, 10);
const nextDay = (day: string) =>
  new Date(Date.parse(`${day}T00:00:00.000Z`) + DAY_MS).toISOString().slice(0, 10);

/**
 * The index keys a record's item gets with `shards` index shards: its UTC day's partition of the
 * day index and of its destination's, in the shard of its handover id (a busy user's records
 * spread too), and the sort key both share. Pure: the bench computes key spreads with it.
 */
export const historyIndexKeys = (
  record: Pick<HandoverRecord, 'handoverId' | 'toOwner' | 'createdAt'>,
  shards: number,
): { dayPk: string; toPk: string; timeSk: string } => {
  const createdAt = instantOf(record.createdAt, 'record');
  const day = dayOf(createdAt);
  const shard = shardOf(record.handoverId, shards);
  return {
    dayPk: indexKeys.day(day, shard),
    toPk: indexKeys.destination(record.toOwner, day, shard),
    timeSk: `${createdAt}#${record.handoverId}`,
  };
};

const toItem = (record: HandoverRecord, shards: number): Record<string, unknown> => {
  if (!Number.isInteger(record.seq) || record.seq < 0) {
    throw new Error('A history record needs a whole, non-negative seq.');
  }
  return {
    ...record,
    pk: userPk(record.userId),
    sk: seqSk(record.seq),
    ...historyIndexKeys(record, shards),
  };
};

const toRecord = (item: Record<string, unknown>): HandoverRecord => {
  const record: Record<string, unknown> = { ...item };
  for (const name of KEY_ATTRIBUTES) delete record[name];
  return record as unknown as HandoverRecord;
};

const filterExpression = (filters: HistoryFilters | undefined) => {
  const names: Record<string, string> = {};
  const values: Record<string, unknown> = {};
  const terms: string[] = [];
  for (const field of ['reason', 'status', 'source'] as const) {
    const value = filters?.[field];
    if (value === undefined) continue;
    names[`#${field}`] = field;
    values[`:${field}`] = value;
    terms.push(`#${field} = :${field}`);
  }
  return terms.length ? { expression: terms.join(' AND '), names, values } : undefined;
};

export const createHistoryStore = (options: HistoryStoreOptions): HistoryStore => {
  const { client, tableName } = options;
  const maxRead = options.maxItemsReadPerPage ?? 5000;
  const maxQueries = options.maxQueriesPerPage ?? 100;
  const shards = options.shards ?? DEFAULT_INDEX_SHARDS;
  const readShards = checkReadShards(shards, options.readShards);

  /** Runs a query that fails on a forged start key as an invalid cursor. */
  const guarded = async <T>(hasCursor: boolean, run: () => Promise<T>): Promise<T> => {
    try {
      return await run();
    } catch (err) {
      if (hasCursor && isInvalidStartKey(err)) throw invalidCursor();
      throw err;
    }
  };

  const append: HistoryStore['append'] = async (record) => {
    try {
      await client.send(
        new PutCommand({
          TableName: tableName,
          Item: toItem(record, shards),
          ConditionExpression: 'attribute_not_exists(pk)',
        }),
      );
      return 'appended';
    } catch (err) {
      if (isConditionFailure(err)) return 'exists';
      throw err;
    }
  };

  const get: HistoryStore['get'] = async (userId, seq, readOptions) => {
    const out = await client.send(
      new GetCommand({
        TableName: tableName,
        Key: { pk: userPk(userId), sk: seqSk(seq) },
        ConsistentRead: readOptions?.consistent ?? true,
      }),
    );
    return out.Item ? toRecord(out.Item) : null;
  };

  const listUser: HistoryStore['listUser'] = async (
    userId,
    { limit, cursor, order = 'desc', consistent = true },
  ) => {
    checkLimit(limit);
    let startKey: Key | undefined;
    if (cursor !== undefined) {
      const state = decodeCursor(cursor, 'user');
      const sk = cursorString(state, 'sk');
      if (!SK_PATTERN.test(sk) || state.order !== order) throw invalidCursor();
      startKey = { pk: userPk(userId), sk };
    }
    const segment = await guarded(cursor !== undefined, () =>
      collectQuery(
        client,
        {
          TableName: tableName,
          KeyConditionExpression: 'pk = :pk',
          ExpressionAttributeValues: { ':pk': userPk(userId) },
          ScanIndexForward: order === 'asc',
          ConsistentRead: consistent,
        },
        { want: limit, keyAttributes: BASE_KEY, startKey, maxRead },
      ),
    );
    return {
      items: segment.items.map(toRecord),
      ...(segment.next
        ? { cursor: encodeCursor({ kind: 'user', order, sk: segment.next.sk }) }
        : {}),
      itemsRead: segment.read,
    };
  };

  const latestAtOrBefore: HistoryStore['latestAtOrBefore'] = async (userId, instant) => {
    const out = await client.send(
      new QueryCommand({
        TableName: tableName,
        IndexName: 'byTime',
        KeyConditionExpression: 'pk = :pk AND createdAt <= :at',
        ExpressionAttributeValues: { ':pk': userPk(userId), ':at': instantOf(instant, 'instant') },
        ScanIndexForward: false,
        Limit: 1,
        ConsistentRead: true,
      }),
    );
    const item = out.Items?.[0];
    return item ? toRecord(item) : null;
  };

  const listRange: HistoryStore['listRange'] = async ({ from, to, limit, cursor, filters }) => {
    checkLimit(limit);
    const lower = instantOf(from, 'from');
    const upperInstant = instantOf(to, 'to');
    if (lower > upperInstant) return { items: [], itemsRead: 0 };
    // timeSk is `{createdAt}#{handoverId}`: every record at `to` sorts below `{to}#\uffff`.
    const upper = `${upperInstant}#\uffff`;
    const filter = filterExpression(filters);
    const toOwner = filters?.toOwner;
    // The destination index is per day too: both walk the days the same way.
    const kind = toOwner === undefined ? 'day' : 'dest';
    const partition = (day: string, shard: number) =>
      toOwner === undefined
        ? { index: 'byDay', name: 'dayPk', value: indexKeys.day(day, shard) }
        : {
            index: 'byDestination',
            name: 'toPk',
            value: indexKeys.destination(toOwner, day, shard),
          };

    const lastDay = dayOf(upperInstant);
    let day = dayOf(lower);
    let positions: ShardPosition[] = startPositions(readShards);
    if (cursor !== undefined) {
      const state = decodeCursor(cursor, kind);
      const cursorDay = cursorString(state, 'day');
      if (!DAY_PATTERN.test(cursorDay) || cursorDay < day || cursorDay > lastDay) {
        throw invalidCursor();
      }
      day = cursorDay;
      // A position is a timeSk of the cursor's day.
      positions = decodeShardPositions(state, readShards, (key) => key.startsWith(`${cursorDay}T`));
    }

    /** One shard of `day` from just after `after`: one query of at most `perShard` items. */
    const readShard =
      (day: string, perShard: number) =>
      async (shard: number, after: string | undefined): Promise<ShardSegment> => {
        const from = after === undefined ? lower : maxKey(lower, successor(after));
        if (compareSortKeys(from, upper) > 0) return { items: [], read: 0, queries: 0 };
        const key = partition(day, shard);
        const out = await client.send(
          new QueryCommand({
            TableName: tableName,
            IndexName: key.index,
            KeyConditionExpression: '#ipk = :ipk AND timeSk BETWEEN :lower AND :upper',
            ExpressionAttributeNames: { '#ipk': key.name, ...filter?.names },
            ExpressionAttributeValues: {
              ':ipk': key.value,
              ':lower': from,
              ':upper': upper,
              ...filter?.values,
            },
            ScanIndexForward: true,
            Limit: perShard,
            ...(filter ? { FilterExpression: filter.expression } : {}),
          }),
        );
        const next = out.LastEvaluatedKey?.timeSk;
        return {
          items: (out.Items ?? []) as Record<string, unknown>[],
          ...(typeof next === 'string' ? { next } : {}),
          read: out.ScannedCount ?? 0,
          queries: 1,
        };
      };

    const items: HandoverRecord[] = [];
    let read = 0;
    let queries = 0;
    const page = (next?: { day: string; positions: ShardPosition[] }): Page<HandoverRecord> => ({
      items,
      ...(next
        ? {
            cursor: encodeCursor({
              kind,
              day: next.day,
              ...encodeShardPositions(next.positions),
            }),
          }
        : {}),
      itemsRead: read,
    });
    for (;;) {
      const want = limit - items.length;
      const open = positions.filter((p) => p.state !== 'done').length;
      // Unfiltered: a page's worth per shard bounds the page at `limit x shards` items read.
      const perShard = filter
        ? Math.max(1, Math.min(Math.max(want, FILTERED_STEP), Math.floor((maxRead - read) / open)))
        : want;
      const merged = await mergeShardPage({
        positions,
        want,
        read: readShard(day, perShard),
        sortKeyOf: (item) => item.timeSk as string,
        sortKeyOfPosition: (position) => position,
        positionOf: (item) => item.timeSk as string,
        uniqueSortKeys: true,
      });
      items.push(...merged.items.map(toRecord));
      read += merged.read;
      queries += merged.queries;
      positions = merged.positions;
      if (allDone(positions)) {
        day = nextDay(day);
        positions = startPositions(readShards);
        if (day > lastDay) return page();
      }
      if (items.length === limit || read >= maxRead || queries + readShards > maxQueries) {
        return page({ day, positions });
      }
    }
  };

  return { append, get, listUser, latestAtOrBefore, listRange };
};

const maxKey = (a: string, b: string) => (compareSortKeys(a, b) >= 0 ? a : b);
