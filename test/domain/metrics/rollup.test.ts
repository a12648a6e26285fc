// The rollup and the metrics route on the fakes: mature days stored once from the worked example's
// history, the rest computed on request and provisional, every key present, the Service filter.
import { buildRollups, readMetrics } from '../../../functions/domain/metrics/rollup';
import { metricsToCsv } from '../../../functions/domain/metrics/csv';
import { metricsWorld, storeRecords } from './fakes';
import {
  DAY,
  goldenInbound,
  goldenMature,
  goldenRecords,
  goldenReplies,
  goldenServices,
  goldenToday,
  MATURE_NOW,
  TODAY_NOW,
} from './golden-history';

const ids = { bot: 'bot', desk: 'desk' };

/** The worked example stored, read at `now`. */
const world = async (now: number) => {
  const w = metricsWorld(goldenServices(ids), now);
  await storeRecords(w.history, goldenRecords(ids));
  for (const note of goldenInbound(ids)) await w.store.putInboundNote(note);
  for (const note of goldenReplies(ids)) await w.store.putReplyNote(note);
  w.store.writes.length = 0;
  return w;
};

describe('buildRollups', () => {
  it('stores each mature day of the last week once, with the hand-computed figures', async () => {
    const w = await world(MATURE_NOW);

    const summary = await buildRollups(w.deps);

    // 2026-03-05 .. 2026-03-10 are mature on 2026-03-12T06:00; 2026-03-11 is not (until the 13th).
    expect(summary).toEqual({ checked: 6, written: 6, existing: 0, failed: 0 });
    expect([...w.store.rollups.keys()].sort()).toEqual([
      '2026-03-05',
      '2026-03-06',
      '2026-03-07',
      '2026-03-08',
      '2026-03-09',
      '2026-03-10',
    ]);
    expect(w.store.rollups.get(DAY)!.metrics).toMatchObject({
      day: DAY,
      provisional: false,
      basis: 'rollup',
      ...goldenMature(ids),
    });
    expect(w.log.lines.filter((l) => l.message === 'metrics rollup')).toEqual([
      { level: 'info', message: 'metrics rollup', attributes: summary },
    ]);
    expect(w.metrics.total('MetricsRollupWritten')).toBe(6);
  });

  it('writes nothing on a second run: a day is classified once, whatever arrives later', async () => {
    const w = await world(MATURE_NOW);
    await buildRollups(w.deps);
    const first = structuredClone(w.store.rollups.get(DAY));
    // A late note (a message retried from the queue) after the day was classified.
    await w.store.putInboundNote({
      userId: 'late',
      day: DAY,
      service: 'bot',
      at: `${DAY}T23:30:00.000Z`,
    });
    w.store.writes.length = 0;

    const again = await buildRollups(w.deps);

    expect(again).toEqual({ checked: 6, written: 0, existing: 6, failed: 0 });
    expect(w.store.writes).toEqual([]);
    expect(w.store.rollups.get(DAY)).toEqual(first);
  });

  it('leaves the days it could not compute to the next run, and counts them', async () => {
    const w = await world(MATURE_NOW);
    w.deps.history = {
      listRange: async () => {
        throw Object.assign(new Error('throttled'), {
          name: 'ProvisionedThroughputExceededException',
        });
      },
    };

    const summary = await buildRollups(w.deps);

    expect(summary).toEqual({ checked: 6, written: 0, existing: 0, failed: 6 });
    expect(w.store.rollups.size).toBe(0);
    expect(w.log.lines.find((l) => l.level === 'warn')).toMatchObject({
      message: 'metrics rollup failed; the next run tries again',
      attributes: { error: 'ProvisionedThroughputExceededException' },
    });
  });

  it('asks for no Service list when every mature day is stored', async () => {
    const w = await world(MATURE_NOW);
    await buildRollups(w.deps);
    const asked = w.servicesAsked();

    await buildRollups(w.deps);

    expect(w.servicesAsked()).toBe(asked);
  });
});

