// The circuit breaker on its store (domain/failover/breaker.ts), over the fake store with an
// injected clock. Each "container" is a breaker with its own tally over one shared store: a
// success writes nothing, a failure writes at once with the successes before it, and while the
// stored rate is above half the threshold every outcome writes (with its tally); one probe
// among concurrent forwards; CircuitOpened once per opening; a store that fails never fails a
// forward and loses no outcome. A container reuses its last sight of a closed circuit for
// admissionCacheMs (admission.test.ts counts the reads). Every figure is counted from the store's
// calls and items.
import {
  admitForward,
  type BreakerDeps,
  DEFAULT_ADMISSION_CACHE_MS,
  recordForward,
} from '../../../functions/domain/failover/breaker';
import type { ForwardOutcome } from '../../../functions/domain/failover/classify';
import { DEFAULT_CIRCUIT } from '../../../functions/domain/failover/settings';
import type { Tally } from '../../../functions/domain/failover/tally';
import type { CircuitStore, Clock } from '../../../functions/domain/ports';
import type { CircuitItem } from '../../../functions/domain/types';
import { FakeCircuitStore, manualClock, recordingLog, recordingMetrics } from '../../support/fakes';

const DESK = 'desk';
const settings = { ...DEFAULT_CIRCUIT }; // 60 s window, 10 requests, rate 0.5, open 120 s

/**
 * One container's view of the shared store, counting the writes it makes and noting when it last
 * saw the item (a read, or a write that returned it).
 */
class ContainerStore implements CircuitStore {
  writes = 0;
  lastSight = Number.NEGATIVE_INFINITY;
  constructor(
    private readonly shared: CircuitStore,
    private readonly clock: Clock,
  ) {}
  async get(serviceId: string) {
    this.lastSight = this.clock.now();
    return this.shared.get(serviceId);
  }
  async compareAndSet(item: CircuitItem, expectedVersion: number) {
    this.writes += 1;
    const written = await this.shared.compareAndSet(item, expectedVersion);
    if (written) this.lastSight = this.clock.now();
    return written;
  }
  async addCounts(
    serviceId: string,
    windowStart: number,
    counts: { requests: number; failures: number },
  ) {
    this.writes += 1;
    const added = await this.shared.addCounts(serviceId, windowStart, counts);
    if (added) this.lastSight = this.clock.now();
    return added;
  }
}

const world = (
  shared: CircuitStore = new FakeCircuitStore(),
  admissionCacheMs = DEFAULT_ADMISSION_CACHE_MS,
) => {
  const clock = manualClock();
  const log = recordingLog();
  const metrics = recordingMetrics();
  const containers: (BreakerDeps & { store: ContainerStore; tallies: Map<string, Tally> })[] = [];
  const container = () => {
    const store = new ContainerStore(shared, clock);
    const deps = {
      circuits: store,
      clock,
      log,
      metrics,
      store,
      tallies: new Map<string, Tally>(),
      admissionCacheMs,
    };
    containers.push(deps);
    return deps;
  };
  const writes = () => containers.reduce((sum, c) => sum + c.store.writes, 0);
  return { clock, log, metrics, shared, container, writes };
};

/** One forward through the breaker: its admission, then (unless held) its outcome. */
const forward = async (deps: BreakerDeps, outcome: ForwardOutcome) => {
  const gate = await admitForward(DESK, settings, deps);
  if (gate.admission.kind !== 'hold') await recordForward(DESK, outcome, settings, deps, gate);
  return gate.admission.kind;
};

const times = async (deps: BreakerDeps, outcome: ForwardOutcome, n: number) => {
  for (let i = 0; i < n; i++) await forward(deps, outcome);
};

