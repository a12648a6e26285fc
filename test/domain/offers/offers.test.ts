// Offers wired to the owner item and the history (issue 15): making one (only the owner, a new one
// supersedes the live one, Idempotency-Key), answering one (accept runs the handover sequence as
// the offerer; decline; cancel; every ended offer answers 409 with its end), the sweep's expiry
// (keep, a fallback), a handover that supersedes it, and crashes at every write: one record per
// event, whatever dies. On the store fakes and an injected clock.
import { verifyChain } from '../../../functions/domain/chain';
import { IdempotencyKeyReusedError, NotOwnerError } from '../../../functions/domain/errors';
import { performHandover } from '../../../functions/domain/handover/perform';
import { recoverPending } from '../../../functions/domain/handover/recover';
import { OfferRefusedError } from '../../../functions/domain/lifecycle/errors';
import {
  acceptOfferAnswer,
  cancelOfferAnswer,
  declineOfferAnswer,
  getOffer,
} from '../../../functions/domain/offers/answer';
import { OfferNotFoundError } from '../../../functions/domain/offers/deps';
import { expireOfferDue } from '../../../functions/domain/offers/expire';
import { listOffers } from '../../../functions/domain/offers/find';
import { offerIdFor, userIdOfOffer } from '../../../functions/domain/offers/ids';
import { notificationsFor } from '../../../functions/domain/notify/build';
import {
  AGENT,
  BOT,
  botOffers,
  DESK2,
  type OffersWorld,
  offersWorld,
  story,
  told,
  USER,
} from './world';

const service = (serviceId: string) => ({ kind: 'service', serviceId }) as const;
const codeOf = async (promise: Promise<unknown>): Promise<string> => {
  try {
    await promise;
    return 'ok';
  } catch (err) {
    return (err as { code?: string }).code ?? (err as Error).name;
  }
};
const versionOf = (w: OffersWorld) => w.state.owners.get(USER)!.version;

