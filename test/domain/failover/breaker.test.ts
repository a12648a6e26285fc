// The circuit breaker on its store (domain/failover/breaker.ts), over the fake store with an
// injected clock: one probe among concurrent forwards, outcomes written with a CAS, CircuitOpened
// counted once per opening, and a store that fails never failing a forward.
import {
  admitForward,
  type BreakerDeps,
  recordForward,
} from '../../../functions/domain/failover/breaker';
import { DEFAULT_CIRCUIT } from '../../../functions/domain/failover/settings';
import type { CircuitStore } from '../../../functions/domain/ports';
import { FakeCircuitStore, manualClock, recordingLog, recordingMetrics } from '../../support/fakes';

const DESK = 'desk';
const settings = { ...DEFAULT_CIRCUIT };

const world = (circuits: CircuitStore = new FakeCircuitStore()) => {
  const clock = manualClock();
  const log = recordingLog();
  const metrics = recordingMetrics();
  const deps: BreakerDeps = { circuits, clock, log, metrics };
  return { clock, log, metrics, deps, circuits };
};

const failTimes = async (deps: BreakerDeps, n: number) => {
  for (let i = 0; i < n; i++) {
    const gate = await admitForward(DESK, settings, deps);
    await recordForward(DESK, 'failure', settings, deps, gate);
  }
};

describe('breaker', () => {
  it('opens after ten failed forwards and counts CircuitOpened once', async () => {
    const t = world();

    await failTimes(t.deps, 12);

    const item = await t.circuits.get(DESK);
    expect(item).toMatchObject({ state: 'open', requests: 10, failures: 10, version: 10 });
    expect(t.metrics.total('CircuitOpened')).toBe(1);
    expect((await admitForward(DESK, settings, t.deps)).admission).toEqual({ kind: 'hold' });
  });

  it('lets exactly one of two concurrent forwards be the probe', async () => {
    const t = world();
    await failTimes(t.deps, 10);
    t.clock.advance(120_000);

    const gates = await Promise.all([
      admitForward(DESK, settings, t.deps),
      admitForward(DESK, settings, t.deps),
    ]);

    expect(gates.map((g) => g.admission.kind).sort()).toEqual(['hold', 'probe']);
  });

  it('closes on the probe success and keeps the item when a late forward reports', async () => {
    const t = world();
    await failTimes(t.deps, 10);
    t.clock.advance(120_000);
    const probe = await admitForward(DESK, settings, t.deps);
    const other = await admitForward(DESK, settings, t.deps);
    await recordForward(DESK, 'failure', settings, t.deps, other);
    const stillHalfOpen = (await t.circuits.get(DESK))?.state;

    await recordForward(DESK, 'success', settings, t.deps, probe);

    expect(stillHalfOpen).toBe('half_open');
    expect(await t.circuits.get(DESK)).toMatchObject({ state: 'closed', requests: 0 });
    expect((await admitForward(DESK, settings, t.deps)).admission).toEqual({ kind: 'pass' });
  });

  it('writes every outcome of concurrent forwards, retrying a lost compare-and-set', async () => {
    const store = new FakeCircuitStore();
    const t = world(store);
    const gates = await Promise.all(
      Array.from({ length: 3 }, () => admitForward(DESK, settings, t.deps)),
    );

    await Promise.all(gates.map((g) => recordForward(DESK, 'failure', settings, t.deps, g)));

    expect(await store.get(DESK)).toMatchObject({ requests: 3, failures: 3 });
    expect(store.conflicts).toBeGreaterThan(0);
  });

  it('lets the forward go and logs when the store fails, never throwing', async () => {
    const broken: CircuitStore = {
      get: async () => {
        throw Object.assign(new Error('no table'), { name: 'ResourceNotFoundException' });
      },
      compareAndSet: async () => {
        throw new Error('unreachable');
      },
    };
    const t = world(broken);

    const gate = await admitForward(DESK, settings, t.deps);
    await recordForward(DESK, 'failure', settings, t.deps, gate);

    expect(gate.admission).toEqual({ kind: 'pass' });
    expect(t.log.lines.map((l) => [l.level, l.message])).toEqual([
      ['warn', 'circuit not read; the forward goes'],
      ['warn', 'circuit outcome not recorded'],
    ]);
  });
});
