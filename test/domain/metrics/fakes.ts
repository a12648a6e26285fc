// An in-memory MetricsStore with the adapter's rules (each item put once, on its key's absence),
// and the metrics' deps around it, for the domain tests of the rollup, the route and the notes.
import type { MetricsDeps } from '../../../functions/domain/metrics/rollup';
import type {
  DayRollup,
  InboundNote,
  LeasedOwner,
  MetricsStore,
  ReplyNote,
  ServiceRoleInfo,
} from '../../../functions/domain/metrics/types';
import type { HandoverRecord } from '../../../functions/domain/types';
import {
  FakeHistoryStore,
  type ManualClock,
  manualClock,
  recordingLog,
  recordingMetrics,
} from '../../support/fakes';

export class FakeMetricsStore implements MetricsStore {
  readonly rollups = new Map<string, DayRollup>();
  readonly inbound = new Map<string, InboundNote>();
  readonly replies = new Map<string, ReplyNote>();
  leased: LeasedOwner[] = [];
  /** Every write tried, in order (`rollup 2026-03-10`, `inbound u1 2026-03-10`, ...). */
  readonly writes: string[] = [];
  /** Throws from the next write of this kind, once. */
  failNext: { kind: 'rollup' | 'inbound' | 'reply'; error: Error } | null = null;

  private fail(kind: 'rollup' | 'inbound' | 'reply') {
    if (this.failNext?.kind !== kind) return;
    const { error } = this.failNext;
    this.failNext = null;
    throw error;
  }

  async getRollup(day: string) {
    return structuredClone(this.rollups.get(day) ?? null);
  }
  async putRollup(rollup: DayRollup) {
    this.writes.push(`rollup ${rollup.day}`);
    this.fail('rollup');
    if (this.rollups.has(rollup.day)) return false;
    this.rollups.set(rollup.day, structuredClone(rollup));
    return true;
  }
  async inboundNotes(day: string) {
    return [...this.inbound.values()].filter((n) => n.day === day);
  }
  async putInboundNote(note: InboundNote) {
    this.writes.push(`inbound ${note.userId} ${note.day}`);
    this.fail('inbound');
    const key = `${note.day}#${note.userId}`;
    if (this.inbound.has(key)) return false;
    this.inbound.set(key, { ...note });
    return true;
  }
  async replyNotes(keys: readonly { userId: string; since: string }[]) {
    return keys.flatMap((k) => {
      const note = this.replies.get(`${k.since}#${k.userId}`);
      return note ? [{ ...note }] : [];
    });
  }
  async putReplyNote(note: ReplyNote) {
    this.writes.push(`reply ${note.userId} ${note.since}`);
    this.fail('reply');
    const key = `${note.since}#${note.userId}`;
    if (this.replies.has(key)) return false;
    this.replies.set(key, { ...note });
    return true;
  }
  async listLeased({ limit, cursor }: { limit: number; cursor?: string }) {
    const start = cursor ? Number(cursor) : 0;
    const items = this.leased.slice(start, start + limit);
    const next = start + items.length;
    return next < this.leased.length ? { items, cursor: String(next) } : { items };
  }
}

export interface MetricsWorld {
  deps: MetricsDeps;
  store: FakeMetricsStore;
  history: FakeHistoryStore;
  clock: ManualClock;
  log: ReturnType<typeof recordingLog>;
  metrics: ReturnType<typeof recordingMetrics>;
  /** Times the Services were asked for (a Parley call through the catalog). */
  servicesAsked: () => number;
}

export const metricsWorld = (services: ServiceRoleInfo[], now: number): MetricsWorld => {
  const store = new FakeMetricsStore();
  const history = new FakeHistoryStore();
  const clock = manualClock(now);
  const log = recordingLog();
  const metrics = recordingMetrics();
  let asked = 0;
  return {
    deps: {
      history,
      store,
      services: async () => {
        asked += 1;
        return services.map((s) => ({ ...s }));
      },
      clock,
      log,
      metrics,
      settings: { maturityHours: 24, stuckAfterMinutes: 15 },
    },
    store,
    history,
    clock,
    log,
    metrics,
    servicesAsked: () => asked,
  };
};

/** Stores records as the handover use cases would have (the fake store keeps extra fields). */
export const storeRecords = async (history: FakeHistoryStore, records: HandoverRecord[]) => {
  for (const r of records) await history.append(r);
};
