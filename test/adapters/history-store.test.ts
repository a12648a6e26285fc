// The DynamoDB history store against dynalite over real HTTP: what only this store shows, the
// metadata its marshaller and DynamoDB refuse, the sharded index keys each item gets, how many
// items a page read, full pages across day partitions and the destination index, a filtered page
// cut at its read budget, and cursors altered by hand. What any HistoryStore promises (appends, round trips, a user's pages, the owner
// at an instant, ranges and their filters, limits) is in the store contract,
// test/contracts/stores.contract.ts, run against this store and the fake.
import { GetCommand, QueryCommand } from '@aws-sdk/lib-dynamodb';
import { UnstorableItemError } from '../../functions/adapters/dynamo';
import { createHistoryStore, historyIndexKeys } from '../../functions/adapters/history-store';
import { ValidationError } from '../../functions/domain/errors';
import { DEFAULT_INDEX_SHARDS, indexKeys, shardOf } from '../../functions/domain/shards';
import type { HistoryStore } from '../../functions/domain/ports';
import type { HandoverRecord, HistoryFilters, Page } from '../../functions/domain/types';
import { type LocalDynamo, startDynalite } from '../support/dynalite';

let dynamo: LocalDynamo;
let store: HistoryStore;
let currentTable: string;

beforeAll(async () => {
  dynamo = await startDynalite();
});

afterAll(async () => {
  await dynamo.close();
});

beforeEach(async () => {
  currentTable = (await dynamo.createTables()).history;
  store = createHistoryStore({ client: dynamo.client, tableName: currentTable });
});

const record = (overrides: Partial<HandoverRecord> = {}): HandoverRecord => ({
  handoverId: 'h-1',
  userId: '20',
  seq: 1,
  fromOwner: 'Bot1234567890abcdefg',
  toOwner: 'Jlk9e7cSf9g3FFsaqe39',
  reason: 'question_too_complex',
  metadata: { reason: 'question_too_complex' },
  metadataDigest: 'digest-1',
  requestedBy: 'Bot1234567890abcdefg',
  source: 'api',
  status: 'completed',
  parley: { status: 200, code: null, durationMs: 48 },
  createdAt: '2026-03-02T10:00:00.000Z',
  prevHash: '',
  hash: 'hash-1',
  ...overrides,
});

/** `count` records of one user, one minute apart from `start`. */
const userRecords = (userId: string, count: number, start = '2026-03-02T10:00:00.000Z') =>
  Array.from({ length: count }, (_, i) =>
    record({
      userId,
      seq: i + 1,
      handoverId: `${userId}-h${i + 1}`,
      createdAt: new Date(Date.parse(start) + i * 60_000).toISOString(),
    }),
  );

const appendAll = async (records: HandoverRecord[]) => {
  for (const r of records) await store.append(r);
};

/** Follows cursors to the end; the pages' sizes and the records in order. */
const allPages = async (
  read: (cursor?: string) => Promise<Page<HandoverRecord>>,
): Promise<{ sizes: number[]; ids: string[]; emptyPagesWithCursor: number }> => {
  const sizes: number[] = [];
  const ids: string[] = [];
  let emptyPagesWithCursor = 0;
  let cursor: string | undefined;
  for (let page = 0; page < 100; page += 1) {
    const result = await read(cursor);
    sizes.push(result.items.length);
    ids.push(...result.items.map((r) => r.handoverId));
    if (result.items.length === 0 && result.cursor) emptyPagesWithCursor += 1;
    cursor = result.cursor;
    if (!cursor) break;
  }
  return { sizes, ids, emptyPagesWithCursor };
};

const errorOf = async (run: () => Promise<unknown>): Promise<unknown> => {
  try {
    await run();
  } catch (err) {
    return err;
  }
  return undefined;
};

