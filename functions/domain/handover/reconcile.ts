// Reconcile: finish stale pending handovers (the 5-minute schedule and POST /reconcile).
import { AppError } from '../errors';
import type { HandoverDeps } from './deps';
import { isPendingFresh } from './pending';
import { isoAt } from './records';
import { recoverPending } from './recover';

const DEFAULT_LIMIT = 100;
const PAGE_SIZE = 100;

/**
 * Recovers stale pending handovers.
 * Input: optionally one user (recovered only if its marker is stale) and a limit (default 100).
 * Output: how many were examined and recovered, the failures by user with their error code, and
 * the age of the oldest handover still pending afterwards (also sent as a gauge).
 * Steps: list stale markers (the sparse index; all pages up to the limit, collected before any
 * recovery moves them) -> recoverPending each, collecting errors instead of throwing -> the age of
 * the ones left, measured from their draft's createdAt (a re-claimed marker gets a new markedAt,
 * so markedAt would hide a handover that stays stuck).
 */
export async function reconcile(
  deps: HandoverDeps,
  options: { userId?: string; limit?: number } = {},
): Promise<{
  examined: number;
  recovered: number;
  failed: { userId: string; code: string }[];
  oldestPendingAgeSeconds: number;
}> {
  const startMs = deps.clock.now();
  const staleBefore = isoAt(startMs - deps.staleAfterMs);
  const limit = Math.max(1, options.limit ?? DEFAULT_LIMIT);

  const users: string[] = [];
  if (options.userId !== undefined) {
    const item = await deps.state.getOwner(options.userId);
    if (item?.pending && !isPendingFresh(item, startMs, deps.staleAfterMs)) {
      users.push(options.userId);
    }
  } else {
    let cursor: string | undefined;
    do {
      const page = await deps.state.listStalePending(staleBefore, {
        limit: Math.min(PAGE_SIZE, limit - users.length),
        cursor,
      });
      for (const { userId } of page.items) if (!users.includes(userId)) users.push(userId);
      cursor = page.cursor;
    } while (cursor && users.length < limit);
  }

  let recovered = 0;
  const failed: { userId: string; code: string }[] = [];
  for (const userId of users) {
    try {
      if ((await recoverPending(userId, deps)) === 'recovered') recovered++;
    } catch (err) {
      const code = err instanceof AppError ? err.code : 'internal_error';
      failed.push({ userId, code });
      deps.log.error('recovery failed', { userId, code });
    }
  }

  let oldestPendingAgeSeconds = 0;
  const nowMs = deps.clock.now();
  for (const { userId } of failed) {
    const draft = (await deps.state.getOwner(userId))?.pending?.draft;
    if (draft) {
      const age = Math.floor((nowMs - Date.parse(draft.createdAt)) / 1000);
      oldestPendingAgeSeconds = Math.max(oldestPendingAgeSeconds, age);
    }
  }
  deps.metrics.gauge('OldestPendingAgeSeconds', oldestPendingAgeSeconds, 'Seconds');
  if (users.length > 0) {
    deps.log.info('reconcile done', { examined: users.length, recovered, failed: failed.length });
  }
  return { examined: users.length, recovered, failed, oldestPendingAgeSeconds };
}
