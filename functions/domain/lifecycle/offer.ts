// Offers with a deadline (issue 15): the owner offers its user to another Service, which accepts
// or declines before expiresAt; the offerer may cancel; at the deadline the sweep applies
// onTimeout. One live offer per user, on the owner item; a new offer supersedes it. Every
// function answers an outcome (what to record, whom to tell, a handover to run) or a refusal with
// its HTTP status and code; the CAS on the owner item's version decides between racing answers,
// and the loser, reading again, finds the offer ended and answers that end's 409.
import { ValidationError } from '../errors';
import type { HandoverPlan, LifecycleEvent } from './ports';
import type { LiveOffer, OfferConflictCode, OfferState, OfferStatus, OfferTimeout } from './types';

export const OFFER_TIMEOUT_SECONDS = { min: 5, max: 3600, default: 120 } as const;
const SECOND = 1000;

/** The offer's own settings from a request (or a rule, or a downstream answer). */
export function offerSettings(input: { offerTimeoutSeconds?: unknown; onTimeout?: unknown }): {
  timeoutSeconds: number;
  onTimeout: OfferTimeout;
} {
  const { min, max } = OFFER_TIMEOUT_SECONDS;
  // Only an absent field takes the default: an explicit null is a bad value.
  const timeout =
    input.offerTimeoutSeconds === undefined
      ? OFFER_TIMEOUT_SECONDS.default
      : input.offerTimeoutSeconds;
  if (typeof timeout !== 'number' || !Number.isInteger(timeout) || timeout < min || timeout > max) {
    throw new ValidationError(`offerTimeoutSeconds must be a whole number from ${min} to ${max}.`);
  }
  const onTimeout = input.onTimeout === undefined ? 'keep' : input.onTimeout;
  if (typeof onTimeout !== 'string' || onTimeout.trim() === '' || onTimeout.length > 100) {
    throw new ValidationError(
      'onTimeout must be "keep", "default" or a Service (its identification or name).',
    );
  }
  return { timeoutSeconds: timeout, onTimeout: onTimeout.trim() };
}

export interface CreateOfferInput {
  offerId: string;
  /** The Service that offers (the caller, or the Service whose rule or answer asked). */
  by: string;
  /** The owner as the owner item knows it. */
  owner: string;
  /** The offeree's identification (resolved from newOwner by the catalog). */
  to: string;
  nowMs: number;
  offerTimeoutSeconds?: unknown;
  onTimeout?: unknown;
  metadata: Record<string, unknown> | null;
  requestedBy: string;
  idempotencyKey?: string;
  /** The live offer on the owner item, if any. */
  current: LiveOffer | null;
}

export type CreateOfferResult =
  | { ok: true; offer: LiveOffer; superseded: LiveOffer | null; events: LifecycleEvent[] }
  | { ok: false; code: 'not_owner'; currentOwner: string };

/**
 * A new offer. Only the owner may offer (`not_owner`, with the owner); an offer to the owner
 * itself or with bad settings is a ValidationError. A live offer is superseded, even one past its
 * deadline that the sweep has not expired yet: the owner acting now wins over the timer.
 */
export function createOffer(input: CreateOfferInput): CreateOfferResult {
  if (input.by !== input.owner) return { ok: false, code: 'not_owner', currentOwner: input.owner };
  if (input.to === input.owner) {
    throw new ValidationError(
      'An offer must go to another Service than the owner.',
      'invalid_offer',
    );
  }
  const { timeoutSeconds, onTimeout } = offerSettings(input);
  const offer: LiveOffer = {
    offerId: input.offerId,
    from: input.owner,
    to: input.to,
    createdAt: new Date(input.nowMs).toISOString(),
    expiresAt: new Date(input.nowMs + timeoutSeconds * SECOND).toISOString(),
    onTimeout,
    metadata: input.metadata,
    requestedBy: input.requestedBy,
    ...(input.idempotencyKey !== undefined ? { idempotencyKey: input.idempotencyKey } : {}),
  };
  const superseded = input.current;
  return {
    ok: true,
    offer,
    superseded,
    events: [
      ...(superseded ? supersededByHandover(superseded).events : []),
      { type: 'offer.created', recipients: [offer.to, offer.from] },
    ],
  };
}

/**
 * A live offer ended by something else that moved or re-offered the user (another handover, a
 * new offer): superseded, and its offeree is told.
 */
export function supersededByHandover(offer: LiveOffer): {
  status: 'superseded';
  events: LifecycleEvent[];
} {
  return { status: 'superseded', events: [{ type: 'offer.superseded', recipients: [offer.to] }] };
}

