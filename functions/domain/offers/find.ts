// Finding offers: by id (GET /offers/{offerId}, and before every answer to one) and by user
// (GET /users/{userId}/offers). The live offer is on the owner item; an offer whose end is being
// written is in the item's pending marker; an ended one is in the user's history, as its `created`
// record and the record that ended it (newer, so met first when the history is read newest first).
import type { HistoryStore } from '../ports';
import type { LiveOffer, OfferState, OfferStatus } from '../lifecycle/types';
import type { HandoverRecord, OfferEvent, OfferRef, OwnerItem } from '../types';
import type { OfferView } from './deps';

/** Records read per page, and how far back a search goes (newest first). */
const PAGE = 100;
export const OFFER_LOOKBACK = 1000;

/** The status an offer's event leaves it in. */
const statusOf = (event: OfferEvent): OfferStatus => (event === 'created' ? 'pending' : event);

/** An offer as found, with the record that ended it (if one is written). */
export interface FoundOffer extends OfferState {
  userId: string;
  endedAt?: string;
}

/** The live offer rebuilt from its `created` record. */
export function offerOfRecord(record: HandoverRecord): LiveOffer {
  const ref = record.offer!;
  return {
    offerId: ref.offerId,
    from: ref.from,
    to: ref.to,
    createdAt: record.createdAt,
    expiresAt: ref.expiresAt,
    onTimeout: ref.onTimeout ?? 'keep',
    metadata: record.metadata,
    requestedBy: record.requestedBy,
  };
}

/** The end of `offerId` the item's pending marker is writing, if any. */
function endInFlight(item: OwnerItem | null, offerId: string): OfferRef | undefined {
  const pending = item?.pending;
  if (!pending) return undefined;
  return [pending.draft, ...(pending.then ?? [])]
    .map((draft) => draft.offer)
    .find((ref) => ref?.offerId === offerId && ref.event !== 'created');
}

/**
 * How an offer stands: an end being written (the item's marker), else live on the item (pending
 * while its offerer still owns the user; a change of owner the sequence did not see, one made at
 * Parley, has superseded it, though that record is written only when someone acts on the offer,
 * the sweep at its deadline at the latest), else its end record, else superseded by such a change.
 */
function standing(
  offerId: string,
  item: OwnerItem | null,
  end: HandoverRecord | undefined,
): { status: OfferStatus; endedAt?: string } {
  const inFlight = endInFlight(item, offerId);
  if (inFlight) return { status: statusOf(inFlight.event) };
  if (item?.offer?.offerId === offerId) {
    return { status: item.offer.from === item.owner ? 'pending' : 'superseded' };
  }
  if (end?.offer) return { status: statusOf(end.offer.event), endedAt: end.createdAt };
  return { status: 'superseded' };
}

/**
 * The offer `offerId` of `userId`, or null when none is known (never made, or older than the
 * lookback). Input: the owner item as just read. Output: the offer and how it stands.
 */
export async function findOffer(
  userId: string,
  offerId: string,
  item: OwnerItem | null,
  history: Pick<HistoryStore, 'listUser'>,
): Promise<FoundOffer | null> {
  if (item?.offer?.offerId === offerId) {
    return { userId, offer: item.offer, ...standing(offerId, item, undefined) };
  }
  let end: HandoverRecord | undefined;
  let cursor: string | undefined;
  let read = 0;
  do {
    const page = await history.listUser(userId, { limit: PAGE, order: 'desc', cursor });
    for (const record of page.items) {
      read++;
      if (record.offer?.offerId !== offerId) continue;
      if (record.offer.event !== 'created') {
        end ??= record;
        continue;
      }
      return { userId, offer: offerOfRecord(record), ...standing(offerId, item, end) };
    }
    cursor = page.cursor;
  } while (cursor && read < OFFER_LOOKBACK);
  return null;
}

/** The API's view of an offer; a pending offer past its deadline reads as expired already. */
export function offerView(found: FoundOffer, nowMs: number): OfferView {
  const { offer } = found;
  const status =
    found.status === 'pending' && nowMs >= Date.parse(offer.expiresAt) ? 'expired' : found.status;
  return {
    offerId: offer.offerId,
    userId: found.userId,
    from: offer.from,
    to: offer.to,
    createdAt: offer.createdAt,
    expiresAt: offer.expiresAt,
    onTimeout: offer.onTimeout,
    status,
    ...(found.endedAt !== undefined ? { endedAt: found.endedAt } : {}),
    metadata: offer.metadata,
  };
}

/**
 * A user's offers, newest first, from the offer records among the newest OFFER_LOOKBACK records
 * and the live one. `complete`: the whole history was read. `visibleTo` keeps only the offers a
 * Service made or was made (an auditor sees all).
 */
export async function listOffers(
  userId: string,
  item: OwnerItem | null,
  history: Pick<HistoryStore, 'listUser'>,
  options: { limit: number; nowMs: number; visibleTo?: string },
): Promise<{ offers: OfferView[]; complete: boolean }> {
  const ends = new Map<string, HandoverRecord>();
  const offers: OfferView[] = [];
  const visible = (offer: LiveOffer) =>
    options.visibleTo === undefined ||
    offer.from === options.visibleTo ||
    offer.to === options.visibleTo;
  let cursor: string | undefined;
  let read = 0;
  do {
    const page = await history.listUser(userId, { limit: PAGE, order: 'desc', cursor });
    for (const record of page.items) {
      read++;
      const ref = record.offer;
      if (!ref) continue;
      if (ref.event !== 'created') {
        if (!ends.has(ref.offerId)) ends.set(ref.offerId, record);
        continue;
      }
      const offer = offerOfRecord(record);
      if (!visible(offer)) continue;
      const found: FoundOffer = {
        userId,
        offer,
        ...standing(ref.offerId, item, ends.get(ref.offerId)),
      };
      offers.push(offerView(found, options.nowMs));
      if (offers.length >= options.limit) return { offers, complete: false };
    }
    cursor = page.cursor;
  } while (cursor && read < OFFER_LOOKBACK);
  return { offers, complete: cursor === undefined };
}