describe('making an offer', () => {
  it('records the created offer, keeps the owner, sets the timer and tells both sides', async () => {
    const w = offersWorld();

    const made = await botOffers(w);

    const expiresAt = new Date(w.clock.now() + 30_000).toISOString();
    expect(made.offer).toEqual({
      offerId: offerIdFor(USER, made.record.handoverId),
      from: BOT,
      to: AGENT,
      expiresAt,
      status: 'pending',
    });
    expect(story(w)).toEqual(['1 offer.created']);
    expect(made.record).toMatchObject({
      kind: 'offer',
      fromOwner: BOT,
      toOwner: BOT,
      source: 'offer',
      requestedBy: BOT,
      reason: 'billing_question',
      status: 'completed',
      offer: { offerId: made.offer.offerId, event: 'created', from: BOT, to: AGENT, expiresAt },
    });
    const item = w.state.owners.get(USER)!;
    expect(item).toMatchObject({ owner: BOT, pending: null, lastSeq: 1, dueAt: expiresAt });
    expect(item.offer).toMatchObject({ offerId: made.offer.offerId, to: AGENT, onTimeout: 'keep' });
    expect(w.parley.callsOf('setOwner')).toEqual([]);
    expect(told(w)).toEqual([`offer.created ${AGENT},${BOT}`]);
    expect(verifyChain(USER, w.history.userRecords(USER)).ok).toBe(true);
  });

  it('refuses a Service that does not own the user, naming the owner, and records nothing', async () => {
    const w = offersWorld();

    const err = await botOffers(w, { requestedBy: AGENT, newOwner: DESK2 }).catch((e) => e);

    expect(err).toBeInstanceOf(NotOwnerError);
    expect(err.details).toEqual({ currentOwner: BOT });
    expect(story(w)).toEqual([]);
  });

  it('refuses an offer to the owner itself, bad timeouts and an unknown fallback', async () => {
    const w = offersWorld();

    expect(await codeOf(botOffers(w, { newOwner: BOT }))).toBe('invalid_offer');
    expect(await codeOf(botOffers(w, { offerTimeoutSeconds: 4 }))).toBe('invalid_request');
    expect(await codeOf(botOffers(w, { offerTimeoutSeconds: 3601 }))).toBe('invalid_request');
    expect(await codeOf(botOffers(w, { onTimeout: 'Nobody' }))).toBe('unknown_service');
    expect(await codeOf(botOffers(w, { newOwner: 'Nobody' }))).toBe('unknown_service');
    expect(story(w)).toEqual([]);
  });

  it('supersedes the live offer: the new one created, the old one superseded, its offeree told', async () => {
    const w = offersWorld();
    const first = await botOffers(w);

    const second = await botOffers(w, { newOwner: DESK2, onTimeout: 'Desk Two' });

    expect(story(w)).toEqual(['1 offer.created', '2 offer.created', '3 offer.superseded']);
    expect(w.state.owners.get(USER)!.offer).toMatchObject({
      offerId: second.offer.offerId,
      to: DESK2,
      onTimeout: DESK2,
    });
    expect(told(w)).toEqual([
      `offer.created ${AGENT},${BOT}`,
      `offer.created ${DESK2},${BOT}`,
      `offer.superseded ${AGENT}`,
    ]);
    const old = await getOffer(first.offer.offerId, service(AGENT), w.deps);
    expect(old.offer.status).toBe('superseded');
    expect(await codeOf(acceptOfferAnswer(first.offer.offerId, AGENT, w.deps))).toBe(
      'offer_superseded',
    );
  });

  it('answers a retry under the same Idempotency-Key with the same offer, and another body 422', async () => {
    const w = offersWorld();
    const first = await botOffers(w, { idempotencyKey: 'offer-1' });

    const again = await botOffers(w, { idempotencyKey: 'offer-1' });
    const other = await botOffers(w, { idempotencyKey: 'offer-1', offerTimeoutSeconds: 60 }).catch(
      (e) => e,
    );
    const asHandover = await performHandover(
      {
        userId: USER,
        newOwner: AGENT,
        metadata: { reason: 'billing_question', summary: 'wants a refund' },
        requestedBy: BOT,
        source: 'api',
        idempotencyKey: 'offer-1',
      },
      w.deps,
    ).catch((e) => e);

    expect(again.offer).toEqual(first.offer);
    expect(other).toBeInstanceOf(IdempotencyKeyReusedError);
    expect(asHandover).toBeInstanceOf(IdempotencyKeyReusedError);
    expect(story(w)).toEqual(['1 offer.created']);
  });

  it('loses nothing when it dies after its marker: recovery writes both records once', async () => {
    const w = offersWorld();
    await botOffers(w);
    let appends = 0;
    const append = w.history.append.bind(w.history);
    // The second record of the change (the superseded one) never leaves: the process died.
    w.history.append = async (record) => {
      if (++appends === 2) throw new Error('process died');
      return append(record);
    };

    expect(await codeOf(botOffers(w, { newOwner: DESK2 }))).toBe('Error');
    expect(story(w)).toEqual(['1 offer.created', '2 offer.created']);
    expect(w.state.owners.get(USER)!.pending?.then).toHaveLength(1);
    w.history.append = append;
    w.clock.advance(61_000);

    expect(await recoverPending(USER, w.deps)).toBe('recovered');
    expect(await recoverPending(USER, w.deps)).toBe('none');

    expect(story(w)).toEqual(['1 offer.created', '2 offer.created', '3 offer.superseded']);
    expect(w.state.owners.get(USER)).toMatchObject({ pending: null, lastSeq: 3, owner: BOT });
    expect(w.state.owners.get(USER)!.offer?.to).toBe(DESK2);
    expect(told(w)).toEqual([
      `offer.created ${AGENT},${BOT}`,
      `offer.created ${DESK2},${BOT}`,
      `offer.superseded ${AGENT}`,
    ]);
    expect(verifyChain(USER, w.history.userRecords(USER)).ok).toBe(true);
  });

  it('is ended by a handover of the user: superseded, recorded right after it, once after a crash too', async () => {
    const w = offersWorld();
    await botOffers(w);
    let appends = 0;
    const append = w.history.append.bind(w.history);
    w.history.append = async (record) => {
      if (++appends === 2) throw new Error('process died');
      return append(record);
    };

    expect(
      await codeOf(
        performHandover({ userId: USER, newOwner: DESK2, requestedBy: BOT, source: 'api' }, w.deps),
      ),
    ).toBe('Error');
    w.history.append = append;
    w.clock.advance(61_000);
    await recoverPending(USER, w.deps);

    expect(story(w)).toEqual([
      '1 offer.created',
      `2 api completed -> ${DESK2}`,
      '3 offer.superseded',
    ]);
    expect(w.state.owners.get(USER)).toMatchObject({ owner: DESK2, offer: null, pending: null });
    expect(w.history.userRecords(USER)[2]).toMatchObject({
      fromOwner: DESK2,
      toOwner: DESK2,
      requestedBy: BOT,
      offer: { event: 'superseded', from: BOT, to: AGENT },
    });
    expect(told(w)).toContain(`offer.superseded ${AGENT}`);
  });
});

