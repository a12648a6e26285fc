// One run of the eraser (every minute, and the daily retention): it takes the work list
// (`ERASURE#OPEN`) with a lease, so two runs never work on the same erasure, takes each open
// erasure as far as its time allows (apply.ts), and writes the list back without the ones done.
// A run that dies leaves the list as it was and its lease runs out: the next run resumes.
// Output: one summary (also logged as one line).
import { applyErasure, type Stop } from './apply';
import { reapplyPending } from './reapply';
import { openErasure, RETENTION_ENTRY } from './request';
import { runRetention } from './retention';
import type { EraserDeps, OpenErasures } from './types';

export interface EraserSummary {
  /** Another run held the work list. */
  skipped: boolean;
  done: string[];
  /** Erasures left for the next run, and why each stopped. */
  waiting: { erasureId: string; stop: Stop | 'not_found' }[];
  retention?: Awaited<ReturnType<typeof runRetention>>;
}

/** Time kept past the budget before the lease lets another run in. */
const LEASE_MARGIN_MS = 30_000;
const CAS_ATTEMPTS = 5;

async function claim(deps: EraserDeps, nowMs: number): Promise<OpenErasures | null> {
  const list = await deps.store.getOpen();
  if (list.leaseUntil > nowMs) return null;
  const held = {
    ...list,
    leaseUntil: nowMs + deps.budgetMs + LEASE_MARGIN_MS,
    version: list.version + 1,
  };
  return (await deps.store.compareAndSetOpen(held, list.version)) ? held : null;
}

/**
 * Drops the finished entries and the lease (entries added meanwhile are kept); with
 * `retentionLeft`, keeps a retention entry for the next run.
 */
async function release(
  deps: EraserDeps,
  finished: ReadonlySet<string>,
  retentionLeft: boolean,
): Promise<void> {
  for (let attempt = 0; attempt < CAS_ATTEMPTS; attempt++) {
    const list = await deps.store.getOpen();
    const kept = list.entries.filter((e) => !finished.has(e.erasureId));
    if (retentionLeft && !kept.some((e) => e.erasureId === RETENTION_ENTRY)) {
      kept.push({ erasureId: RETENTION_ENTRY, userId: null, level: 'metadata' });
    }
    const next: OpenErasures = {
      entries: kept,
      leaseUntil: 0,
      version: list.version + 1,
    };
    if (await deps.store.compareAndSetOpen(next, list.version)) return;
  }
  // The lease runs out by itself; the finished entries are found done by the next run.
  deps.log.warn('eraser could not release its work list');
}

/**
 * Input: `retention: true` for the daily run (the minute's runs only work the list).
 * Steps: claim the list -> each entry in order while time is left (`retention` entries and the
 * daily run erase old metadata) -> release it.
 */
export async function runEraser(
  deps: EraserDeps,
  options: { retention?: boolean } = {},
): Promise<EraserSummary> {
  const timer = deps.timer ?? deps.clock;
  const started = timer.now();
  const clock = { hasTime: () => timer.now() - started < deps.budgetMs };
  const list = await claim(deps, deps.clock.now());
  const summary: EraserSummary = { skipped: list === null, done: [], waiting: [] };
  if (!list) {
    // The daily run found another run working: the next minute's run does retention.
    if (options.retention) {
      await openErasure(
        { erasureId: RETENTION_ENTRY, userId: null, level: 'metadata' },
        deps.store,
      );
    }
    deps.log.info('eraser run', { skipped: true });
    return summary;
  }
  const finished = new Set<string>();
  let retentionLeft = false;
  try {
    let retention = options.retention === true;
    for (const entry of list.entries) {
      if (entry.erasureId === RETENTION_ENTRY) {
        retention = true;
        continue;
      }
      if (!clock.hasTime()) {
        summary.waiting.push({ erasureId: entry.erasureId, stop: 'out_of_time' });
        continue;
      }
      let item = await deps.store.getErasure(entry.erasureId);
      if (!item) {
        finished.add(entry.erasureId);
        summary.waiting.push({ erasureId: entry.erasureId, stop: 'not_found' });
        continue;
      }
      if (item.status === 'reapply') {
        item = await reapplyPending(item, deps, clock);
        if (item.status === 'reapply') {
          summary.waiting.push({ erasureId: item.erasureId, stop: 'out_of_time' });
          continue;
        }
      }
      const outcome = await applyErasure(item, deps, clock);
      if (outcome.stop) {
        summary.waiting.push({ erasureId: item.erasureId, stop: outcome.stop });
      } else {
        finished.add(item.erasureId);
        summary.done.push(item.erasureId);
      }
    }
    if (retention) {
      if (clock.hasTime()) summary.retention = await runRetention(deps, clock);
      // Not finished within this run: the next minute's run goes on with it.
      if (summary.retention?.complete) finished.add(RETENTION_ENTRY);
      else retentionLeft = true;
    }
  } finally {
    await release(deps, finished, retentionLeft);
  }
  deps.log.info('eraser run', {
    done: summary.done.length,
    waiting: summary.waiting.length,
    retentionErased: summary.retention?.erased ?? 0,
  });
  return summary;
}