describe('metadata the document marshaller or DynamoDB would not keep', () => {
  /** `depth` nested objects, the outermost counting as 1. */
  const nested = (depth: number): Record<string, unknown> => {
    let value: Record<string, unknown> = { leaf: 'x' };
    for (let level = 1; level < depth; level += 1) value = { a: value };
    return value;
  };

  it.each([
    ['a constructor key', '{"constructor":"x"}', 'constructor'],
    [
      'a constructor key that looks like a class',
      '{"constructor":{"name":"String"}}',
      'constructor',
    ],
    ['a nested __proto__ key', '{"ticket":{"__proto__":{"admin":true}}}', '__proto__'],
    ['a __proto__ key', '{"__proto__":{"admin":true}}', '__proto__'],
  ])('refuses to append metadata with %s and stores nothing', async (_case, json, key) => {
    const err = await errorOf(() => store.append(record({ metadata: JSON.parse(json) })));

    expect(err).toBeInstanceOf(UnstorableItemError);
    expect((err as Error).message).toBe(
      `The item cannot be stored: attribute "metadata" has a map key "${key}" that the document marshaller does not keep.`,
    );
    expect(await store.get('20', 1)).toBeNull();
  });

  it('reads back exactly metadata whose other keys name object properties', async () => {
    const stored = record({
      metadata: JSON.parse('{"prototype":{"toString":"x"},"valueOf":[1],"hasOwnProperty":null}'),
    });
    await store.append(stored);

    expect(await store.get('20', 1)).toEqual(stored);
  });

  it('stores an item 32 levels deep and refuses one level more, as DynamoDB does', async () => {
    // The item is level 1, so metadata of 31 nested objects reaches level 32.
    const deepest = record({ metadata: nested(31) });
    const tooDeep = record({ seq: 2, handoverId: 'h-2', metadata: nested(32) });

    await store.append(deepest);
    const err = await errorOf(() => store.append(tooDeep));

    expect(await store.get('20', 1)).toEqual(deepest);
    expect(err).toBeInstanceOf(UnstorableItemError);
    expect((err as Error).message).toBe(
      'The item cannot be stored: attribute "metadata" nests deeper than DynamoDB\'s 32 levels.',
    );
    expect(await store.get('20', 2)).toBeNull();
  });
});

describe('the sharded index keys', () => {
  const stored = async (userId: string, seq: number) =>
    (
      await dynamo.client.send(
        new GetCommand({
          TableName: currentTable,
          Key: { pk: `USER#${userId}`, sk: `SEQ#${String(seq).padStart(10, '0')}` },
        }),
      )
    ).Item;

  it('gives a record its day and destination keys in the shard of its handover id', async () => {
    const appended = record({ handoverId: 'h-keys', createdAt: '2026-03-02T23:59:59.999+00:00' });
    await store.append(appended);

    const item = await stored('20', 1);

    const shard = shardOf('h-keys', DEFAULT_INDEX_SHARDS);
    expect(item).toMatchObject({
      dayPk: `DAY#2026-03-02#${shard}`,
      toPk: `TO#${appended.toOwner}#2026-03-02#${shard}`,
      timeSk: '2026-03-02T23:59:59.999Z#h-keys',
    });
    expect(historyIndexKeys(appended, DEFAULT_INDEX_SHARDS)).toEqual({
      dayPk: item?.dayPk,
      toPk: item?.toPk,
      timeSk: item?.timeSk,
    });
  });

  it('keys by the number of shards it is given, and by the UTC day of the record', async () => {
    const threeShards = createHistoryStore({
      client: dynamo.client,
      tableName: currentTable,
      shards: 3,
    });
    const late = record({ handoverId: 'h-late', createdAt: '2026-03-03T00:30:00.000+01:00' });
    await threeShards.append(late);

    const item = await stored('20', 1);

    const shard = shardOf('h-late', 3);
    expect([item?.dayPk, item?.toPk]).toEqual([
      indexKeys.day('2026-03-02', shard),
      indexKeys.destination(late.toOwner, '2026-03-02', shard),
    ]);
  });

  it("spreads one day's records over every shard of the day index", async () => {
    const records = Array.from({ length: 120 }, (_, i) =>
      record({
        userId: `s${i}`,
        handoverId: `spread-${i}`,
        createdAt: new Date(Date.parse('2026-03-02T00:00:00.000Z') + i * 1000).toISOString(),
      }),
    );
    await Promise.all(records.map((r) => store.append(r)));

    const perShard: number[] = [];
    for (let shard = 0; shard < DEFAULT_INDEX_SHARDS; shard += 1) {
      const out = await dynamo.client.send(
        new QueryCommand({
          TableName: currentTable,
          IndexName: 'byDay',
          KeyConditionExpression: 'dayPk = :pk',
          ExpressionAttributeValues: { ':pk': indexKeys.day('2026-03-02', shard) },
          Select: 'COUNT',
        }),
      );
      perShard.push(out.Count ?? 0);
    }

    expect(perShard.reduce((a, b) => a + b, 0)).toBe(120);
    expect(perShard.every((count) => count > 0)).toBe(true);
    expect(Math.max(...perShard)).toBeLessThan(120 / 2);
  });
});

describe('listUser', () => {
  it('reads one item beyond the page, however long the history is', async () => {
    await appendAll(userRecords('20', 40));

    const page = await store.listUser('20', { limit: 5 });

    expect(page.items.map((r) => r.seq)).toEqual([40, 39, 38, 37, 36]);
    expect(page.itemsRead).toEqual(6);
  });

  it('answers an empty page, having read no item, for a user without records', async () => {
    expect(await store.listUser('nobody', { limit: 10 })).toEqual({ items: [], itemsRead: 0 });
  });
});

