// Who owns a callback's user, as the processor needs it (DESIGN.md "Processor"): the owner with no
// handover in flight (a message waits while one is), and the owner after a handover the delivery
// asked for.
import { DeliveryDeferredError } from '../errors';
import { pendingRemainingMs } from '../handover/pending';
import { recordActivity } from '../lifecycle/activity';
import type { OwnerItem } from '../types';
import type { CallbackDeps } from './deps';

/** How long a message waits for a handover in flight before it looks again. */
export const DEFER_MS = 1_000;
/** Reads of the owner item before a callback gives up looking for one at rest (then it waits). */
const OWNER_READS = 3;

/** The delivery a lookup is for. */
export interface OwnerLookup {
  deps: CallbackDeps;
  /** The receiving Service. */
  serviceId: string;
  deliveryId: string;
  receivedAt: string;
  ctx: Record<string, string | null>;
  /** Hears the owner item the owner at rest was read from (the forward's open offer). */
  onItem?: (item: OwnerItem) => void;
}

/**
 * The user's owner with no handover in flight. Parley sends a user's callbacks to the owner, so
 * a cache naming another owner may be stale (a change made at Parley outside this service): ask
 * Parley before holding the real owner back. A pending handover's target hears its callbacks
 * (Parley routed them there: the PUT has applied); any other callback waits for the handover
 * to settle (DeliveryDeferredError: the queue brings it back shortly), and a stale marker is
 * recovered first. Over a full erasure's fence that names another Service, Parley's answer is
 * the owner (the fence cannot follow a change made at Parley while it stands).
 */
export async function ownerAtRest(run: OwnerLookup, userId: string): Promise<string> {
  const { deps, serviceId } = run;
  let item = await deps.state.getOwner(userId);
  for (let read = 0; read < OWNER_READS; read++) {
    if (!item || (!item.pending && item.owner !== serviceId)) {
      const synced = await deps.refreshOwner(userId, serviceId);
      item = synced.item;
      // A full erasure's fence keeps the owner of its start and takes no write: a change made at
      // Parley meanwhile is only in Parley's answer, and the owner is the one Parley names.
      if (item.erasing) {
        run.onItem?.(item);
        return synced.parleyOwner;
      }
    }
    const { pending } = item;
    if (!pending) {
      run.onItem?.(item);
      return item.owner;
    }
    // Routed to the handover's target after its marker: Parley had applied the PUT already.
    const routedToTarget =
      pending.draft.toOwner === serviceId &&
      Date.parse(run.receivedAt) > Date.parse(pending.markedAt);
    if (routedToTarget) return serviceId;
    const remainingMs = pendingRemainingMs(item, deps.clock.now(), deps.staleAfterMs);
    if (remainingMs > 0) throw deferred(run, pending.draft.handoverId, remainingMs);
    if ((await deps.recoverPending(userId)) === 'busy') {
      throw deferred(run, pending.draft.handoverId, DEFER_MS);
    }
    item = await deps.state.getOwner(userId);
  }
  throw deferred(run, item?.pending?.draft.handoverId ?? null, DEFER_MS);
}

/**
 * A user message processed for its owner resets the owner's lease (a CAS that bumps the version:
 * it wins a tie with the sweep). Lost to a handover marked first (the sweep's expiry among them),
 * the message follows that handover: the owner at rest afterwards (a fresh marker: it waits).
 */
export async function ownerAfterUserMessage(run: OwnerLookup, userId: string): Promise<string> {
  const item = await run.deps.state.getOwner(userId);
  // A fence holds no lease (the eraser dropped it) and takes no write: nothing to reset, and its
  // owner may be older than Parley's, which the owner at rest has just answered.
  if (item?.erasing) return run.serviceId;
  const outcome = await recordActivity(userId, run.serviceId, 'user', run.deps, item);
  return outcome === 'moved' ? ownerAtRest(run, userId) : run.serviceId;
}

export function deferred(
  run: OwnerLookup,
  handoverId: string | null,
  remainingMs: number,
): DeliveryDeferredError {
  // The queue side counts CallbackDeferred, with the delay it chose.
  run.deps.log.info('callback waits for a handover in flight', { ...run.ctx, handoverId });
  return new DeliveryDeferredError(run.deliveryId, Math.min(DEFER_MS, remainingMs));
}

/**
 * The owner after a handover this delivery asked for (or after its refusal), from the cache
 * alone: the handover just wrote it. An Idempotency-Key replay answers the owner the earlier
 * handover made, and the user may have moved on since: the cache names the owner now. While
 * another handover is in flight the message waits for it.
 */
export async function ownerNow(
  run: OwnerLookup,
  userId: string,
  target: string | null,
): Promise<string> {
  const item = await run.deps.state.getOwner(userId);
  if (item?.pending) return ownerAtRest(run, userId);
  const owner = item?.owner ?? target ?? run.serviceId;
  if (target !== null && owner !== target) {
    run.deps.log.info("the user moved on after this delivery's handover", {
      ...run.ctx,
      handoverOwner: target,
      owner,
    });
  }
  return owner;
}