describe('answering an offer', () => {
  it('accepts: the handover to the offeree made as the offerer, one record, the offer ended', async () => {
    const w = offersWorld();
    const { offer } = await botOffers(w);

    const result = await acceptOfferAnswer(offer.offerId, AGENT, w.deps);

    expect(result.owner).toEqual({ identification: AGENT, name: 'Agent Service', default: false });
    expect(result.handover).toMatchObject({
      fromOwner: BOT,
      toOwner: AGENT,
      source: 'offer',
      requestedBy: AGENT,
      reason: 'offer_accepted',
      status: 'completed',
      metadata: { reason: 'billing_question', summary: 'wants a refund' },
      offer: { offerId: offer.offerId, event: 'accepted' },
    });
    expect(result.handover.kind).toBeUndefined();
    expect(w.parley.callsOf('setOwner')).toEqual([
      expect.objectContaining({ as: BOT, userId: USER, newOwner: AGENT }),
    ]);
    expect(story(w)).toEqual(['1 offer.created', `2 offer/accepted completed -> ${AGENT}`]);
    expect(w.state.owners.get(USER)).toMatchObject({ owner: AGENT, offer: null, pending: null });
    expect(told(w)).toEqual([`offer.created ${AGENT},${BOT}`, `offer.accepted ${BOT},${AGENT}`]);
    expect((await getOffer(offer.offerId, service(BOT), w.deps)).offer.status).toBe('accepted');
  });

  it('lets only the offeree accept or decline and only the offerer cancel (403)', async () => {
    const w = offersWorld();
    const { offer } = await botOffers(w);

    expect(await codeOf(acceptOfferAnswer(offer.offerId, BOT, w.deps))).toBe('not_offeree');
    expect(await codeOf(acceptOfferAnswer(offer.offerId, DESK2, w.deps))).toBe('not_offeree');
    expect(await codeOf(declineOfferAnswer(offer.offerId, BOT, undefined, w.deps))).toBe(
      'not_offeree',
    );
    expect(await codeOf(cancelOfferAnswer(offer.offerId, AGENT, w.deps))).toBe('not_offerer');
    expect(story(w)).toEqual(['1 offer.created']);
  });

  it('declines: the owner keeps the user, the reason recorded, the offerer told', async () => {
    const w = offersWorld();
    const { offer } = await botOffers(w);

    const declined = await declineOfferAnswer(offer.offerId, AGENT, 'desk is full', w.deps);

    expect(declined.offer).toMatchObject({ offerId: offer.offerId, status: 'declined' });
    expect(w.history.userRecords(USER)[1]).toMatchObject({
      kind: 'offer',
      requestedBy: AGENT,
      reason: 'desk is full',
      metadata: { reason: 'desk is full' },
      offer: { event: 'declined' },
    });
    expect(w.state.owners.get(USER)).toMatchObject({ owner: BOT, offer: null });
    expect(w.state.owners.get(USER)!.dueAt).toBeUndefined();
    expect(told(w).at(-1)).toBe(`offer.declined ${BOT}`);
  });

  it('cancels: the offeree told, the offer gone from the owner item', async () => {
    const w = offersWorld();
    const { offer } = await botOffers(w);

    const cancelled = await cancelOfferAnswer(offer.offerId, BOT, w.deps);

    expect(cancelled.offer.status).toBe('cancelled');
    expect(story(w)).toEqual(['1 offer.created', '2 offer.cancelled']);
    expect(told(w).at(-1)).toBe(`offer.cancelled ${AGENT}`);
  });

  it.each([
    ['accepted', 'offer_accepted'],
    ['declined', 'offer_declined'],
    ['cancelled', 'offer_cancelled'],
    ['expired', 'offer_expired'],
    ['superseded', 'offer_superseded'],
  ] as const)('answers an offer %s with 409 %s, to every answer', async (end, code) => {
    const w = offersWorld();
    const { offer } = await botOffers(w);
    if (end === 'accepted') await acceptOfferAnswer(offer.offerId, AGENT, w.deps);
    if (end === 'declined') await declineOfferAnswer(offer.offerId, AGENT, undefined, w.deps);
    if (end === 'cancelled') await cancelOfferAnswer(offer.offerId, BOT, w.deps);
    if (end === 'expired') {
      w.clock.advance(30_000);
      expect(await expireOfferDue(USER, versionOf(w), w.deps)).toBe('acted');
    }
    if (end === 'superseded') await botOffers(w, { newOwner: DESK2 });
    const records = w.history.userRecords(USER).length;

    const err = await acceptOfferAnswer(offer.offerId, AGENT, w.deps).catch((e) => e);
    expect(err).toBeInstanceOf(OfferRefusedError);
    expect([err.httpStatus, err.code]).toEqual([409, code]);
    expect(await codeOf(declineOfferAnswer(offer.offerId, AGENT, undefined, w.deps))).toBe(code);
    expect(await codeOf(cancelOfferAnswer(offer.offerId, BOT, w.deps))).toBe(code);
    expect(w.history.userRecords(USER)).toHaveLength(records);
  });

  it('refuses an answer at or after the deadline as expired, before the sweep has come', async () => {
    const w = offersWorld();
    const { offer } = await botOffers(w);
    w.clock.advance(30_000);

    expect(await codeOf(acceptOfferAnswer(offer.offerId, AGENT, w.deps))).toBe('offer_expired');
    expect((await getOffer(offer.offerId, service(AGENT), w.deps)).offer.status).toBe('expired');
    expect(w.parley.callsOf('setOwner')).toEqual([]);
  });

  it('shows an offer to its two sides and to auditors, 403 to others, 404 for an unknown id', async () => {
    const w = offersWorld();
    const { offer } = await botOffers(w);

    expect((await getOffer(offer.offerId, service(BOT), w.deps)).offer).toMatchObject({
      offerId: offer.offerId,
      userId: USER,
      from: BOT,
      to: AGENT,
      status: 'pending',
      onTimeout: 'keep',
      metadata: { reason: 'billing_question', summary: 'wants a refund' },
    });
    expect(
      (await getOffer(offer.offerId, { kind: 'auditor', name: 'a' }, w.deps)).offer.status,
    ).toBe('pending');
    expect(await codeOf(getOffer(offer.offerId, service(DESK2), w.deps))).toBe('not_offer_party');
    const unknown = offerIdFor(USER, 'never-made');
    expect(await codeOf(getOffer(unknown, service(BOT), w.deps))).toBe('offer_not_found');
    expect(await codeOf(getOffer('ofr_bad', service(BOT), w.deps))).toBe('offer_not_found');
    expect(await getOffer(unknown, service(BOT), w.deps).catch((e) => e)).toBeInstanceOf(
      OfferNotFoundError,
    );
  });

  it("lists a user's offers newest first with how each ended", async () => {
    const w = offersWorld();
    const a = await botOffers(w);
    await declineOfferAnswer(a.offer.offerId, AGENT, undefined, w.deps);
    const b = await botOffers(w, { newOwner: DESK2 });

    const all = await listOffers(USER, w.state.owners.get(USER)!, w.history, {
      limit: 10,
      nowMs: w.clock.now(),
    });
    const agents = await listOffers(USER, w.state.owners.get(USER)!, w.history, {
      limit: 10,
      nowMs: w.clock.now(),
      visibleTo: AGENT,
    });

    expect(all.offers.map((o) => [o.offerId, o.status])).toEqual([
      [b.offer.offerId, 'pending'],
      [a.offer.offerId, 'declined'],
    ]);
    expect(all.complete).toBe(true);
    expect(agents.offers.map((o) => o.offerId)).toEqual([a.offer.offerId]);
  });
});

