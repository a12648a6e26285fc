// The key-distribution check must be able to fail: a key function that puts every item of an
// index on one partition is caught at the target rate, where the real sharded keys are not. And
// what it counts is the writes the model makes, worked out by hand for one handover.
import { dynamoItemSize } from '../../bench/item-sizes';
import {
  checkKeyDistribution,
  type ItemSizes,
  type KeyCheckOptions,
  type KeyFunctions,
  PARTITION_READ_LIMIT,
  realKeys,
  SHARD_CANDIDATES,
  shardsForTarget,
  shardsNeeded,
  tableProjections,
} from '../../bench/keys';
import { DEFAULT_ADMISSION_CACHE_MS } from '../../functions/domain/failover/breaker';
import { MAX_INDEX_SHARDS } from '../../functions/domain/shards';

const small = 100;
const sizes: ItemSizes = {
  ownerAtRest: small,
  ownerMarked: 1500, // 2 units
  record: small,
  idempotency: small,
  deliveryClaimed: small,
  deliveryDone: small,
  notificationPending: small,
  notificationSent: small,
  notificationListed: small,
  circuit: small,
};

const target: KeyCheckOptions = {
  handoversPerSecond: 10_000,
  webhooksPerSecond: 0,
  users: 1_000_000,
  seconds: 1,
  shards: 64,
  sizes,
  notificationsPerHandover: 2,
};

