// The queue consumer's entry (DESIGN.md "Processor"): one Parley callback, taken from the queue,
// is deduplicated through its delivery item, checked against the user's owner, matched against
// the receiving Service's rules, forwarded (signed) to that Service's downstream, and the
// downstream's answer (a reply, a handover) is carried out at most once (CallbackRun).
import { deliveryIdFor, parseCallback } from '../delivery';
import { DeliveryBusyError } from '../errors';
import type { QueuedCallback } from '../ports';
import type { DeliveryItem } from '../types';
import { CallbackRun } from './callback-run';
import {
  type CallbackDeps,
  type CallbackOutcome,
  DEFAULT_DELIVERY_TTL_SECONDS,
  doneExpiry,
} from './deps';

const DEFAULT_LEASE_MS = 60_000;

/**
 * processCallback
 * Input: one queued callback (receiving Service, raw body).
 * Output: the delivery id, its disposition, whether it was a duplicate, the handover it caused.
 * Steps: parse (garbage -> `quarantined`, never thrown); take the delivery item (done -> duplicate,
 * nothing repeated; live lease -> DeliveryBusyError; else claim, keeping a previous attempt's
 * replyState and handoverId); the owner at rest (a handover in flight: DeliveryDeferredError, the
 * message waits; its target hears it); not the owner -> the owner hears it (`handed_over`: Parley
 * routed it here while this Service owned the user, and the owner changed since; a retry whose own
 * handover moved the user likewise); the Service's rules on a message's text (match ->
 * handover, then the message goes to the new owner); else the signed forward (no downstream ->
 * `stored`); the answer's reply (at most once) and handover (then the message goes to the new
 * owner); mark done. One delivery asks for at most one handover that moves the user, ever. A
 * desk that fails the delivery afterFailures times, or whose circuit is open, loses the user to
 * its failover target (the loop guard permitting), who then hears the message.
 * Throws DeliveryDeferredError, DownstreamError, DeliveryBusyError, HandoverInProgressError,
 * unknown Parley outcomes and store failures: the queue retries, and the retry resumes from the
 * delivery item.
 */
export async function processCallback(
  message: QueuedCallback,
  deps: CallbackDeps,
): Promise<CallbackOutcome> {
  const { serviceId } = message;
  const parsed = parseCallback(message.body);
  const deliveryId = deliveryIdFor(serviceId, message.body, parsed);
  const ctx = { deliveryId, serviceId };
  if (message.deliveryId && message.deliveryId !== deliveryId) {
    deps.log.warn('queued delivery id differs from the computed one', {
      ...ctx,
      queuedDeliveryId: message.deliveryId,
    });
  }

  const now = deps.clock.now();
  const item: DeliveryItem = {
    deliveryId,
    serviceId,
    userId: parsed.ok ? parsed.userId : null,
    type: parsed.ok ? parsed.type : 'unparsable',
    receivedAt: message.receivedAt,
    state: 'in_progress',
    disposition: null,
    replyState: 'none',
    handoverId: null,
    leaseUntil: now + (deps.leaseMs ?? DEFAULT_LEASE_MS),
    // Kept as long as the delivery can come back (a DLQ redrive) while it is in progress; a done
    // delivery without a body id is shortened to the window of Parley's own retries (finish).
    expiresAt: Math.floor(now / 1000) + (deps.deliveryTtlSeconds ?? DEFAULT_DELIVERY_TTL_SECONDS),
  };

  const taken = await takeDelivery(item, now, deps);
  if (taken.kind !== 'claimed') {
    if (taken.kind === 'duplicate' || !parsed.ok) {
      // A garbage body held by another attempt is being quarantined there: nothing to retry.
      deps.metrics.count('DuplicateDelivery');
      deps.log.info('duplicate delivery skipped', {
        ...ctx,
        disposition: taken.existing.disposition,
      });
      return {
        deliveryId,
        disposition: taken.existing.disposition ?? 'quarantined',
        duplicate: true,
        ...(taken.existing.handoverId ? { handoverId: taken.existing.handoverId } : {}),
      };
    }
    deps.log.info('delivery busy: another attempt holds the lease', ctx);
    throw new DeliveryBusyError(deliveryId, taken.existing.leaseUntil);
  }

  const service = deps.catalog.get(serviceId);
  if (!parsed.ok || !service) {
    const reason = parsed.ok ? 'unknown_service' : parsed.reason;
    if (
      !(await deps.state.updateDelivery(
        deliveryId,
        { state: 'done', disposition: 'quarantined', expiresAt: doneExpiry(parsed, item, now) },
        item.leaseUntil,
      ))
    ) {
      throw new DeliveryBusyError(deliveryId, item.leaseUntil);
    }
    deps.metrics.count('CallbackQuarantined');
    deps.metrics.count('CallbackProcessed', 1, { disposition: 'quarantined' });
    deps.log.warn('callback quarantined', { ...ctx, reason, bodyLength: message.body.length });
    return { deliveryId, disposition: 'quarantined', duplicate: false };
  }

  try {
    // The metrics' note of the user's first message of the day; a retry writes it if this fails.
    if (parsed.type === 'message' && parsed.userId !== null) {
      await deps.noteInbound?.({ userId: parsed.userId, serviceId, receivedAt: item.receivedAt });
    }
    return await new CallbackRun(parsed, service, item, taken.previous, deps).run();
  } catch (err) {
    // This attempt is over: let the queue's next delivery claim it at once instead of waiting out
    // the lease. What the attempt did (replyState, handoverId) stays on the item. Fenced: a lease
    // another attempt has claimed since is not ours to release.
    await deps.state.updateDelivery(deliveryId, { leaseUntil: 0 }, item.leaseUntil).catch(() => {
      deps.log.warn('could not release the delivery lease', ctx);
    });
    throw err;
  }
}

type Taken =
  | { kind: 'claimed'; previous: DeliveryItem | null }
  | { kind: 'duplicate'; existing: DeliveryItem }
  | { kind: 'busy'; existing: DeliveryItem };

/** Step 2: the delivery item. `item` is updated in place with what a previous attempt left. */
async function takeDelivery(item: DeliveryItem, now: number, deps: CallbackDeps): Promise<Taken> {
  const previous = await deps.state.getDelivery(item.deliveryId, now);
  if (previous?.state === 'done') return { kind: 'duplicate', existing: previous };
  if (previous && previous.leaseUntil >= now) return { kind: 'busy', existing: previous };
  if (previous) {
    // A retry: whatever the earlier attempt did to the user stays done exactly once.
    item.replyState = previous.replyState;
    item.handoverId = previous.handoverId;
    item.receivedAt = previous.receivedAt;
    if (previous.forwardedTo !== undefined) item.forwardedTo = previous.forwardedTo;
    // The failures counted so far, and the failover asked for (its request is kept as it was).
    if (previous.failures !== undefined) item.failures = previous.failures;
    if (previous.lastStatus !== undefined) item.lastStatus = previous.lastStatus;
    if (previous.failover !== undefined) item.failover = previous.failover;
  }
  const claim = await deps.state.claimDelivery(item, now, previous);
  if (!claim.claimed) {
    return claim.existing.state === 'done'
      ? { kind: 'duplicate', existing: claim.existing }
      : { kind: 'busy', existing: claim.existing };
  }
  return { kind: 'claimed', previous };
}
