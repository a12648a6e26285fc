// Answers to an offer: accept and decline (the offeree), cancel (the offerer), and reading one.
// Each answer is one CAS on the owner item's version, the same CAS the sweep's expiry makes: of an
// accept, a decline, a cancel and an expiry racing for one offer exactly one wins, and the others,
// reading again, find the offer ended and answer 409 with that end.
import { sealMetadata } from '../chain';
import { withDeadline } from '../deadline';
import { ForbiddenError, HandoverInProgressError } from '../errors';
import { completePending } from '../handover/complete';
import type { HandoverResult } from '../handover/deps';
import { toOwnerView } from '../handover/owner';
import { isoAt, nextCreatedAt } from '../handover/records';
import { ownerItemAtRest } from '../handover/recover';
import { OfferRefusedError } from '../lifecycle/errors';
import { acceptOffer, cancelOffer, declineOffer, type OfferRefusal } from '../lifecycle/offer';
import { checkMetadata } from '../metadata';
import type { Caller } from '../ports';
import type { DraftRecord, OwnerItem } from '../types';
import { type OfferDeps, OfferNotFoundError, type OfferView } from './deps';
import { type FoundOffer, findOffer, offerView } from './find';
import { userIdOfOffer } from './ids';
import {
  chainOfferDrafts,
  completeOfferEvents,
  markOfferEvents,
  offerRef,
  withOffer,
} from './records';

/** Reads and CAS attempts before giving up on a user whose item keeps changing (409, retry). */
const ATTEMPTS = 3;

/** The user an offer id names; 404 for an id this service never makes. */
function userOf(offerId: string): string {
  const userId = userIdOfOffer(offerId);
  if (userId === null) throw new OfferNotFoundError();
  return userId;
}

async function locate(
  offerId: string,
  deps: OfferDeps,
): Promise<{ item: OwnerItem | null; found: FoundOffer }> {
  const userId = userOf(offerId);
  const item = await deps.state.getOwner(userId);
  const found = await findOffer(userId, offerId, item, deps.history);
  if (!found) throw new OfferNotFoundError();
  return { item, found };
}

/**
 * GET /offers/{offerId}: either side of the offer, an auditor or an operator (403
 * `not_offer_party` for any other Service).
 */
export async function getOffer(
  offerId: string,
  caller: Caller,
  deps: OfferDeps,
): Promise<{ offer: OfferView }> {
  const { found } = await locate(offerId, deps);
  if (
    caller.kind === 'service' &&
    caller.serviceId !== found.offer.from &&
    caller.serviceId !== found.offer.to
  ) {
    throw new ForbiddenError('Only the Services of an offer may read it.', 'not_offer_party');
  }
  return { offer: offerView(found, deps.clock.now()) };
}

type Decided<T> = { ok: true; outcome: T } | OfferRefusal;

/**
 * The loop every answer runs: find the offer, let `decide` refuse (403, 409) or go on, wait for
 * the user to be at rest (a fresh marker 409, a stale one recovered), then `write` the answer with
 * a CAS on the version read. False from `write`: the item changed since it was read; look again.
 */
async function answer<T, R>(
  offerId: string,
  deps: OfferDeps,
  decide: (found: FoundOffer, nowMs: number) => Decided<T>,
  write: (item: OwnerItem, found: FoundOffer, outcome: T, nowMs: number) => Promise<R | false>,
): Promise<R> {
  for (let attempt = 0; attempt < ATTEMPTS; attempt++) {
    const { item, found } = await locate(offerId, deps);
    const decided = decide(found, deps.clock.now());
    if (!decided.ok) throw new OfferRefusedError(decided);
    // Pending and live: the item exists and its owner is the offerer.
    const atRest = await ownerItemAtRest(found.userId, found.offer.from, deps, item);
    if (atRest.version !== item!.version) continue; // recovered or changed: decide again
    const done = await write(atRest, found, decided.outcome, deps.clock.now());
    if (done !== false) return done;
  }
  throw new HandoverInProgressError(1);
}

/**
 * POST /offers/{offerId}/accept (the offeree): the handover to it, as the offerer (its Parley
 * credentials), source `offer`, requested by the offeree. One CAS ends the offer and writes the
 * handover's marker; then the handover sequence completes it. Output: `{ owner, handover }`.
 */
