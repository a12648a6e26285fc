// Properties of the definitions over generated histories (fast-check): shares sum to 1, a user's
// segments tile the window from where their owner is known, and the day's totals equal its
// record count (by category, by handover row, and the cohort by class).
import fc from 'fast-check';
import { computeDayMetrics, dayStart } from '../../../functions/domain/metrics/day';
import { segmentsOf, shares } from '../../../functions/domain/metrics/segments';
import type {
  InboundNote,
  MetricsRecord,
  ServiceRoleInfo,
} from '../../../functions/domain/metrics/types';

const DAY = '2026-03-10';
const START = dayStart(DAY);
const DAY_MS = 86_400_000;
const SERVICES: ServiceRoleInfo[] = [
  { identification: 'bot', role: 'bot', default: true },
  { identification: 'bot2', role: 'bot', default: false },
  { identification: 'desk', role: 'agent', default: false },
  { identification: 'desk2', role: 'agent', default: false },
];
const OWNERS = SERVICES.map((s) => s.identification);

/** One user's history: consecutive records, each naming the owner the previous one left. */
const userHistory = (userId: string) =>
  fc
    .record({
      known: fc.boolean(),
      steps: fc.array(
        fc.record({
          // From the day before to the day after: records outside the day must not count.
          offset: fc.integer({ min: -DAY_MS, max: 2 * DAY_MS - 1 }),
          to: fc.constantFrom(...OWNERS),
          failed: fc.boolean(),
          kind: fc.option(fc.constant('offer'), { nil: undefined, freq: 5 }),
        }),
        { maxLength: 8 },
      ),
    })
    .map(({ known, steps }): MetricsRecord[] => {
      let owner: string | null = known ? 'bot' : null;
      return [...steps]
        .sort((a, b) => a.offset - b.offset)
        .map((step, i) => {
          const record: MetricsRecord = {
            handoverId: `${userId}-${i}`,
            userId,
            seq: i + 1,
            fromOwner: owner,
            toOwner: step.to,
            reason: step.failed ? 'tried' : 'moved',
            source: 'api',
            status: step.failed ? 'failed' : 'completed',
            createdAt: new Date(START + step.offset).toISOString(),
            ...(step.kind ? { kind: step.kind } : {}),
          };
          if (!step.failed && !step.kind) owner = step.to;
          return record;
        });
    });

const history = fc
  .integer({ min: 0, max: 6 })
  .chain((n) => fc.tuple(...Array.from({ length: n }, (_, i) => userHistory(`u${i}`))))
  .map((users) => users.flat());

const inbound = fc.array(
  fc.record({
    user: fc.integer({ min: 0, max: 7 }),
    minute: fc.integer({ min: 0, max: 24 * 60 - 1 }),
    service: fc.constantFrom(...OWNERS),
  }),
  { maxLength: 10 },
);

describe('shares', () => {
  it('sum to exactly 1 in ten-thousandths for any counts with a total, each within 1e-4', () => {
    fc.assert(
      fc.property(
        fc.array(fc.nat({ max: 1_000_000 }), { minLength: 1, maxLength: 6 }),
        (counts) => {
          fc.pre(counts.some((c) => c > 0));
          const total = counts.reduce((a, b) => a + b, 0);
          const s = shares(counts);
          expect(s.reduce((a, b) => a + Math.round(b * 10_000), 0)).toBe(10_000);
          s.forEach((share, i) => {
            expect(Math.abs(share - counts[i]! / total)).toBeLessThanOrEqual(1e-4);
          });
        },
      ),
    );
  });

  it('of the containment classes sum to 1 whenever there is a cohort', () => {
    fc.assert(
      fc.property(history, inbound, (records, notes) => {
        const m = computeDayMetrics({
          day: DAY,
          nowMs: START + 3 * DAY_MS,
          maturityHours: 24,
          services: SERVICES,
          records,
          inbound: notesOf(notes),
          replies: [],
        });
        const c = m.containment;
        expect(c.contained + c.escalated + c.escalationFailed).toBe(c.cohort);
        const sum = Math.round(
          (c.shares.contained + c.shares.escalated + c.shares.escalationFailed) * 10_000,
        );
        expect(sum).toBe(c.cohort === 0 ? 0 : 10_000);
      }),
    );
  });
});

