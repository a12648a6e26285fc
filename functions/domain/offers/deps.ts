// The offers use cases' shapes: what they need, what they answer, their refusals. Types and error
// classes only, so the use cases share them without importing one another.
import { AppError } from '../errors';
import type { HandoverDeps } from '../handover/deps';
import type { OfferStatus } from '../lifecycle/types';

/** The offers use cases run on the handover's deps (they finish through its sequence). */
export type OfferDeps = HandoverDeps;

/** What POST /handovers with `mode: "offer"` takes (and a rule or a downstream answer asks). */
export interface OfferRequest {
  userId: string;
  /** The offeree: identification, name or 'default'. */
  newOwner: string;
  metadata?: Record<string, unknown>;
  offerTimeoutSeconds?: number;
  onTimeout?: string;
  /** 'both': the offeree gets a standby copy of the user's messages while the offer is open. */
  deliverDuringOffer?: 'owner' | 'both';
  /** The offering Service (the caller; its credentials make an accepted offer's PUT owner). */
  requestedBy: string;
  /** Who the records name as asking (`rule:{id}` for a rule). @default requestedBy */
  actor?: string;
  idempotencyKey?: string;
  idempotencyTtlSeconds?: number;
}

/** An offer as the API shows it. */
export interface OfferView {
  offerId: string;
  userId: string;
  from: string;
  to: string;
  createdAt: string;
  expiresAt: string;
  onTimeout: string;
  status: OfferStatus;
  /** When it ended (its end record's createdAt); absent while pending. */
  endedAt?: string;
  metadata: Record<string, unknown> | null;
}

/** 404: no offer has this id (or the id is not one this service makes). */
export class OfferNotFoundError extends AppError {
  readonly httpStatus = 404;
  readonly code = 'offer_not_found';
  constructor() {
    super('No offer has this id.');
  }
}
