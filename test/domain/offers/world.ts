// What the offers' domain tests share: the seed's Bot (the default Service) and Agent plus a second
// desk, the handover fakes, and the records each stored record handed to the outbox.
import { audienceOf } from '../../../functions/domain/notify/build';
import { makeOffer } from '../../../functions/domain/offers/create';
import type { OfferRequest } from '../../../functions/domain/offers/deps';
import type { HandoverRecord, ServiceInfo } from '../../../functions/domain/types';
import { AGENT, BOT, handoverWorld } from '../../support/fakes';

export { AGENT, BOT };
export const DESK2 = 'Desk2ServiceIdent0001';
export const USER = '20';

export const offerServices = (): ServiceInfo[] => [
  { identification: BOT, name: 'Bot Service', role: 'bot', default: true, rules: [] },
  { identification: AGENT, name: 'Agent Service', role: 'agent', default: false, rules: [] },
  { identification: DESK2, name: 'Desk Two', role: 'agent', default: false, rules: [] },
];

export const offersWorld = () => {
  const w = handoverWorld(offerServices());
  /** Every record the outbox was handed (a retry hands the same record again). */
  const notified: HandoverRecord[] = [];
  w.deps.notify = async (record) => {
    notified.push(structuredClone(record));
  };
  return { ...w, notified };
};

export type OffersWorld = ReturnType<typeof offersWorld>;

/** The Bot offers user 20 to the Agent (30 s, keep), as POST /handovers would. */
export const botOffers = (w: OffersWorld, over: Partial<OfferRequest> = {}) =>
  makeOffer(
    {
      userId: USER,
      newOwner: AGENT,
      metadata: { reason: 'billing_question', summary: 'wants a refund' },
      offerTimeoutSeconds: 30,
      requestedBy: BOT,
      ...over,
    },
    w.deps,
  );

/** The user's records in seq order, as `event` (offer records) or `source` (handovers). */
export const story = (w: OffersWorld): string[] =>
  w.history
    .userRecords(USER)
    .map((r) =>
      r.kind === 'offer'
        ? `${r.seq} offer.${r.offer?.event}`
        : `${r.seq} ${r.source}${r.offer ? `/${r.offer.event}` : ''} ${r.status} -> ${r.toOwner}`,
    );

/** The notification types and recipients of the distinct records the outbox was handed. */
export const told = (w: OffersWorld): string[] => {
  const seen = new Set<string>();
  const out: string[] = [];
  for (const record of w.notified) {
    if (seen.has(record.handoverId)) continue;
    seen.add(record.handoverId);
    const audience = audienceOf(record);
    if (audience) out.push(`${audience.type} ${audience.recipients.join(',')}`);
  }
  return out;
};