describe('breaker: closed', () => {
  it('writes nothing for a thousand successful forwards, over several windows', async () => {
    const t = world();
    const c = t.container();

    for (let i = 0; i < 1000; i++) {
      await forward(c, 'success');
      t.clock.advance(250);
    }

    expect([t.writes(), await t.shared.get(DESK)]).toEqual([0, null]);
  });

  it('writes each failure at once with the successes before it, and opens at the threshold', async () => {
    const t = world();
    const c = t.container();

    await times(c, 'success', 4);
    await times(c, 'failure', 5);
    const beforeLast = await t.shared.get(DESK);
    await forward(c, 'failure');

    expect(beforeLast).toMatchObject({ state: 'closed', requests: 9, failures: 5 });
    expect(await t.shared.get(DESK)).toMatchObject({
      state: 'open',
      openedAt: t.clock.now(),
      requests: 10,
      failures: 6,
    });
    // Six failure writes and the opening; the successes rode on the first failure.
    expect([t.writes(), t.metrics.total('CircuitOpened')]).toEqual([7, 1]);
    expect(await forward(c, 'success')).toBe('hold');
  });

  it('stays closed at exactly failureRate: the rate must be exceeded', async () => {
    const t = world();
    const c = t.container();

    for (let i = 0; i < 5; i++) {
      await forward(c, 'success');
      await forward(c, 'failure');
    }

    expect(await t.shared.get(DESK)).toMatchObject({ state: 'closed', requests: 10, failures: 5 });
  });

  it('opens on ten failed forwards in a row and counts CircuitOpened once', async () => {
    const t = world();
    const c = t.container();

    await times(c, 'failure', 12);

    expect(await t.shared.get(DESK)).toMatchObject({ state: 'open', requests: 10, failures: 10 });
    expect(t.metrics.total('CircuitOpened')).toBe(1);
  });

  it('counts a misconfigured desk as failing and a refused message as a request that did not', async () => {
    const t = world();
    const refusing = t.container();
    await times(refusing, 'refused', 12);
    await forward(refusing, 'failure');
    const afterRefusals = await t.shared.get(DESK);

    await times(t.container(), 'misconfiguration', 20);

    expect(afterRefusals).toMatchObject({ state: 'closed', requests: 13, failures: 1 });
    expect(await t.shared.get(DESK)).toMatchObject({ state: 'open' });
  });

  it('forgets successes older than a window: a failure after a quiet hour counts alone', async () => {
    const t = world();
    const c = t.container();
    await times(c, 'success', 50);
    t.clock.advance(3_600_000);

    await forward(c, 'failure');

    expect(await t.shared.get(DESK)).toMatchObject({
      requests: 1,
      failures: 1,
      windowStart: t.clock.now(),
    });
  });

  it('writes a quiet container’s successes with its next outcome once it sees the stored rate near the threshold', async () => {
    const t = world();
    const quiet = t.container();
    const failing = t.container();
    for (let s = 0; s < 12; s++) {
      await forward(quiet, 'success');
      t.clock.advance(1_000);
    }
    await times(failing, 'failure', 3); // the stored window: 3 of 3 failed
    await forward(quiet, 'success'); // on its sight of 1 s ago (no item then): nothing written
    const silentSoFar = quiet.store.writes;
    t.clock.advance(DEFAULT_ADMISSION_CACHE_MS);

    await forward(quiet, 'success'); // read again: its 14 successes go with it, 3 of 17
    const stored = await t.shared.get(DESK);
    await times(quiet, 'success', 20);

    expect([silentSoFar, quiet.store.writes]).toEqual([0, 1]);
    expect(stored).toMatchObject({ state: 'closed', requests: 17, failures: 3 });
    expect(await t.shared.get(DESK)).toEqual(stored);
  });

  it('reads the item again before a compare-and-set on a reused sight', async () => {
    const t = world();
    const c = t.container();
    const other = t.container();
    await forward(c, 'success'); // sees no item
    await forward(other, 'failure'); // creates it: 1 of 1

    await forward(c, 'failure'); // its sight says none: a create would lose; it reads first

    expect(await t.shared.get(DESK)).toMatchObject({ requests: 3, failures: 2, version: 2 });
    expect(c.store.writes).toBe(1); // the add, no lost compare-and-set
  });

  it('adds the failures of concurrent containers without a lost write or a retry', async () => {
    const store = new FakeCircuitStore();
    const t = world(store);
    await forward(t.container(), 'failure');
    const containers = Array.from({ length: 8 }, () => t.container());

    await Promise.all(containers.map((c) => forward(c, 'failure')));

    expect(await store.get(DESK)).toMatchObject({ state: 'closed', requests: 9, failures: 9 });
    expect([store.conflicts, t.writes()]).toEqual([0, 9]);
  });

  it('lets the forward go and logs when the store fails, never throwing', async () => {
    const broken: CircuitStore = {
      get: async () => {
        throw Object.assign(new Error('no table'), { name: 'ResourceNotFoundException' });
      },
      compareAndSet: async () => {
        throw new Error('unreachable');
      },
      addCounts: async () => {
        throw new Error('unreachable');
      },
    };
    const t = world(broken);

    const kind = await forward(t.container(), 'failure');

    expect(kind).toBe('pass');
    expect(t.log.lines.map((l) => [l.level, l.message])).toEqual([
      ['warn', 'circuit not read; the forward goes'],
      ['warn', 'circuit outcome not recorded'],
    ]);
  });

  it('keeps an outcome it could not write: the container’s next write carries it', async () => {
    const store = new FakeCircuitStore();
    let down = true;
    const flaky: CircuitStore = {
      get: async (id) => {
        if (down) throw Object.assign(new Error('throttled'), { name: 'ThrottlingException' });
        return store.get(id);
      },
      compareAndSet: (item, v) => store.compareAndSet(item, v),
      addCounts: (id, w, counts) => store.addCounts(id, w, counts),
    };
    const t = world(flaky);
    const c = t.container();
    await times(c, 'success', 3);
    await forward(c, 'failure');
    down = false;

    await forward(c, 'failure');

    expect(await store.get(DESK)).toMatchObject({ requests: 5, failures: 2 });
  });
});