describe("the sweep's expiry", () => {
  it('keeps the user with onTimeout keep: one expired record, both sides told', async () => {
    const w = offersWorld();
    const { offer } = await botOffers(w);
    const listed = versionOf(w);
    w.clock.advance(29_999);
    expect(await expireOfferDue(USER, listed, w.deps)).toBe('not_due');
    w.clock.advance(1);

    expect(await expireOfferDue(USER, listed, w.deps)).toBe('acted');
    expect(await expireOfferDue(USER, versionOf(w), w.deps)).toBe('not_due');

    expect(story(w)).toEqual(['1 offer.created', '2 offer.expired']);
    expect(w.history.userRecords(USER)[1]).toMatchObject({
      requestedBy: 'system:offer',
      reason: 'offer_expired',
    });
    expect(w.state.owners.get(USER)).toMatchObject({ owner: BOT, offer: null });
    expect(told(w).at(-1)).toBe(`offer.expired ${BOT},${AGENT}`);
    expect((await getOffer(offer.offerId, service(AGENT), w.deps)).offer.status).toBe('expired');
  });

  it('hands the user to the fallback as the offerer, asked by system:offer, everyone told', async () => {
    const w = offersWorld();
    const { offer } = await botOffers(w, { onTimeout: 'Desk Two' });
    w.clock.advance(30_000);

    expect(await expireOfferDue(USER, versionOf(w), w.deps)).toBe('acted');

    expect(story(w)).toEqual(['1 offer.created', `2 offer/expired completed -> ${DESK2}`]);
    expect(w.history.userRecords(USER)[1]).toMatchObject({
      fromOwner: BOT,
      source: 'offer',
      requestedBy: 'system:offer',
      reason: 'offer_expired',
      offer: { offerId: offer.offerId, event: 'expired' },
    });
    expect(w.parley.callsOf('setOwner')).toEqual([
      expect.objectContaining({ as: BOT, newOwner: DESK2 }),
    ]);
    expect(w.state.owners.get(USER)).toMatchObject({ owner: DESK2, offer: null });
    expect(told(w).at(-1)).toBe(`offer.expired ${BOT},${AGENT},${DESK2}`);
  });

  it('loses to anything that wrote the item since it was listed', async () => {
    const w = offersWorld();
    await botOffers(w);
    const listed = versionOf(w);
    w.clock.advance(30_000);
    await botOffers(w, { newOwner: DESK2, offerTimeoutSeconds: 5 });

    expect(await expireOfferDue(USER, listed, w.deps)).toBe('lost_race');
    expect(story(w)).toEqual(['1 offer.created', '2 offer.created', '3 offer.superseded']);
  });

  it('records a fallback naming the owner itself as a plain expiry', async () => {
    const w = offersWorld();
    await botOffers(w, { onTimeout: 'default' });
    w.clock.advance(30_000);

    expect(await expireOfferDue(USER, versionOf(w), w.deps)).toBe('acted');

    expect(story(w)).toEqual(['1 offer.created', '2 offer.expired']);
    expect(w.parley.callsOf('setOwner')).toEqual([]);
  });
});