export type OfferRefusal =
  | { ok: false; httpStatus: 403; code: 'not_offeree' | 'not_offerer' }
  | { ok: false; httpStatus: 409; code: OfferConflictCode };

const CONFLICT: Record<Exclude<OfferStatus, 'pending'>, OfferConflictCode> = {
  expired: 'offer_expired',
  superseded: 'offer_superseded',
  cancelled: 'offer_cancelled',
  declined: 'offer_declined',
  accepted: 'offer_accepted',
};

const conflict = (code: OfferConflictCode): OfferRefusal => ({ ok: false, httpStatus: 409, code });

/**
 * The refusal for an answer to `state` by `caller` at `nowMs`, or null when it may go ahead. The
 * role comes first (a stranger learns nothing of the offer's end); then an ended offer answers
 * its end; a pending one at or after its deadline is expired, whether or not the sweep came yet.
 */
function refusal(
  state: OfferState,
  caller: string,
  side: 'from' | 'to',
  nowMs: number,
): OfferRefusal | null {
  if (caller !== state.offer[side]) {
    return { ok: false, httpStatus: 403, code: side === 'to' ? 'not_offeree' : 'not_offerer' };
  }
  if (state.status !== 'pending') return conflict(CONFLICT[state.status]);
  if (nowMs >= Date.parse(state.offer.expiresAt)) return conflict('offer_expired');
  return null;
}

/** POST /offers/{offerId}/accept by the offeree: the handover to it, the offerer acting. */
export function acceptOffer(
  state: OfferState,
  caller: string,
  nowMs: number,
):
  | { ok: true; status: 'accepted'; handover: HandoverPlan; events: LifecycleEvent[] }
  | OfferRefusal {
  const refused = refusal(state, caller, 'to', nowMs);
  if (refused) return refused;
  const { offer } = state;
  return {
    ok: true,
    status: 'accepted',
    handover: {
      newOwner: offer.to,
      actingService: offer.from,
      source: 'offer',
      reason: 'offer_accepted',
      requestedBy: offer.to,
      metadata: offer.metadata,
    },
    events: [{ type: 'offer.accepted', recipients: [offer.from, offer.to] }],
  };
}

/** POST /offers/{offerId}/decline { reason? } by the offeree: the owner stays and is told. */
export function declineOffer(
  state: OfferState,
  caller: string,
  nowMs: number,
  reason?: string,
): { ok: true; status: 'declined'; reason?: string; events: LifecycleEvent[] } | OfferRefusal {
  const refused = refusal(state, caller, 'to', nowMs);
  if (refused) return refused;
  return {
    ok: true,
    status: 'declined',
    ...(reason !== undefined ? { reason } : {}),
    events: [{ type: 'offer.declined', recipients: [state.offer.from] }],
  };
}

/** POST /offers/{offerId}/cancel by the offerer: the owner stays, the offeree is told. */
export function cancelOffer(
  state: OfferState,
  caller: string,
  nowMs: number,
): { ok: true; status: 'cancelled'; events: LifecycleEvent[] } | OfferRefusal {
  const refused = refusal(state, caller, 'from', nowMs);
  if (refused) return refused;
  return {
    ok: true,
    status: 'cancelled',
    events: [{ type: 'offer.cancelled', recipients: [state.offer.to] }],
  };
}

/**
 * The sweep's expiry, at or after expiresAt. keep: nothing moves. default or a Service: the
 * handover there as source 'offer', asked by system:offer, with the offer's metadata. Both sides
 * are told. An offer that has ended, or is not due yet, gives `not_due`.
 */
export function expireOffer(
  state: OfferState,
  nowMs: number,
):
  | { ok: true; status: 'expired'; handover: HandoverPlan | null; events: LifecycleEvent[] }
  | { ok: false; code: 'not_due' } {
  const { offer } = state;
  if (state.status !== 'pending' || nowMs < Date.parse(offer.expiresAt)) {
    return { ok: false, code: 'not_due' };
  }
  const handover: HandoverPlan | null =
    offer.onTimeout === 'keep'
      ? null
      : {
          newOwner: offer.onTimeout,
          actingService: offer.from,
          source: 'offer',
          reason: 'offer_expired',
          requestedBy: 'system:offer',
          metadata: offer.metadata,
        };
  return {
    ok: true,
    status: 'expired',
    handover,
    events: [{ type: 'offer.expired', recipients: [offer.from, offer.to] }],
  };
}