describe('listRange', () => {
  // Four users, records on 1-4 March (three per day, at 08:00, 12:00 and 23:59:59.999), plus one
  // record on 28 February and one on 5 March outside the range asked below.
  const dayRecords = (): HandoverRecord[] => {
    const out: HandoverRecord[] = [];
    const times = ['08:00:00.000', '12:00:00.000', '23:59:59.999'];
    const seqs = new Map<string, number>();
    const add = (userId: string, createdAt: string, extra: Partial<HandoverRecord> = {}) => {
      const seq = (seqs.get(userId) ?? 0) + 1;
      seqs.set(userId, seq);
      out.push(record({ userId, seq, handoverId: `${createdAt}-${userId}`, createdAt, ...extra }));
    };
    add('u0', '2026-02-28T12:00:00.000Z');
    for (let day = 1; day <= 4; day += 1) {
      times.forEach((time, i) => {
        const userId = `u${(day + i) % 4}`;
        add(userId, `2026-03-0${day}T${time}Z`, {
          toOwner: i === 1 ? 'Agent' : 'Bot',
          reason: i === 2 ? 'user_requested_human' : 'question_too_complex',
          status: day === 3 && i === 0 ? 'failed' : 'completed',
          source: i === 0 ? 'rule' : 'api',
        });
      });
    }
    add('u1', '2026-03-05T00:00:00.000Z');
    return out;
  };

  const inRange = (records: HandoverRecord[], from: string, to: string) =>
    records.filter((r) => r.createdAt >= from && r.createdAt <= to);

  const from = '2026-03-01T08:00:00.000Z';
  const to = '2026-03-04T23:59:59.999Z';

  const collect = (limit: number, filters?: HistoryFilters) =>
    allPages((cursor) => store.listRange({ from, to, limit, cursor, filters }));

  it('walks several days oldest first in full pages, bounds included', async () => {
    const records = dayRecords();
    await appendAll(records);

    const result = await collect(5);

    expect(result.ids).toEqual(inRange(records, from, to).map((r) => r.handoverId));
    expect(result.ids).toHaveLength(12);
    expect(result.sizes).toEqual([5, 5, 2]);
    expect(result.emptyPagesWithCursor).toEqual(0);
  });

  it('ends a sparse filtered page at its read budget with a cursor that resumes the walk', async () => {
    const records = dayRecords();
    await appendAll(records);
    const tight = createHistoryStore({
      client: dynamo.client,
      tableName: currentTable,
      maxItemsReadPerPage: 4,
    });

    const result = await allPages((cursor) =>
      tight.listRange({ from, to, limit: 10, cursor, filters: { status: 'failed' } }),
    );

    expect(result.ids).toEqual(['2026-03-03T08:00:00.000Z-u3']);
    expect(result.sizes.length).toBeGreaterThan(1);
    expect(result.emptyPagesWithCursor).toBeGreaterThan(0);
  });

  it('keeps every cursor of a sparse filtered walk over 64 shards within the API cap', async () => {
    // The API takes cursors of at most 2,048 characters: with one resume position for all open
    // shards, the cursor does not grow with the number of shards. A read budget of ten items per
    // shard and page leaves the shards at different places after every page.
    const wide = createHistoryStore({
      client: dynamo.client,
      tableName: currentTable,
      shards: 64,
      maxItemsReadPerPage: 640,
    });
    const records = Array.from({ length: 1000 }, (_, i) =>
      record({
        userId: `w${i}`,
        handoverId: `wide-${i}-${'x'.repeat(60)}`,
        createdAt: new Date(Date.parse('2026-03-02T00:00:00.000Z') + i * 1000).toISOString(),
        status: i % 37 === 0 ? 'failed' : 'completed',
      }),
    );
    await Promise.all(records.map((r) => wide.append(r)));
    const cursors: string[] = [];

    const result = await allPages(async (cursor) => {
      const page = await wide.listRange({
        from: '2026-03-02T00:00:00.000Z',
        to: '2026-03-02T23:59:59.999Z',
        limit: 2,
        cursor,
        filters: { status: 'failed' },
      });
      if (page.cursor) cursors.push(page.cursor);
      return page;
    });

    expect(result.ids).toEqual(
      records.filter((r) => r.status === 'failed').map((r) => r.handoverId),
    );
    expect(cursors.length).toBeGreaterThan(2);
    expect(Math.max(...cursors.map((c) => c.length))).toBeLessThanOrEqual(2048);
  });

  it('lists the handovers to one service through the destination index', async () => {
    const records = dayRecords();
    await appendAll(records);
    const window = inRange(records, from, to);

    const toAgent = await collect(3, { toOwner: 'Agent' });
    const toBotWithReason = await collect(1, { toOwner: 'Bot', reason: 'user_requested_human' });

    expect(toAgent.ids).toEqual(
      window.filter((r) => r.toOwner === 'Agent').map((r) => r.handoverId),
    );
    expect(toAgent.sizes).toEqual([3, 1]);
    expect(toBotWithReason.ids).toEqual(
      window
        .filter((r) => r.toOwner === 'Bot' && r.reason === 'user_requested_human')
        .map((r) => r.handoverId),
    );
    expect(toBotWithReason.ids).toHaveLength(4);
  });

  it('answers an empty page, having read no item, for a range without records', async () => {
    await appendAll(dayRecords());

    const page = await store.listRange({
      from: '2026-04-01T00:00:00.000Z',
      to: '2026-04-03T00:00:00.000Z',
      limit: 10,
    });

    expect(page).toEqual({ items: [], itemsRead: 0 });
  });

  it('reads at most a page from each shard of a day that fills the first page', async () => {
    const records = userRecords('20', 120, '2026-03-02T00:00:00.000Z');
    await appendAll(records);
    // One query per shard with the page's limit: what each shard holds, up to 10.
    const held = new Array<number>(DEFAULT_INDEX_SHARDS).fill(0);
    for (const r of records) held[shardOf(r.handoverId, DEFAULT_INDEX_SHARDS)]! += 1;

    const page = await store.listRange({ from, to, limit: 10 });

    expect(page.items.map((r) => r.seq)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    expect(page.itemsRead).toEqual(held.reduce((sum, n) => sum + Math.min(n, 10), 0));
    expect(page.itemsRead).toBeLessThanOrEqual(10 * DEFAULT_INDEX_SHARDS);
  });
});

describe('cursors altered by hand', () => {
  const tampered = (cursor: string, change: (state: Record<string, unknown>) => void) => {
    const state = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
    change(state);
    return Buffer.from(JSON.stringify(state)).toString('base64url');
  };

  it('rejects a cursor of its own whose key or day was changed as invalid_cursor', async () => {
    await appendAll(userRecords('20', 5, '2026-03-01T00:00:00.000Z'));
    const userCursor = (await store.listUser('20', { limit: 2 })).cursor!;
    const range = { from: '2026-03-01T00:00:00.000Z', to: '2026-03-02T00:00:00.000Z', limit: 2 };
    const rangeCursor = (await store.listRange(range)).cursor!;

    const attempts = [
      () => store.listUser('20', { limit: 2, cursor: tampered(userCursor, (s) => (s.sk = 'x')) }),
      () =>
        store.listRange({ ...range, cursor: tampered(rangeCursor, (s) => (s.day = '2027-01-01')) }),
    ];
    const codes: unknown[] = [];
    for (const attempt of attempts) {
      const err = await errorOf(attempt);
      codes.push(err instanceof ValidationError ? err.code : err);
    }

    expect(codes).toEqual(attempts.map(() => 'invalid_cursor'));
  });

  it("rejects a range cursor whose shards' positions were changed, or made with other shards", async () => {
    const records = Array.from({ length: 40 }, (_, i) =>
      record({
        userId: `c${i}`,
        handoverId: `cursor-${i}`,
        createdAt: new Date(Date.parse('2026-03-01T10:00:00.000Z') + i * 1000).toISOString(),
      }),
    );
    await appendAll(records);
    const range = { from: '2026-03-01T00:00:00.000Z', to: '2026-03-02T00:00:00.000Z', limit: 5 };
    const cursor = (await store.listRange(range)).cursor!;
    const threeShards = createHistoryStore({
      client: dynamo.client,
      tableName: currentTable,
      shards: 3,
    });

    const attempts = [
      () => threeShards.listRange({ ...range, cursor }),
      () => store.listRange({ ...range, cursor: tampered(cursor, (s) => (s.n = 3)) }),
      () => store.listRange({ ...range, cursor: tampered(cursor, (s) => (s.at = 42)) }),
      () =>
        store.listRange({
          ...range,
          cursor: tampered(cursor, (s) => (s.at = '2026-03-05T00:00:00.000Z#x')),
        }),
      () => store.listRange({ ...range, cursor: tampered(cursor, (s) => (s.done = 'zz')) }),
      () => store.listRange({ ...range, cursor: tampered(cursor, (s) => (s.done = 'fff')) }),
      () => store.listRange({ ...range, cursor: tampered(cursor, (s) => (s.other = { 9: 'x' })) }),
    ];
    const codes: unknown[] = [];
    for (const attempt of attempts) {
      const err = await errorOf(attempt);
      codes.push(err instanceof ValidationError ? err.code : err);
    }

    expect(codes).toEqual(attempts.map(() => 'invalid_cursor'));
    const resumed = await store.listRange({ ...range, cursor });
    expect(resumed.items.map((r) => r.handoverId)).toEqual(
      records.slice(5, 10).map((r) => r.handoverId),
    );
  });
});
