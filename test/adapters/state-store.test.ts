// The DynamoDB state store against dynalite over real HTTP: the owner item's compare-and-set
// (concurrent writers included), the sparse pending index, and idempotency and delivery items
// whose expiry is checked on read and on write at explicit instants.
import { type AttributeValue, GetItemCommand } from '@aws-sdk/client-dynamodb';
import { UnstorableItemError } from '../../functions/adapters/dynamo';
import { createStateStore } from '../../functions/adapters/state-store';
import { METADATA_MAX_DEPTH } from '../../functions/domain/metadata';
import { ValidationError } from '../../functions/domain/errors';
import type { StateStore } from '../../functions/domain/ports';
import type {
  DeliveryItem,
  IdempotencyItem,
  OwnerItem,
  PendingHandover,
} from '../../functions/domain/types';
import { type LocalDynamo, startDynalite } from '../support/dynalite';
import { FakeStateStore } from '../support/fakes';

let dynamo: LocalDynamo;
let store: StateStore;

beforeAll(async () => {
  dynamo = await startDynalite();
});

afterAll(async () => {
  await dynamo.close();
});

beforeEach(async () => {
  const tables = await dynamo.createTables();
  store = createStateStore({ client: dynamo.client, tableName: tables.state });
});

const BOT = 'Bot1234567890abcdefg';
const AGENT = 'Jlk9e7cSf9g3FFsaqe39';

const owner = (overrides: Partial<OwnerItem> = {}): OwnerItem => ({
  userId: '20',
  owner: BOT,
  version: 1,
  since: null,
  lastSeq: 0,
  lastHash: '',
  lastCreatedAt: null,
  lastHandoverId: null,
  pending: null,
  refreshedAt: '2026-03-02T10:00:00.000Z',
  ...overrides,
});

const pending = (markedAt: string, userId = '20'): PendingHandover => ({
  draft: {
    handoverId: `h-${userId}`,
    userId,
    seq: 1,
    fromOwner: null,
    toOwner: AGENT,
    reason: null,
    metadata: { reason: 'question_too_complex', nested: { note: null } },
    metadataDigest: 'digest',
    requestedBy: BOT,
    source: 'api',
    createdAt: markedAt,
    prevHash: '',
  },
  markedAt,
  actingService: BOT,
  idempotencyKey: 'key-1',
});

describe('owner items', () => {
  it('creates an owner item once; a second create is refused and changes nothing', async () => {
    const first = owner();

    const results = [
      await store.createOwner(first),
      await store.createOwner(owner({ owner: AGENT })),
    ];

    expect(results).toEqual([true, false]);
    expect(await store.getOwner('20')).toEqual(first);
  });

  it('answers null for a user without an owner item', async () => {
    expect(await store.getOwner('nobody')).toBeNull();
  });

  it('replaces the item when the expected version matches and refuses a stale version', async () => {
    await store.createOwner(owner());
    const marked = owner({ version: 2, pending: pending('2026-03-02T10:00:01.000Z') });
    const stale = owner({ version: 2, owner: AGENT });

    const results = [
      await store.compareAndSetOwner(marked, 1),
      await store.compareAndSetOwner(stale, 1),
    ];

    expect(results).toEqual([true, false]);
    expect(await store.getOwner('20')).toEqual(marked);
  });

  it('refuses a compare-and-set on a user without an owner item', async () => {
    expect(await store.compareAndSetOwner(owner({ version: 2 }), 1)).toEqual(false);
    expect(await store.getOwner('20')).toBeNull();
  });

  it('throws when the new version does not follow the expected one', async () => {
    await store.createOwner(owner());

    await expect(store.compareAndSetOwner(owner({ version: 3 }), 1)).rejects.toThrow(
      'advance the version by exactly one',
    );
  });

  it('lets exactly one of 20 concurrent writers from the same version win', async () => {
    await store.createOwner(owner());
    const writers = Array.from({ length: 20 }, (_, i) =>
      owner({
        version: 2,
        owner: `Service${i}`,
        refreshedAt: `2026-03-02T10:00:${String(i).padStart(2, '0')}.000Z`,
      }),
    );

    const results = await Promise.all(writers.map((w) => store.compareAndSetOwner(w, 1)));

    const winners = writers.filter((_, i) => results[i]);
    expect(winners).toHaveLength(1);
    expect(await store.getOwner('20')).toEqual(winners[0]);
  });
});

