// When an owner item's timers fall due (LIFECYCLE.md "Timers: one sweep"). Every owner write sets
// `dueAt` from dueAtOf (null: the item leaves the sparse byDue index); the sweep asks dueActions
// what to do and the claim asks stillDue again on a fresh read. A lease whose Service no longer
// configures one keeps no timers.
import { warningAtMs } from './lease';
import type { DueAction, LeaseConfig, LeaseState, LiveOffer, TimedItem } from './types';

const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

/**
 * The earliest of: the lease warning (while not sent), the lease expiry, the offer expiry; null
 * when the item has no timer.
 */
export function dueAtOf(
  lease: LeaseState | null,
  offer: LiveOffer | null,
  cfg: LeaseConfig | null,
): string | null {
  const times: number[] = [];
  if (offer) times.push(Date.parse(offer.expiresAt));
  if (lease && cfg) {
    const warnAt = warningAtMs(lease, cfg);
    if (warnAt !== null && lease.warnedAt === undefined) times.push(warnAt);
    times.push(Date.parse(lease.expiresAt));
  }
  return times.length === 0 ? null : new Date(Math.min(...times)).toISOString();
}

/**
 * What is due at `nowMs`, in the order the sweep acts: the offer's expiry (its fallback may move
 * the user, which starts a new lease), the lease warning, the lease expiry. Once the expiry is
 * due the warning is left out: `lease.expired` says more than a late `lease.expiring`.
 */
export function dueActions(item: TimedItem, nowMs: number, cfg: LeaseConfig | null): DueAction[] {
  const actions: DueAction[] = [];
  const { offer, lease } = item;
  if (offer && nowMs >= Date.parse(offer.expiresAt)) {
    actions.push({ kind: 'offer_expiry', offerId: offer.offerId, dueAt: offer.expiresAt });
  }
  if (lease && cfg) {
    const expiresAt = Date.parse(lease.expiresAt);
    const warnAt = warningAtMs(lease, cfg);
    if (nowMs >= expiresAt) {
      actions.push({ kind: 'lease_expiry', dueAt: lease.expiresAt });
    } else if (warnAt !== null && lease.warnedAt === undefined && nowMs >= warnAt) {
      actions.push({ kind: 'lease_warning', dueAt: new Date(warnAt).toISOString() });
    }
  }
  return actions;
}

/** On a fresh read: is this action (for an offer, this very offer) still due? */
export function stillDue(
  item: TimedItem,
  action: DueAction,
  nowMs: number,
  cfg: LeaseConfig | null,
): boolean {
  return dueActions(item, nowMs, cfg).some(
    (due) =>
      due.kind === action.kind &&
      (due.kind !== 'offer_expiry' ||
        (action.kind === 'offer_expiry' && due.offerId === action.offerId)),
  );
}

const canonical = (at: string): string => {
  // Keys compare as strings: only the one fixed-width form sorts as time does.
  if (!ISO.test(at)) throw new RangeError('a due time must be an ISO instant with ms, in UTC');
  return at;
};

/** The byDue sort key: `{dueAt}#{userId}`. */
export const dueSk = (dueAt: string, userId: string): string => `${canonical(dueAt)}#${userId}`;

/**
 * The exclusive upper bound of the keys due at `nowIso`: `$` follows `#`, so every user due at
 * that very instant is below it, whatever the id holds (UTF-8 order, as DynamoDB compares).
 */
export const dueSkBefore = (nowIso: string): string => `${canonical(nowIso)}$`;
