// Suite: the schedule explorer of test/domain/explorer.test.ts, run longer (more runs, more actors
// per run, the eraser and stalled writers among them) under JEST_SUITE=reliability. Its figures
// are counted from the worlds it ran: the steps the scheduler released, the records written, the
// forwards made, the crashes that happened, the erasures' tombstones, erased records and stops.
import fc from 'fast-check';
import { actorsArbitrary, explorerProperty, USER, type World } from '../support/model-explorer';
import { reportFigures } from '../support/reliability';

const SEED = Number(process.env.EXPLORER_SEED ?? 20261111);
const RUNS = Number(process.env.EXPLORER_RUNS ?? 3000);
const MAX_ACTORS = 6;

const figures = {
  worlds: 0,
  steps: 0,
  changesAtParley: 0,
  records: 0,
  observed: 0,
  failed: 0,
  forwards: 0,
  messagesDone: 0,
  crashes: 0,
  erasuresDone: 0,
  recordsErased: 0,
  deliveryWaits: 0,
  outOfTime: 0,
};

const tally = (w: World): void => {
  const records = w.history.userRecords(USER);
  figures.worlds += 1;
  figures.steps += w.parley.trace.length;
  figures.changesAtParley += w.parley.changesOf(USER).length;
  figures.records += records.length;
  figures.observed += records.filter((r) => r.source === 'observed').length;
  figures.failed += records.filter((r) => r.status === 'failed').length;
  figures.forwards += w.posts.length;
  figures.messagesDone += w.messages.filter((m) => w.delivered(m)).length;
  figures.crashes += w.parley.trace.filter((t) =>
    /never hears the answer|dies before|past its function timeout/.test(t),
  ).length;
  figures.erasuresDone += w.erasureStore.tombstones.size;
  for (const partition of w.erasureStore.erased.values()) figures.recordsErased += partition.size;
  const stops = w.erasures.flatMap((j) => j.stops);
  figures.deliveryWaits += stops.filter((s) => s === 'delivery_in_flight').length;
  figures.outOfTime += stops.filter((s) => s === 'out_of_time').length;
};

let held = false;

afterAll(() => {
  reportFigures('explorer', figures, {
    drives: `${figures.worlds} interleavings of up to ${MAX_ACTORS} actors over the domain`,
    proved: held
      ? `the invariants held over ${figures.steps} released steps, ${figures.records} records, ${figures.forwards} forwards and ${figures.crashes} crashes`
      : 'a counterexample broke an invariant (see the failure)',
  });
});

it(`keeps the invariants over ${RUNS} interleavings of up to ${MAX_ACTORS} actors`, async () => {
  await fc.assert(explorerProperty(actorsArbitrary(MAX_ACTORS, { erasure: true }), tally), {
    seed: SEED,
    numRuns: RUNS,
  });
  held = true;
  expect(figures.worlds).toBeGreaterThanOrEqual(RUNS);
});