describe('metadata in a pending draft and DynamoDB nesting', () => {
  /** `depth` nested objects, the outermost counting as 1. */
  const nested = (depth: number): Record<string, unknown> => {
    let value: Record<string, unknown> = { leaf: 'x' };
    for (let level = 1; level < depth; level += 1) value = { a: value };
    return value;
  };
  const withDraftMetadata = (metadata: Record<string, unknown>, userId = '20') => {
    const marker = pending('2026-03-02T10:00:01.000Z', userId);
    return owner({ userId, pending: { ...marker, draft: { ...marker.draft, metadata } } });
  };
  /** Levels of a stored item as DynamoDB counts them: the item is 1, each map or list adds 1. */
  const levelsOf = (value: AttributeValue): number => {
    const children = value.M ? Object.values(value.M) : value.L ? value.L : null;
    return children ? 1 + Math.max(0, ...children.map(levelsOf)) : 0;
  };
  const storedLevels = async (tableName: string, userId: string): Promise<number> => {
    const out = await dynamo.client.send(
      new GetItemCommand({ TableName: tableName, Key: { pk: { S: `USER#${userId}` } } }),
    );
    return 1 + Math.max(...Object.values(out.Item ?? {}).map(levelsOf));
  };

  it('stores the deepest metadata a handover accepts within 32 levels, and reads it back', async () => {
    const { state: tableName } = await dynamo.createTables();
    const states = createStateStore({ client: dynamo.client, tableName });
    const item = withDraftMetadata(nested(METADATA_MAX_DEPTH));

    await states.createOwner(item);

    expect(await states.getOwner('20')).toEqual(item);
    expect(await storedLevels(tableName, '20')).toBe(3 + METADATA_MAX_DEPTH);
    expect(3 + METADATA_MAX_DEPTH).toBeLessThanOrEqual(32);
  });

  it('fits draft metadata of 29 levels exactly and refuses 30, as DynamoDB does', async () => {
    const { state: tableName } = await dynamo.createTables();
    const states = createStateStore({ client: dynamo.client, tableName });

    await states.createOwner(withDraftMetadata(nested(29), '21'));
    const err = await states.createOwner(withDraftMetadata(nested(30), '22')).catch((e) => e);

    expect(await storedLevels(tableName, '21')).toBe(32);
    expect(err).toBeInstanceOf(UnstorableItemError);
    expect(await states.getOwner('22')).toBeNull();
  });
});

