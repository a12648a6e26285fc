// The key-distribution check must be able to fail: a key function that puts every item of an
// index on one partition is caught at the target rate, where the real sharded keys are not. And
// what it counts is the writes the model makes, worked out by hand for one handover.
import { dynamoItemSize } from '../../bench/item-sizes';
import {
  checkKeyDistribution,
  type ItemSizes,
  type KeyCheckOptions,
  type KeyFunctions,
  realKeys,
  SHARD_CANDIDATES,
  shardsNeeded,
} from '../../bench/keys';

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
    // byPendingSince: the marker enters (put) and leaves (delete), 2 units each.
    expect(r.byScope['state.byPendingSince']).toMatchObject({
      unitsPerSecond: 4,
      writesPerSecond: 2,
    });
    // byOwner: the old owner's entry is rewritten with the marker, then deleted (2 + 2 units).
    expect(r.byScope['state.byOwner']?.unitsPerSecond).toBe(4);
    expect(r.byScope['state.byOwner']?.writesPerSecond).toBe(2);
    // history: the record and its byTime entry on the user's partition; one write in each GSI.
    expect(r.byScope.history).toMatchObject({ unitsPerSecond: 2, writesPerSecond: 2 });
    expect(r.byScope['history.byDay']?.writesPerSecond).toBe(1);
    expect(r.byScope['history.byDestination']?.writesPerSecond).toBe(1);
    // Writes: 2 owner + 1 idempotency + 2 x 2 outbox on the table; 2 + 3 in the owner indexes;
    // 2 + 1 + 1 for the record; per outbox item put, delete, put in byNotificationStatus (2 x 3).
    // Units: the same, but the 4 writes of the marked owner item (1.5 KB) cost 2 each.
    expect(r.totals).toEqual({ units: 28, writes: 22, handovers: 1, webhooks: 0 });
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

  it('finds the circuit item of a Service that every forward writes', () => {
    const webhooks = { ...target, handoversPerSecond: 0, webhooksPerSecond: 50_000 };
    const withCircuit = checkKeyDistribution(webhooks);
    expect(withCircuit.within).toBe(false);
    expect(withCircuit.hottest.partition).toMatch(/^CIRCUIT#/);
    // Without it, each delivery item is its own partition: a few writes a second at most.
    const without = checkKeyDistribution({ ...webhooks, circuitPerForward: false });
    expect(without.within).toBe(true);
    expect(without.hottest.partition).toMatch(/^CB#/);
    expect(without.totals.writes).toBe(3 * 50_000);
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

  it('sizes an item by DynamoDB rules', () => {
    // pk: 2 + 7 (é is 2 bytes); n: 1 + (5 digits -> 3) + 1; ok: 2 + 1; m: 1 + 3 + (1 + 1 + 1);
    // l: 1 + 3 + (1 + 1) + (1 + 2).
    expect(
      dynamoItemSize({ pk: 'USER#é', n: 12345, ok: true, m: { a: null }, l: ['x', 'yz'] }),
    ).toBe(9 + 5 + 3 + 7 + 9);
  });
});