describe('breaker: open and half-open', () => {
  const opened = async () => {
    const t = world();
    await times(t.container(), 'failure', 10);
    t.clock.advance(120_000);
    return t;
  };

  it('lets exactly one of two concurrent forwards be the probe', async () => {
    const t = await opened();

    const gates = await Promise.all([
      admitForward(DESK, settings, t.container()),
      admitForward(DESK, settings, t.container()),
    ]);

    expect(gates.map((g) => g.admission.kind).sort()).toEqual(['hold', 'probe']);
  });

  it('closes on the probe’s success and ignores a late forward that was not the probe', async () => {
    const t = await opened();
    const a = t.container();
    const b = t.container();
    const probe = await admitForward(DESK, settings, a);
    const other = await admitForward(DESK, settings, b);
    await recordForward(DESK, 'failure', settings, b, other);
    const stillHalfOpen = (await t.shared.get(DESK))?.state;

    await recordForward(DESK, 'success', settings, a, probe);

    expect(stillHalfOpen).toBe('half_open');
    expect(await t.shared.get(DESK)).toMatchObject({ state: 'closed', requests: 0 });
    expect(await forward(b, 'success')).toBe('pass');
  });

  it('opens again for openSeconds when the probe fails', async () => {
    const t = await opened();
    const c = t.container();

    expect(await forward(c, 'failure')).toBe('probe');

    expect(await t.shared.get(DESK)).toMatchObject({ state: 'open', openedAt: t.clock.now() });
    expect(t.metrics.total('CircuitOpened')).toBe(2);
  });
});

/** A small seeded generator (mulberry32), so a simulated run is the same every time. */
const seeded = (seed: number) => {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let x = a;
    x = Math.imul(x ^ (x >>> 15), x | 1);
    x ^= x + Math.imul(x ^ (x >>> 7), x | 61);
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
};

