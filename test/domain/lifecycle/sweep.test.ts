// The one sweep (issue 15, LIFECYCLE.md "Timers: one sweep"): every shard of the byDue index, each
// due item claimed on its version and acted on once; bounded by page size, items and a time budget
// on the injected clock; a run that dies halfway loses nothing; one summary line and the metrics.
// The figures asserted are counted from the store's own log of transitions and calls.
import { runSweep, type SweepDeps } from '../../../functions/domain/lifecycle/sweep';
import { startLease } from '../../../functions/domain/lifecycle/lease';
import { createOffer } from '../../../functions/domain/lifecycle/offer';
import type { SweepPort } from '../../../functions/domain/lifecycle/ports';
import type { LeaseConfig } from '../../../functions/domain/lifecycle/types';
import { shardOf } from '../../../functions/domain/shards';
import { type ManualClock, manualClock, recordingLog, recordingMetrics } from '../../support/fakes';
import { DEFAULT_SERVICE, TimerWorld } from './world';

const SECOND = 1000;
const SHARDS = 4;
const DESK = 'desk';
const deskLease: LeaseConfig = {
  idleSeconds: 600,
  maxSeconds: 604800,
  warnBeforeSeconds: 0,
  onExpiry: 'default',
};
const cfgOf = (owner: string) => (owner === DESK ? deskLease : null);

/** `due` desk users whose lease ran out `lateSeconds` ago (1 s apart), `later` not yet due. */
const world = (clock: ManualClock, due: number, later = 0, opts: { lateSeconds?: number } = {}) => {
  const w = new TimerWorld({ shards: SHARDS, clock, cfgOf });
  const start = clock.now();
  const late = opts.lateSeconds ?? 30;
  for (let i = 1; i <= due + later; i += 1) {
    const startedAt = i <= due ? start - (600 + late + i) * SECOND : start;
    w.put({ userId: `u${i}`, owner: DESK, version: 3, lease: startLease(startedAt, deskLease) });
  }
  return w;
};

const deps = (w: TimerWorld, clock: ManualClock, over: Partial<SweepDeps> = {}) => {
  const log = recordingLog();
  const metrics = recordingMetrics();
  const d: SweepDeps = {
    port: w.port(),
    leaseConfigOf: cfgOf,
    clock,
    log,
    metrics,
    shards: SHARDS,
    ...over,
  };
  return { d, log, metrics };
};

const acted = (w: TimerWorld) => w.transitions.map((t) => t.userId).sort();
const summaryLines = (log: ReturnType<typeof recordingLog>) =>
  log.lines.filter((l) => l.message === 'sweep');