describe('readMetrics', () => {
  it('reads a stored day as it is, and computes today from its records, provisional', async () => {
    const w = await world(MATURE_NOW);
    await buildRollups(w.deps);

    const answer = await readMetrics({ from: DAY, to: '2026-03-12' }, w.deps);

    expect(answer.days.map((d) => [d.day, d.basis, d.provisional])).toEqual([
      [DAY, 'rollup', false],
      ['2026-03-11', 'computed', true],
      ['2026-03-12', 'computed', true],
    ]);
    expect(answer.days[0]).toMatchObject(goldenMature(ids));
    // Today's record-less day still has every key.
    expect(answer.days[2]).toMatchObject({
      records: { total: 0 },
      timeInOwner: { bot: { segments: 0 }, desk: { segments: 0 } },
      handovers: [],
    });
  });

  it("shows today's handovers today (no rollup yet): the day computed at the instant asked", async () => {
    const w = await world(TODAY_NOW);
    w.history.records.forEach((r, key) => {
      if (Date.parse(r.createdAt) > TODAY_NOW) w.history.records.delete(key);
    });
    for (const [key, note] of w.store.inbound) {
      if (Date.parse(note.at) > TODAY_NOW) w.store.inbound.delete(key);
    }

    const answer = await readMetrics({ from: DAY, to: DAY }, w.deps);

    expect(answer).toMatchObject({ from: DAY, to: DAY, granularity: 'day', service: null });
    expect(answer.days).toEqual([
      {
        day: DAY,
        provisional: true,
        basis: 'computed',
        computedAt: '2026-03-10T18:00:00.000Z',
        windowEnd: '2026-03-10T18:00:00.000Z',
        ...goldenToday(ids),
      },
    ]);
  });

  it('marks a mature day without a rollup provisional, and leaves days after today out', async () => {
    const w = await world(MATURE_NOW);

    const answer = await readMetrics({ from: DAY, to: '2026-03-20' }, w.deps);

    expect(answer.days.map((d) => d.day)).toEqual([DAY, '2026-03-11', '2026-03-12']);
    expect(answer.days[0]).toMatchObject({ basis: 'computed', provisional: true });
    expect(answer.days[0]).toMatchObject(goldenMature(ids));
    expect(w.store.rollups.size).toBe(0);
  });

  it('narrows to one Service: its time in owner only, the handovers to or from it', async () => {
    const w = await world(MATURE_NOW);
    w.deps.services = async () => [
      ...goldenServices(ids),
      { identification: 'desk2', role: 'agent', default: false },
    ];

    const answer = await readMetrics({ from: DAY, to: DAY, service: 'desk2' }, w.deps);
    const [day] = answer.days;

    expect(answer.service).toBe('desk2');
    expect(day!.timeInOwner).toEqual({
      desk2: { segments: 0, sumSeconds: 0, p50Seconds: 0, p90Seconds: 0 },
    });
    expect(day!.handovers).toEqual([]);
  });

  it('gives a Service the configuration gained after a rollup its zero time in owner', async () => {
    const w = await world(MATURE_NOW);
    await buildRollups(w.deps);
    w.deps.services = async () => [
      ...goldenServices(ids),
      { identification: 'desk2', role: 'agent', default: false },
    ];

    const [day] = (await readMetrics({ from: DAY, to: DAY }, w.deps)).days;

    expect(Object.keys(day!.timeInOwner)).toEqual(['bot', 'desk', 'desk2']);
    expect(day!.timeInOwner.desk2).toEqual({
      segments: 0,
      sumSeconds: 0,
      p50Seconds: 0,
      p90Seconds: 0,
    });
  });
});

describe('metricsToCsv', () => {
  it('gives one row per figure with the handover rows keyed by reason, source, from and to', async () => {
    const w = await world(MATURE_NOW);
    await buildRollups(w.deps);
    const { days } = await readMetrics({ from: DAY, to: DAY }, w.deps);

    const lines = metricsToCsv(days).split('\r\n');

    expect(lines[0]).toBe('day,provisional,metric,service,reason,source,from,to,value');
    expect(lines).toContain('2026-03-10,false,records.total,,,,,,7');
    expect(lines).toContain('2026-03-10,false,timeInOwner.sumSeconds,bot,,,,,232200');
    expect(lines).toContain('2026-03-10,false,handovers,,resolved,api,desk,bot,2');
    expect(lines).toContain('2026-03-10,false,containment.shares.escalated,,,,,,0.6');
    expect(lines).toContain('2026-03-10,false,firstAgentReply.coverage,,,,,,0.5');
    expect(lines.at(-1)).toBe('');
  });
});
