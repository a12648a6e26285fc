// Recovery of a stale pending marker, and the owner item to decide on with no handover in flight.
import { withDeadline } from '../deadline';
import { HandoverInProgressError } from '../errors';
import type { OwnerItem } from '../types';
import { completePending } from './complete';
import type { HandoverDeps } from './deps';
import { syncOwner } from './owner';
import { isPendingFresh, pendingRemainingMs } from './pending';
import { isoAt } from './records';

/**
 * Recovers a user's pending handover from its stored draft.
 * Input: the user; `force` also takes a fresh marker. Output: 'none' (no marker), 'busy' (fresh,
 * or another recoverer claimed it first) or 'recovered'.
 * Steps: claim by CAS (same draft, markedAt = now, version + 1: a late zombie's final CAS then
 * fails and two recoverers serialize) -> the record already written: finish the item from it;
 * else GET owner first and complete from the draft. Throws a Parley error when Parley cannot say
 * (the marker stays and is retried later).
 */
export async function recoverPending(
  userId: string,
  requestDeps: HandoverDeps,
  options: { force?: boolean } = {},
): Promise<'none' | 'busy' | 'recovered'> {
  const deps = withDeadline(requestDeps);
  const item = await deps.state.getOwner(userId);
  if (!item?.pending) return 'none';
  const nowMs = deps.clock.now();
  if (isPendingFresh(item, nowMs, deps.staleAfterMs) && !options.force) return 'busy';

  const claimed: OwnerItem = {
    ...item,
    version: item.version + 1,
    pending: { ...item.pending, markedAt: isoAt(nowMs) },
  };
  if (!(await deps.state.compareAndSetOwner(claimed, item.version))) {
    const now = await deps.state.getOwner(userId);
    return now?.pending ? 'busy' : 'none';
  }
  const { draft } = item.pending;
  deps.log.info('recovering pending handover', {
    handoverId: draft.handoverId,
    userId,
    markedAt: item.pending.markedAt,
  });
  const stored = await deps.history.get(userId, draft.seq);
  await completePending(claimed, deps, 'get', stored ?? undefined);
  deps.metrics.count('HandoverRecovered', 1);
  return 'recovered';
}

/** Reads of the owner item before giving up on a user whose handovers keep coming. */
const AT_REST_ATTEMPTS = 3;

/**
 * The owner item to decide on, with no handover in flight (POST /handovers, the messages route).
 * Input: the user, the calling Service, the item if already read. Output: the item as stored.
 * Steps: a fresh marker -> HandoverInProgressError with the seconds until it turns stale; a stale
 * one -> recover it, read again; a missing item or one naming another owner than the caller ->
 * refresh from Parley as the caller (drift becomes an `observed` record), once.
 */
export async function ownerItemAtRest(
  userId: string,
  caller: string,
  deps: HandoverDeps,
  known?: OwnerItem | null,
): Promise<OwnerItem> {
  let item = known === undefined ? await deps.state.getOwner(userId) : known;
  let refreshed = false;
  for (let attempt = 0; attempt < AT_REST_ATTEMPTS; attempt++) {
    if (item?.pending) {
      const remainingMs = pendingRemainingMs(item, deps.clock.now(), deps.staleAfterMs);
      if (remainingMs > 0) throw new HandoverInProgressError(remainingMs / 1000);
      if ((await recoverPending(userId, deps)) === 'busy') {
        throw new HandoverInProgressError(deps.staleAfterMs / 1000);
      }
      item = await deps.state.getOwner(userId);
      continue;
    }
    if (item && (item.owner === caller || refreshed)) return item;
    item = (await syncOwner(userId, caller, deps, item)).item;
    refreshed = true;
    if (!item.pending) return item;
  }
  throw new HandoverInProgressError(deps.staleAfterMs / 1000);
}
