// The breaker's admission read (domain/failover/breaker.ts) on the real circuit store: dynalite
// over HTTP, each container a store of its own on a client that counts the DynamoDB calls it
// sends, an injected clock. A closed circuit's read is reused for admissionCacheMs per Service
// per container, and an open one's until its probe is due (nothing changes it before); a
// half-open one is read on every forward, and the probe is claimed on a fresh read; a
// container's own writes keep what they returned. Every figure is counted from the calls the
// clients sent and the item stored.
import { createCircuitStore } from '../../../functions/adapters/circuit-store';
import { createDocumentClient } from '../../../functions/adapters/dynamo';
import {
  admitForward,
  type BreakerDeps,
  recordForward,
} from '../../../functions/domain/failover/breaker';
import type { ForwardOutcome } from '../../../functions/domain/failover/classify';
import { DEFAULT_CIRCUIT } from '../../../functions/domain/failover/settings';
import type { CircuitItem } from '../../../functions/domain/types';
import { type LocalDynamo, startDynalite } from '../../support/dynalite';
import { manualClock, recordingLog, recordingMetrics } from '../../support/fakes';

const DESK = 'Jlk9e7cSf9g3FFsaqe39';
const settings = { ...DEFAULT_CIRCUIT }; // 60 s window, 10 requests, rate 0.5, open 120 s
const CACHE_MS = 1_000;

let dynamo: LocalDynamo;
const clients: { destroy(): void }[] = [];
beforeAll(async () => {
  dynamo = await startDynalite();
});
afterAll(async () => {
  for (const client of clients) client.destroy();
  await dynamo.close();
});

/** A table, a clock, and processor containers on it, each counting the calls it sends. */
const world = async () => {
  const { state } = await dynamo.createTables();
  const clock = manualClock();
  const metrics = recordingMetrics();
  const container = () => {
    const calls: string[] = [];
    const client = createDocumentClient({
      endpoint: dynamo.endpoint,
      region: 'local',
      onCall: (command) => calls.push(command),
    });
    clients.push(client);
    const deps: BreakerDeps = {
      circuits: createCircuitStore({ client, tableName: state }),
      clock,
      log: recordingLog(),
      metrics,
      admissionCacheMs: CACHE_MS,
    };
    const count = (command: string) => calls.filter((c) => c === command).length;
    return {
      deps,
      reads: () => count('GetItemCommand'),
      writes: () => count('PutItemCommand') + count('UpdateItemCommand'),
    };
  };
  const seeded = createCircuitStore({ client: dynamo.client, tableName: state });
  return { clock, metrics, container, stored: () => seeded.get(DESK), seed: seeded };
};

/** One forward: its admission, then (unless held) its outcome. */
const forward = async (deps: BreakerDeps, outcome: ForwardOutcome) => {
  const gate = await admitForward(DESK, settings, deps);
  if (gate.admission.kind !== 'hold') await recordForward(DESK, outcome, settings, deps, gate);
  return gate.admission.kind;
};

const closedItem = (windowStart: number, extra: Partial<CircuitItem> = {}): CircuitItem => ({
  serviceId: DESK,
  state: 'closed',
  windowStart,
  requests: 4,
  failures: 1,
  openedAt: null,
  probeAt: null,
  version: 1,
  ...extra,
});