describe('stale pending markers', () => {
  const mark = async (userId: string, markedAt: string | null) => {
    await store.createOwner(owner({ userId }));
    await store.compareAndSetOwner(
      owner({ userId, version: 2, pending: markedAt ? pending(markedAt, userId) : null }),
      1,
    );
  };

  it('lists only users whose marker is older than the cutoff, oldest first', async () => {
    await mark('a', '2026-03-02T10:00:00.000Z');
    await mark('b', '2026-03-02T10:05:00.000Z');
    await mark('c', null);
    await mark('d', '2026-03-02T10:20:00.000Z');
    await mark('e', '2026-03-02T10:10:00.000Z');

    const page = await store.listStalePending('2026-03-02T10:10:00.000Z', { limit: 10 });

    expect(page.items).toEqual([
      { userId: 'a', markedAt: '2026-03-02T10:00:00.000Z' },
      { userId: 'b', markedAt: '2026-03-02T10:05:00.000Z' },
    ]);
    expect(page.cursor).toBeUndefined();
  });

  it('forgets a marker once a write clears it', async () => {
    await mark('a', '2026-03-02T10:00:00.000Z');
    await mark('b', '2026-03-02T10:05:00.000Z');
    const cleared = owner({ userId: 'a', version: 3, owner: AGENT, lastSeq: 1, pending: null });

    await store.compareAndSetOwner(cleared, 2);

    const page = await store.listStalePending('2026-03-02T11:00:00.000Z', { limit: 10 });
    expect(page.items.map((i) => i.userId)).toEqual(['b']);
    expect(await store.getOwner('a')).toEqual(cleared);
  });

  it('pages through markers with a cursor', async () => {
    for (let i = 0; i < 5; i += 1) await mark(`u${i}`, `2026-03-02T10:0${i}:00.000Z`);
    const users: string[] = [];
    const sizes: number[] = [];
    let cursor: string | undefined;

    do {
      const page = await store.listStalePending('2026-03-02T12:00:00.000Z', { limit: 2, cursor });
      users.push(...page.items.map((i) => i.userId));
      sizes.push(page.items.length);
      cursor = page.cursor;
    } while (cursor && sizes.length < 10);

    expect(sizes).toEqual([2, 2, 1]);
    expect(users).toEqual(['u0', 'u1', 'u2', 'u3', 'u4']);
  });

  it('rejects a malformed cursor as invalid_cursor', async () => {
    const err = await store
      .listStalePending('2026-03-02T12:00:00.000Z', { limit: 2, cursor: 'eyJraW5kIjoidXNlciJ9' })
      .catch((e: unknown) => e);

    expect(err).toBeInstanceOf(ValidationError);
    expect((err as ValidationError).code).toEqual('invalid_cursor');
  });
});

describe('idempotency items', () => {
  const NOW = Date.parse('2026-03-02T10:00:00.000Z');
  const item = (overrides: Partial<IdempotencyItem> = {}): IdempotencyItem => ({
    callerServiceId: BOT,
    key: 'key-1',
    handoverId: 'h-1',
    userId: '20',
    bodyHash: 'body-1',
    expiresAt: NOW / 1000 + 86_400,
    ...overrides,
  });

  it('stores an item and reads it back until it expires', async () => {
    const stored = item();

    const put = await store.putIdempotency(stored, NOW);

    expect(put).toEqual(true);
    expect([
      await store.getIdempotency(BOT, 'key-1', NOW),
      await store.getIdempotency(BOT, 'key-1', stored.expiresAt * 1000 - 1),
      await store.getIdempotency(BOT, 'key-1', stored.expiresAt * 1000),
      await store.getIdempotency(AGENT, 'key-1', NOW),
    ]).toEqual([stored, stored, null, null]);
  });

  it('refuses a second item while the first lives and accepts it once the first expired', async () => {
    const first = item();
    const second = item({
      handoverId: 'h-2',
      bodyHash: 'body-2',
      expiresAt: first.expiresAt + 86_400,
    });
    await store.putIdempotency(first, NOW);

    const whileLive = await store.putIdempotency(second, first.expiresAt * 1000 - 1);
    const afterExpiry = await store.putIdempotency(second, first.expiresAt * 1000);

    expect([whileLive, afterExpiry]).toEqual([false, true]);
    expect(await store.getIdempotency(BOT, 'key-1', first.expiresAt * 1000)).toEqual(second);
  });

  it('replaces an item only while it still names the previous handover', async () => {
    await store.putIdempotency(item(), NOW);
    const retry = item({ handoverId: 'h-2', expiresAt: NOW / 1000 + 90_000 });

    const stale = await store.replaceIdempotency(item({ handoverId: 'h-3' }), 'h-0', NOW);
    const replaced = await store.replaceIdempotency(retry, 'h-1', NOW);
    const again = await store.replaceIdempotency(item({ handoverId: 'h-4' }), 'h-1', NOW);

    expect([stale, replaced, again]).toEqual([false, true, false]);
    expect(await store.getIdempotency(BOT, 'key-1', NOW)).toEqual(retry);
  });

  it('replaces an expired or missing item whatever it named', async () => {
    const first = item();
    await store.putIdempotency(first, NOW);
    const later = first.expiresAt * 1000;
    const retry = item({ handoverId: 'h-2', expiresAt: first.expiresAt + 86_400 });

    const overExpired = await store.replaceIdempotency(retry, 'h-other', later);
    const intoMissing = await store.replaceIdempotency(
      item({ key: 'key-2', handoverId: 'h-5' }),
      'h-other',
      NOW,
    );

    expect([overExpired, intoMissing]).toEqual([true, true]);
    expect(await store.getIdempotency(BOT, 'key-1', later)).toEqual(retry);
  });
});

