// One UTC day's figures from its records and notes (docs/METRICS.md has every definition with a
// worked example). Pure: the rollup and the on-request path both call it with what they read.
import {
  byTime,
  byUser,
  isOwnershipRecord,
  percentile,
  ratio,
  seconds,
  segmentsOf,
  shares,
} from './segments';
import type {
  DayMetrics,
  HandoverRow,
  InboundNote,
  MetricsRecord,
  RecordCounts,
  ReplyNote,
  ServiceRoleInfo,
  ServiceTime,
} from './types';

export const HOUR_MS = 3_600_000;
export const DAY_MS = 24 * HOUR_MS;
/** Two escalations this close make a ping-pong. */
const PING_PONG_MS = DAY_MS;
const RETURN_MS = HOUR_MS;

/** Epoch ms of a day's start (`2026-03-10` -> 2026-03-10T00:00:00.000Z). */
export const dayStart = (day: string): number => Date.parse(`${day}T00:00:00.000Z`);
/** The UTC day of an instant. */
export const dayOf = (ms: number): string => new Date(ms).toISOString().slice(0, 10);
export const iso = (ms: number): string => new Date(ms).toISOString();

/**
 * When a day's figures stop changing: its end plus maturityHours (every cohort user's 24 h and
 * every escalation's 24 h look-ahead have passed).
 */
export const matureAt = (day: string, maturityHours: number): number =>
  dayStart(day) + DAY_MS + maturityHours * HOUR_MS;

export interface DayInput {
  day: string;
  nowMs: number;
  maturityHours: number;
  services: readonly ServiceRoleInfo[];
  /** Records from the day's start to its maturity (or now); others are ignored. */
  records: readonly MetricsRecord[];
  /** The day's inbound notes. */
  inbound: readonly InboundNote[];
  /** Reply notes of the day's escalations (others are ignored). */
  replies: readonly ReplyNote[];
}

type Roles = (service: string | null) => ServiceRoleInfo['role'] | null;

/** A completed or failed record from a bot Service to an agent Service (no `kind`). */
export const isEscalation = (r: MetricsRecord, roleOf: Roles): boolean =>
  r.kind === undefined && roleOf(r.fromOwner) === 'bot' && roleOf(r.toOwner) === 'agent';

export const rolesOf = (services: readonly ServiceRoleInfo[]): Roles => {
  const roles = new Map(services.map((s) => [s.identification, s.role]));
  return (service) => (service === null ? null : (roles.get(service) ?? null));
};

/** The day's completed escalations: what the reply notes are looked up for. */
export function escalationsOn(
  day: string,
  records: readonly MetricsRecord[],
  services: readonly ServiceRoleInfo[],
): MetricsRecord[] {
  const roleOf = rolesOf(services);
  return records.filter(
    (r) => r.createdAt.slice(0, 10) === day && r.status === 'completed' && isEscalation(r, roleOf),
  );
}

function countRecords(records: readonly MetricsRecord[]): RecordCounts {
  const counts: RecordCounts = {
    total: 0,
    handovers: 0,
    firstOwner: 0,
    sameOwner: 0,
    failed: 0,
    other: 0,
  };
  for (const r of records) {
    counts.total += 1;
    if (r.kind !== undefined) counts.other += 1;
    else if (r.status === 'failed') counts.failed += 1;
    else if (r.fromOwner === null) counts.firstOwner += 1;
    else if (r.fromOwner === r.toOwner) counts.sameOwner += 1;
    else counts.handovers += 1;
  }
  return counts;
}

function handoverRows(records: readonly MetricsRecord[]): HandoverRow[] {
  const rows = new Map<string, HandoverRow>();
  for (const r of records) {
    if (!isOwnershipRecord(r) || r.fromOwner === null || r.fromOwner === r.toOwner) continue;
    const key = JSON.stringify([r.reason, r.source, r.fromOwner, r.toOwner]);
    const row = rows.get(key) ?? {
      reason: r.reason,
      source: r.source,
      from: r.fromOwner,
      to: r.toOwner,
      count: 0,
    };
    row.count += 1;
    rows.set(key, row);
  }
  return [...rows.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, row]) => row);
}

function timeInOwner(
  records: readonly MetricsRecord[],
  start: number,
  end: number,
  services: readonly ServiceRoleInfo[],
): Record<string, ServiceTime> {
  const durations = new Map<string, number[]>(services.map((s) => [s.identification, []]));
  for (const s of segmentsOf(records, start, end)) {
    const list = durations.get(s.owner) ?? [];
    list.push(s.end - s.start);
    durations.set(s.owner, list);
  }
  const out: Record<string, ServiceTime> = {};
  for (const [service, list] of [...durations.entries()].sort(([a], [b]) => (a < b ? -1 : 1))) {
    out[service] = {
      segments: list.length,
      sumSeconds: seconds(list.reduce((a, b) => a + b, 0)),
      p50Seconds: seconds(percentile(list, 0.5)),
      p90Seconds: seconds(percentile(list, 0.9)),
    };
  }
  return out;
}

