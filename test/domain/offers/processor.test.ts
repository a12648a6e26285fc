// The processor while an offer is open (issue 15): the owner's forward carries the offer, the
// offeree gets a standby copy only when the offer asked for one (best effort, its own delivery
// id), and a rule or a downstream answer may ask for an offer instead of a handover.
import type { LiveOffer } from '../../../functions/domain/lifecycle/types';
import { processCallback } from '../../../functions/domain/processor/process-callback';
import type { ServiceInfo } from '../../../functions/domain/types';
import { AGENT, BOT } from '../../support/fakes';
import {
  BOT_URL,
  DESK_URL,
  idOf,
  messageBody,
  ownerItem,
  queued,
  services,
  setup,
  USER,
  withRealHandover,
} from '../processor/world';

const openOffer = (over: Partial<LiveOffer> = {}): LiveOffer => ({
  offerId: 'ofr_MjA.AAAAAAAAAAAAAAAA',
  from: BOT,
  to: AGENT,
  createdAt: '2026-03-10T13:59:00.000Z',
  expiresAt: '2026-03-10T14:01:00.000Z',
  onTimeout: 'keep',
  metadata: null,
  requestedBy: BOT,
  ...over,
});

const bodies = (t: ReturnType<typeof setup>, url: string) =>
  t.downstream.posts.filter((p) => p.url === url).map((p) => JSON.parse(p.body));

describe('forwards while an offer is open', () => {
  it('carry the offer to the owner; the offeree hears nothing unless the offer asked', async () => {
    const t = setup();
    t.state.owners.set(USER, { ...ownerItem(BOT), offer: openOffer() });

    const outcome = await processCallback(queued(messageBody()), t.deps);

    expect(outcome.disposition).toBe('forwarded');
    expect(bodies(t, BOT_URL).map((b) => b.offer)).toEqual([
      { offerId: 'ofr_MjA.AAAAAAAAAAAAAAAA', to: AGENT, expiresAt: '2026-03-10T14:01:00.000Z' },
    ]);
    expect(bodies(t, DESK_URL)).toEqual([]);
  });

  it('give the offeree a standby copy under its own delivery id with deliverDuringOffer both', async () => {
    const t = setup();
    t.state.owners.set(USER, {
      ...ownerItem(BOT),
      offer: openOffer({ deliverDuringOffer: 'both' }),
    });
    const raw = messageBody();

    await processCallback(queued(raw), t.deps);

    const [copy] = t.downstream.posts.filter((p) => p.url === DESK_URL);
    expect(copy?.headers['X-Handover-Delivery']).toBe(`${idOf(raw)}#standby`);
    expect(JSON.parse(copy!.body)).toMatchObject({
      serviceId: AGENT,
      userId: USER,
      standby: true,
      offer: { offerId: 'ofr_MjA.AAAAAAAAAAAAAAAA', to: AGENT },
    });
    expect(t.downstream.urls()).toEqual([BOT_URL, DESK_URL]);
  });

  it('fail nothing when the standby copy fails, and do not send it again', async () => {
    const t = setup();
    t.state.owners.set(USER, {
      ...ownerItem(BOT),
      offer: openOffer({ deliverDuringOffer: 'both' }),
    });
    t.downstream.answer(DESK_URL, { status: 500, body: '' });

    const outcome = await processCallback(queued(messageBody()), t.deps);

    expect(outcome.disposition).toBe('forwarded');
    expect(t.downstream.urls()).toEqual([BOT_URL, DESK_URL]);
  });

  it('leave out an offer whose offerer no longer owns the user', async () => {
    const t = setup();
    t.state.owners.set(USER, { ...ownerItem(BOT), offer: openOffer({ from: AGENT, to: BOT }) });

    await processCallback(queued(messageBody()), t.deps);

    expect(bodies(t, BOT_URL)[0]).not.toHaveProperty('offer');
  });
});

describe('a rule or a downstream answer asking for an offer', () => {
  const withOfferRule = (): ServiceInfo[] =>
    services().map((s) =>
      s.identification === BOT
        ? {
            ...s,
            rules: [
              {
                match: '\\bhuman\\b',
                newOwner: AGENT,
                reason: 'user_requested_human',
                mode: 'offer',
                offerTimeoutSeconds: 60,
                onTimeout: 'default',
              },
            ],
          }
        : s,
    );

  it('offers the user from a rule: the owner keeps the user and hears the message', async () => {
    const t = setup(withOfferRule());
    t.parley.owners.set(USER, BOT);
    const history = withRealHandover(t);
    const raw = messageBody('I want a human please');

    const outcome = await processCallback(queued(raw), t.deps);

    const records = history.userRecords(USER);
    expect(records.map((r) => [r.kind, r.offer?.event, r.requestedBy, r.reason])).toEqual([
      ['offer', 'created', `rule:${BOT}`, 'user_requested_human'],
    ]);
    expect(records[0]!.offer).toMatchObject({ to: AGENT, onTimeout: 'default' });
    expect(t.parley.ownerOf(USER)).toBe(BOT);
    expect(outcome).toMatchObject({ disposition: 'forwarded', handoverId: records[0]!.handoverId });
    expect(t.downstream.urls()).toEqual([BOT_URL]);
  });

  it('offers the user from a downstream answer', async () => {
    const t = setup();
    t.parley.owners.set(USER, BOT);
    const history = withRealHandover(t);
    t.downstream.json(BOT_URL, { handover: { newOwner: AGENT, mode: 'offer' } });

    await processCallback(queued(messageBody()), t.deps);

    expect(history.userRecords(USER).map((r) => [r.offer?.event, r.requestedBy])).toEqual([
      ['created', BOT],
    ]);
    expect(t.state.owners.get(USER)!.offer).toMatchObject({ from: BOT, to: AGENT });
    expect(t.parley.ownerOf(USER)).toBe(BOT);
  });
});
