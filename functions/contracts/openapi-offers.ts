// The OpenAPI shapes of the offers (issue 15): POST /handovers with `mode: "offer"` (202) and the
// offers routes, and the routes' operations (spread into openapi-operations.ts OPERATIONS, whose
// Operation type they meet without importing it). The domain types the bodies in TypeScript
// (domain/offers/deps.ts OfferView).
import * as z from 'zod/mini';
import type { OfferStatus } from '../domain/lifecycle/types';
import { handoverRecordSchema, ownerView } from './openapi-schemas';
import { declineRequestSchema, offersQuerySchema } from '../schemas/handover-request';
import '../schemas/zod-config';

const OFFER_STATUSES = [
  'pending',
  'accepted',
  'declined',
  'cancelled',
  'expired',
  'superseded',
] as const satisfies readonly OfferStatus[];

/** POST /handovers with `mode: "offer"` (202). */
export const offerCreatedSchema = z.object({
  offer: z.object({
    offerId: z.string(),
    from: z.string(),
    to: z.string(),
    expiresAt: z.string(),
    status: z.literal('pending'),
  }),
});

/** An offer as GET /offers/{offerId} and the answers show it (domain/offers/deps.ts OfferView). */
export const offerViewSchema = z.object({
  offerId: z.string(),
  userId: z.string(),
  from: z.string(),
  to: z.string(),
  createdAt: z.string(),
  expiresAt: z.string(),
  onTimeout: z.string(),
  status: z.enum(OFFER_STATUSES),
  endedAt: z.optional(z.string()),
  metadata: z.nullable(z.record(z.string(), z.unknown())),
});

export const offerAnswerSchema = z.object({ offer: offerViewSchema });

export const offerAcceptedSchema = z.object({
  owner: ownerView,
  handover: handoverRecordSchema,
});

export const userOffersSchema = z.object({
  userId: z.string(),
  offers: z.array(offerViewSchema),
  /** False when the listing stopped at `limit` or at the newest 1,000 records. */
  complete: z.boolean(),
});

// ---------------------------------------------------------------- operations

type Reader = 'apiToken' | 'auditorToken' | 'operatorToken';

/** An operation of the offers routes (a subset of openapi-operations.ts Operation). */
interface OfferOperation {
  operationId: string;
  summary: string;
  tag: 'offers';
  security: Reader[];
  query?: z.core.$ZodType;
  body?: { schema: z.core.$ZodType; required: boolean };
  ok: { schema: z.core.$ZodType };
  errors: number[];
}

const AUTH = [400, 401, 403, 500];
const BODY = [413, 415];
const PARLEY = [502, 503, 504];
const ANYONE: Reader[] = ['apiToken', 'auditorToken', 'operatorToken'];

const offerOp = (
  operationId: string,
  summary: string,
  ok: z.core.$ZodType,
  errors: number[],
  more: Partial<OfferOperation> = {},
): OfferOperation => ({
  operationId,
  summary,
  tag: 'offers',
  security: ['apiToken'],
  ok: { schema: ok },
  errors,
  ...more,
});

/** The offers routes; 409 on an answer: the offer has ended (offer_expired, _accepted, ...). */
export const OFFER_OPERATIONS: Readonly<Record<string, OfferOperation>> = {
  'GET /offers/{offerId}': offerOp(
    'getOffer',
    'An offer and how it stands (its two Services, auditors, operators)',
    offerAnswerSchema,
    [...AUTH, 404],
    { security: ANYONE },
  ),
  'POST /offers/{offerId}/accept': offerOp(
    'acceptOffer',
    "The offeree accepts: the handover to it, made with the offerer's credentials",
    offerAcceptedSchema,
    [...AUTH, 404, 409, ...PARLEY],
  ),
  'POST /offers/{offerId}/decline': offerOp(
    'declineOffer',
    'The offeree declines (a reason, recorded); the owner keeps the user',
    offerAnswerSchema,
    [...AUTH, ...BODY, 404, 409],
    { body: { schema: declineRequestSchema, required: false } },
  ),
  'POST /offers/{offerId}/cancel': offerOp(
    'cancelOffer',
    'The offerer withdraws its offer',
    offerAnswerSchema,
    [...AUTH, 404, 409],
  ),
  'GET /users/{userId}/offers': offerOp(
    'listUserOffers',
    "A user's offers, newest first (a Service sees those it is a side of)",
    userOffersSchema,
    AUTH,
    { security: ANYONE, query: offersQuerySchema },
  ),
};
