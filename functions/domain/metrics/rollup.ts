// The daily rollup and the metrics route (docs/METRICS.md): a day's figures are computed from the
// history's day index and the notes beside it, stored once the day is mature (`ROLLUP#{day}`,
// written only where none is: a day is classified once), and read back for closed days; a day
// without a rollup (today, yesterday, a missed night) is computed on request and provisional.
import type { Clock, HistoryStore, Log, MetricsSink } from '../ports';
import { computeDayMetrics, DAY_MS, dayOf, dayStart, escalationsOn, matureAt } from './day';
import type {
  DayMetrics,
  MetricsRecord,
  MetricsSettings,
  MetricsStore,
  ServiceRoleInfo,
  ServiceTime,
} from './types';

export interface MetricsDeps {
  history: Pick<HistoryStore, 'listRange'>;
  store: MetricsStore;
  /** The Services with their roles and Parley's default (the catalog). */
  services: () => Promise<ServiceRoleInfo[]>;
  clock: Clock;
  log: Log;
  metrics: MetricsSink;
  settings: MetricsSettings;
}

/** Days one request may span. */
export const MAX_METRICS_DAYS = 31;
/** Closed days the scheduled run looks back over for a missing rollup (a missed night heals). */
export const ROLLUP_BACKFILL_DAYS = 7;
const PAGE = 1000;

const addDays = (day: string, n: number): string => dayOf(dayStart(day) + n * DAY_MS);

/** Every record created in [from, to] (epoch ms), oldest first, page after page. */
async function readRecords(deps: MetricsDeps, from: number, to: number): Promise<MetricsRecord[]> {
  const out: MetricsRecord[] = [];
  let cursor: string | undefined;
  do {
    const page = await deps.history.listRange({
      from: new Date(from).toISOString(),
      to: new Date(to).toISOString(),
      limit: PAGE,
      ...(cursor ? { cursor } : {}),
    });
    out.push(...page.items);
    cursor = page.cursor;
  } while (cursor);
  return out;
}

/**
 * Computes consecutive days (ascending) with one read of the history: from the first day's start
 * to the last day's maturity, or now when that is earlier.
 */
async function computeDays(
  days: readonly string[],
  deps: MetricsDeps,
  services: ServiceRoleInfo[],
): Promise<DayMetrics[]> {
  if (days.length === 0) return [];
  const nowMs = deps.clock.now();
  const { maturityHours } = deps.settings;
  const last = days[days.length - 1]!;
  const records = await readRecords(
    deps,
    dayStart(days[0]!),
    Math.min(matureAt(last, maturityHours) - 1, nowMs),
  );
  const out: DayMetrics[] = [];
  for (const day of days) {
    const from = dayStart(day);
    const until = matureAt(day, maturityHours);
    const own = records.filter((r) => {
      const t = Date.parse(r.createdAt);
      return t >= from && t < until;
    });
    const escalations = escalationsOn(day, own, services);
    const [inbound, replies] = await Promise.all([
      deps.store.inboundNotes(day),
      deps.store.replyNotes(escalations.map((e) => ({ userId: e.userId, since: e.createdAt }))),
    ]);
    out.push(
      computeDayMetrics({ day, nowMs, maturityHours, services, records: own, inbound, replies }),
    );
  }
  return out;
}

/** Runs of consecutive days, so that each run reads the history once. */
const runsOf = (days: readonly string[]): string[][] => {
  const runs: string[][] = [];
  for (const day of days) {
    const run = runs[runs.length - 1];
    if (run && addDays(run[run.length - 1]!, 1) === day) run.push(day);
    else runs.push([day]);
  }
  return runs;
};

export interface RollupSummary {
  /** Mature closed days looked at. */
  checked: number;
  written: number;
  /** Found stored already (a rerun, or another run won). */
  existing: number;
  failed: number;
}

/**
 * buildRollups
 * Input: the deps (clock, settings). Output: what it did, counted from the store's answers.
 * Steps: the closed days of the last ROLLUP_BACKFILL_DAYS that are mature and have no rollup ->
 * compute each (one history read per run of days) -> store it where none is. Idempotent: a rerun
 * finds them stored; a run that dies leaves the rest to the next.
 */