describe('the sweep', () => {
  it('acts once on every due item of every shard and leaves the others', async () => {
    const clock = manualClock();
    const w = world(clock, 12, 5);
    const dueBefore = w.dueNow(clock.now());
    const { d, log, metrics } = deps(w, clock);

    const summary = await runSweep(d);

    expect(acted(w)).toEqual(dueBefore);
    expect(w.records.map((r) => [r.toOwner, r.source, r.reason])).toEqual(
      Array(12).fill([DEFAULT_SERVICE, 'timeout', 'lease_expired']),
    );
    expect(w.dueNow(clock.now())).toEqual([]);
    expect(new Set(w.calls.filter((c) => c.op === 'listDue').map((c) => c.shard))).toEqual(
      new Set([0, 1, 2, 3]),
    );
    expect(summary).toEqual({
      due: dueBefore.length,
      acted: w.transitions.length,
      lostRace: 0,
      notDue: 0,
      rescheduled: 0,
      failed: 0,
      lagSeconds: 30 + 12,
      shards: SHARDS,
      truncated: false,
    });
    expect(summaryLines(log)).toEqual([{ level: 'info', message: 'sweep', attributes: summary }]);
    expect(metrics.total('SweepDue')).toBe(summary.due);
    expect(metrics.total('SweepActed')).toBe(w.transitions.length);
    expect(metrics.points.filter((p) => p.name === 'SweepLagSeconds')).toEqual([
      { kind: 'gauge', name: 'SweepLagSeconds', value: 42 },
    ]);
  });

  it('reports zero lag and still emits its metrics when nothing is due', async () => {
    const clock = manualClock();
    const w = world(clock, 0, 3);
    const { d, metrics } = deps(w, clock);

    const summary = await runSweep(d);

    expect([summary.due, summary.acted, summary.lagSeconds]).toEqual([0, 0, 0]);
    expect(metrics.points.map((p) => [p.name, p.value])).toEqual([
      ['SweepDue', 0],
      ['SweepActed', 0],
      ['SweepLagSeconds', 0],
    ]);
  });

  it('counts a lost race when the item changed after it was listed, and acts on nothing', async () => {
    const clock = manualClock();
    const w = world(clock, 1);
    const port: SweepPort = {
      listDue: async (shard, nowIso, options) => {
        const page = await w.listDue(shard, nowIso, options);
        // The user writes between the listing and the claim: activity wins.
        for (const entry of page.items) await w.userMessage(entry.userId);
        return page;
      },
      act: (u, v, a) => w.act(u, v, a),
    };
    const { d } = deps(w, clock, { port });

    const summary = await runSweep(d);

    expect(w.transitions.map((t) => t.kind)).toEqual(['touch']);
    expect(w.records).toEqual([]);
    expect([summary.due, summary.acted, summary.lostRace]).toEqual([1, 0, 1]);
  });

  it('counts not_due when a fresh read no longer finds the action due', async () => {
    const clock = manualClock();
    const w = world(clock, 1);
    // The claim's own clock is a minute behind the sweep's: the lease has not run out there.
    const behind = manualClock(clock.now() - 60 * SECOND);
    const claimer = new TimerWorld({ shards: SHARDS, clock: behind, cfgOf });
    for (const [, item] of w.items) claimer.put(item);
    const { d } = deps(claimer, clock);

    const summary = await runSweep(d);

    expect([summary.due, summary.acted, summary.notDue]).toEqual([1, 0, 1]);
    expect(claimer.transitions).toEqual([]);
  });

  it('writes again an item listed as due with nothing due, so it leaves the index', async () => {
    const clock = manualClock();
    const w = world(clock, 2);
    const stuck = w.items.get('u1')!;
    // The Service's lease was switched off after the item was written.
    w.items.set('u1', { ...stuck, owner: 'desk-without-lease' });
    const { d } = deps(w, clock);

    const first = await runSweep(d);
    const second = await runSweep(deps(w, clock).d);

    expect([first.due, first.acted, first.rescheduled]).toEqual([2, 1, 1]);
    expect(w.transitions.map((t) => [t.userId, t.kind]).sort()).toEqual([
      ['u1', 'reschedule'],
      ['u2', 'lease_expiry'],
    ]);
    expect(w.items.get('u1')!.dueAt).toBeNull();
    expect(second.due).toBe(0);
  });

  it('expires an offer before it looks at the lease', async () => {
    const clock = manualClock();
    const w = world(clock, 1);
    const made = createOffer({
      offerId: 'o1',
      by: DESK,
      owner: DESK,
      to: 'desk2',
      nowMs: clock.now() - 10 * SECOND,
      offerTimeoutSeconds: 5,
      metadata: null,
      requestedBy: DESK,
      current: null,
    });
    w.put({ ...w.items.get('u1')!, offer: made.ok ? made.offer : null });
    const { d } = deps(w, clock);

    await runSweep(d);
    await runSweep(deps(w, clock).d);

    expect(w.transitions.map((t) => t.kind)).toEqual(['offer_expiry', 'lease_expiry']);
  });
});

