// Suite 4, crash windows: the handover process dies (an injected crash at the adapter boundary)
// after its pending marker, after Parley applied the PUT owner, or after its history record.
// Reconciliation, run with a clock past staleAfter, resolves each with exactly one record matching
// Parley. A slow original invocation that wakes up late (paused at the same points) writes no
// second record and its final compare-and-set fails, also when the user was handed on meanwhile.
import type { AppDeps } from '../../functions/platform/deps';
import { makeHandler as handoverHandler } from '../../functions/handlers/handover';
import { apiEvent } from '../support/events';
import { AGENT, BOT, type Harness, startHarness } from '../support/harness';
import {
  appliedChanges,
  auditUser,
  type CrashPoint,
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
const figures = { scenarios: 0, crashes: 0, zombies: 0, recovered: 0, records: 0, recordsLost: 0 };

beforeAll(async () => {
  clock = movableClock();
  h = await startHarness({ clock, staleAfterSeconds: STALE_AFTER_S });
  api = invoker(h.source);
});

afterAll(async () => {
  await h.close();
  reportFigures('crash-windows', { ...figures });
});

/** The handover handler running on deps with the injection; its final CAS outcomes noted. */
const injected = (point: CrashPoint, t: ReturnType<typeof trigger>) => {
  const deps: AppDeps = injectAt(h.deps, point, t);
  const finalCas: boolean[] = [];
  const state = Object.create(deps.state) as AppDeps['state'];
  state.compareAndSetOwner = async (item, expected) => {
    const won = await deps.state.compareAndSetOwner(item, expected);
    if (item.pending === null) finalCas.push(won);
    return won;
  };
  const handler = handoverHandler(async () => ({ ...deps, state }));
  return { handler, finalCas };
};

const request = (token: string, userId: string, newOwner: string) =>
  apiEvent({ method: 'POST', path: '/handovers', token, body: { userId, newOwner } });

const recoverAll = async () => {
  clock.advance((STALE_AFTER_S + 1) * 1000);
  const out = (await api.scheduledReconcile()) as { recovered: number; failed: unknown[] };
  expect(out.failed).toEqual([]);
  figures.recovered += out.recovered;
  return out;
};

const expectOneRecordEach = async (userId: string, changes: number) => {
  const audit = await auditUser(h.deps, h.sim, userId, BOT);
  expect(audit.problems).toEqual([]);
  expect(audit.records.filter((r) => r.status === 'completed')).toHaveLength(changes);
  expect(appliedChanges(h.sim, userId)).toHaveLength(changes);
  figures.records += audit.records.length;
  figures.recordsLost += audit.lost;
  return audit;
};

describe.each(POINTS)('a crash %s', (point) => {
  it('is resolved by reconciliation with exactly one record matching Parley', async () => {
    for (let i = 0; i < REPEATS; i++) {
      const userId = `crash-${point}-${i}`;
      const t = trigger('crash');
      const { handler } = injected(point, t);

      const crashed = await handler(request(h.tokens.bot.api, userId, AGENT));
      expect(t.fired()).toBe(true);
      expect(crashed.statusCode).toBe(500);
      figures.crashes++;
      figures.scenarios++;

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
      const { handler, finalCas } = injected(point, t);

      const zombie = handler(request(h.tokens.bot.api, userId, AGENT));
      await t.reached;
      await recoverAll();
      t.release();
      const late = await zombie;
      figures.zombies++;
      figures.scenarios++;

      if (point === 'after-marker') {
        // Woken before its PUT: it sees the marker was taken over and stops (409) untouched.
        expect(late.statusCode).toBe(409);
        expect(finalCas).toEqual([]);
      } else {
        expect(late.statusCode).toBe(200);
        expect(finalCas).toEqual([false]);
      }
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
      const { handler } = injected(point, t);

      const zombie = handler(request(h.tokens.bot.api, userId, AGENT));
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
      t.release();
      await zombie;
      figures.zombies++;
      figures.scenarios++;

      expect(h.sim.ownerOf(userId)).toBe(BOT);
      const audit = await expectOneRecordEach(userId, 2);
      expect(audit.records.map((r) => [r.seq, r.toOwner, r.status])).toEqual([
        [1, AGENT, 'completed'],
        [2, BOT, 'completed'],
      ]);
    }
  });
});