/** One note per user (the store keeps the first), at the generated minute of the day. */
const notesOf = (notes: { user: number; minute: number; service: string }[]): InboundNote[] => {
  const first = new Map<string, InboundNote>();
  for (const n of notes) {
    const userId = `u${n.user}`;
    const at = new Date(START + n.minute * 60_000).toISOString();
    const seen = first.get(userId);
    if (!seen || at < seen.at) first.set(userId, { userId, day: DAY, service: n.service, at });
  }
  return [...first.values()];
};

describe('segments', () => {
  it("tile the window for each user, from the start when the owner is known, else from the user's first ownership record", () => {
    fc.assert(
      fc.property(history, fc.integer({ min: 1, max: DAY_MS }), (records, length) => {
        const end = START + length;
        const segments = segmentsOf(records, START, end);
        const users = new Set(segments.map((s) => s.userId));
        for (const userId of users) {
          const own = segments.filter((s) => s.userId === userId).sort((a, b) => a.start - b.start);
          const inWindow = records.filter((r) => {
            const t = Date.parse(r.createdAt);
            return r.userId === userId && !r.kind && t >= START && t < end;
          });
          const first = inWindow.sort((a, b) => a.createdAt.localeCompare(b.createdAt))[0]!;
          const firstOwnership = inWindow.find((r) => r.status === 'completed')!;
          const expectedStart =
            first.fromOwner !== null ? START : Date.parse(firstOwnership.createdAt);
          expect(own[0]!.start).toBe(expectedStart);
          expect(own[own.length - 1]!.end).toBe(end);
          for (let i = 1; i < own.length; i += 1) expect(own[i]!.start).toBe(own[i - 1]!.end);
          for (const s of own) expect(s.end).toBeGreaterThan(s.start);
        }
      }),
    );
  });

  it("add up, per Service, to the day's time in owner", () => {
    fc.assert(
      fc.property(history, (records) => {
        const m = computeDayMetrics({
          day: DAY,
          nowMs: START + 3 * DAY_MS,
          maturityHours: 24,
          services: SERVICES,
          records,
          inbound: [],
          replies: [],
        });
        const segments = segmentsOf(records, START, START + DAY_MS);
        for (const service of OWNERS) {
          const own = segments.filter((s) => s.owner === service);
          const ms = own.reduce((a, s) => a + (s.end - s.start), 0);
          expect(m.timeInOwner[service]).toMatchObject({
            segments: own.length,
            sumSeconds: ms / 1000,
          });
        }
      }),
    );
  });
});

describe('totals', () => {
  it("equal the day's record count: by category, by handover row, by escalation", () => {
    fc.assert(
      fc.property(history, (records) => {
        const m = computeDayMetrics({
          day: DAY,
          nowMs: START + 3 * DAY_MS,
          maturityHours: 24,
          services: SERVICES,
          records,
          inbound: [],
          replies: [],
        });
        const ofDay = records.filter((r) => r.createdAt.startsWith(DAY));
        const c = m.records;
        expect(c.total).toBe(ofDay.length);
        expect(c.handovers + c.firstOwner + c.sameOwner + c.failed + c.other).toBe(c.total);
        expect(m.handovers.reduce((a, h) => a + h.count, 0)).toBe(c.handovers);
        expect(c.failed).toBe(ofDay.filter((r) => !r.kind && r.status === 'failed').length);
        expect(c.other).toBe(ofDay.filter((r) => r.kind).length);
        const escalations = m.handovers
          .filter((h) => h.from.startsWith('bot') && h.to.startsWith('desk'))
          .reduce((a, h) => a + h.count, 0);
        expect(m.escalations.completed).toBe(escalations);
      }),
    );
  });
});
