// The outbox store: one contract run against the DynamoDB store (dynalite over real HTTP) and the
// fake the domain tests use, so the two cannot drift; then what only the stored item shows (the
// sharded byNotificationStatus keys, kept in step with the status).
import { GetCommand } from '@aws-sdk/lib-dynamodb';
import { createNotificationStore } from '../../functions/adapters/notification-store';
import { NOTIFICATION_LISTED } from '../../functions/contracts/tables';
import { ValidationError } from '../../functions/domain/errors';
import type { NotificationStore } from '../../functions/domain/ports';
import { indexKeys, shardOf } from '../../functions/domain/shards';
import type { NotificationItem, NotificationStatus } from '../../functions/domain/types';
import { type LocalDynamo, startDynalite } from '../support/dynalite';
import { FakeNotificationStore } from '../support/fakes';

let dynamo: LocalDynamo;

beforeAll(async () => {
  dynamo = await startDynalite();
});

afterAll(async () => {
  await dynamo.close();
});

const BOT = 'as272d6g2ds766fcdfgh';
const AGENT = 'Jlk9e7cSf9g3FFsaqe39';
const SHARDS = 4;

const at = (second: number) => new Date(Date.UTC(2026, 2, 10, 14, 0, second)).toISOString();

const item = (n: number, overrides: Partial<NotificationItem> = {}): NotificationItem => ({
  id: `ntf_${String(n).padStart(4, '0')}`,
  kind: 'notification',
  type: 'handover.completed',
  recipient: n % 2 === 0 ? BOT : AGENT,
  userId: `u${n}`,
  seq: 1,
  handoverId: `h-${n}`,
  body: JSON.stringify({ id: `ntf_${n}`, metadata: { nested: { deep: [1, null] } } }),
  status: 'pending',
  attempts: 0,
  lastStatus: null,
  lastError: null,
  createdAt: at(n),
  updatedAt: at(n),
  sentAt: null,
  version: 1,
  ...overrides,
});

/** Every page of a listing, walked with its cursors. */
const walk = async (
  next: (cursor?: string) => Promise<{ items: { id: string }[]; cursor?: string }>,
): Promise<{ ids: string[]; pages: number }> => {
  const ids: string[] = [];
  let cursor: string | undefined;
  let pages = 0;
  do {
    const page = await next(cursor);
    ids.push(...page.items.map((i) => i.id));
    cursor = page.cursor;
    pages += 1;
  } while (cursor && pages < 200);
  return { ids, pages };
};

const stores: [string, () => Promise<NotificationStore>][] = [
  [
    'dynamodb',
    async () => {
      const { state } = await dynamo.createTables();
      return createNotificationStore({ client: dynamo.client, tableName: state, shards: SHARDS });
    },
  ],
  ['fake', async () => new FakeNotificationStore()],
];