describe('key distribution check', () => {
  it('reads what each index projects from the table definitions', () => {
    expect(tableProjections()).toEqual({
      'history.byDay': 'ALL',
      'history.byDestination': 'ALL',
      'state.byPendingSince': 'KEYS_ONLY',
      'state.byOwner': 'KEYS_ONLY',
      'state.byDue': 'ALL',
      'state.byNotificationStatus': 'INCLUDE',
    });
  });

  it('counts the writes of one handover on the partitions its keys name', () => {
    const r = checkKeyDistribution({
      ...target,
      handoversPerSecond: 1,
      users: 1,
      shards: 8,
    });
    // state: the marker CAS and the final CAS (2 units each: the larger image is the marked one),
    // the idempotency item, and per outbox item its put and its CAS to sent.
    expect(r.byScope.state).toMatchObject({ partition: 'USER#user-0', unitsPerSecond: 4 });
    // byPendingSince (keys only): the marker enters (put) and leaves (delete), a unit each.
    expect(r.byScope['state.byPendingSince']).toMatchObject({
      unitsPerSecond: 2,
      writesPerSecond: 2,
    });
    // byOwner (keys only): the marker changes no key there, so only the move writes: a delete on
    // the old owner's partition, a put on the new one's.
    expect(r.byScope['state.byOwner']).toMatchObject({ unitsPerSecond: 1, writesPerSecond: 1 });
    expect(r.unitsByScope['state.byOwner']).toBe(2);
    // history: the record and its byTime entry on the user's partition; one write in each GSI.
    expect(r.byScope.history).toMatchObject({ unitsPerSecond: 2, writesPerSecond: 2 });
    expect(r.byScope['history.byDay']?.writesPerSecond).toBe(1);
    expect(r.byScope['history.byDestination']?.writesPerSecond).toBe(1);
    // Writes: 2 owner + 1 idempotency + 2 x 2 outbox on the table; 2 + 2 in the owner indexes;
    // 2 + 1 + 1 for the record; per outbox item put, delete, put in byNotificationStatus (2 x 3).
    // Units: the same, but the 2 writes of the marked owner item (1.5 KB) cost 2 each.
    expect(r.totals).toMatchObject({ units: 23, writes: 21, handovers: 1, webhooks: 0 });
  });

  it('charges every owner index write by the whole item when the indexes project everything', () => {
    const all = { 'state.byPendingSince': 'ALL', 'state.byOwner': 'ALL' } as const;
    const r = checkKeyDistribution({
      ...target,
      handoversPerSecond: 1,
      users: 1,
      shards: 8,
      projections: all,
    });
    // byPendingSince: enters and leaves with the 1.5 KB marker (2 units each); byOwner: the old
    // owner's entry rewritten with the marker, then deleted (2 + 2), and a put on the new owner's.
    expect(r.unitsByScope['state.byPendingSince']).toBe(4);
    expect(r.byScope['state.byOwner']).toMatchObject({ unitsPerSecond: 4, writesPerSecond: 2 });
    expect(r.totals).toMatchObject({ units: 28, writes: 22 });
  });

  it('keeps the real keys within the limit where the one-partition keys are far over it', () => {
    const real = checkKeyDistribution(target);
    expect(real.byScope['history.byDay']!.unitsPerSecond).toBeLessThanOrEqual(1000);

    const oneDay: KeyFunctions = {
      ...realKeys,
      history: (record, shards) => ({
        ...realKeys.history(record, shards),
        dayPk: `DAY#${record.createdAt.slice(0, 10)}`,
      }),
    };
    const flat = checkKeyDistribution({ ...target, keys: oneDay });
    expect(flat.within).toBe(false);
    expect(flat.byScope['history.byDay']).toMatchObject({
      partition: 'DAY#2026-06-15',
      unitsPerSecond: 10_000,
    });
  });

  it('fails on an owner index whose key ignores the shard', () => {
    const oneOwner: KeyFunctions = {
      ...realKeys,
      owner: (item, shards) => ({
        ...realKeys.owner(item, shards),
        ownerPk: `OWNER#${item.owner}`,
      }),
    };
    const real = checkKeyDistribution(target).byScope['state.byOwner']!;
    const flat = checkKeyDistribution({ ...target, keys: oneOwner }).byScope['state.byOwner']!;
    expect(real.unitsPerSecond).toBeLessThanOrEqual(1000);
    expect(flat.unitsPerSecond).toBeGreaterThan(1000);
    expect(flat.partition).toMatch(/^OWNER#[^#]+$/);
  });

  it('writes a circuit item on failed forwards only, where a write per forward was far over', () => {
    const webhooks = { ...target, handoversPerSecond: 0, webhooksPerSecond: 10_000 };
    const before = checkKeyDistribution({ ...webhooks, circuitWrites: 'perForward' });
    expect(before.within).toBe(false);
    expect(before.hottest.partition).toMatch(/^CIRCUIT#/);

    const now = checkKeyDistribution({ ...webhooks, forwardFailureRate: 0.01 });

    expect(now.within).toBe(true);
    // Every failure writes (with its container's tally); a success wrote only while a stored
    // window was near the threshold: a handful, counted apart.
    expect(now.circuit.failures).toBeGreaterThan(50);
    expect(now.circuit.writes).toBeGreaterThanOrEqual(now.circuit.failures);
    expect(now.circuit.writes).toBeLessThanOrEqual(now.circuit.failures * 1.05);
    expect(now.totals.writes).toBe(3 * 10_000 + now.circuit.writes);
    // Without failures nothing is written to a circuit item at all.
    const healthy = checkKeyDistribution({ ...webhooks, forwardFailureRate: 0 });
    expect([healthy.circuit.writes, healthy.hottest.partition]).toEqual([
      0,
      expect.stringMatching(/^CB#/),
    ]);
  });

  it('reads a circuit item once per container per admissionCacheMs, where a read per forward was over a partition', () => {
    const webhooks = { ...target, handoversPerSecond: 0, webhooksPerSecond: 5_000, seconds: 2 };
    const containers = 625;
    const before = checkKeyDistribution({
      ...webhooks,
      processorContainers: containers,
      admissionCacheMs: 0,
    });
    const now = checkKeyDistribution({ ...webhooks, processorContainers: containers });
    const shorter = checkKeyDistribution({
      ...webhooks,
      processorContainers: containers,
      admissionCacheMs: 2_500,
    });

    // Before: every forward read its Service's item, the bot's (70% of the users) over 3,000.
    expect(before.circuit.reads).toBe(5_000);
    expect(before.circuit.hottestReads).toMatchObject({
      partition: 'CIRCUIT#bot00000000000000000',
    });
    expect(before.circuit.hottestReads!.readsPerSecond).toBeGreaterThan(PARTITION_READ_LIMIT);
    // Now: each container reads the bot's item about once per cache period (it forwards to the
    // bot several times in one); over it only by the reads a failure's write needed (a fresh
    // base after a window ended), at most one per failure.
    const perPeriod = (cacheMs: number) => (containers * 1000) / cacheMs;
    for (const [result, cacheMs] of [
      [now, DEFAULT_ADMISSION_CACHE_MS],
      [shorter, 2_500],
    ] as const) {
      const hot = result.circuit.hottestReads!;
      expect(hot.partition).toBe('CIRCUIT#bot00000000000000000');
      expect(hot.readsPerSecond).toBeGreaterThan(perPeriod(cacheMs) * 0.8);
      expect(hot.readsPerSecond).toBeLessThanOrEqual(perPeriod(cacheMs) + result.circuit.failures);
    }
    expect(now.circuit.reads).toBeLessThan(before.circuit.reads / 4);
  });

  it('names the smallest shard count that carries the rate, and it does', () => {
    const at3000 = { ...target, handoversPerSecond: 3000 };
    const needed = shardsNeeded(at3000)['history.byDay'];
    expect(needed).not.toBeNull();
    const at = SHARD_CANDIDATES.indexOf(needed!);
    expect(
      checkKeyDistribution({ ...at3000, shards: needed! }).byScope['history.byDay']!.unitsPerSecond,
    ).toBeLessThanOrEqual(1000);
    const below = SHARD_CANDIDATES[at - 1]!;
    expect(
      checkKeyDistribution({ ...at3000, shards: below }).byScope['history.byDay']!.unitsPerSecond,
    ).toBeGreaterThan(1000);
  });

  it('sizes a deployment: the largest shard count any index needs, and every index within at it', () => {
    const at3000 = { ...target, handoversPerSecond: 3000 };

    const sized = shardsForTarget(at3000);

    const needed = Object.values(sized.needed).filter((n): n is number => typeof n === 'number');
    expect(sized.k).toBe(Math.max(...needed));
    expect(sized.atK.within).toBe(true);
    expect(sized.atMax.shards).toBe(MAX_INDEX_SHARDS);
    // One candidate below K, the index that set K is over the limit.
    const binding = (Object.keys(sized.needed) as (keyof typeof sized.needed)[]).find(
      (scope) => sized.needed[scope] === sized.k,
    )!;
    const below = SHARD_CANDIDATES[SHARD_CANDIDATES.indexOf(sized.k!) - 1]!;
    expect(
      checkKeyDistribution({ ...at3000, shards: below }).byScope[binding]!.unitsPerSecond,
    ).toBeGreaterThan(1000);
  });

  it('sizes an item by DynamoDB rules', () => {
    // pk: 2 + 7 (é is 2 bytes); n: 1 + (5 digits -> 3) + 1; ok: 2 + 1; m: 1 + 3 + (1 + 1 + 1);
    // l: 1 + 3 + (1 + 1) + (1 + 2).
    expect(
      dynamoItemSize({ pk: 'USER#é', n: 12345, ok: true, m: { a: null }, l: ['x', 'yz'] }),
    ).toBe(9 + 5 + 3 + 7 + 9);
  });
});
