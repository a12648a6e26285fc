// Offering a user to another Service: POST /handovers with `mode: "offer"`, or a rule or a
// downstream answer asking for one (performHandover hands those here).
import { withDeadline } from '../deadline';
import {
  ForbiddenError,
  HandoverInProgressError,
  IdempotencyKeyReusedError,
  NotOwnerError,
} from '../errors';
import type { HandoverInput, HandoverResult } from '../handover/deps';
import { claimIdempotencyKey } from '../handover/idempotency';
import { toOwnerView } from '../handover/owner';
import { ownerItemAtRest } from '../handover/recover';
import { createOffer, offerSettings } from '../lifecycle/offer';
import type { LiveOffer } from '../lifecycle/types';
import { checkMetadata } from '../metadata';
import type { HandoverRecord, OwnerItem } from '../types';
import { assertUserId } from '../user-id';
import type { OfferDeps, OfferRequest } from './deps';
import { offerIdFor } from './ids';
import {
  chainOfferDrafts,
  completeOfferEvents,
  markOfferEvents,
  type OfferEventSpec,
  withOffer,
} from './records';

/** What POST /handovers answers (202) for an offer. */
export interface OfferCreated {
  offer: { offerId: string; from: string; to: string; expiresAt: string; status: 'pending' };
}

/** Writes of the owner item tried before giving up on a user whose item keeps changing. */
const CAS_ATTEMPTS = 3;

const created = (
  offer: Pick<LiveOffer, 'offerId' | 'from' | 'to' | 'expiresAt'>,
): OfferCreated => ({
  offer: {
    offerId: offer.offerId,
    from: offer.from,
    to: offer.to,
    expiresAt: offer.expiresAt,
    status: 'pending',
  },
});

/**
 * Makes an offer.
 * Input: the request (user, offeree, timeout, onTimeout, metadata, the offering Service).
 * Output: the offer (202) and its `created` record.
 * Steps: check the caller, resolve the offeree and a fallback Service, check the settings and the
 * metadata -> Idempotency-Key: replay the earlier offer, or claim the key -> the owner item at rest
 * (only the owner may offer: 403 not_owner, after a refresh from Parley) -> one CAS writes the live
 * offer, its `dueAt` and a marker holding the `created` record and, when a live offer is replaced,
 * its `superseded` record -> the records appended, their notifications written, the marker cleared.
 * A lost CAS (a user message reset the lease meanwhile) reads the item again.
 */
