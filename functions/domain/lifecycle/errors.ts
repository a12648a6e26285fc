// The timers' refusals as errors the one HTTP mapper answers (functions/platform/http.ts). The
// lifecycle functions return refusals as values; a use case throws these when it answers them.
import { AppError, OwnerChangedError } from '../errors';
import type { OfferRefusal } from './offer';

/** POST /users/{userId}/lease: the extension would run past hardExpiresAt. */
export class LeaseLimitExceededError extends AppError {
  readonly httpStatus = 422;
  readonly code = 'lease_limit_exceeded';
  override readonly details: { hardExpiresAt: string };
  constructor(hardExpiresAt: string) {
    super('The lease cannot run past its hard limit.');
    this.details = { hardExpiresAt };
  }
}

const MESSAGES: Record<OfferRefusal['code'], string> = {
  not_offeree: 'Only the Service offered the user may do this.',
  not_offerer: 'Only the Service that made the offer may do this.',
  offer_expired: 'The offer has expired.',
  offer_superseded: 'The offer was superseded by another.',
  offer_cancelled: 'The offer was cancelled.',
  offer_declined: 'The offer was declined.',
  offer_accepted: 'The offer was already accepted.',
};

/** 403 for the wrong side of an offer, 409 with the code of how the offer ended. */
export class OfferRefusedError extends AppError {
  readonly httpStatus: number;
  readonly code: string;
  constructor(refusal: OfferRefusal) {
    super(MESSAGES[refusal.code]);
    this.httpStatus = refusal.httpStatus;
    this.code = refusal.code;
  }
}

/**
 * A timer's handover refused because the owner item is no longer at the version the sweep read
 * (activity, or another change, came first): the sweep reports the claim as a lost race.
 */
export class TimerClaimLostError extends OwnerChangedError {
  constructor(currentOwner: string | null) {
    super(currentOwner, 'The user changed since the timer was claimed.');
  }
}