describe('breaker: the admission read', () => {
  it('reads a closed circuit once for twenty forwards within admissionCacheMs, and again after it', async () => {
    const t = await world();
    await t.seed.compareAndSet(closedItem(t.clock.now()), 0);
    const c = t.container();

    const kinds: string[] = [];
    for (let i = 0; i < 20; i++) {
      kinds.push(await forward(c.deps, 'success'));
      t.clock.advance(CACHE_MS / 20 - 1);
    }
    const withinWindow = c.reads();
    t.clock.advance(20);
    kinds.push(await forward(c.deps, 'success'));

    expect(kinds).toEqual(Array(21).fill('pass'));
    expect([withinWindow, c.reads(), c.writes()]).toEqual([1, 2, 0]);
  });

  it('reuses the read of a Service with no circuit item yet: a healthy desk costs a read a window', async () => {
    const t = await world();
    const c = t.container();

    for (let i = 0; i < 50; i++) {
      await forward(c.deps, 'success');
      t.clock.advance(CACHE_MS / 10); // five windows
    }

    expect([c.reads(), c.writes(), await t.stored()]).toEqual([5, 0, null]);
  });

  it('keeps the item its own failure wrote: the forwards after it read nothing', async () => {
    const t = await world();
    await t.seed.compareAndSet(closedItem(t.clock.now(), { requests: 10 }), 0);
    const c = t.container();

    await forward(c.deps, 'success'); // the one read
    t.clock.advance(CACHE_MS - 1);
    await forward(c.deps, 'failure'); // an add: returns the item after it
    t.clock.advance(CACHE_MS - 1);
    await forward(c.deps, 'success');

    expect([c.reads(), c.writes()]).toEqual([1, 1]);
    expect(await t.stored()).toMatchObject({ state: 'closed', requests: 12, failures: 2 });
  });

  it('holds on its sight of an open circuit without a read until the probe is due, then claims the probe on a fresh read', async () => {
    const t = await world();
    const openedAt = t.clock.now();
    await t.seed.compareAndSet(
      closedItem(openedAt, { state: 'open', openedAt, requests: 10, failures: 10 }),
      0,
    );
    const c = t.container();

    const held = [];
    for (let i = 0; i < 5; i++) held.push(await forward(c.deps, 'success'));
    const readsWhileOpen = c.reads();
    t.clock.advance(settings.openSeconds * 1000 - 1);
    held.push(await forward(c.deps, 'success')); // the sight expired: read again, still open
    t.clock.advance(1);
    const probe = await forward(c.deps, 'success');

    expect(held).toEqual(Array(6).fill('hold'));
    expect([readsWhileOpen, probe, c.reads()]).toEqual([1, 'probe', 3]);
    // The probe's claim and its success: two compare-and-sets, the circuit closed again.
    expect(c.writes()).toBe(2);
    expect(await t.stored()).toMatchObject({ state: 'closed', requests: 0 });
  });

  it('reads a half-open circuit on every forward: the probe may close it at any time', async () => {
    const t = await world();
    const probeAt = t.clock.now();
    await t.seed.compareAndSet(
      closedItem(probeAt, { state: 'half_open', openedAt: probeAt - 120_000, probeAt }),
      0,
    );
    const c = t.container();

    const kinds = [];
    for (let i = 0; i < 3; i++) kinds.push(await forward(c.deps, 'success'));

    expect(kinds).toEqual(['hold', 'hold', 'hold']);
    expect(c.reads()).toBe(3);
  });

  it('sees a circuit another container opened at its own first failed forward', async () => {
    const t = await world();
    const here = t.container();
    const there = t.container();
    await forward(here.deps, 'success'); // a closed sight (no item yet)

    for (let i = 0; i < 10; i++) await forward(there.deps, 'failure');
    const opened = await t.stored();
    const afterOpening = [await forward(here.deps, 'failure')]; // stale: to the dead desk
    for (let i = 0; i < 3; i++) afterOpening.push(await forward(here.deps, 'failure'));

    expect(opened).toMatchObject({ state: 'open' });
    // Its failure's add found no closed window; the read after it saw the open circuit.
    expect(afterOpening).toEqual(['pass', 'hold', 'hold', 'hold']);
    expect(t.metrics.total('CircuitOpened')).toBe(1);
  });

  it('sees it within admissionCacheMs when its forwards keep succeeding', async () => {
    const t = await world();
    const here = t.container();
    const there = t.container();
    await forward(here.deps, 'success');
    const sightAt = t.clock.now();

    for (let i = 0; i < 10; i++) await forward(there.deps, 'failure');
    const kinds: [number, string][] = [];
    while (t.clock.now() - sightAt <= CACHE_MS) {
      kinds.push([t.clock.now() - sightAt, await forward(here.deps, 'success')]);
      t.clock.advance(250);
    }

    expect(kinds).toEqual([
      [0, 'pass'],
      [250, 'pass'],
      [500, 'pass'],
      [750, 'pass'],
      [1000, 'hold'],
    ]);
  });

  it.each([
    ['near the threshold (4 of 10 failed): read again', 4, 2],
    ['far from it (1 of 10 failed): reused', 1, 1],
  ])('after a window ends, a sight of it %s', async (_name, failures, expectedReads) => {
    const t = await world();
    const windowMs = settings.windowSeconds * 1000;
    await t.seed.compareAndSet(
      closedItem(t.clock.now() - windowMs + 500, { requests: 10, failures }),
      0,
    );
    const c = t.container();
    await forward(c.deps, 'success');
    t.clock.advance(600); // the stored window has ended; the sight is 600 ms old

    await forward(c.deps, 'success');

    expect(c.reads()).toBe(expectedReads);
  });

  it('reads on every forward with admissionCacheMs 0, as before', async () => {
    const t = await world();
    const c = t.container();
    const deps = { ...c.deps, admissionCacheMs: 0 };

    for (let i = 0; i < 5; i++) await forward(deps, 'success');

    expect(c.reads()).toBe(5);
  });
});
