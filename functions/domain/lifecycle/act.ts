// The sweep's port over the real stores (LIFECYCLE.md "Timers: one sweep"): the byDue listing and
// the claim that acts on one due timer. runSweep (sweep.ts) decides what is due; this file does it.
// Every action is claimed on the version the sweep listed: the item is read again (consistent),
// and a write or a handover marker conditioned on that version settles the race with activity,
// which bumps the version (activity.ts). One action per claim.
import {
  ErasureInProgressError,
  HandoverInProgressError,
  NotOwnerError,
  OwnerChangedError,
} from '../errors';
import type { HandoverDeps } from '../handover/deps';
import { performHandover } from '../handover/perform';
import type { LeaseWarning } from '../notify/lease';
import type { OwnerItem } from '../types';
import { dueSkBefore, stillDue } from './due';
import { leaseExpiryPlan, markWarned, startLease, warningAtMs } from './lease';
import { leaseSettingsOf, withDueAt } from './owner-lease';
import type { SweepPort } from './ports';
import type { ActOutcome, DueAction, DueEntry, LeaseConfig } from './types';

export interface ActDeps extends HandoverDeps {
  /** Writes and queues the owner's `lease.expiring` (notify/lease.ts emitLeaseWarning). */
  warnLease(warning: LeaseWarning): Promise<void>;
  /**
   * An offer's expiry, claimed on the same version (the offers' use case: it applies onTimeout
   * and records the offer's end).
   */
  expireOfferDue(userId: string, expectedVersion: number): Promise<ActOutcome>;
}

const iso = (ms: number): string => new Date(ms).toISOString();

/** The Idempotency-Key of a lease's expiry: one per lease as it stood, so a retry replays it. */
export const leaseExpiryKey = (userId: string, expiresAt: string): string =>
  `lease:${userId}:${expiresAt}`;

const asDueEntry = (item: OwnerItem): DueEntry[] =>
  typeof item.dueAt === 'string' ? [{ ...item, dueAt: item.dueAt }] : [];

/** The sweep's port: the state store's byDue listing and actOnDue. */
export const sweepPort = (deps: ActDeps): SweepPort => ({
  listDue: async (shard, nowIso, options) => {
    const page = await deps.state.listDue(shard, dueSkBefore(nowIso), options);
    return { ...page, items: page.items.flatMap(asDueEntry) };
  },
  act: (userId, expectedVersion, action) => actOnDue(userId, expectedVersion, action, deps),
});

/**
 * Acts on one due timer of a user.
 * Input: the user, the version the sweep listed, the action. Output: 'acted', 'lost_race' (the
 * item moved on: activity, a handover, a change seen at Parley) or 'not_due'.
 * Steps: consistent read -> not the listed version, or a handover in flight: lost race ->
 * reschedule: write dueAt again -> stillDue on this read -> offer expiry: the offers' use case;
 * lease warning: `lease.expiring` to the owner, then warnedAt (CAS); lease expiry: the handover
 * sequence to onExpiry as a timeout, its marker conditioned on the version (lease.expired to both
 * sides comes from the record).
 */
export async function actOnDue(
  userId: string,
  expectedVersion: number,
  action: DueAction,
  deps: ActDeps,
): Promise<ActOutcome> {
  const item = await deps.state.getOwner(userId);
  if (!item || item.version !== expectedVersion || item.pending) return 'lost_race';
  const nowMs = deps.clock.now();
  const cfg = leaseSettingsOf(deps.catalog.get(item.owner));
  if (action.kind === 'reschedule') {
    return write(withDueAt({ ...item, version: item.version + 1 }, cfg), item, deps);
  }
  if (!stillDue(item, action, nowMs, cfg)) return 'not_due';
  switch (action.kind) {
    case 'offer_expiry':
      return deps.expireOfferDue(userId, expectedVersion);
    case 'lease_warning':
      return warn(item, cfg!, nowMs, deps);
    case 'lease_expiry':
      return expire(item, cfg!, nowMs, deps);
  }
}

const write = async (next: OwnerItem, read: OwnerItem, deps: ActDeps): Promise<ActOutcome> =>
  (await deps.state.compareAndSetOwner(next, read.version)) ? 'acted' : 'lost_race';

/**
 * The warning goes out before warnedAt is written: a sweep that dies in between writes the same
 * item again next time (its id is the lease's), so the warning is never lost; a race lost after
 * it (activity at that very instant) leaves a warning about a lease that just moved.
 */
async function warn(
  item: OwnerItem,
  cfg: LeaseConfig,
  nowMs: number,
  deps: ActDeps,
): Promise<ActOutcome> {
  const lease = item.lease!;
  const onExpiry = (await deps.catalog.resolve(cfg.onExpiry)).identification;
  await deps.warnLease({ item, lease, dueAt: iso(warningAtMs(lease, cfg)!), onExpiry });
  const next = withDueAt(
    { ...item, version: item.version + 1, lease: markWarned(lease, nowMs) },
    cfg,
  );
  const outcome = await write(next, item, deps);
  if (outcome === 'acted') {
    deps.log.info('lease expiring: owner warned', {
      userId: item.userId,
      owner: item.owner,
      expiresAt: lease.expiresAt,
    });
  }
  return outcome;
}

async function expire(
  item: OwnerItem,
  cfg: LeaseConfig,
  nowMs: number,
  deps: ActDeps,
): Promise<ActOutcome> {
  const lease = item.lease!;
  const { handover } = leaseExpiryPlan(item.owner, lease, cfg);
  try {
    const result = await performHandover(
      {
        userId: item.userId,
        newOwner: handover.newOwner,
        // The reason in the metadata becomes the record's (as for every handover).
        metadata: { reason: handover.reason, ...handover.metadata },
        requestedBy: handover.actingService,
        actor: handover.requestedBy,
        source: handover.source,
        expectedVersion: item.version,
        idempotencyKey: leaseExpiryKey(item.userId, lease.expiresAt),
      },
      deps,
    );
    if (!result.changed) {
      // onExpiry already owns the user (its configuration changed since): nothing moves, and
      // the lease starts again rather than falling due on every run.
      return (await write(
        withDueAt({ ...item, version: item.version + 1, lease: startLease(nowMs, cfg) }, cfg),
        item,
        deps,
      )) === 'acted'
        ? 'not_due'
        : 'lost_race';
    }
    deps.log.info('lease expired: the user went to onExpiry', {
      userId: item.userId,
      handoverId: result.handover?.handoverId,
      from: item.owner,
      to: result.owner.identification,
    });
    return 'acted';
  } catch (err) {
    // The claim lost: activity bumped the version, a handover is in flight, or Parley names
    // another owner (recorded as observed). The item moved on; what is due is found again.
    if (
      err instanceof OwnerChangedError ||
      err instanceof NotOwnerError ||
      err instanceof HandoverInProgressError ||
      err instanceof ErasureInProgressError
    ) {
      return 'lost_race';
    }
    throw err;
  }
}
