// The store reads verify relies on, against dynalite over real HTTP: the user listing (a bounded
// scan of the state table that skips idempotency and delivery items) and the `consistent` read
// option, seen in the requests the SDK sends.
import { createHistoryStore } from '../../functions/adapters/history-store';
import { createStateStore } from '../../functions/adapters/state-store';
import { GENESIS_HASH } from '../../functions/domain/chain';
import { ValidationError } from '../../functions/domain/errors';
import type { OwnerItem } from '../../functions/domain/types';
import { type LocalDynamo, startDynalite } from '../support/dynalite';

let dynamo: LocalDynamo;
let tables: { history: string; state: string };
/** Commands sent, with their ConsistentRead, while `capturing`. */
const sent: { command: string; consistent: unknown }[] = [];
let capturing = false;

beforeAll(async () => {
  dynamo = await startDynalite();
  dynamo.client.middlewareStack.add(
    (next, context) => async (args) => {
      const input = args.input as { ConsistentRead?: unknown };
      if (capturing)
        sent.push({ command: context.commandName ?? 'unknown', consistent: input.ConsistentRead });
      return next(args);
    },
    { step: 'initialize', name: 'verifyReadsCapture' },
  );
});

afterAll(async () => {
  await dynamo.close();
});

beforeEach(async () => {
  tables = await dynamo.createTables();
  sent.length = 0;
});

const owner = (userId: string): OwnerItem => ({
  userId,
  owner: 'Bot1234567890abcdefg',
  version: 1,
  since: null,
  lastSeq: 0,
  lastHash: GENESIS_HASH,
  lastCreatedAt: null,
  lastHandoverId: null,
  pending: null,
  refreshedAt: '2026-03-02T10:00:00.000Z',
});

/** Owner items for `users`, and `noise` idempotency and delivery items among them. */
const seed = async (users: string[], noise: number) => {
  const state = createStateStore({ client: dynamo.client, tableName: tables.state });
  for (const u of users) expect(await state.createOwner(owner(u))).toBe(true);
  for (let i = 0; i < noise; i++) {
    await state.putIdempotency(
      {
        callerServiceId: 'svc',
        key: `k${i}`,
        handoverId: `h${i}`,
        userId: 'x',
        bodyHash: 'b',
        expiresAt: 4_000_000_000,
      },
      0,
    );
  }
};

const allPages = async (limit: number, maxScannedPerPage?: number) => {
  const state = createStateStore({
    client: dynamo.client,
    tableName: tables.state,
    ...(maxScannedPerPage ? { maxScannedPerPage } : {}),
  });
  const users: string[] = [];
  const pages: { size: number; read: number; more: boolean }[] = [];
  let cursor: string | undefined;
  do {
    const page = await state.listUsers({ limit, cursor });
    users.push(...page.items.map((u) => u.userId));
    pages.push({ size: page.items.length, read: page.itemsRead ?? 0, more: !!page.cursor });
    cursor = page.cursor;
  } while (cursor);
  return { users, pages };
};

describe('listing users (state table scan)', () => {
  const users = Array.from({ length: 23 }, (_, i) => `u${String(i).padStart(2, '0')}`);

  it('lists every owner item exactly once across pages that end inside a scan page', async () => {
    await seed(users, 17);

    const { users: listed, pages } = await allPages(4);

    expect([...listed].sort()).toEqual(users);
    expect(pages.slice(0, -1).every((p) => p.size === 4 && p.more)).toBe(true);
    expect(pages.at(-1)!.more).toBe(false);
  });

  it('bounds the items one page reads; a short page still carries the cursor', async () => {
    await seed(users, 40);

    const { users: listed, pages } = await allPages(1000, 10);

    expect([...listed].sort()).toEqual(users);
    // 63 items in all, at most 10 read a page: at least 7 pages, none reading more than 10.
    expect(pages.length).toBeGreaterThanOrEqual(7);
    expect(Math.max(...pages.map((p) => p.read))).toBeLessThanOrEqual(10);
    expect(pages.reduce((sum, p) => sum + p.read, 0)).toBe(63);
  });

  it('answers an empty table with one empty page, and refuses a forged cursor', async () => {
    const state = createStateStore({ client: dynamo.client, tableName: tables.state });

    expect(await state.listUsers({ limit: 5 })).toEqual({ items: [], itemsRead: 0 });
    await expect(state.listUsers({ limit: 5, cursor: 'bm90LWEtY3Vyc29y' })).rejects.toThrow(
      ValidationError,
    );
    await expect(state.listUsers({ limit: 0 })).rejects.toThrow(ValidationError);
  });
});

describe('the consistent read option', () => {
  it('sends ConsistentRead as asked, and true by default', async () => {
    const state = createStateStore({ client: dynamo.client, tableName: tables.state });
    const history = createHistoryStore({ client: dynamo.client, tableName: tables.history });
    capturing = true;

    await state.getOwner('20');
    await state.getOwner('20', { consistent: false });
    await state.getOwner('20', { consistent: true });
    await history.get('20', 1, { consistent: false });
    await history.get('20', 1);
    await history.listUser('20', { limit: 5, order: 'asc', consistent: false });
    await history.listUser('20', { limit: 5, order: 'asc', consistent: true });
    capturing = false;

    expect(sent).toEqual([
      { command: 'GetItemCommand', consistent: true },
      { command: 'GetItemCommand', consistent: false },
      { command: 'GetItemCommand', consistent: true },
      { command: 'GetItemCommand', consistent: false },
      { command: 'GetItemCommand', consistent: true },
      { command: 'QueryCommand', consistent: false },
      { command: 'QueryCommand', consistent: true },
    ]);
  });
});
