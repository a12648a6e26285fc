// Offer ids. An id names its user, so `GET /offers/{offerId}` finds the offer with no index and no
// item of its own: the owner item holds the live offer, the user's history the ended ones. A
// separate `OFFER#{id}` item would be a second write with a crash window between the two.
//   offerId = "ofr_" + base64url(UTF-8 of the user id) + "." + 16 characters of base64url(sha256(handoverId))
// The suffix comes from the `created` record's handoverId, so a retry under the same
// Idempotency-Key names the same offer.
import { createHash } from 'node:crypto';
import { isValidUserId } from '../user-id';

const PREFIX = 'ofr_';
const SUFFIX_CHARS = 16;
const SHAPE = /^ofr_([A-Za-z0-9_-]+)\.([A-Za-z0-9_-]{16})$/;

/** The id of the offer whose `created` record is `handoverId`. */
export function offerIdFor(userId: string, handoverId: string): string {
  const user = Buffer.from(userId, 'utf8').toString('base64url');
  const suffix = createHash('sha256').update(handoverId, 'utf8').digest('base64url');
  return `${PREFIX}${user}.${suffix.slice(0, SUFFIX_CHARS)}`;
}

/**
 * The user an offer id names, or null when it is not an id this service makes (a typo, another
 * encoding of the same user, a user id that breaks the rule).
 */
export function userIdOfOffer(offerId: string): string | null {
  const match = SHAPE.exec(offerId);
  if (!match) return null;
  const userId = Buffer.from(match[1]!, 'base64url').toString('utf8');
  // Only the one encoding this service writes: decoding is lenient, so compare it back.
  if (Buffer.from(userId, 'utf8').toString('base64url') !== match[1]) return null;
  return isValidUserId(userId) ? userId : null;
}

/** Longest offer id: a 128-unit user id is at most 384 UTF-8 bytes (512 base64url characters). */
export const MAX_OFFER_ID_LENGTH = PREFIX.length + 512 + 1 + SUFFIX_CHARS;
