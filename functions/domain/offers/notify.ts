// Who hears about an offer's records (notify/build.ts asks here first for a record with `offer`).
// Recipients are the Services the lifecycle's events name (lifecycle/offer.ts):
//   created     offer.created     offeree and offerer (the offeree gets the offer's metadata)
//   accepted    offer.accepted    offerer and offeree (the new owner gets the metadata)
//   declined    offer.declined    offerer
//   cancelled   offer.cancelled   offeree
//   superseded  offer.superseded  offeree
//   expired     offer.expired     offerer and offeree, and a fallback's new owner (with metadata)
// A failed accept is a failed handover like any other (`handover.failed` to the offeree).
import type { HandoverRecord, NotificationType } from '../types';

export function offerAudience(
  record: HandoverRecord,
): { type: NotificationType; recipients: string[] } | null {
  const ref = record.offer;
  if (!ref) return null;
  let recipients: string[];
  switch (ref.event) {
    case 'created':
      recipients = [ref.to, ref.from];
      break;
    case 'accepted':
      if (record.status === 'failed') return null;
      recipients = [ref.from, ref.to];
      break;
    case 'declined':
      recipients = [ref.from];
      break;
    case 'cancelled':
    case 'superseded':
      recipients = [ref.to];
      break;
    case 'expired':
      recipients = [
        ref.from,
        ref.to,
        ...(record.kind !== 'offer' && record.status === 'completed' ? [record.toOwner] : []),
      ];
      break;
  }
  return { type: `offer.${ref.event}`, recipients: [...new Set(recipients)] };
}

/**
 * Whether `recipient` gets the record's metadata: the prospective owner of a new offer (it decides
 * on it), the new owner of an offer's completed handover; nobody else.
 */
export function offerMetadataFor(record: HandoverRecord, recipient: string): boolean {
  const ref = record.offer!;
  if (record.kind === 'offer') return ref.event === 'created' && recipient === ref.to;
  return record.status === 'completed' && recipient === record.toOwner;
}
