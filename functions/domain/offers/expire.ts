// The sweep's offer expiry (its `act` for an `offer_expiry` claim): applies the offer's onTimeout.
import { sealMetadata } from '../chain';
import { withDeadline } from '../deadline';
import { UnknownServiceError } from '../errors';
import { completePending } from '../handover/complete';
import { isoAt, nextCreatedAt } from '../handover/records';
import { expireOffer } from '../lifecycle/offer';
import type { ActOutcome, LiveOffer } from '../lifecycle/types';
import { checkMetadata } from '../metadata';
import type { DraftRecord, OwnerItem, ServiceInfo } from '../types';
import type { OfferDeps } from './deps';
import {
  chainOfferDrafts,
  completeOfferEvents,
  markOfferEvents,
  offerRef,
  withOffer,
} from './records';

/** Who the records of an expiry name as asking. */
export const OFFER_SYSTEM = 'system:offer';

/**
 * Expires the user's live offer, claimed at `expectedVersion` (the version the sweep listed).
 * Output: 'acted'; 'lost_race' when the item changed since (an accept, a decline, a cancel, a
 * user message: whoever wrote first won) or a handover is in flight; 'not_due' when there is no
 * offer or it is not due yet.
 * Steps: read -> keep (or a fallback that is the owner itself, or names a Service no longer
 * known): one CAS ends the offer with an `expired` record -> default or a Service: one CAS ends
 * the offer and writes the marker of the handover there (source `offer`, requested by
 * system:offer, as the offerer), completed by the handover sequence. An offer whose offerer lost
 * the user by a change made at Parley is recorded `superseded` instead. A handover that fails is
 * recorded as failed (the offer has ended all the same); one of unknown outcome throws, its marker
 * left for recovery.
 */
export async function expireOfferDue(
  userId: string,
  expectedVersion: number,
  requestDeps: OfferDeps,
): Promise<ActOutcome> {
  const deps = withDeadline(requestDeps);
  const item = await deps.state.getOwner(userId);
  if (!item || item.version !== expectedVersion || item.pending) return 'lost_race';
  const offer = item.offer;
  const nowMs = deps.clock.now();
  const expired = offer ? expireOffer({ offer, status: 'pending' }, nowMs) : null;
  if (!offer || !expired?.ok) return 'not_due';
  if (offer.from !== item.owner) {
    return endByRecord(item, offer, 'superseded', 'offer_superseded', nowMs, deps);
  }
  const plan = expired.handover;
  const target = plan ? await fallbackOf(plan.newOwner, offer, deps) : null;
  if (!plan || !target || target.identification === item.owner) {
    return endByRecord(item, offer, 'expired', 'offer_expired', nowMs, deps);
  }
  const meta = checkMetadata(plan.metadata);
  const draft: DraftRecord = {
    handoverId: deps.ids.next(),
    userId,
    seq: item.lastSeq + 1,
    fromOwner: item.owner,
    toOwner: target.identification,
    reason: plan.reason,
    ...sealMetadata(meta.metadata, deps.salts),
    requestedBy: plan.requestedBy,
    source: plan.source,
    createdAt: nextCreatedAt(item.lastCreatedAt, nowMs),
    prevHash: item.lastHash,
    offer: offerRef(offer, 'expired'),
  };
  const marked: OwnerItem = {
    ...withOffer(item, null, deps),
    version: item.version + 1,
    pending: { draft, markedAt: isoAt(nowMs), actingService: plan.actingService },
  };
  if (!(await deps.state.compareAndSetOwner(marked, expectedVersion))) return 'lost_race';
  deps.log.info('offer expired; handover to its fallback started', {
    handoverId: draft.handoverId,
    userId,
    offerId: offer.offerId,
    to: target.identification,
  });
  const { record, error } = await completePending(marked, deps, 'put');
  if (error) {
    deps.log.warn('offer fallback handover failed', {
      handoverId: record.handoverId,
      userId,
      offerId: offer.offerId,
      code: (error as { code?: unknown }).code ?? error.name,
    });
  }
  return 'acted';
}

/** The fallback Service, or null (logged) when onTimeout names one no longer known. */
async function fallbackOf(
  ref: string,
  offer: LiveOffer,
  deps: OfferDeps,
): Promise<ServiceInfo | null> {
  try {
    return await deps.catalog.resolve(ref);
  } catch (err) {
    if (!(err instanceof UnknownServiceError)) throw err;
    deps.log.warn('offer fallback names no known Service; the owner keeps the user', {
      offerId: offer.offerId,
    });
    return null;
  }
}

/** Ends the offer with a record of its own (no handover): one CAS on the version listed. */
async function endByRecord(
  item: OwnerItem,
  offer: LiveOffer,
  event: 'expired' | 'superseded',
  reason: string,
  nowMs: number,
  deps: OfferDeps,
): Promise<ActOutcome> {
  const drafts = chainOfferDrafts(
    item,
    [
      {
        handoverId: deps.ids.next(),
        offer,
        event,
        requestedBy: OFFER_SYSTEM,
        reason,
        metadata: null,
      },
    ],
    nowMs,
    deps.salts,
  );
  const marked = markOfferEvents(withOffer(item, null, deps), drafts, nowMs);
  if (!(await deps.state.compareAndSetOwner(marked, item.version))) return 'lost_race';
  const done = await completeOfferEvents(marked, deps);
  deps.log.info(`offer ${event} by the sweep`, {
    handoverId: done.record.handoverId,
    userId: item.userId,
    offerId: offer.offerId,
  });
  return 'acted';
}