const NOW = Date.parse('2026-03-02T10:00:00.000Z');
const LEASE_MS = 90_000;
const delivery = (overrides: Partial<DeliveryItem> = {}): DeliveryItem => ({
  deliveryId: `${BOT}#message#m-1`,
  serviceId: BOT,
  userId: '20',
  type: 'message',
  receivedAt: '2026-03-02T10:00:00.000Z',
  state: 'in_progress',
  disposition: null,
  replyState: 'none',
  handoverId: null,
  leaseUntil: NOW + LEASE_MS,
  expiresAt: NOW / 1000 + 30 * 86_400,
  ...overrides,
});
const DELIVERY_ID = delivery().deliveryId;

describe('delivery items', () => {
  it('claims a fresh delivery', async () => {
    const item = delivery();

    expect(await store.claimDelivery(item, NOW, null)).toEqual({ claimed: true });
    expect(await store.getDelivery(item.deliveryId, NOW)).toEqual(item);
  });

  it('returns the existing item to a duplicate that arrives while the lease holds', async () => {
    const first = delivery();
    await store.claimDelivery(first, NOW, null);

    const duplicate = await store.claimDelivery(
      delivery({ receivedAt: '2026-03-02T10:00:30.000Z', leaseUntil: NOW + 30_000 + LEASE_MS }),
      NOW + 30_000,
      null,
    );

    expect(duplicate).toEqual({ claimed: false, existing: first });
  });

  it('lets a retry claim an in-progress delivery whose lease has ended', async () => {
    await store.claimDelivery(delivery(), NOW, null);
    const retry = delivery({
      leaseUntil: NOW + 2 * LEASE_MS,
      receivedAt: '2026-03-02T10:01:31.000Z',
    });

    const result = await store.claimDelivery(retry, NOW + LEASE_MS + 1, delivery());

    expect(result).toEqual({ claimed: true });
    expect(await store.getDelivery(retry.deliveryId, NOW + LEASE_MS + 1)).toEqual(retry);
  });

  it('never re-claims a done delivery until it expires', async () => {
    const first = delivery();
    await store.claimDelivery(first, NOW, null);
    await store.updateDelivery(first.deliveryId, { state: 'done', disposition: 'forwarded' });
    const done = { ...first, state: 'done' as const, disposition: 'forwarded' as const };
    const expiry = first.expiresAt * 1000;

    const afterLease = await store.claimDelivery(delivery(), NOW + LEASE_MS + 1, done);
    const justBeforeExpiry = await store.claimDelivery(delivery(), expiry - 1, done);
    const atExpiry = await store.claimDelivery(
      delivery({ expiresAt: first.expiresAt + 60 }),
      expiry,
      null,
    );

    expect([afterLease, justBeforeExpiry, atExpiry]).toEqual([
      { claimed: false, existing: done },
      { claimed: false, existing: done },
      { claimed: true },
    ]);
  });

  it('reads an expired delivery as absent', async () => {
    const item = delivery();
    await store.claimDelivery(item, NOW, null);

    expect([
      await store.getDelivery(item.deliveryId, item.expiresAt * 1000 - 1),
      await store.getDelivery(item.deliveryId, item.expiresAt * 1000),
      await store.getDelivery('unknown', NOW),
    ]).toEqual([item, null, null]);
  });

  it('updates only the given fields', async () => {
    const item = delivery({ disposition: 'forwarded', handoverId: 'h-1' });
    await store.claimDelivery(item, NOW, null);

    await store.updateDelivery(item.deliveryId, {
      replyState: 'sending',
      handoverId: null,
      leaseUntil: NOW + 5,
    });

    expect(await store.getDelivery(item.deliveryId, NOW)).toEqual({
      ...item,
      replyState: 'sending',
      handoverId: null,
      leaseUntil: NOW + 5,
    });
  });

  it('updates under a lease only while the item still holds that lease', async () => {
    const item = delivery({ leaseUntil: NOW + 60_000 });
    await store.claimDelivery(item, NOW, null);

    const stale = await store.updateDelivery(item.deliveryId, { state: 'done' }, NOW + 1);
    const held = await store.updateDelivery(
      item.deliveryId,
      { replyState: 'sending' },
      NOW + 60_000,
    );

    expect([stale, held]).toEqual([false, true]);
    expect(await store.getDelivery(item.deliveryId, NOW)).toEqual({
      ...item,
      replyState: 'sending',
    });
  });

  it('refuses to update a delivery that does not exist', async () => {
    await expect(store.updateDelivery('missing', { state: 'done' })).rejects.toThrow(
      'does not exist',
    );
    expect(await store.getDelivery('missing', NOW)).toBeNull();
  });
});

