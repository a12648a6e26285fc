// The worked example of docs/METRICS.md through computeDayMetrics: every figure was computed by
// hand in that document (golden-history.ts holds them), mature and read on the day itself.
import { computeDayMetrics } from '../../../functions/domain/metrics/day';
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

/** What the store would give at `now`: nothing written after it. */
const asOf = (now: number) => ({
  day: DAY,
  nowMs: now,
  maturityHours: 24,
  services: goldenServices(ids),
  records: goldenRecords(ids).filter((r) => Date.parse(r.createdAt) <= now),
  inbound: goldenInbound(ids).filter((n) => Date.parse(n.at) <= now),
  replies: goldenReplies(ids).filter((n) => Date.parse(n.at) <= now),
});

describe('the worked example of docs/METRICS.md', () => {
  it('gives the hand-computed figures once the day is mature', () => {
    const m = computeDayMetrics(asOf(MATURE_NOW));

    expect(m).toEqual({
      day: DAY,
      provisional: false,
      basis: 'computed',
      computedAt: '2026-03-12T06:00:00.000Z',
      windowEnd: '2026-03-11T00:00:00.000Z',
      ...goldenMature(ids),
    });
  });

  it('gives the hand-computed figures of the day read at 18:00 that day, provisional', () => {
    const m = computeDayMetrics(asOf(TODAY_NOW));

    expect(m).toEqual({
      day: DAY,
      provisional: true,
      basis: 'computed',
      computedAt: '2026-03-10T18:00:00.000Z',
      windowEnd: '2026-03-10T18:00:00.000Z',
      ...goldenToday(ids),
    });
  });

  it('stays provisional until the day end + maturityHours, then is final', () => {
    const justBefore = Date.parse('2026-03-11T23:59:59.999Z');
    const matured = Date.parse('2026-03-12T00:00:00.000Z');

    expect(computeDayMetrics(asOf(justBefore)).provisional).toBe(true);
    expect(computeDayMetrics(asOf(matured)).provisional).toBe(false);
    expect(computeDayMetrics({ ...asOf(matured), maturityHours: 48 }).provisional).toBe(true);
  });

  it('classifies a cohort user by what happened within maturityHours of the first message only', () => {
    // u6 wrote at 23:00 and was escalated at 01:00 the next day: escalated with 24 h, and
    // contained if the escalation came after its 24 h.
    const late = asOf(MATURE_NOW);
    late.records = late.records.map((r) =>
      r.userId === 'u6' ? { ...r, createdAt: '2026-03-11T23:00:00.000Z' } : r,
    );

    const m = computeDayMetrics(late);

    expect(m.containment).toMatchObject({ cohort: 5, contained: 2, escalated: 2 });
  });

  it('leaves a record with a kind out of segments, handovers and escalations, and counts it', () => {
    const base = computeDayMetrics(asOf(MATURE_NOW));
    const input = asOf(MATURE_NOW);
    // An offer from the bot to the desk at 15:00 for u5 changes no owner.
    input.records = [
      ...input.records,
      {
        ...input.records.find((r) => r.userId === 'u5')!,
        handoverId: 'offer-u5',
        seq: 9,
        fromOwner: 'bot',
        toOwner: 'desk',
        createdAt: `${DAY}T15:00:00.000Z`,
        kind: 'offer',
      },
    ];

    const m = computeDayMetrics(input);

    expect(m.records).toEqual({ ...base.records, total: 8, other: 2 });
    expect(m.timeInOwner).toEqual(base.timeInOwner);
    expect(m.handovers).toEqual(base.handovers);
    expect(m.escalations).toEqual(base.escalations);
    expect(m.containment).toEqual(base.containment);
  });

  it('keeps every key with zeros and empty lists for a day with nothing', () => {
    const m = computeDayMetrics({ ...asOf(MATURE_NOW), records: [], inbound: [], replies: [] });

    expect(m).toMatchObject({
      records: { total: 0, handovers: 0, firstOwner: 0, sameOwner: 0, failed: 0, other: 0 },
      activeUsers: 0,
      timeInOwner: {
        bot: { segments: 0, sumSeconds: 0, p50Seconds: 0, p90Seconds: 0 },
        desk: { segments: 0, sumSeconds: 0, p50Seconds: 0, p90Seconds: 0 },
      },
      handovers: [],
      escalations: { completed: 0, failed: 0 },
      containment: {
        cohort: 0,
        contained: 0,
        escalated: 0,
        escalationFailed: 0,
        shares: { contained: 0, escalated: 0, escalationFailed: 0 },
      },
      pingPong: { usersEscalated: 0, usersPingPong: 0, rate: 0 },
      returnToBotWithin1h: { escalations: 0, returned: 0, rate: 0 },
      firstAgentReply: { escalations: 0, replied: 0, coverage: 0, p50Seconds: 0, p90Seconds: 0 },
    });
  });

  it('ignores a reply note of another tenure (the desk answered an earlier escalation)', () => {
    const input = asOf(MATURE_NOW);
    input.replies = [{ ...input.replies[0]!, since: '2026-03-09T09:00:00.000Z' }];

    expect(computeDayMetrics(input).firstAgentReply).toEqual({
      escalations: 2,
      replied: 0,
      coverage: 0,
      p50Seconds: 0,
      p90Seconds: 0,
    });
  });
});