export async function acceptOfferAnswer(
  offerId: string,
  caller: string,
  requestDeps: OfferDeps,
): Promise<Required<Pick<HandoverResult, 'owner' | 'handover'>>> {
  const deps = withDeadline(requestDeps);
  return answer(
    offerId,
    deps,
    (found, nowMs) => {
      const accepted = acceptOffer(found, caller, nowMs);
      return accepted.ok ? { ok: true, outcome: accepted.handover } : accepted;
    },
    async (item, found, plan, nowMs) => {
      const target = await deps.catalog.resolve(plan.newOwner);
      const meta = checkMetadata(plan.metadata);
      const draft: DraftRecord = {
        handoverId: deps.ids.next(),
        userId: item.userId,
        seq: item.lastSeq + 1,
        fromOwner: item.owner,
        toOwner: target.identification,
        reason: plan.reason,
        ...sealMetadata(meta.metadata, deps.salts),
        requestedBy: plan.requestedBy,
        source: plan.source,
        createdAt: nextCreatedAt(item.lastCreatedAt, nowMs),
        prevHash: item.lastHash,
        offer: offerRef(found.offer, 'accepted'),
      };
      const marked: OwnerItem = {
        ...withOffer(item, null, deps),
        version: item.version + 1,
        pending: { draft, markedAt: isoAt(nowMs), actingService: plan.actingService },
      };
      if (!(await deps.state.compareAndSetOwner(marked, item.version))) return false;
      deps.log.info('offer accepted; handover started', {
        handoverId: draft.handoverId,
        userId: item.userId,
        offerId,
        seq: draft.seq,
      });
      const { record, error } = await completePending(marked, deps, 'put');
      if (error) throw error;
      return { owner: await toOwnerView(record.toOwner, deps.catalog), handover: record };
    },
  );
}

/** An answer that ends the offer with a record of its own (decline, cancel). */
async function endWithRecord(
  item: OwnerItem,
  found: FoundOffer,
  spec: {
    event: 'declined' | 'cancelled';
    requestedBy: string;
    reason: string;
    metadata: Record<string, unknown> | null;
  },
  nowMs: number,
  deps: OfferDeps,
): Promise<{ offer: OfferView } | false> {
  const drafts = chainOfferDrafts(
    item,
    [{ handoverId: deps.ids.next(), offer: found.offer, ...spec }],
    nowMs,
    deps.salts,
  );
  const marked = markOfferEvents(withOffer(item, null, deps), drafts, nowMs);
  if (!(await deps.state.compareAndSetOwner(marked, item.version))) return false;
  const done = await completeOfferEvents(marked, deps);
  if (done.error) throw done.error;
  deps.log.info(`offer ${spec.event}`, {
    handoverId: done.record.handoverId,
    userId: item.userId,
    offerId: found.offer.offerId,
  });
  return {
    offer: offerView(
      { ...found, status: spec.event, endedAt: done.record.createdAt },
      deps.clock.now(),
    ),
  };
}

/** POST /offers/{offerId}/decline { reason? } (the offeree): the owner keeps the user. */
export async function declineOfferAnswer(
  offerId: string,
  caller: string,
  reason: string | undefined,
  deps: OfferDeps,
): Promise<{ offer: OfferView }> {
  return answer(
    offerId,
    deps,
    (found, nowMs) => {
      const declined = declineOffer(found, caller, nowMs, reason);
      return declined.ok ? { ok: true, outcome: null } : declined;
    },
    (item, found, _none, nowMs) =>
      endWithRecord(
        item,
        found,
        {
          event: 'declined',
          requestedBy: caller,
          reason: reason ?? 'offer_declined',
          metadata: reason !== undefined ? { reason } : null,
        },
        nowMs,
        deps,
      ),
  );
}

/** POST /offers/{offerId}/cancel (the offerer): the offer ends, the offeree is told. */
export async function cancelOfferAnswer(
  offerId: string,
  caller: string,
  deps: OfferDeps,
): Promise<{ offer: OfferView }> {
  return answer(
    offerId,
    deps,
    (found, nowMs) => {
      const cancelled = cancelOffer(found, caller, nowMs);
      return cancelled.ok ? { ok: true, outcome: null } : cancelled;
    },
    (item, found, _none, nowMs) =>
      endWithRecord(
        item,
        found,
        { event: 'cancelled', requestedBy: caller, reason: 'offer_cancelled', metadata: null },
        nowMs,
        deps,
      ),
  );
}
