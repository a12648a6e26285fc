// Suite 4, crash windows: the handover process dies (an injected crash at the adapter boundary)
// after its pending marker, after Parley applied the PUT owner, or after its history record.
// Reconciliation, run with a clock past staleAfter, resolves each with exactly one record matching
// Parley. A slow original invocation that wakes up late (paused at the same points) writes no
// second record, acts on Parley no more, and every write it attempts after waking loses: its final
// compare-and-set fails, also when the user was handed on meanwhile. One woken before its PUT
// (after its marker) sees the marker taken over and stops before writing anything.
import type { AppDeps } from '../../functions/platform/deps';
import { makeHandler as handoverHandler } from '../../functions/handlers/handover';
import { apiEvent } from '../support/events';
import { AGENT, BOT, type Harness, startHarness } from '../support/harness';
import {
  appliedChanges,
  auditUser,
  type CrashPoint,
  historyOf,
  InjectedCrash,
  injectAt,
  type Invoker,
  invoker,
  type MovableClock,
  movableClock,
  reportFigures,
  trigger,
} from '../support/reliability';

const REPEATS = Number(process.env.CRASH_REPEATS ?? 8);
const STALE_AFTER_S = 60;
const POINTS: CrashPoint[] = ['after-marker', 'after-parley', 'after-record'];

let h: Harness;
let api: Invoker;
let clock: MovableClock;

/** What one injected invocation did, as the wrapped stores and the simulator saw it. */
interface Trace {
  point: CrashPoint;
  scenario: 'crash' | 'zombie' | 'zombie-handed-on';
  userId: string;
  /** The handover of the marker it wrote. */
  handoverId?: string;
  fired: boolean;
  status?: number;
  /** Its final compare-and-sets (clearing the marker), won or lost. */
  finalCas: boolean[];
  /** Its writes begun after the injected point (after waking, for a paused one). */
  late: { cas: boolean[]; appends: ('appended' | 'exists')[] };
  /** PUT owner calls Parley logged for the user after the paused one was released. */
  putsAfterWake: number;
}
const traces: Trace[] = [];
const recoveries: number[] = [];
const audits: { userId: string; records: number; lost: number }[] = [];

beforeAll(async () => {
  clock = movableClock();
  h = await startHarness({ clock, staleAfterSeconds: STALE_AFTER_S });
  api = invoker(h.source);
});

afterAll(async () => {
  try {
    await report();
  } finally {
    await h.close();
  }
});

/** The handover handler on deps with the injection, tracing what the invocation writes. */
const injected = (
  point: CrashPoint,
  scenario: Trace['scenario'],
  userId: string,
  t: ReturnType<typeof trigger>,
) => {
  const deps: AppDeps = injectAt(h.deps, point, t);
  const trace: Trace = {
    point,
    scenario,
    userId,
    fired: false,
    finalCas: [],
    late: { cas: [], appends: [] },
    putsAfterWake: 0,
  };
  traces.push(trace);
  const state = Object.create(deps.state) as AppDeps['state'];
  state.compareAndSetOwner = async (item, expected) => {
    const late = t.fired();
    let won: boolean;
    try {
      won = await deps.state.compareAndSetOwner(item, expected);
    } catch (err) {
      // A crash injected right after the marker's compare-and-set: that one was won.
      if (err instanceof InjectedCrash && item.pending) {
        trace.handoverId ??= item.pending.draft.handoverId;
      }
      throw err;
    }
    if (item.pending && won) trace.handoverId ??= item.pending.draft.handoverId;
    if (!item.pending) trace.finalCas.push(won);
    if (late) trace.late.cas.push(won);
    return won;
  };
  const history = Object.create(deps.history) as AppDeps['history'];
  history.append = async (record) => {
    const late = t.fired();
    const outcome = await deps.history.append(record);
    if (late) trace.late.appends.push(outcome);
    return outcome;
  };
  const handler = handoverHandler(async () => ({ ...deps, state, history }));
  const run = async (event: ReturnType<typeof request>) => {
    const res = await handler(event);
    trace.fired = t.fired();
    trace.status = res.statusCode;
    return res;
  };
  /** Releases a paused invocation and waits for its answer, noting the PUTs made meanwhile. */
  const wake = async (pending: ReturnType<typeof run>) => {
    const before = h.sim.log().length;
    t.release();
    const res = await pending;
    trace.putsAfterWake = h.sim
      .log()
      .slice(before)
      .filter(
        (e) => e.kind === 'request' && e.method === 'PUT' && e.path === `users/${userId}/owner`,
      ).length;
    return res;
  };
  return { run, wake, trace };
};

