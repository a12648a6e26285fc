// The erasure's items on DynamoDB (domain/erasure/types.ts ErasureStore). The eraser's role is the
// only one allowed UpdateItem and DeleteItem on the history; the erasure API function uses the
// register and work-list reads and puts only.
// State table:
// - `ERASURE#{erasureId}`: the register (no `userId` attribute: the user-item scan never finds it);
// - `ERASURES#OPEN`: the eraser's work list; `ERASED-SUBJECT#{subjectRef}`: a subject's erasures;
//   `RETENTION#metadata`: the retention watermark. Each written with a condition on `version`.
// History table:
// - `ERASED#{erasureId}` / `SEQ#{seq, 10 digits}`: an erased record; `/ TOMBSTONE`: its tombstone.
//   They carry no index keys: no day or destination listing shows them.
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import {
  DeleteCommand,
  GetCommand,
  PutCommand,
  QueryCommand,
  ScanCommand,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import type {
  ErasedRecord,
  ErasureItem,
  ErasureStore,
  OpenErasures,
  RetentionMark,
  Tombstone,
} from '../domain/erasure/types';
import {
  checkLimit,
  cursorString,
  decodeCursor,
  encodeCursor,
  invalidCursor,
  isConditionFailure,
  isInvalidStartKey,
} from './dynamo';

export interface ErasureStoreOptions {
  client: DynamoDBDocumentClient;
  historyTable: string;
  stateTable: string;
  /** Items one register listing page may read (a scan). @default 5000 */
  maxScannedPerPage?: number;
}

const OPEN_PK = 'ERASURES#OPEN';
const RETENTION_PK = 'RETENTION#metadata';
const REGISTER_PREFIX = 'ERASURE#era_';
const registerPk = (erasureId: string) => `ERASURE#${erasureId}`;
const subjectPk = (subjectRef: string) => `ERASED-SUBJECT#${subjectRef}`;
const userPk = (userId: string) => `USER#${userId}`;
const erasedPk = (erasureId: string) => `ERASED#${erasureId}`;
const seqSk = (seq: number) => `SEQ#${String(seq).padStart(10, '0')}`;
const TOMBSTONE_SK = 'TOMBSTONE';

const without = <T>(item: Record<string, unknown>, names: string[]): T => {
  const copy = { ...item };
  for (const name of names) delete copy[name];
  return copy as T;
};

const startKeyOf = (cursor: string | undefined, kind: string) =>
  cursor === undefined ? undefined : { pk: cursorString(decodeCursor(cursor, kind), 'pk') };

export const createErasureStore = (options: ErasureStoreOptions): ErasureStore => {
  const { client, historyTable, stateTable } = options;
  const maxScanned = options.maxScannedPerPage ?? 5000;

  const getState = async (pk: string): Promise<Record<string, unknown> | null> =>
    (
      await client.send(
        new GetCommand({ TableName: stateTable, Key: { pk }, ConsistentRead: true }),
      )
    ).Item ?? null;

  const put = async (
    table: string,
    item: Record<string, unknown>,
    condition?: { expression: string; values?: Record<string, unknown> },
  ): Promise<boolean> => {
    try {
      await client.send(
        new PutCommand({
          TableName: table,
          Item: item,
          ...(condition ? { ConditionExpression: condition.expression } : {}),
          ...(condition?.values ? { ExpressionAttributeValues: condition.values } : {}),
        }),
      );
      return true;
    } catch (err) {
      if (isConditionFailure(err)) return false;
      throw err;
    }
  };

  /** A put conditioned on the stored version (0: none stored). */
  const versioned = (pk: string, item: Record<string, unknown>, expectedVersion: number) =>
    put(
      stateTable,
      { ...item, pk },
      expectedVersion === 0
        ? { expression: 'attribute_not_exists(pk)' }
        : { expression: 'version = :v', values: { ':v': expectedVersion } },
    );

  /** A scan page of the state table, its cursor the last key read. */
  const scanPage = async (
    input: { filter: string; values: Record<string, unknown>; names?: Record<string, string> },
    kind: string,
    cursor: string | undefined,
    limit: number,
  ) => {
    const startKey = startKeyOf(cursor, kind);
    try {
      const out = await client.send(
        new ScanCommand({
          TableName: stateTable,
          FilterExpression: input.filter,
          ExpressionAttributeValues: input.values,
          ...(input.names ? { ExpressionAttributeNames: input.names } : {}),
          Limit: limit,
          ConsistentRead: true,
          ...(startKey ? { ExclusiveStartKey: startKey } : {}),
        }),
      );
      const last = out.LastEvaluatedKey?.pk;
      return {
        items: (out.Items ?? []) as Record<string, unknown>[],
        read: out.ScannedCount ?? 0,
        ...(typeof last === 'string' ? { cursor: encodeCursor({ kind, pk: last }) } : {}),
      };
    } catch (err) {
      if (startKey && isInvalidStartKey(err)) throw invalidCursor();
      throw err;
    }
  };

  return {
    getErasure: async (erasureId) => {
      const item = await getState(registerPk(erasureId));
      return item ? without<ErasureItem>(item, ['pk']) : null;
    },
    putErasure: (item) =>
      put(
        stateTable,
        { ...item, pk: registerPk(item.erasureId) },
        { expression: 'attribute_not_exists(pk)' },
      ),
    compareAndSetErasure: (item, expectedVersion) =>
      versioned(registerPk(item.erasureId), { ...item }, expectedVersion),
    listErasures: async ({ limit, cursor }) => {
      checkLimit(limit);
      const items: ErasureItem[] = [];
      let next = cursor;
      let read = 0;
      // Register items are few among the table's items: a page reads on until it is full, the
      // table ends, or its bound of items read is reached (then a short page with a cursor).
      do {
        const page = await scanPage(
          { filter: 'begins_with(pk, :p)', values: { ':p': REGISTER_PREFIX } },
          'erasures',
          next,
          Math.min(1000, maxScanned),
        );
        read += page.read;
        for (const item of page.items) items.push(without<ErasureItem>(item, ['pk']));
        next = page.cursor;
      } while (next && items.length < limit && read < maxScanned);
      return { items, ...(next ? { cursor: next } : {}), itemsRead: read };
    },
    erasuresOfSubject: async (subjectRef) => {
      const item = await getState(subjectPk(subjectRef));
      return Array.isArray(item?.erasureIds) ? (item.erasureIds as string[]) : [];
    },
    addSubjectErasure: async (subjectRef, erasureId) => {
      for (let attempt = 0; attempt < 5; attempt++) {
        const item = await getState(subjectPk(subjectRef));
        const ids = Array.isArray(item?.erasureIds) ? (item.erasureIds as string[]) : [];
        if (ids.includes(erasureId)) return;
        const version = typeof item?.version === 'number' ? item.version : 0;
        const next = { erasureIds: [...ids, erasureId], version: version + 1 };
        if (await versioned(subjectPk(subjectRef), next, version)) return;
      }
      throw new Error('The subject lookup item kept changing.');
    },

    getOpen: async () => {
      const item = await getState(OPEN_PK);
      return item
        ? without<OpenErasures>(item, ['pk'])
        : { entries: [], leaseUntil: 0, version: 0 };
    },
    compareAndSetOpen: (list, expectedVersion) => versioned(OPEN_PK, { ...list }, expectedVersion),

    eraseRecordMetadata: async (userId, seq, hash, mark) => {
      try {
        await client.send(
          new UpdateCommand({
            TableName: historyTable,
            Key: { pk: userPk(userId), sk: seqSk(seq) },
            UpdateExpression: 'SET #m = :null, #e = :mark REMOVE #salt',
            ConditionExpression: 'attribute_exists(pk) AND #h = :hash',
            ExpressionAttributeNames: {
              '#m': 'metadata',
              '#e': 'metadataErased',
              '#salt': 'salt',
              '#h': 'hash',
            },
            ExpressionAttributeValues: { ':null': null, ':mark': mark, ':hash': hash },
          }),
        );
        return 'erased';
      } catch (err) {
        if (!isConditionFailure(err)) throw err;
      }
      const stored = await client.send(
        new GetCommand({
          TableName: historyTable,
          Key: { pk: userPk(userId), sk: seqSk(seq) },
          ConsistentRead: true,
        }),
      );
      return stored.Item ? 'changed' : 'absent';
    },
    putErasedRecord: async (record) => {
      await put(
        historyTable,
        { ...record, pk: erasedPk(record.erasureId), sk: seqSk(record.seq) },
        { expression: 'attribute_not_exists(pk)' },
      );
    },
    deleteRecord: async (userId, seq, hash) => {
      try {
        await client.send(
          new DeleteCommand({
            TableName: historyTable,
            Key: { pk: userPk(userId), sk: seqSk(seq) },
            ConditionExpression: '#h = :hash',
            ExpressionAttributeNames: { '#h': 'hash' },
            ExpressionAttributeValues: { ':hash': hash },
          }),
        );
        return true;
      } catch (err) {
        if (isConditionFailure(err)) return false;
        throw err;
      }
    },
    putTombstone: async (tombstone) => {
      await put(historyTable, {
        ...tombstone,
        pk: erasedPk(tombstone.erasureId),
        sk: TOMBSTONE_SK,
      });
    },
    readErased: async (erasureId) => {
      const records: ErasedRecord[] = [];
      let tombstone: Tombstone | null = null;
      let startKey: Record<string, unknown> | undefined;
      do {
        const out = await client.send(
          new QueryCommand({
            TableName: historyTable,
            KeyConditionExpression: 'pk = :pk',
            ExpressionAttributeValues: { ':pk': erasedPk(erasureId) },
            ConsistentRead: true,
            ...(startKey ? { ExclusiveStartKey: startKey } : {}),
          }),
        );
        for (const item of out.Items ?? []) {
          if (item.sk === TOMBSTONE_SK) tombstone = without<Tombstone>(item, ['pk', 'sk']);
          else records.push(without<ErasedRecord>(item, ['pk', 'sk']));
        }
        startKey = out.LastEvaluatedKey;
      } while (startKey);
      return { tombstone, records: records.sort((a, b) => a.seq - b.seq) };
    },

    deleteOwner: async (userId, expectedVersion) => {
      try {
        await client.send(
          new DeleteCommand({
            TableName: stateTable,
            Key: { pk: userPk(userId) },
            ConditionExpression: 'version = :v',
            ExpressionAttributeValues: { ':v': expectedVersion },
          }),
        );
        return true;
      } catch (err) {
        if (isConditionFailure(err)) return false;
        throw err;
      }
    },
    scanUserItems: (userId, { cursor, maxRead }) =>
      scanPage(
        {
          filter: '#u = :u AND NOT begins_with(pk, :owner)',
          names: { '#u': 'userId' },
          values: { ':u': userId, ':owner': 'USER#' },
        },
        'user-items',
        cursor,
        maxRead,
      ),
    deleteStateItem: async (pk) => {
      await client.send(new DeleteCommand({ TableName: stateTable, Key: { pk } }));
    },
    findSubjects: async (refOf, wanted, { cursor, maxRead }) => {
      const page = await scanPage(
        { filter: 'begins_with(pk, :owner)', values: { ':owner': 'USER#' } },
        'subjects',
        cursor,
        maxRead,
      );
      const found: { userId: string; subjectRef: string }[] = [];
      for (const item of page.items) {
        if (typeof item.userId !== 'string') continue;
        const subjectRef = refOf(item.userId);
        if (wanted.has(subjectRef)) found.push({ userId: item.userId, subjectRef });
      }
      return { found, ...(page.cursor ? { cursor: page.cursor } : {}) };
    },

    getRetention: async () => {
      const item = await getState(RETENTION_PK);
      return item ? without<RetentionMark>(item, ['pk']) : null;
    },
    setRetention: (mark, expectedVersion) => versioned(RETENTION_PK, { ...mark }, expectedVersion),
  };
};