describe('breaker: many containers', () => {
  /**
   * `perSecond` forwards a second to the desk, each taken by a random one of `containers`, the
   * desk failing each with probability `failureRate(second)`. Counted from what happened: the
   * forwards that went through and those that failed, the store's writes, and at each opening the
   * stored rate, the window's true rate (every forward that went through since the stored
   * window began), and of every container still holding outcomes, when it last saw the item and
   * last forwarded, against when the stored window last came near the threshold (the bound
   * DESIGN.md states).
   */
  const simulate = async (options: {
    containers: number;
    perSecond: number;
    seconds: number;
    failureRate: (second: number) => number;
    seed: number;
    admissionCacheMs?: number;
  }) => {
    const t = world(undefined, options.admissionCacheMs);
    const rand = seeded(options.seed);
    const fleet = Array.from({ length: options.containers }, () => ({
      deps: t.container(),
      lastForward: -1,
    }));
    const passed: { at: number; failed: boolean }[] = [];
    const openings: {
      second: number;
      storedRate: number;
      trueRate: number;
      /** Every holder last saw the item before the zone began. */
      holdersUnseenSinceZone: boolean;
      /** How long past the zone's start the holders last forwarded (<= 0: idle since it). */
      holdersForwardedIntoZoneMs: number;
    }[] = [];
    let zoneSince: number | null = null;
    for (let second = 0; second < options.seconds; second++) {
      for (let i = 0; i < options.perSecond; i++) {
        const c = fleet[Math.floor(rand() * fleet.length)]!;
        const failed = rand() < options.failureRate(second);
        const before = t.metrics.total('CircuitOpened');
        const now = t.clock.now();
        const zoneBefore = zoneSince;
        const kind = await forward(c.deps, failed ? 'failure' : 'success');
        if (kind === 'pass') {
          passed.push({ at: now, failed });
          c.lastForward = now;
        }
        const item = await t.shared.get(DESK);
        // Near the threshold (DESIGN.md): above half its rate, or one failure from crossing it.
        const inZone =
          item?.state === 'closed' &&
          now - item.windowStart < settings.windowSeconds * 1000 &&
          (item.failures / item.requests > settings.failureRate / 2 ||
            (item.failures + 1) / (item.requests + 1) > settings.failureRate);
        if (!inZone) zoneSince = null;
        else zoneSince ??= now;
        // Openings from the closed state (a failed probe opens it again, counted apart).
        if (t.metrics.total('CircuitOpened') > before && kind === 'pass' && item) {
          const window = passed.filter((p) => p.at >= item.windowStart);
          const holders = fleet.filter((f) =>
            (f.deps.tallies.get(DESK)?.slices ?? []).some((s) => s.requests > 0),
          );
          openings.push({
            second,
            storedRate: item.failures / item.requests,
            trueRate: window.filter((p) => p.failed).length / window.length,
            holdersUnseenSinceZone:
              zoneBefore !== null && holders.every((h) => h.deps.store.lastSight < zoneBefore),
            holdersForwardedIntoZoneMs:
              zoneBefore === null
                ? Number.POSITIVE_INFINITY
                : Math.max(
                    Number.NEGATIVE_INFINITY,
                    ...holders.map((h) => h.lastForward - zoneBefore),
                  ),
          });
        }
        t.clock.advance(Math.floor(1000 / options.perSecond));
      }
    }
    return {
      forwards: passed.length,
      failed: passed.filter((p) => p.failed).length,
      writes: t.writes(),
      openings,
    };
  };

  it('writes little more than the failures of a healthy desk (1% failing)', async () => {
    const run = await simulate({
      containers: 40,
      perSecond: 50,
      seconds: 300,
      failureRate: () => 0.01,
      seed: 1,
    });

    expect(run.forwards).toBe(15_000); // a write per forward before
    expect(run.failed).toBeGreaterThan(100);
    expect(run.writes).toBeLessThanOrEqual(Math.ceil(run.failed * 1.05));
    expect(run.openings).toEqual([]);
  });

  it('stays closed for a desk failing 20% of forwards spread over 60 quiet containers', async () => {
    const run = await simulate({
      containers: 60,
      perSecond: 2,
      seconds: 600,
      failureRate: () => 0.2,
      seed: 2,
    });

    expect(run.openings).toEqual([]);
  });

  it.each([0, DEFAULT_ADMISSION_CACHE_MS])(
    'stays closed for a desk failing 1% of forwards when a fleet of 2,000 containers starts at once (admissionCacheMs %d)',
    async (admissionCacheMs) => {
      const run = await simulate({
        containers: 2_000,
        perSecond: 1_000,
        seconds: 10,
        failureRate: () => 0.01,
        seed: 4,
        admissionCacheMs,
      });

      // Each container's first failures come with a few successes at most: the stored window
      // must hear the others' successes from the first failure on, as with a read per forward.
      expect(run.failed).toBeGreaterThan(50);
      expect(run.openings).toEqual([]);
    },
  );

  it('opens within half a window of an outage, on a window that truly failed above the rate', async () => {
    const run = await simulate({
      containers: 40,
      perSecond: 20,
      seconds: 200,
      failureRate: (second) => (second < 100 ? 0.01 : 0.7),
      seed: 3,
    });

    const first = run.openings[0]!;
    expect(first.second).toBeGreaterThanOrEqual(100);
    expect(first.second).toBeLessThan(130);
    expect(first.trueRate).toBeGreaterThan(0.5);
  });

  it.each([
    ['60 quiet containers, 35% failing', 0, { containers: 60, perSecond: 2, rate: 0.35 }],
    ['40 busy containers, 40% failing', 0, { containers: 40, perSecond: 50, rate: 0.4 }],
    [
      '60 quiet containers, 35% failing',
      DEFAULT_ADMISSION_CACHE_MS,
      { containers: 60, perSecond: 2, rate: 0.35 },
    ],
    [
      '40 busy containers, 40% failing',
      DEFAULT_ADMISSION_CACHE_MS,
      { containers: 40, perSecond: 50, rate: 0.4 },
    ],
  ])(
    'opens only on a window that lacks no outcome of a container that saw it since it neared the threshold (%s, admissionCacheMs %d)',
    async (_name, admissionCacheMs, o) => {
      const runs = await Promise.all(
        [1, 2, 3, 4, 5].map((seed) =>
          simulate({
            containers: o.containers,
            perSecond: o.perSecond,
            seconds: 300,
            failureRate: () => o.rate,
            seed,
            admissionCacheMs,
          }),
        ),
      );
      const openings = runs.flatMap((r) => r.openings);

      // Near the rate, the rule itself (ten requests) opens now and then; each time, the only
      // outcomes the stored window lacked were those of containers that had not seen the item
      // since the rate rose: idle since, or (with the cache) forwarding on an older sight for at
      // most admissionCacheMs.
      expect(openings.length).toBeGreaterThan(0);
      expect(openings.every((x) => x.holdersUnseenSinceZone)).toBe(true);
      expect(openings.every((x) => x.holdersForwardedIntoZoneMs < admissionCacheMs)).toBe(true);
      expect(openings.every((x) => x.storedRate > 0.5)).toBe(true);
    },
  );
});