// The processor reads a delivery item, then claims it on the strength of that read (see
// takeDelivery): the store must refuse the claim once the item is no longer as read, whatever
// the clock says. Run against the DynamoDB store and the fake the domain tests use.
describe.each([
  ['the DynamoDB store', (): StateStore => store],
  ['the in-memory fake', (): StateStore => new FakeStateStore()],
])('claiming a delivery on what was read (%s)', (_name, make) => {
  let states: StateStore;
  beforeEach(() => {
    states = make();
  });

  /** What an attempt claims with after reading `read` at `at`: a new lease, the rest kept. */
  const retryOf = (read: DeliveryItem, at: number): DeliveryItem => ({
    ...read,
    leaseUntil: at + LEASE_MS,
  });

  /** A first attempt claimed at NOW and never finished: its lease ends at NOW + LEASE_MS. */
  const abandoned = () => states.claimDelivery(delivery(), NOW, null);

  it('lets only the first of two attempts that read the same expired lease claim it', async () => {
    await abandoned();
    const at = NOW + LEASE_MS + 1;
    const readA = (await states.getDelivery(DELIVERY_ID, at))!;
    const readB = (await states.getDelivery(DELIVERY_ID, at))!;

    const a = await states.claimDelivery(retryOf(readA, at), at, readA);
    const b = await states.claimDelivery(retryOf(readB, at + 5), at + 5, readB);

    expect([a, b]).toEqual([{ claimed: true }, { claimed: false, existing: retryOf(readA, at) }]);
  });

  it('refuses a stalled attempt after the attempt that claimed since released its lease', async () => {
    await abandoned();
    const at = NOW + LEASE_MS + 1;
    const stalledRead = (await states.getDelivery(DELIVERY_ID, at))!;
    const read = (await states.getDelivery(DELIVERY_ID, at))!;
    const claimed = retryOf(read, at);
    await states.claimDelivery(claimed, at, read);
    await states.updateDelivery(DELIVERY_ID, { replyState: 'sending' }, claimed.leaseUntil);
    await states.updateDelivery(DELIVERY_ID, { leaseUntil: 0 }, claimed.leaseUntil);

    const stalled = await states.claimDelivery(retryOf(stalledRead, at), at, stalledRead);

    const left: DeliveryItem = { ...claimed, replyState: 'sending', leaseUntil: 0 };
    expect(stalled).toEqual({ claimed: false, existing: left });
    expect(await states.getDelivery(DELIVERY_ID, at)).toEqual(left);
  });

  it('refuses a stalled attempt once the lease of the attempt that claimed since ran out', async () => {
    await abandoned();
    const at = NOW + LEASE_MS + 1;
    const stalledRead = (await states.getDelivery(DELIVERY_ID, at))!;
    const read = (await states.getDelivery(DELIVERY_ID, at))!;
    const claimed = retryOf(read, at);
    await states.claimDelivery(claimed, at, read);
    const later = claimed.leaseUntil + 1;

    const stalled = await states.claimDelivery(retryOf(stalledRead, later), later, stalledRead);

    expect(stalled).toEqual({ claimed: false, existing: claimed });
  });

  it('refuses a stalled attempt that read a released lease another attempt has used since', async () => {
    // The lease reads 0 before and after: what the other attempt did to the delivery tells.
    await abandoned();
    await states.updateDelivery(DELIVERY_ID, { leaseUntil: 0 }, NOW + LEASE_MS);
    const at = NOW + 1_000;
    const stalledRead = (await states.getDelivery(DELIVERY_ID, at))!;
    const read = (await states.getDelivery(DELIVERY_ID, at))!;
    const claimed = retryOf(read, at);
    await states.claimDelivery(claimed, at, read);
    await states.updateDelivery(DELIVERY_ID, { replyState: 'sent' }, claimed.leaseUntil);
    await states.updateDelivery(DELIVERY_ID, { handoverId: 'h-1' }, claimed.leaseUntil);
    await states.updateDelivery(DELIVERY_ID, { leaseUntil: 0 }, claimed.leaseUntil);

    const stalled = await states.claimDelivery(retryOf(stalledRead, at), at, stalledRead);

    expect(stalledRead.leaseUntil).toBe(0);
    expect(stalled).toEqual({
      claimed: false,
      existing: { ...claimed, replyState: 'sent', handoverId: 'h-1', leaseUntil: 0 },
    });
  });

  it('lets a retry claim a released lease that nothing has touched since it read it', async () => {
    await abandoned();
    await states.updateDelivery(DELIVERY_ID, { replyState: 'sent' }, NOW + LEASE_MS);
    await states.updateDelivery(DELIVERY_ID, { leaseUntil: 0 }, NOW + LEASE_MS);
    const at = NOW + 1_000;
    const read = (await states.getDelivery(DELIVERY_ID, at))!;

    const result = await states.claimDelivery(retryOf(read, at), at, read);

    expect(result).toEqual({ claimed: true });
    expect(await states.getDelivery(DELIVERY_ID, at)).toEqual({
      ...delivery(),
      replyState: 'sent',
      leaseUntil: at + LEASE_MS,
    });
  });

  it('refuses a claim that read nothing once another attempt has written the item', async () => {
    const first = delivery();
    const second = delivery({ receivedAt: '2026-03-02T10:00:01.000Z' });

    const results = [
      await states.claimDelivery(first, NOW, null),
      await states.claimDelivery(second, NOW + 1, null),
    ];

    expect(results).toEqual([{ claimed: true }, { claimed: false, existing: first }]);
  });

  it('claims over an item that expired after it was read, whatever it holds', async () => {
    const first = delivery({ expiresAt: NOW / 1000 + 60 });
    await states.claimDelivery(first, NOW, null);
    const read = (await states.getDelivery(DELIVERY_ID, NOW + 1))!;
    await states.updateDelivery(DELIVERY_ID, { replyState: 'sent' }, first.leaseUntil);
    const at = NOW + 61_000;
    const next = delivery({ leaseUntil: at + LEASE_MS, expiresAt: at / 1000 + 3600 });

    const result = await states.claimDelivery(next, at, read);

    expect(result).toEqual({ claimed: true });
    expect(await states.getDelivery(DELIVERY_ID, at)).toEqual(next);
  });
});