/**
 * computeDayMetrics
 * Input: the day, now, the settings, the Services' roles, the records from the day's start to its
 * maturity, the day's inbound notes and its escalations' reply notes.
 * Output: the day's figures, `provisional` until the day is mature, basis `computed`.
 */
export function computeDayMetrics(input: DayInput): DayMetrics {
  const { day, nowMs, maturityHours, services } = input;
  const start = dayStart(day);
  const windowEnd = Math.min(start + DAY_MS, nowMs);
  const roleOf = rolesOf(services);
  const records = [...input.records].sort(byTime);
  const ofDay = records.filter((r) => r.createdAt.slice(0, 10) === day);
  const escalations = ofDay.filter((r) => isEscalation(r, roleOf));
  const completed = escalations.filter((r) => r.status === 'completed');
  const later = byUser(records.filter((r) => isOwnershipRecord(r)));

  // Ping-pong: of the users escalated today, those escalated again within 24 h of one of today's.
  const usersEscalated = new Set(completed.map((r) => r.userId));
  const usersPingPong = new Set(
    completed
      .filter((e) =>
        (later.get(e.userId) ?? []).some((r) => {
          const gap = Date.parse(r.createdAt) - Date.parse(e.createdAt);
          return r !== e && gap > 0 && gap <= PING_PONG_MS && isEscalation(r, roleOf);
        }),
      )
      .map((e) => e.userId),
  );
  // Back with a bot within an hour of the escalation.
  const returned = completed.filter((e) =>
    (later.get(e.userId) ?? []).some((r) => {
      const gap = Date.parse(r.createdAt) - Date.parse(e.createdAt);
      return gap > 0 && gap <= RETURN_MS && roleOf(r.toOwner) === 'bot';
    }),
  ).length;

  // Time to the agent's first message: the reply note of the tenure the escalation started.
  const replyAt = new Map(
    input.replies.map((n) => [JSON.stringify([n.userId, n.owner, n.since]), Date.parse(n.at)]),
  );
  const waits: number[] = [];
  for (const e of completed) {
    const at = replyAt.get(JSON.stringify([e.userId, e.toOwner, e.createdAt]));
    if (at !== undefined && at >= Date.parse(e.createdAt)) waits.push(at - Date.parse(e.createdAt));
  }

  return {
    day,
    provisional: nowMs < matureAt(day, maturityHours),
    basis: 'computed',
    computedAt: iso(nowMs),
    windowEnd: iso(windowEnd),
    records: countRecords(ofDay),
    activeUsers: new Set(input.inbound.map((n) => n.userId)).size,
    timeInOwner: timeInOwner(ofDay, start, windowEnd, services),
    handovers: handoverRows(ofDay),
    escalations: {
      completed: completed.length,
      failed: escalations.length - completed.length,
    },
    containment: containment(input, records, roleOf),
    pingPong: {
      usersEscalated: usersEscalated.size,
      usersPingPong: usersPingPong.size,
      rate: ratio(usersPingPong.size, usersEscalated.size),
    },
    returnToBotWithin1h: {
      escalations: completed.length,
      returned,
      rate: ratio(returned, completed.length),
    },
    firstAgentReply: {
      escalations: completed.length,
      replied: waits.length,
      coverage: ratio(waits.length, completed.length),
      p50Seconds: seconds(percentile(waits, 0.5)),
      p90Seconds: seconds(percentile(waits, 0.9)),
    },
  };
}

/**
 * The cohort: users whose first inbound message of the day reached the default Service. Each is
 * classified by what happened within maturityHours of that message: a completed escalation ->
 * escalated; else a failed one -> escalation_failed; else contained.
 */
function containment(
  input: DayInput,
  records: readonly MetricsRecord[],
  roleOf: Roles,
): DayMetrics['containment'] {
  const defaults = new Set(input.services.filter((s) => s.default).map((s) => s.identification));
  const escalations = byUser(records.filter((r) => isEscalation(r, roleOf)));
  let contained = 0;
  let escalated = 0;
  let escalationFailed = 0;
  const seen = new Set<string>();
  for (const note of input.inbound) {
    if (!defaults.has(note.service) || seen.has(note.userId)) continue;
    seen.add(note.userId);
    const from = Date.parse(note.at);
    const until = from + input.maturityHours * HOUR_MS;
    const within = (escalations.get(note.userId) ?? []).filter((r) => {
      const t = Date.parse(r.createdAt);
      return t >= from && t < until;
    });
    if (within.some((r) => r.status === 'completed')) escalated += 1;
    else if (within.length > 0) escalationFailed += 1;
    else contained += 1;
  }
  const [c, e, f] = shares([contained, escalated, escalationFailed]);
  return {
    maturityHours: input.maturityHours,
    cohort: seen.size,
    contained,
    escalated,
    escalationFailed,
    shares: { contained: c!, escalated: e!, escalationFailed: f! },
  };
}
