// The worked example of docs/METRICS.md: one day (2026-03-10) of a small account, its records,
// notes and the figures computed by hand in that document. The golden tests (domain and handler)
// hold the code to those figures; change one and the other, or neither.
import { metadataDigest } from '../../../functions/domain/chain';
import type {
  InboundNote,
  ReplyNote,
  ServiceRoleInfo,
} from '../../../functions/domain/metrics/types';
import type { HandoverRecord } from '../../../functions/domain/types';

export const DAY = '2026-03-10';
/** 2026-03-12T06:00Z: the day matured at 2026-03-12T00:00Z (its end + 24 h). */
export const MATURE_NOW = Date.parse('2026-03-12T06:00:00.000Z');
/** 2026-03-10T18:00Z: the day is today, and provisional. */
export const TODAY_NOW = Date.parse('2026-03-10T18:00:00.000Z');

export interface GoldenIds {
  bot: string;
  desk: string;
  /** Prefix of the user ids (tests that share a table keep theirs apart). */
  users?: string;
}

export type GoldenRecord = HandoverRecord;

export const goldenServices = ({ bot, desk }: GoldenIds): ServiceRoleInfo[] => [
  { identification: bot, role: 'bot', default: true },
  { identification: desk, role: 'agent', default: false },
];

const at = (time: string) => (time.includes('T') ? time : `${DAY}T${time}:00.000Z`);

/** The history: seven records on the day, two the next day (within its maturity). */
export function goldenRecords({ bot, desk, users = 'u' }: GoldenIds): GoldenRecord[] {
  const row = (
    user: string,
    seq: number,
    time: string,
    from: string | null,
    to: string,
    status: 'completed' | 'failed',
    source: HandoverRecord['source'],
    reason: string | null,
    kind?: 'offer',
  ): GoldenRecord => ({
    handoverId: `g-${users}${user}-${seq}`,
    userId: `${users}${user}`,
    seq,
    fromOwner: from,
    toOwner: to,
    reason,
    metadata: null,
    metadataDigest: metadataDigest(null),
    requestedBy: source === 'observed' ? 'parley' : from === desk ? desk : bot,
    source,
    status,
    parley: source === 'observed' ? null : { status: 200, code: null, durationMs: 40 },
    createdAt: at(time),
    prevHash: `prev-${users}${user}-${seq}`,
    hash: `hash-${users}${user}-${seq}`,
    ...(kind ? { kind } : {}),
  });
  const human = 'user_requested_human';
  return [
    row('1', 1, '09:00', bot, desk, 'completed', 'rule', human),
    row('1', 2, '09:30', desk, bot, 'completed', 'api', 'resolved'),
    row('2', 1, '10:10', bot, desk, 'failed', 'api', human),
    row('4', 5, '12:30', desk, desk, 'completed', 'offer', 'second_opinion', 'offer'),
    row('4', 6, '13:00', desk, bot, 'completed', 'api', 'resolved'),
    row('5', 1, '14:00', null, bot, 'completed', 'observed', null),
    row('5', 2, '20:00', bot, desk, 'completed', 'api', human),
    // The next day, within the day's maturity: u6's escalation, u1's second one (ping-pong).
    row('6', 4, '2026-03-11T01:00:00.000Z', bot, desk, 'completed', 'rule', human),
    row('1', 3, '2026-03-11T08:00:00.000Z', bot, desk, 'completed', 'rule', human),
  ];
}

/** First inbound message of the day per user, and which Service it reached. */
export function goldenInbound({ bot, desk, users = 'u' }: GoldenIds): InboundNote[] {
  return [
    ['1', '08:00', bot],
    ['2', '10:00', bot],
    ['3', '11:00', bot],
    ['4', '12:00', desk],
    ['5', '14:05', bot],
    ['6', '23:00', bot],
  ].map(([user, time, service]) => ({
    userId: `${users}${user}`,
    day: DAY,
    service: service!,
    at: at(time!),
  }));
}

/** The desk's first message to u1 after the 09:00 escalation, five minutes later. */
export function goldenReplies({ desk, users = 'u' }: GoldenIds): ReplyNote[] {
  return [{ userId: `${users}1`, owner: desk, since: at('09:00'), at: at('09:05') }];
}

/** The figures of docs/METRICS.md "Worked example", mature (read on 2026-03-12). */
export const goldenMature = ({ bot, desk }: GoldenIds) => ({
  records: { total: 7, handovers: 4, firstOwner: 1, sameOwner: 0, failed: 1, other: 1 },
  activeUsers: 6,
  timeInOwner: {
    [bot]: { segments: 5, sumSeconds: 232_200, p50Seconds: 39_600, p90Seconds: 86_400 },
    [desk]: { segments: 3, sumSeconds: 63_000, p50Seconds: 14_400, p90Seconds: 46_800 },
  },
  handovers: [
    { reason: 'resolved', source: 'api', from: desk, to: bot, count: 2 },
    { reason: 'user_requested_human', source: 'api', from: bot, to: desk, count: 1 },
    { reason: 'user_requested_human', source: 'rule', from: bot, to: desk, count: 1 },
  ],
  escalations: { completed: 2, failed: 1 },
  containment: {
    maturityHours: 24,
    cohort: 5,
    contained: 1,
    escalated: 3,
    escalationFailed: 1,
    shares: { contained: 0.2, escalated: 0.6, escalationFailed: 0.2 },
  },
  pingPong: { usersEscalated: 2, usersPingPong: 1, rate: 0.5 },
  returnToBotWithin1h: { escalations: 2, returned: 1, rate: 0.5 },
  firstAgentReply: { escalations: 2, replied: 1, coverage: 0.5, p50Seconds: 300, p90Seconds: 300 },
});

/** The same day read at 18:00 that day: provisional, segments clipped to 18:00. */
export const goldenToday = ({ bot, desk }: GoldenIds) => ({
  records: { total: 6, handovers: 3, firstOwner: 1, sameOwner: 0, failed: 1, other: 1 },
  activeUsers: 5,
  timeInOwner: {
    [bot]: { segments: 5, sumSeconds: 160_200, p50Seconds: 30_600, p90Seconds: 64_800 },
    [desk]: { segments: 2, sumSeconds: 48_600, p50Seconds: 1_800, p90Seconds: 46_800 },
  },
  handovers: [
    { reason: 'resolved', source: 'api', from: desk, to: bot, count: 2 },
    { reason: 'user_requested_human', source: 'rule', from: bot, to: desk, count: 1 },
  ],
  escalations: { completed: 1, failed: 1 },
  containment: {
    maturityHours: 24,
    cohort: 4,
    contained: 2,
    escalated: 1,
    escalationFailed: 1,
    shares: { contained: 0.5, escalated: 0.25, escalationFailed: 0.25 },
  },
  pingPong: { usersEscalated: 1, usersPingPong: 0, rate: 0 },
  returnToBotWithin1h: { escalations: 1, returned: 1, rate: 1 },
  firstAgentReply: { escalations: 1, replied: 1, coverage: 1, p50Seconds: 300, p90Seconds: 300 },
});
