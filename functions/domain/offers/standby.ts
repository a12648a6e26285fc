// While an offer is open (issue 15), the owner still hears its user's messages, and its forward
// says so (`offer: { offerId, to, expiresAt }`); with `deliverDuringOffer: "both"` the offeree gets
// a copy marked `standby` (it may read along, not answer). The copy is best effort: its own
// delivery id (`{deliveryId}#standby`, so the offeree never drops the real forward it may get
// after accepting as a repeat), its answer ignored, a failure logged and not retried, and it
// counts on no circuit and no lease.
import type { LiveOffer } from '../lifecycle/types';
import { DownstreamError } from '../errors';
import type { CallbackDeps } from '../processor/deps';
import { type ForwardedCallback, forwardSigned } from '../processor/forward';
import type { OwnerItem } from '../types';

/** The open offer a forward carries, or null: none, or one its offerer no longer owns. */
export const openOfferOf = (item: OwnerItem): LiveOffer | null =>
  item.offer && item.offer.from === item.owner ? item.offer : null;

/** Sends the offeree its standby copy when the open offer asks for one. */
export async function sendStandbyCopy(
  deps: Pick<
    CallbackDeps,
    'catalog' | 'clock' | 'downstream' | 'downstreamTimeoutMs' | 'log' | 'metrics' | 'signingSecret'
  >,
  callback: ForwardedCallback,
): Promise<void> {
  const offer = callback.offer;
  if (offer?.deliverDuringOffer !== 'both') return;
  const offeree = deps.catalog.get(offer.to);
  if (!offeree?.downstreamUrl) return;
  try {
    await forwardSigned(
      deps,
      { ...callback, deliveryId: `${callback.deliveryId}#standby` },
      offeree,
      offeree.downstreamUrl,
      { standby: true },
    );
  } catch (err) {
    if (!(err instanceof DownstreamError)) throw err;
    deps.log.info('standby copy not delivered; not retried', {
      ...callback.ctx,
      to: offeree.identification,
      offerId: offer.offerId,
    });
  }
}