export async function buildRollups(deps: MetricsDeps): Promise<RollupSummary> {
  const nowMs = deps.clock.now();
  const today = dayOf(nowMs);
  const summary: RollupSummary = { checked: 0, written: 0, existing: 0, failed: 0 };
  const missing: string[] = [];
  for (let n = ROLLUP_BACKFILL_DAYS; n >= 1; n -= 1) {
    const day = addDays(today, -n);
    if (matureAt(day, deps.settings.maturityHours) > nowMs) continue;
    summary.checked += 1;
    if (await deps.store.getRollup(day)) summary.existing += 1;
    else missing.push(day);
  }
  const services = missing.length > 0 ? await deps.services() : [];
  for (const run of runsOf(missing)) {
    let computed: DayMetrics[];
    try {
      computed = await computeDays(run, deps, services);
    } catch (err) {
      summary.failed += run.length;
      deps.log.warn('metrics rollup failed; the next run tries again', {
        days: run,
        error: err instanceof Error ? err.name : typeof err,
      });
      continue;
    }
    for (const metrics of computed) {
      const stored = await deps.store.putRollup({
        day: metrics.day,
        metrics: { ...metrics, basis: 'rollup', provisional: false },
      });
      if (stored) summary.written += 1;
      else summary.existing += 1;
    }
  }
  deps.log.info('metrics rollup', { ...summary });
  deps.metrics.count('MetricsRollupWritten', summary.written);
  return summary;
}

export interface MetricsQuery {
  /** First and last day (UTC, `yyyy-mm-dd`), inclusive. */
  from: string;
  to: string;
  /** A Service's identification: only its time in owner, only the handovers to or from it. */
  service?: string;
}

export interface MetricsAnswer {
  from: string;
  to: string;
  granularity: 'day';
  service: string | null;
  days: DayMetrics[];
}

/** Only the Service's time in owner (present even when zero), only handovers to or from it. */
function forService(metrics: DayMetrics, service: string): DayMetrics {
  return {
    ...metrics,
    timeInOwner: { [service]: metrics.timeInOwner[service] ?? ZERO_TIME },
    handovers: metrics.handovers.filter((h) => h.from === service || h.to === service),
  };
}

const ZERO_TIME: ServiceTime = { segments: 0, sumSeconds: 0, p50Seconds: 0, p90Seconds: 0 };

/** Every Service known now has its time in owner, zero when none (a rollup may predate it). */
function withEveryService(metrics: DayMetrics, services: ServiceRoleInfo[]): DayMetrics {
  const timeInOwner = { ...metrics.timeInOwner };
  for (const s of services) timeInOwner[s.identification] ??= ZERO_TIME;
  const keys = Object.keys(timeInOwner).sort();
  return { ...metrics, timeInOwner: Object.fromEntries(keys.map((k) => [k, timeInOwner[k]!])) };
}

/**
 * readMetrics
 * Input: the days (at most MAX_METRICS_DAYS, checked by the query schema) and an optional Service.
 * Output: one entry per day up to today: a stored rollup as it is; any other day computed now
 * (provisional). Days after today are left out.
 */
export async function readMetrics(query: MetricsQuery, deps: MetricsDeps): Promise<MetricsAnswer> {
  const today = dayOf(deps.clock.now());
  const days: string[] = [];
  for (let day = query.from; day <= query.to && day <= today; day = addDays(day, 1)) {
    days.push(day);
  }
  const services = await deps.services();
  const stored = await Promise.all(days.map((day) => deps.store.getRollup(day)));
  const byDay = new Map<string, DayMetrics>();
  stored.forEach((rollup, i) => {
    if (rollup) byDay.set(days[i]!, { ...rollup.metrics, basis: 'rollup', provisional: false });
  });
  for (const run of runsOf(days.filter((day) => !byDay.has(day)))) {
    for (const metrics of await computeDays(run, deps, services)) {
      byDay.set(metrics.day, { ...metrics, provisional: true });
    }
  }
  const out = days.map((day) => {
    const metrics = withEveryService(byDay.get(day)!, services);
    return query.service ? forService(metrics, query.service) : metrics;
  });
  return {
    from: query.from,
    to: query.to,
    granularity: 'day',
    service: query.service ?? null,
    days: out,
  };
}
