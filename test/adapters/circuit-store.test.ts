// The circuit store (functions/adapters/circuit-store.ts) on dynalite over real HTTP, and the fake
// the domain tests use, held to one contract: a CAS on version (0: none stored), whole items.
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
