// The circuit store (functions/adapters/circuit-store.ts) on dynalite over real HTTP, and the fake
// the domain tests use, held to one contract: a CAS on version (0: none stored), whole items, and
// an atomic add of counts to a closed window (the processors' outcome writes).
import { GetCommand } from '@aws-sdk/lib-dynamodb';
import { createCircuitStore } from '../../functions/adapters/circuit-store';
import type { CircuitStore } from '../../functions/domain/ports';
import type { CircuitItem } from '../../functions/domain/types';
import { type LocalDynamo, startDynalite } from '../support/dynalite';
import { FakeCircuitStore } from '../support/fakes';

let dynamo: LocalDynamo;
beforeAll(async () => {
  dynamo = await startDynalite();
});
afterAll(async () => {
  await dynamo.close();
});

const circuit = (version: number, extra: Partial<CircuitItem> = {}): CircuitItem => ({
  serviceId: 'Jlk9e7cSf9g3FFsaqe39',
  state: 'closed',
  windowStart: 1_773_151_200_000,
  requests: version,
  failures: 0,
  openedAt: null,
  probeAt: null,
  version,
  ...extra,
});

const stores: [string, () => Promise<CircuitStore & { table?: string }>][] = [
  ['fake', async () => new FakeCircuitStore()],
  [
    'dynalite',
    async () => {
      const { state } = await dynamo.createTables();
      return Object.assign(createCircuitStore({ client: dynamo.client, tableName: state }), {
        table: state,
      });
    },
  ],
];

describe.each(stores)('circuit store (%s)', (kind, make) => {
  it('reads null before the first write, then the item as written', async () => {
    const store = await make();
    const before = await store.get('Jlk9e7cSf9g3FFsaqe39');

    const created = await store.compareAndSet(circuit(1), 0);

    expect([before, created]).toEqual([null, true]);
    expect(await store.get('Jlk9e7cSf9g3FFsaqe39')).toEqual(circuit(1));
  });

  it('replaces the item only from the version it read', async () => {
    const store = await make();
    await store.compareAndSet(circuit(1), 0);
    const opened = circuit(2, { state: 'open', openedAt: 1_773_151_260_000, failures: 2 });

    const results = [
      await store.compareAndSet(circuit(1), 0),
      await store.compareAndSet(opened, 1),
      await store.compareAndSet(circuit(2), 1),
    ];

    expect(results).toEqual([false, true, false]);
    expect(await store.get('Jlk9e7cSf9g3FFsaqe39')).toEqual(opened);
  });

  it('refuses a write that does not advance the version by one', async () => {
    const store = await make();

    await expect(store.compareAndSet(circuit(3), 1)).rejects.toThrow(
      'A circuit item write must advance the version by exactly one.',
    );
  });

  it('adds counts to the stored closed window, one version on, and returns the item after', async () => {
    const store = await make();
    await store.compareAndSet(circuit(1), 0);

    const added = await store.addCounts('Jlk9e7cSf9g3FFsaqe39', circuit(1).windowStart, {
      requests: 7,
      failures: 2,
    });

    const expected = { ...circuit(1), requests: 8, failures: 2, version: 2 };
    expect(added).toEqual(expected);
    expect(await store.get('Jlk9e7cSf9g3FFsaqe39')).toEqual(expected);
  });

  it('adds nothing without a stored closed window that began at the given instant', async () => {
    const store = await make();
    const none = await store.addCounts('Jlk9e7cSf9g3FFsaqe39', 1_773_151_200_000, {
      requests: 1,
      failures: 1,
    });
    await store.compareAndSet(circuit(1), 0);
    const otherWindow = await store.addCounts('Jlk9e7cSf9g3FFsaqe39', 1_773_151_260_000, {
      requests: 1,
      failures: 1,
    });
    await store.compareAndSet(circuit(2, { state: 'open', openedAt: 1_773_151_230_000 }), 1);
    const open = await store.addCounts('Jlk9e7cSf9g3FFsaqe39', circuit(1).windowStart, {
      requests: 1,
      failures: 1,
    });

    expect([none, otherWindow, open]).toEqual([null, null, null]);
    expect(await store.get('Jlk9e7cSf9g3FFsaqe39')).toEqual(
      circuit(2, { state: 'open', openedAt: 1_773_151_230_000 }),
    );
  });

  it('loses no count of concurrent adds, where compare-and-set writers would have to retry', async () => {
    const store = await make();
    await store.compareAndSet(circuit(1), 0);

    const results = await Promise.all(
      Array.from({ length: 12 }, (_, i) =>
        store.addCounts('Jlk9e7cSf9g3FFsaqe39', circuit(1).windowStart, {
          requests: 2,
          failures: i % 2,
        }),
      ),
    );

    expect(results.every((r) => r !== null)).toBe(true);
    expect(await store.get('Jlk9e7cSf9g3FFsaqe39')).toMatchObject({
      requests: 1 + 24,
      failures: 6,
      version: 13,
    });
  });

  if (kind === 'dynalite') {
    it('keeps the item under CIRCUIT#{serviceId} in the state table', async () => {
      const store = await make();
      await store.compareAndSet(circuit(1), 0);

      const out = await dynamo.client.send(
        new GetCommand({ TableName: store.table, Key: { pk: 'CIRCUIT#Jlk9e7cSf9g3FFsaqe39' } }),
      );

      expect(out.Item).toEqual({ ...circuit(1), pk: 'CIRCUIT#Jlk9e7cSf9g3FFsaqe39' });
    });
  }
});
