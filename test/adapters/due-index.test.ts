// The state store's byDue listing (StateStore.listDue), the sweep's only query: the DynamoDB store
// against dynalite over real HTTP and the fake, held to the same cases. Owner items spread over the
// shards by user id; a shard lists its items due before the bound, oldest first, page by page; an
// item written without a timer leaves the index.
import { createStateStore } from '../../functions/adapters/state-store';
import { dueSkBefore } from '../../functions/domain/lifecycle/due';
import type { StateStore } from '../../functions/domain/ports';
import { shardOf } from '../../functions/domain/shards';
import type { OwnerItem } from '../../functions/domain/types';
import { FakeStateStore } from '../support/fakes';
import { type LocalDynamo, startDynalite } from '../support/dynalite';

const SHARDS = 4;
const T0 = Date.parse('2026-03-10T14:00:00.000Z');
const at = (seconds: number) => new Date(T0 + seconds * 1000).toISOString();

const item = (userId: string, dueAt?: string): OwnerItem => ({
  userId,
  owner: 'Jlk9e7cSf9g3FFsaqe39',
  version: 1,
  since: null,
  lastSeq: 0,
  lastHash: '0'.repeat(64),
  lastCreatedAt: null,
  lastHandoverId: null,
  pending: null,
  refreshedAt: at(0),
  ...(dueAt ? { dueAt } : {}),
});

let dynamo: LocalDynamo;

beforeAll(async () => {
  dynamo = await startDynalite();
});

afterAll(async () => {
  await dynamo.close();
});

const stores: [string, () => Promise<StateStore>][] = [
  [
    'dynalite',
    async () =>
      createStateStore({
        client: dynamo.client,
        tableName: (await dynamo.createTables()).state,
        shards: SHARDS,
      }),
  ],
  [
    'fake',
    async () => {
      const fake = new FakeStateStore();
      fake.shards = SHARDS;
      return fake;
    },
  ],
];

/** Every page of one shard, following the cursor; the pages' sizes too. */
const walk = async (state: StateStore, shard: number, before: string, limit: number) => {
  const users: string[] = [];
  const sizes: number[] = [];
  let cursor: string | undefined;
  do {
    const page = await state.listDue(shard, before, { limit, ...(cursor ? { cursor } : {}) });
    users.push(...page.items.map((i) => i.userId));
    sizes.push(page.items.length);
    cursor = page.cursor;
  } while (cursor);
  return { users, sizes };
};

describe.each(stores)('listDue (%s)', (_name, make) => {
  it('lists each shard’s items due before the bound, oldest first, across pages', async () => {
    const state = await make();
    // 24 users due 1 s apart, newest first so that the write order is not the sort order; 4 later.
    const due = Array.from({ length: 24 }, (_, i) => `u${String(i).padStart(2, '0')}`);
    for (const [i, userId] of [...due].reverse().entries()) {
      await state.createOwner(item(userId, at(-(i + 1))));
    }
    for (const userId of ['later-1', 'later-2', 'later-3', 'later-4']) {
      await state.createOwner(item(userId, at(60)));
    }
    await state.createOwner(item('no-timer'));

    const listed: string[] = [];
    for (let shard = 0; shard < SHARDS; shard++) {
      const { users, sizes } = await walk(state, shard, dueSkBefore(at(0)), 2);
      const expected = due.filter((u) => shardOf(u, SHARDS) === shard);
      expect(users).toEqual(expected);
      expect(Math.max(...sizes)).toBeLessThanOrEqual(2);
      listed.push(...users);
    }
    expect(listed.sort()).toEqual(due);
  });

  it('includes an item due at the bound’s very instant, and keeps dueAt without index keys', async () => {
    const state = await make();
    await state.createOwner(item('edge', at(0)));
    const shard = shardOf('edge', SHARDS);

    const page = await state.listDue(shard, dueSkBefore(at(0)), { limit: 10 });
    const early = await state.listDue(shard, dueSkBefore(at(-1)), { limit: 10 });

    expect(page.items).toEqual([item('edge', at(0))]);
    expect(early.items).toEqual([]);
  });

  it('drops an item written again without a timer, and moves one whose timer moved', async () => {
    const state = await make();
    await state.createOwner(item('a', at(-5)));
    await state.createOwner(item('b', at(-5)));
    await state.compareAndSetOwner({ ...item('a'), version: 2 }, 1);
    await state.compareAndSetOwner({ ...item('b', at(30)), version: 2 }, 1);

    const listed: string[] = [];
    for (let shard = 0; shard < SHARDS; shard++) {
      listed.push(...(await walk(state, shard, dueSkBefore(at(0)), 10)).users);
    }

    expect(listed).toEqual([]);
  });

  it('refuses a cursor made for another shard or another listing', async () => {
    const state = await make();
    for (let i = 0; i < 12; i++) await state.createOwner(item(`c${i}`, at(-i - 1)));
    const shard = shardOf('c0', SHARDS);
    const first = await state.listDue(shard, dueSkBefore(at(0)), { limit: 1 });
    expect(first.cursor).toBeDefined();

    const other = (shard + 1) % SHARDS;
    await expect(
      state.listDue(other, dueSkBefore(at(0)), { limit: 1, cursor: first.cursor! }),
    ).rejects.toMatchObject({ code: 'invalid_cursor' });
    await expect(
      state.listDue(shard, dueSkBefore(at(0)), { limit: 1, cursor: 'bm90LWEtY3Vyc29y' }),
    ).rejects.toMatchObject({ code: 'invalid_cursor' });
  });
});
