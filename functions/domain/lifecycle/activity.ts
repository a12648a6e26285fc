// Activity resets the owner's lease (issue 15): a user message processed for the owner, and a
// message the owner sends (the messages route, a downstream's reply). Standby copies and reads
// never come here. The reset is a CAS on the owner item's version that bumps it, which is what
// makes activity win a tie with the sweep: a claim made on the version the sweep listed fails.
// Cheap: the item is written only when the lease would move by more than a small step (or a sent
// warning no longer holds), so a chatty user costs one write per step, not one per message; the
// activity times on the item are then exact to that step.
import type { Clock, Log, ServiceCatalog, StateStore } from '../ports';
import type { OwnerItem } from '../types';
import { touchLease } from './lease';
import { leaseSettingsOf, withDueAt } from './owner-lease';
import type { LeaseConfig } from './types';

const SECOND = 1000;

/** The smallest move of expiresAt worth a write: 1/20 of the idle time, from 1 s to 60 s. */
export const resetStepMs = (cfg: LeaseConfig): number =>
  Math.min(60 * SECOND, Math.max(SECOND, (cfg.idleSeconds * SECOND) / 20));

/** The item after activity of `side` at `nowMs`, or null when it is not worth a write. */
export function touchedItem(
  item: OwnerItem,
  side: 'user' | 'owner',
  nowMs: number,
  cfg: LeaseConfig | null,
): OwnerItem | null {
  if (!item.lease || !cfg) return null;
  const lease = touchLease(item.lease, side, nowMs, cfg);
  const moved = Date.parse(lease.expiresAt) - Date.parse(item.lease.expiresAt);
  const unwarned = item.lease.warnedAt !== undefined && lease.warnedAt === undefined;
  if (moved < resetStepMs(cfg) && !unwarned) return null;
  return withDueAt({ ...item, version: item.version + 1, lease }, cfg);
}

export interface ActivityDeps {
  state: StateStore;
  catalog: Pick<ServiceCatalog, 'get'>;
  clock: Clock;
  log: Log;
}

/**
 * 'reset': the lease moved (one CAS); 'kept': nothing worth writing (no lease, a small step);
 * 'moved': the user is no longer `owner`'s at rest (a handover in flight, the sweep's expiry
 * among them, or another owner): the caller's message follows that change.
 */
export type ActivityOutcome = 'reset' | 'kept' | 'moved';

const ATTEMPTS = 3;

/**
 * Records activity on `owner`'s lease of a user.
 * Input: the user, the owner the caller acts for, the side, the item if just read.
 * Output: what happened (ActivityOutcome).
 * Steps: read (unless given) -> not `owner`'s at rest: 'moved' -> touchedItem (null: 'kept') ->
 * CAS on the version read; lost: read again (a few times, then 'kept': activity that keeps
 * losing races to other writes is not worth failing a message for).
 */
export async function recordActivity(
  userId: string,
  owner: string,
  side: 'user' | 'owner',
  deps: ActivityDeps,
  known?: OwnerItem | null,
): Promise<ActivityOutcome> {
  let item = known === undefined ? await deps.state.getOwner(userId) : known;
  for (let attempt = 1; ; attempt++) {
    if (!item || item.pending || item.owner !== owner) return 'moved';
    const next = touchedItem(
      item,
      side,
      deps.clock.now(),
      leaseSettingsOf(deps.catalog.get(owner)),
    );
    if (!next) return 'kept';
    if (await deps.state.compareAndSetOwner(next, item.version)) {
      deps.log.debug('lease reset by activity', {
        userId,
        owner,
        side,
        expiresAt: next.lease?.expiresAt,
      });
      return 'reset';
    }
    if (attempt === ATTEMPTS) break;
    item = await deps.state.getOwner(userId);
  }
  deps.log.info('lease reset gave up after repeated races', { userId, owner, side });
  return 'kept';
}