describe.each(stores)('NotificationStore (%s)', (_name, make) => {
  let store: NotificationStore;
  beforeEach(async () => {
    store = await make();
  });

  it('writes an item once and returns it as written', async () => {
    expect(await store.put(item(1))).toBe(true);
    expect(await store.put(item(1, { body: 'another' }))).toBe(false);
    expect(await store.get(item(1).id)).toEqual(item(1));
    expect(await store.get('ntf_none')).toBeNull();
  });

  it('replaces it only from the version it names, one version on', async () => {
    await store.put(item(1));
    const sent = item(1, { status: 'sent', attempts: 1, lastStatus: 200, version: 2 });
    expect(await store.compareAndSet(sent, 1)).toBe(true);
    expect(await store.compareAndSet({ ...sent, version: 2 }, 1)).toBe(false);
    expect(await store.get(sent.id)).toEqual(sent);
    await expect(store.compareAndSet({ ...sent, version: 5 }, 2)).rejects.toThrow(
      'advance the version by exactly one',
    );
  });

  it('lists newest first across shards and statuses, every item once over the pages', async () => {
    const statuses: NotificationStatus[] = ['pending', 'sent', 'failed'];
    for (let n = 1; n <= 30; n += 1) await store.put(item(n, { status: statuses[n % 3]! }));

    const all = await walk((cursor) => store.list({ limit: 7, cursor }));
    const newestFirst = Array.from({ length: 30 }, (_, i) => item(30 - i).id);
    expect(all.ids).toEqual(newestFirst);

    const sent = await walk((cursor) => store.list({ status: 'sent', limit: 4, cursor }));
    expect(sent.ids).toEqual(newestFirst.filter((id) => Number(id.slice(4)) % 3 === 1));
    const toBot = await walk((cursor) => store.list({ service: BOT, limit: 5, cursor }));
    expect(toBot.ids).toEqual(newestFirst.filter((id) => Number(id.slice(4)) % 2 === 0));
    const both = await walk((cursor) =>
      store.list({ service: AGENT, status: 'failed', limit: 3, cursor }),
    );
    expect(both.ids).toEqual(
      newestFirst.filter((id) => Number(id.slice(4)) % 2 === 1 && Number(id.slice(4)) % 3 === 2),
    );
  });

  it('lists the pending items written before an instant, oldest first', async () => {
    for (let n = 1; n <= 12; n += 1) {
      await store.put(item(n, n === 4 ? { status: 'sent' } : {}));
    }
    const before = await walk((cursor) => store.listPendingBefore(at(10), { limit: 3, cursor }));
    expect(before.ids).toEqual([1, 2, 3, 5, 6, 7, 8, 9].map((n) => item(n).id));
    expect((await store.listPendingBefore(at(1), { limit: 10 })).items).toEqual([]);
  });

  it('lists pending items whole, body and version included: the relay writes them back', async () => {
    for (let n = 1; n <= 3; n += 1) await store.put(item(n));
    await store.compareAndSet(item(2, { attempts: 1, lastStatus: 503, version: 2 }), 1);

    const page = await store.listPendingBefore(at(10), { limit: 10 });

    expect(page.items).toEqual([
      item(1),
      item(2, { attempts: 1, lastStatus: 503, version: 2 }),
      item(3),
    ]);
  });

  it('lists summaries: every listed attribute, no body and no version (the index holds neither)', async () => {
    const sent = item(1, { status: 'sent', sentAt: at(2), version: 2 });
    await store.put(item(1));
    await store.compareAndSet(sent, 1);

    const [listed] = (await store.list({ limit: 10 })).items;

    const { body: _body, version: _version, ...summary } = sent;
    expect(listed).toEqual(summary);
    expect(Object.keys(listed!).sort()).toEqual([...NOTIFICATION_LISTED].sort());
    // @ts-expect-error a listed item has no body: read it with get(id)
    expect(listed!.body).toBeUndefined();
  });

  it('refuses a limit out of range and a cursor it did not make, or made for another query', async () => {
    for (let n = 1; n <= 5; n += 1) await store.put(item(n));
    await expect(store.list({ limit: 0 })).rejects.toThrow(ValidationError);
    await expect(store.list({ limit: 1001 })).rejects.toThrow(ValidationError);
    for (const cursor of ['', 'not a cursor', Buffer.from('{"kind":"x"}').toString('base64url')]) {
      await expect(store.list({ limit: 2, cursor })).rejects.toMatchObject({
        code: 'invalid_cursor',
      });
    }
    const page = await store.list({ limit: 2 });
    expect(page.cursor).toBeDefined();
    await expect(
      store.listPendingBefore(at(59), { limit: 2, cursor: page.cursor }),
    ).rejects.toMatchObject({ code: 'invalid_cursor' });
  });
});

describe('the DynamoDB outbox items', () => {
  it('carry the sharded status index keys, moved with the status', async () => {
    const { state } = await dynamo.createTables();
    const store = createNotificationStore({ client: dynamo.client, tableName: state, shards: 8 });
    const raw = async (id: string) =>
      (
        await dynamo.client.send(
          new GetCommand({ TableName: state, Key: { pk: `NOTIFY#${id}` }, ConsistentRead: true }),
        )
      ).Item;
    const first = item(3);
    await store.put(first);
    expect(await raw(first.id)).toMatchObject({
      pk: `NOTIFY#${first.id}`,
      ntfPk: indexKeys.notificationStatus('pending', shardOf(first.id, 8)),
      ntfSk: `${first.createdAt}#${first.id}`,
    });
    await store.compareAndSet({ ...first, status: 'failed', version: 2 }, 1);
    expect((await raw(first.id))?.ntfPk).toBe(`NTF#failed#${shardOf(first.id, 8)}`);

    const shards = new Set<string>();
    for (let n = 1; n <= 40; n += 1) {
      await store.put(item(100 + n));
      shards.add((await raw(item(100 + n).id))?.ntfPk as string);
    }
    expect(shards.size).toBeGreaterThan(4);
  });

  it('lists a filtered query whole and in order when each shard stops after a few reads', async () => {
    const { state } = await dynamo.createTables();
    const store = createNotificationStore({
      client: dynamo.client,
      tableName: state,
      shards: 3,
      maxReadPerShard: 2,
    });
    for (let n = 1; n <= 24; n += 1) {
      await store.put(item(n, { recipient: n % 5 === 0 ? BOT : AGENT }));
    }
    const toBot = await walk((cursor) => store.list({ service: BOT, limit: 2, cursor }));
    expect(toBot.ids).toEqual([20, 15, 10, 5].map((n) => item(n).id));
    // Short pages while shards are open: more pages than a full listing would need.
    expect(toBot.pages).toBeGreaterThan(2);
  });

  it('reads no more than a page from each shard for an unfiltered first page', async () => {
    const { state } = await dynamo.createTables();
    const store = createNotificationStore({ client: dynamo.client, tableName: state, shards: 4 });
    for (let n = 1; n <= 40; n += 1) await store.put(item(n));
    const page = await store.list({ status: 'pending', limit: 5 });
    expect(page.items.map((i) => i.id)).toEqual([40, 39, 38, 37, 36].map((n) => item(n).id));
    expect(page.itemsRead).toBeLessThanOrEqual(4 * 6);
  });
});
