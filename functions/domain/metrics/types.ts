// Ownership metrics (docs/METRICS.md): the shapes of one UTC day's figures, the notes they are
// built from beside the history, and the port the rollup works through. Times are ISO strings as
// the stores keep them; the functions take epoch milliseconds from a clock.
import type { HandoverRecord, Page, ServiceRole } from '../types';

/**
 * What the metrics read of a history record. `kind` marks a record that changes no owner (an
 * offer's): it is counted, never a segment boundary, a handover or an escalation.
 */
export type MetricsRecord = Pick<
  HandoverRecord,
  'handoverId' | 'userId' | 'seq' | 'fromOwner' | 'toOwner' | 'reason' | 'source' | 'status'
> & { createdAt: string; kind?: string };

/** A Service as the metrics classify it: its role, and whether Parley names it the default. */
export interface ServiceRoleInfo {
  identification: string;
  role: ServiceRole;
  default: boolean;
}

/**
 * A user's first inbound message of a UTC day, whichever Service received it (Parley sends a
 * message to the owner, so `service` owned the user when it arrived). Written once per user and
 * day by the processor; the containment cohort is the day's notes whose Service is the default.
 */
export interface InboundNote {
  userId: string;
  day: string;
  service: string;
  at: string;
}

/**
 * The first message an agent sent through us (the messages route or a downstream's reply) while
 * it owned the user from `since` (the owner item's `since`: the createdAt of the record that made
 * it the owner). Written once per owner tenure.
 */
export interface ReplyNote {
  userId: string;
  owner: string;
  since: string;
  at: string;
}

/** Where a record's owner-changing role sits in the day's counts; they sum to `total`. */
export interface RecordCounts {
  total: number;
  /** Completed, from one Service to another. */
  handovers: number;
  /** Completed, with no owner known before (a user's first record). */
  firstOwner: number;
  /** Completed, to the Service that already owned the user. */
  sameOwner: number;
  failed: number;
  /** Records with a `kind` (offers): no owner changed. */
  other: number;
}

export interface ServiceTime {
  segments: number;
  sumSeconds: number;
  p50Seconds: number;
  p90Seconds: number;
}

export interface HandoverRow {
  reason: string | null;
  source: HandoverRecord['source'];
  from: string;
  to: string;
  count: number;
}

export interface Containment {
  maturityHours: number;
  cohort: number;
  contained: number;
  escalated: number;
  escalationFailed: number;
  /** Each count over the cohort, to 4 decimals by largest remainder: they sum to 1 (0 without a cohort). */
  shares: { contained: number; escalated: number; escalationFailed: number };
}

/** One UTC day's figures. Every key is always present (zero or empty when nothing happened). */
export interface DayMetrics {
  day: string;
  /** True until the day is mature (its end + maturityHours) and read from its rollup. */
  provisional: boolean;
  /** `rollup`: the stored, final figures; `computed`: from the records on request. */
  basis: 'rollup' | 'computed';
  computedAt: string;
  /** Segments are clipped here: the day's end, or the instant of computing for today. */
  windowEnd: string;
  records: RecordCounts;
  /** Users whose first inbound message of the day was noted (any owner). */
  activeUsers: number;
  timeInOwner: Record<string, ServiceTime>;
  handovers: HandoverRow[];
  escalations: { completed: number; failed: number };
  containment: Containment;
  pingPong: { usersEscalated: number; usersPingPong: number; rate: number };
  returnToBotWithin1h: { escalations: number; returned: number; rate: number };
  firstAgentReply: {
    escalations: number;
    replied: number;
    coverage: number;
    p50Seconds: number;
    p90Seconds: number;
  };
}

/** An owner item's lease fields, as the stuck-owner list reads them (byDue lists the leased). */
export interface LeasedOwner {
  userId: string;
  owner: string;
  lastUserAt: string;
  lastOwnerAt: string;
}

export interface StuckOwner extends LeasedOwner {
  /** now - lastUserAt, whole seconds. */
  waitingSeconds: number;
}

/** The stored rollup of a day (state table `ROLLUP#{day}`): written once, when the day matured. */
export interface DayRollup {
  day: string;
  metrics: DayMetrics;
}

/** What the metrics read and write beside the history (functions/adapters/metrics-store.ts). */
export interface MetricsStore {
  getRollup(day: string): Promise<DayRollup | null>;
  /** Writes it unless one is stored: false when one was (a day is classified once). */
  putRollup(rollup: DayRollup): Promise<boolean>;
  /** The day's inbound notes, every one (a sharded index, read whole). */
  inboundNotes(day: string): Promise<InboundNote[]>;
  /** Writes it unless the user has one for that day: false when one was. */
  putInboundNote(note: InboundNote): Promise<boolean>;
  /** The reply notes of these tenures (absent ones are not in the answer). */
  replyNotes(keys: readonly { userId: string; since: string }[]): Promise<ReplyNote[]>;
  /** Writes it unless the tenure has one: false when one was. */
  putReplyNote(note: ReplyNote): Promise<boolean>;
  /** The owner items with a lease, a page at a time (every shard of byDue). */
  listLeased(options: { limit: number; cursor?: string }): Promise<Page<LeasedOwner>>;
}

/** The metrics' settings (stage configuration `metrics`). */
export interface MetricsSettings {
  /** A day's cohort is classified this long after its end (at least 24: ping-pong looks 24 h on). */
  maturityHours: number;
  stuckAfterMinutes: number;
}

export const METRICS_DEFAULTS: MetricsSettings = { maturityHours: 24, stuckAfterMinutes: 15 };
