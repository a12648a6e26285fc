// POST /handovers bodies (a handover, or an offer with `mode: "offer"`, issue 15) and the offers
// routes' inputs, parsed with zod at the handler boundary (schemas/api.ts holds the rest).
import * as z from 'zod/mini';
import { REASON_MAX_CHARS } from '../domain/metadata';
import { limitSchema, printable, serviceRef, userIdValueSchema } from './api';
import './zod-config';

/** What every POST /handovers body has. */
const handoverFields = {
  userId: userIdValueSchema,
  newOwner: serviceRef,
  metadata: z.optional(z.record(z.string(), z.unknown())),
};
/** A handover's own field. */
const handoverOnly = { expectedOwner: z.optional(serviceRef) };
/** An offer's own fields (`mode: "offer"`, issue 15). */
const offerOnly = {
  offerTimeoutSeconds: z.optional(z.number().check(z.int(), z.minimum(5), z.maximum(3600))),
  onTimeout: z.optional(serviceRef),
  deliverDuringOffer: z.optional(z.enum(['owner', 'both'])),
};
const OFFER_FIELDS = Object.keys(offerOnly) as (keyof typeof offerOnly)[];

/**
 * POST /handovers: a handover, or with `mode: "offer"` an offer with its timeout (5-3600 s,
 * default 120), what its expiry does (`keep`, the default; `default`; a Service) and whether the
 * offeree gets standby copies meanwhile. Offer fields without the mode, or an `expectedOwner`
 * with it, are refused naming the field.
 */
export const handoverRequestSchema = z
  .strictObject({
    ...handoverFields,
    ...handoverOnly,
    mode: z.optional(z.enum(['handover', 'offer'])),
    ...offerOnly,
  })
  .check(
    z.superRefine((request, ctx) => {
      if (request.mode === 'offer') {
        if (request.expectedOwner !== undefined) {
          ctx.addIssue({
            code: 'custom',
            path: ['expectedOwner'],
            message: 'applies to a handover, not to an offer (only the owner may offer)',
            input: request.expectedOwner,
          });
        }
        return;
      }
      for (const field of OFFER_FIELDS) {
        if (request[field] !== undefined) {
          ctx.addIssue({
            code: 'custom',
            path: [field],
            message: 'applies only with "mode": "offer"',
            input: request[field],
          });
        }
      }
    }),
  );

/**
 * The same bodies as two shapes (a handover; an offer), for the OpenAPI document: the parser
 * above takes exactly these, and names the field when a body mixes them.
 */
export const handoverRequestShapesSchema = z.union([
  z.strictObject({ ...handoverFields, ...handoverOnly, mode: z.optional(z.literal('handover')) }),
  z.strictObject({ ...handoverFields, mode: z.literal('offer'), ...offerOnly }),
]);
export type HandoverRequest = z.infer<typeof handoverRequestSchema>;

/** POST /offers/{offerId}/decline: an optional reason, recorded (at most 100 characters). */
export const declineRequestSchema = z.strictObject({
  reason: z.optional(
    z.string().check(
      z.minLength(1),
      z.maxLength(REASON_MAX_CHARS),
      z.regex(printable, 'must be printable'),
      z.refine((value) => value.trim() !== '', { error: 'must not be blank' }),
    ),
  ),
});

/** An offer id in a path: printable, at most 600 characters (offers/ids.ts makes at most 533). */
export const offerIdSchema = z
  .string()
  .check(z.minLength(1), z.maxLength(600), z.regex(printable, 'must be printable'));

/** Offers listed per GET /users/{userId}/offers, and its default. */
export const OFFERS_PAGE_DEFAULT = 50;
export const OFFERS_PAGE_MAX = 100;

/** GET /users/{userId}/offers: `limit` offers, newest first. */
export const offersQuerySchema = z.object({
  limit: limitSchema(OFFERS_PAGE_DEFAULT, OFFERS_PAGE_MAX),
});