const request = (token: string, userId: string, newOwner: string) =>
  apiEvent({ method: 'POST', path: '/handovers', token, body: { userId, newOwner } });

const recoverAll = async () => {
  clock.advance((STALE_AFTER_S + 1) * 1000);
  const out = (await api.scheduledReconcile()) as { recovered: number; failed: unknown[] };
  recoveries.push(out.recovered);
  expect(out.failed).toEqual([]);
  return out;
};

const expectOneRecordEach = async (userId: string, changes: number) => {
  const audit = await auditUser(h.deps, h.sim, userId, BOT);
  audits.push({ userId, records: audit.records.length, lost: audit.lost });
  expect(audit.problems).toEqual([]);
  expect(audit.records.filter((r) => r.status === 'completed')).toHaveLength(changes);
  expect(appliedChanges(h.sim, userId)).toHaveLength(changes);
  return audit;
};

/**
 * What every woken zombie must show: it acted on Parley no more, every write it began after waking
 * lost (a compare-and-set refused, an append that found the record already there), and its
 * handover has exactly one record. One paused after its marker stops at its check before the PUT
 * and writes nothing; any other attempts its final compare-and-set, which fails.
 */
const expectZombieLost = async (trace: Trace) => {
  const records = await historyOf(h.deps.history, trace.userId);
  expect({
    putsAfterWake: trace.putsAfterWake,
    lateCasWon: trace.late.cas.filter((won) => won).length,
    lateAppended: trace.late.appends.filter((o) => o === 'appended').length,
    recordsOfItsHandover: records.filter((r) => r.handoverId === trace.handoverId).length,
  }).toEqual({ putsAfterWake: 0, lateCasWon: 0, lateAppended: 0, recordsOfItsHandover: 1 });
  if (trace.point === 'after-marker') {
    expect([trace.status, trace.late]).toEqual([409, { cas: [], appends: [] }]);
  } else {
    expect(trace.finalCas).toEqual([false]);
  }
};