describe('offer ids', () => {
  it('name their user and nothing else decodes', () => {
    const id = offerIdFor('user é/20'.replace('/', '-'), 'h0001');
    expect(userIdOfOffer(id)).toBe('user é-20');
    expect(userIdOfOffer(`${id}x`)).toBeNull();
    expect(userIdOfOffer(id.replace('ofr_', 'off_'))).toBeNull();
    // A user id that breaks the rule, encoded by hand, is no offer of ours.
    expect(
      userIdOfOffer(`ofr_${Buffer.from(' x').toString('base64url')}.AAAAAAAAAAAAAAAA`),
    ).toBeNull();
  });
});

describe('notification bodies of offers', () => {
  it('carry the offer; the metadata goes to the offeree of a new offer only', async () => {
    const w = offersWorld();
    const made = await botOffers(w);
    const services = {
      get: (id: string) =>
        [BOT, AGENT].includes(id)
          ? {
              identification: id,
              name: id,
              role: 'agent' as const,
              default: false,
              rules: [],
              downstreamUrl: 'https://x.example/',
            }
          : undefined,
    };

    const items = notificationsFor(made.record, services, new Date(w.clock.now()).toISOString());

    const bodies = Object.fromEntries(items.map((i) => [i.recipient, JSON.parse(i.body)]));
    expect(Object.keys(bodies).sort()).toEqual([AGENT, BOT].sort());
    expect(bodies[AGENT]).toMatchObject({
      type: 'offer.created',
      offer: { offerId: made.offer.offerId, event: 'created', from: BOT, to: AGENT },
      metadata: { reason: 'billing_question', summary: 'wants a refund' },
    });
    expect(bodies[BOT].offer.offerId).toBe(made.offer.offerId);
    expect('metadata' in bodies[BOT]).toBe(false);
  });
});