export async function makeOffer(
  input: OfferRequest,
  requestDeps: OfferDeps,
): Promise<OfferCreated & { record: HandoverRecord }> {
  const deps = withDeadline(requestDeps);
  const { userId, requestedBy } = input;
  assertUserId(userId);
  if (!deps.catalog.get(requestedBy)) {
    throw new ForbiddenError('The calling service is not configured in this deployment.');
  }
  const target = await deps.catalog.resolve(input.newOwner);
  const settings = offerSettings(input);
  // A fallback is checked now, so a typo fails the request rather than the expiry.
  const onTimeout =
    settings.onTimeout === 'keep' || settings.onTimeout === 'default'
      ? settings.onTimeout
      : (await deps.catalog.resolve(settings.onTimeout)).identification;
  const meta = checkMetadata(input.metadata);
  const actor = input.actor ?? requestedBy;

  let handoverId: string | undefined;
  if (input.idempotencyKey !== undefined) {
    const claim = await claimIdempotencyKey({ ...input, source: 'offer' }, deps, {
      mode: 'offer',
      offerTimeoutSeconds: input.offerTimeoutSeconds,
      onTimeout: input.onTimeout,
      deliverDuringOffer: input.deliverDuringOffer,
    });
    if ('answer' in claim) {
      const record = claim.answer.handover;
      if (record?.kind !== 'offer' || record.offer?.event !== 'created') {
        throw new IdempotencyKeyReusedError();
      }
      return { ...created(record.offer), record };
    }
    handoverId = claim.handoverId;
  }
  const createdId = handoverId ?? deps.ids.next();

  let known: OwnerItem | undefined;
  for (let attempt = 0; attempt < CAS_ATTEMPTS; attempt++) {
    const item = await ownerItemAtRest(userId, requestedBy, deps, known);
    const nowMs = deps.clock.now();
    const made = createOffer({
      offerId: offerIdFor(userId, createdId),
      by: requestedBy,
      owner: item.owner,
      to: target.identification,
      nowMs,
      offerTimeoutSeconds: settings.timeoutSeconds,
      onTimeout,
      metadata: meta.metadata,
      requestedBy: actor,
      ...(input.idempotencyKey !== undefined ? { idempotencyKey: input.idempotencyKey } : {}),
      current: item.offer ?? null,
    });
    if (!made.ok) throw new NotOwnerError(requestedBy, made.currentOwner);
    const offer: LiveOffer =
      input.deliverDuringOffer === 'both'
        ? { ...made.offer, deliverDuringOffer: 'both' }
        : made.offer;
    const specs: OfferEventSpec[] = [
      {
        handoverId: createdId,
        offer,
        event: 'created',
        requestedBy: actor,
        reason: meta.reason,
        metadata: meta.metadata,
      },
    ];
    if (made.superseded) {
      specs.push({
        handoverId: deps.ids.next(),
        offer: made.superseded,
        event: 'superseded',
        requestedBy: actor,
        reason: 'offer_superseded',
        metadata: null,
      });
    }
    const marked = markOfferEvents(
      withOffer(item, offer, deps),
      chainOfferDrafts(item, specs, nowMs, deps.salts),
      nowMs,
      input.idempotencyKey,
    );
    if (!(await deps.state.compareAndSetOwner(marked, item.version))) {
      known = undefined;
      continue;
    }
    const done = await completeOfferEvents(marked, deps);
    if (done.error) throw done.error;
    deps.log.info('offer created', {
      handoverId: createdId,
      userId,
      offerId: offer.offerId,
      to: offer.to,
      expiresAt: offer.expiresAt,
      superseded: made.superseded?.offerId ?? null,
    });
    return { ...created(offer), record: done.record };
  }
  throw new HandoverInProgressError(1);
}

/**
 * An offer asked for through the handover use case (a rule's or a downstream answer's `mode:
 * "offer"`): the same offer, answered as a handover result that changed nothing, with the
 * `created` record as its `handover` (the delivery keeps its id, so a retry asks for no second one).
 */
export async function offerAsHandover(
  input: HandoverInput,
  deps: OfferDeps,
): Promise<HandoverResult> {
  const made = await makeOffer(
    {
      userId: input.userId,
      newOwner: input.newOwner,
      ...(input.metadata ? { metadata: input.metadata } : {}),
      ...input.offer,
      requestedBy: input.requestedBy,
      actor:
        input.actor ?? (input.source === 'rule' ? `rule:${input.requestedBy}` : input.requestedBy),
      ...(input.idempotencyKey !== undefined ? { idempotencyKey: input.idempotencyKey } : {}),
      ...(input.idempotencyTtlSeconds !== undefined
        ? { idempotencyTtlSeconds: input.idempotencyTtlSeconds }
        : {}),
    },
    deps,
  );
  return {
    changed: false,
    owner: await toOwnerView(made.record.toOwner, deps.catalog),
    handover: made.record,
  };
}

/** The `offer` part of a handover input from a rule or a downstream answer asking for an offer. */
export const offerAsked = (ask: {
  mode?: 'handover' | 'offer' | null;
  offerTimeoutSeconds?: number | null;
  onTimeout?: string | null;
}): Pick<HandoverInput, 'offer'> =>
  ask.mode === 'offer'
    ? {
        offer: {
          ...(typeof ask.offerTimeoutSeconds === 'number'
            ? { offerTimeoutSeconds: ask.offerTimeoutSeconds }
            : {}),
          ...(typeof ask.onTimeout === 'string' ? { onTimeout: ask.onTimeout } : {}),
        },
      }
    : {};
