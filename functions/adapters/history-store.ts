// The append-only handover history on DynamoDB (table layout: functions/platform/tables.ts).
// One item per record: `pk = USER#{userId}`, `sk = SEQ#{seq, 10 digits}`, plus the index keys
// `dayPk = DAY#{yyyy-mm-dd, UTC}`, `toPk = TO#{toOwner}`, `timeSk = {createdAt}#{handoverId}` and
// every record field as it is (`createdAt` doubles as the byTime LSI's sort key). Items are only
// ever put, conditionally on their key; nothing here updates or deletes.
//
// Pages: `itemsRead` is the sum of DynamoDB's ScannedCount. Unfiltered pages read `limit + 1`
// items per partition so that a cursor is returned only when another record exists (a range may
// still end with one empty page when the next record would be on a later day). Filtered pages
// (reason, status, source) may be short; they stop after `maxItemsReadPerPage` items or
// `maxQueriesPerPage` queries, and only then can a page be empty while carrying a cursor.
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { GetCommand, PutCommand, QueryCommand } from '@aws-sdk/lib-dynamodb';
import { ValidationError } from '../domain/errors';
import type { HistoryStore } from '../domain/ports';
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

export interface HistoryStoreOptions {
  client: DynamoDBDocumentClient;
  tableName: string;
  /** Work bound for one filtered or multi-day page. @default 5000 */
  maxItemsReadPerPage?: number;
  /** Query bound for one range page (one query per day at least). @default 100 */
  maxQueriesPerPage?: number;
}

const KEY_ATTRIBUTES = ['pk', 'sk', 'dayPk', 'toPk', 'timeSk'] as const;
const BASE_KEY = ['pk', 'sk'];
const DAY_KEY = ['pk', 'sk', 'dayPk', 'timeSk'];
const DESTINATION_KEY = ['pk', 'sk', 'toPk', 'timeSk'];
const DAY_MS = 86_400_000;

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

const toItem = (record: HandoverRecord): Record<string, unknown> => {
  if (!Number.isInteger(record.seq) || record.seq < 0) {
    throw new Error('A history record needs a whole, non-negative seq.');
  }
  const createdAt = instantOf(record.createdAt, 'record');
  return {
    ...record,
    pk: userPk(record.userId),
    sk: seqSk(record.seq),
    dayPk: `DAY#${dayOf(createdAt)}`,
    toPk: `TO#${record.toOwner}`,
    timeSk: `${createdAt}#${record.handoverId}`,
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
          Item: toItem(record),
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
    const query = (keyName: string, keyValue: string) => ({
      TableName: tableName,
      KeyConditionExpression: '#ipk = :ipk AND timeSk BETWEEN :lower AND :upper',
      ExpressionAttributeNames: { '#ipk': keyName, ...filter?.names },
      ExpressionAttributeValues: {
        ':ipk': keyValue,
        ':lower': lower,
        ':upper': upper,
        ...filter?.values,
      },
      ScanIndexForward: true,
      ...(filter ? { FilterExpression: filter.expression } : {}),
    });

    if (filters?.toOwner !== undefined) {
      const toPk = `TO#${filters.toOwner}`;
      let startKey: Key | undefined;
      if (cursor !== undefined) startKey = { ...itemKeyFromCursor(cursor, 'dest'), toPk };
      const segment = await guarded(cursor !== undefined, () =>
        collectQuery(
          client,
          { ...query('toPk', toPk), IndexName: 'byDestination' },
          { want: limit, keyAttributes: DESTINATION_KEY, startKey, maxRead },
        ),
      );
      return {
        items: segment.items.map(toRecord),
        ...(segment.next
          ? { cursor: encodeCursor({ kind: 'dest', ...itemKey(segment.next) }) }
          : {}),
        itemsRead: segment.read,
      };
    }

    const lastDay = dayOf(upperInstant);
    let day = dayOf(lower);
    let startKey: Key | undefined;
    if (cursor !== undefined) {
      const state = decodeCursor(cursor, 'day');
      const cursorDay = cursorString(state, 'day');
      if (!DAY_PATTERN.test(cursorDay) || cursorDay < day || cursorDay > lastDay) {
        throw invalidCursor();
      }
      day = cursorDay;
      if (state.sk !== undefined) {
        const key = itemKeyFromState(state);
        if (!key.timeSk.startsWith(cursorDay)) throw invalidCursor();
        startKey = { ...key, dayPk: `DAY#${cursorDay}` };
      }
    }

    const items: HandoverRecord[] = [];
    let read = 0;
    let queries = 0;
    const page = (next?: Record<string, unknown>): Page<HandoverRecord> => ({
      items,
      ...(next ? { cursor: encodeCursor({ kind: 'day', ...next }) } : {}),
      itemsRead: read,
    });
    while (day <= lastDay) {
      const segment = await guarded(startKey !== undefined, () =>
        collectQuery(
          client,
          { ...query('dayPk', `DAY#${day}`), IndexName: 'byDay' },
          {
            want: limit - items.length,
            keyAttributes: DAY_KEY,
            startKey,
            maxRead: Math.max(1, maxRead - read),
          },
        ),
      );
      items.push(...segment.items.map(toRecord));
      read += segment.read;
      queries += segment.queries;
      if (segment.next) return page({ day, ...itemKey(segment.next) });
      day = nextDay(day);
      startKey = undefined;
      if (day > lastDay) break;
      if (items.length === limit || queries >= maxQueries || read >= maxRead) return page({ day });
    }
    return page();
  };

  return { append, get, listUser, latestAtOrBefore, listRange };
};

/** The base-table part of an index start key, as kept in a cursor. */
const itemKey = (key: Key) => ({ pk: key.pk, sk: key.sk, timeSk: key.timeSk });

const itemKeyFromState = (state: Record<string, unknown>) => {
  const pk = cursorString(state, 'pk');
  const sk = cursorString(state, 'sk');
  const timeSk = cursorString(state, 'timeSk');
  if (!pk.startsWith('USER#') || !SK_PATTERN.test(sk)) throw invalidCursor();
  return { pk, sk, timeSk };
};

const itemKeyFromCursor = (cursor: string, kind: string) =>
  itemKeyFromState(decodeCursor(cursor, kind));
