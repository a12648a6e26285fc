// The one sweep (LIFECYCLE.md "Timers: one sweep"), run every minute by a schedule (a timer
// locally). Input: the port (byDue listing, the claim), each Service's lease, the clock.
// Output: a summary, one log line, metrics SweepDue, SweepActed, SweepLagSeconds.
// Steps: take the shards in turn, a page each, so every shard's oldest items are seen first and a
// busy shard starves no other -> for each listed item, what is due now (dueActions; nothing: write
// its dueAt again so it leaves the index) -> the port claims it on the listed version and acts, one
// action per claim (what else is due comes up on a later page or run) -> stop at the item, page or
// time budget. Nothing is lost when a run dies halfway: an item leaves the index only by a write
// that acted on it, so the next run finds what is still due. An action that throws is logged (its
// error's name only: a message may quote what it was given) and found again by the next run.
import type { Clock, Log, MetricsSink } from '../ports';
import { allShards } from '../shards';
import { dueActions } from './due';
import type { SweepPort } from './ports';
import type { DueAction, LeaseConfig, SweepSummary } from './types';

export interface SweepDeps {
  port: SweepPort;
  /** The lease of the Service that owns an item, or null when it holds none. */
  leaseConfigOf(owner: string): LeaseConfig | null;
  /** The sweep's now (taken once, at the start) and its time budget. */
  clock: Clock;
  log: Log;
  metrics: MetricsSink;
  /** The byDue shards to walk: the stage's indexShards, or indexShardsFrom while it is lowered. */
  shards: number;
  /** Items per query. @default 100 */
  pageSize?: number;
  /** Items looked at per run at most. @default 1000 */
  maxItems?: number;
  /**
   * No new query or claim once this much time has gone by; set it below the function's timeout
   * less one action's longest run (a handover's Parley time). @default 30000
   */
  budgetMs?: number;
}

interface ShardWalk {
  shard: number;
  cursor?: string;
  done: boolean;
}

export async function runSweep(deps: SweepDeps): Promise<SweepSummary> {
  const startMs = deps.clock.now();
  const nowIso = new Date(startMs).toISOString();
  const pageSize = deps.pageSize ?? 100;
  const maxItems = deps.maxItems ?? 1000;
  const budgetMs = deps.budgetMs ?? 30_000;
  const summary: SweepSummary = {
    due: 0,
    acted: 0,
    lostRace: 0,
    notDue: 0,
    rescheduled: 0,
    failed: 0,
    lagSeconds: 0,
    shards: 0,
    truncated: false,
  };
  const walks: ShardWalk[] = allShards(deps.shards).map((shard) => ({ shard, done: false }));
  const queried = new Set<number>();
  let oldestDueMs: number | null = null;
  const outOfBudget = () => summary.due >= maxItems || deps.clock.now() - startMs >= budgetMs;

  sweep: while (walks.some((w) => !w.done)) {
    for (const walk of walks) {
      if (walk.done) continue;
      if (outOfBudget()) {
        summary.truncated = true;
        break sweep;
      }
      const page = await deps.port.listDue(walk.shard, nowIso, {
        limit: Math.min(pageSize, maxItems - summary.due),
        ...(walk.cursor !== undefined ? { cursor: walk.cursor } : {}),
      });
      queried.add(walk.shard);
      walk.cursor = page.cursor;
      walk.done = page.cursor === undefined;
      for (const entry of page.items) {
        if (outOfBudget()) {
          summary.truncated = true;
          break sweep;
        }
        summary.due += 1;
        const dueMs = Date.parse(entry.dueAt);
        if (oldestDueMs === null || dueMs < oldestDueMs) oldestDueMs = dueMs;
        const cfg = deps.leaseConfigOf(entry.owner);
        const action: DueAction = dueActions(entry, startMs, cfg)[0] ?? {
          kind: 'reschedule',
          dueAt: entry.dueAt,
        };
        try {
          const outcome = await deps.port.act(entry.userId, entry.version, action);
          if (outcome === 'lost_race') summary.lostRace += 1;
          else if (outcome === 'not_due') summary.notDue += 1;
          else if (action.kind === 'reschedule') summary.rescheduled += 1;
          else summary.acted += 1;
        } catch (err) {
          summary.failed += 1;
          deps.log.error('sweep action failed', {
            userId: entry.userId,
            action: action.kind,
            error: err instanceof Error ? err.name : typeof err,
          });
        }
      }
    }
  }

  summary.shards = queried.size;
  summary.lagSeconds =
    oldestDueMs === null ? 0 : Math.max(0, Math.floor((startMs - oldestDueMs) / 1000));
  deps.metrics.count('SweepDue', summary.due);
  deps.metrics.count('SweepActed', summary.acted);
  deps.metrics.gauge('SweepLagSeconds', summary.lagSeconds, 'Seconds');
  deps.log.info('sweep', { ...summary });
  return summary;
}