describe.each(POINTS)('a crash %s', (point) => {
  it('is resolved by reconciliation with exactly one record matching Parley', async () => {
    for (let i = 0; i < REPEATS; i++) {
      const userId = `crash-${point}-${i}`;
      const t = trigger('crash');
      const { run } = injected(point, 'crash', userId, t);

      const crashed = await run(request(h.tokens.bot.api, userId, AGENT));
      expect(t.fired()).toBe(true);
      expect(crashed.statusCode).toBe(500);

      // Within staleAfter the marker holds the user; nobody can start a second handover.
      const early = await api.call({
        method: 'POST',
        path: '/handovers',
        token: h.tokens.bot.api,
        body: { userId, newOwner: AGENT },
      });
      expect(early.statusCode).toBe(409);
      expect(early.json.error.code).toBe('handover_in_progress');

      const out = await recoverAll();
      expect(out.recovered).toBe(1);
      const audit = await expectOneRecordEach(userId, 1);
      expect(audit.records).toEqual([
        expect.objectContaining({ seq: 1, fromOwner: BOT, toOwner: AGENT, status: 'completed' }),
      ]);
      expect(h.sim.ownerOf(userId)).toBe(AGENT);
    }
  });

  it('lets a late zombie write no second record, its final compare-and-set failing', async () => {
    for (let i = 0; i < REPEATS; i++) {
      const userId = `zombie-${point}-${i}`;
      const t = trigger('pause');
      const { run, wake, trace } = injected(point, 'zombie', userId, t);

      const zombie = run(request(h.tokens.bot.api, userId, AGENT));
      await t.reached;
      await recoverAll();
      const late = await wake(zombie);

      await expectZombieLost(trace);
      // Woken after its PUT: it answers the handover's one result (200).
      if (point !== 'after-marker') expect(late.statusCode).toBe(200);
      const audit = await expectOneRecordEach(userId, 1);
      if (late.statusCode === 200) {
        expect(JSON.parse(String(late.body)).handover.handoverId).toBe(
          audit.records[0]!.handoverId,
        );
      }
    }
  });

  it('lets a zombie that wakes after the user was handed on change nothing', async () => {
    for (let i = 0; i < REPEATS; i++) {
      const userId = `zombie-on-${point}-${i}`;
      const t = trigger('pause');
      const { run, wake, trace } = injected(point, 'zombie-handed-on', userId, t);

      const zombie = run(request(h.tokens.bot.api, userId, AGENT));
      await t.reached;
      await recoverAll();
      // Meanwhile the agent hands the user back to the bot.
      const back = await api.call({
        method: 'POST',
        path: '/handovers',
        token: h.tokens.agent.api,
        body: { userId, newOwner: BOT },
      });
      expect(back.statusCode).toBe(200);
      await wake(zombie);

      await expectZombieLost(trace);
      expect(h.sim.ownerOf(userId)).toBe(BOT);
      const audit = await expectOneRecordEach(userId, 2);
      expect(audit.records.map((r) => [r.seq, r.toOwner, r.status])).toEqual([
        [1, AGENT, 'completed'],
        [2, BOT, 'completed'],
      ]);
    }
  });
});

/** The figures, from the traces of the injected invocations and the history table. */
const report = async () => {
  const zombies = traces.filter((t) => t.scenario !== 'crash' && t.status !== undefined);
  const handovers = traces.flatMap((t) => (t.handoverId ? [t] : []));
  const oneRecord = await Promise.all(
    handovers.map(
      async (t) =>
        (await historyOf(h.deps.history, t.userId)).filter((r) => r.handoverId === t.handoverId)
          .length === 1,
    ),
  );
  const lateWins = zombies.filter(
    (z) => z.late.cas.some((won) => won) || z.late.appends.includes('appended'),
  ).length;
  const figures = {
    scenarios: traces.length,
    crashes: traces.filter((t) => t.scenario === 'crash' && t.fired && t.status === 500).length,
    zombies: zombies.length,
    zombieFinalCasLost: zombies.filter(
      (z) => z.finalCas.length > 0 && z.finalCas.every((won) => !won),
    ).length,
    zombiesStoppedBeforeWriting: zombies.filter(
      (z) => z.status === 409 && z.late.cas.length + z.late.appends.length === 0,
    ).length,
    zombieWritesWon: lateWins,
    zombiePutsAfterWake: zombies.reduce((n, z) => n + z.putsAfterWake, 0),
    recovered: recoveries.reduce((a, b) => a + b, 0),
    handovers: handovers.length,
    handoversWithOneRecord: oneRecord.filter(Boolean).length,
    records: audits.reduce((n, a) => n + a.records, 0),
    recordsLost: audits.reduce((n, a) => n + a.lost, 0),
  };
  reportFigures('crash-windows', figures, {
    drives: `${figures.scenarios} handovers stopped after the marker, after Parley applied the PUT, or after the record: ${figures.crashes} crashed, ${figures.zombies} paused and woken after reconciliation (half of them after the user was handed on)`,
    proved: `reconciliation recovered ${figures.recovered}; ${figures.handoversWithOneRecord} of ${figures.handovers} handovers have exactly one record, matching Parley; of the zombies, ${figures.zombieFinalCasLost} attempted their final compare-and-set and lost it, ${figures.zombiesStoppedBeforeWriting} (woken before their PUT) stopped before writing; ${figures.zombieWritesWon} late writes won, ${figures.zombiePutsAfterWake} PUTs after waking; ${figures.recordsLost} records lost`,
  });
};