describe('a bounded sweep', () => {
  it('asks for at most pageSize items a query and follows the cursor', async () => {
    const clock = manualClock();
    const w = world(clock, 20);
    const { d } = deps(w, clock, { pageSize: 2 });

    const summary = await runSweep(d);

    const lists = w.calls.filter((c) => c.op === 'listDue');
    expect(lists.every((c) => c.limit! <= 2)).toBe(true);
    expect(lists.length).toBeGreaterThan(SHARDS);
    expect([summary.acted, summary.truncated]).toEqual([20, false]);
  });

  it('takes the shards in turn, so a busy shard cannot starve the others', async () => {
    const clock = manualClock();
    const w = world(clock, 24);
    const { d } = deps(w, clock, { pageSize: 1, maxItems: 4 });

    const summary = await runSweep(d);

    const queried = w.calls.filter((c) => c.op === 'listDue').map((c) => c.shard);
    const actedShards = w.transitions.map((t) => shardOf(t.userId, SHARDS)).sort();
    expect(queried).toEqual([0, 1, 2, 3]);
    expect(actedShards).toEqual([0, 1, 2, 3]);
    expect([summary.acted, summary.truncated]).toEqual([4, true]);
    // Each shard's first page holds its oldest item, so the oldest of all was seen: u24, 54 s late.
    expect(summary.lagSeconds).toBe(30 + 24);
  });

  it('stops at its time budget, says it was truncated, and the next run does the rest', async () => {
    const clock = manualClock();
    const w = world(clock, 10);
    const dueBefore = w.dueNow(clock.now());
    // Every action takes 2 s on the injected clock.
    const slow: SweepPort = {
      listDue: (s, n, o) => w.listDue(s, n, o),
      act: async (u, v, a) => {
        clock.advance(2 * SECOND);
        return w.act(u, v, a);
      },
    };

    // A 3 s budget runs out in the middle of the first shard's page (three items).
    const first = await runSweep(deps(w, clock, { port: slow, budgetMs: 3 * SECOND }).d);
    const second = await runSweep(deps(w, clock, { budgetMs: 3 * SECOND }).d);

    expect([first.acted, first.shards, first.truncated]).toEqual([2, 1, true]);
    expect([second.acted, second.truncated]).toEqual([8, false]);
    expect(acted(w)).toEqual(dueBefore);
  });
});

describe('a sweep that fails', () => {
  it('loses nothing when it dies halfway: the next run finds what is still due', async () => {
    const clock = manualClock();
    const w = world(clock, 16);
    const dueBefore = w.dueNow(clock.now());
    let lists = 0;
    const dying: SweepPort = {
      listDue: async (s, n, o) => {
        lists += 1;
        if (lists === 3) throw new Error('the store went away');
        return w.listDue(s, n, o);
      },
      act: (u, v, a) => w.act(u, v, a),
    };

    await expect(runSweep(deps(w, clock, { port: dying }).d)).rejects.toThrow('went away');
    const actedByFirst = w.transitions.length;
    const second = await runSweep(deps(w, clock).d);

    expect(actedByFirst).toBeGreaterThan(0);
    expect(actedByFirst).toBeLessThan(dueBefore.length);
    expect(second.acted).toBe(dueBefore.length - actedByFirst);
    expect(acted(w)).toEqual(dueBefore);
    expect(new Set(w.transitions.map((t) => `${t.userId}@${t.fromVersion}`)).size).toBe(16);
  });

  it('goes on past an action that throws, logs it without its message, and retries it next run', async () => {
    const clock = manualClock();
    const w = world(clock, 3);
    let failedOnce = false;
    const flaky: SweepPort = {
      listDue: (s, n, o) => w.listDue(s, n, o),
      act: async (u, v, a) => {
        if (u === 'u2' && !failedOnce) {
          failedOnce = true;
          throw new Error('Parley said no to token s3cr3t');
        }
        return w.act(u, v, a);
      },
    };
    const { d, log } = deps(w, clock, { port: flaky });

    const first = await runSweep(d);
    const second = await runSweep(deps(w, clock).d);

    expect([first.acted, first.failed, second.acted]).toEqual([2, 1, 1]);
    const errors = log.lines.filter((l) => l.level === 'error');
    expect(errors).toEqual([
      {
        level: 'error',
        message: 'sweep action failed',
        attributes: { userId: 'u2', action: 'lease_expiry', error: 'Error' },
      },
    ]);
    expect(JSON.stringify(log.lines)).not.toContain('s3cr3t');
  });
});
