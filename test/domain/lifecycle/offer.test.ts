// Offers (issue 15): who may offer, to whom, for how long; a new offer supersedes the live one;
// accept (offeree), decline (offeree), cancel (offerer) and expiry (at or after expiresAt), each
// answering its outcome or the code of the offer's recorded end; what an expiry does for each
// onTimeout. On an injected clock.
import {
  acceptOffer,
  cancelOffer,
  createOffer,
  declineOffer,
  expireOffer,
  offerSettings,
  supersededByHandover,
} from '../../../functions/domain/lifecycle/offer';
import type { LiveOffer, OfferState, OfferStatus } from '../../../functions/domain/lifecycle/types';
import { ValidationError } from '../../../functions/domain/errors';
import { manualClock } from '../../support/fakes';

const BOT = 'bot-svc';
const DESK = 'desk-svc';
const DESK2 = 'desk2-svc';
const iso = (ms: number) => new Date(ms).toISOString();

const offerFrom = (
  clock: { now(): number },
  over: Partial<Parameters<typeof createOffer>[0]> = {},
) =>
  createOffer({
    offerId: 'o1',
    by: BOT,
    owner: BOT,
    to: DESK,
    nowMs: clock.now(),
    metadata: { topic: 'billing' },
    requestedBy: BOT,
    current: null,
    ...over,
  });

const live = (clock: { now(): number }, over: Partial<Parameters<typeof createOffer>[0]> = {}) => {
  const made = offerFrom(clock, over);
  if (!made.ok) throw new Error('expected an offer');
  return made.offer;
};

const state = (offer: LiveOffer, status: OfferStatus = 'pending'): OfferState => ({
  offer,
  status,
});

describe('offer settings', () => {
  it('default to 120 s and keep', () => {
    expect(offerSettings({})).toEqual({ timeoutSeconds: 120, onTimeout: 'keep' });
  });

  it('take 5 to 3600 s and keep, default or a Service', () => {
    expect(offerSettings({ offerTimeoutSeconds: 5, onTimeout: 'default' })).toEqual({
      timeoutSeconds: 5,
      onTimeout: 'default',
    });
    expect(offerSettings({ offerTimeoutSeconds: 3600, onTimeout: 'Bot Service' })).toEqual({
      timeoutSeconds: 3600,
      onTimeout: 'Bot Service',
    });
  });

  it.each([4, 3601, 12.5, '120', null])('refuse offerTimeoutSeconds %p naming the range', (bad) => {
    expect(() => offerSettings({ offerTimeoutSeconds: bad })).toThrow(
      'offerTimeoutSeconds must be a whole number from 5 to 3600',
    );
  });

  it.each(['', 7, ' ', 'x'.repeat(101), null])('refuse onTimeout %p', (bad) => {
    expect(() => offerSettings({ onTimeout: bad })).toThrow(
      'onTimeout must be "keep", "default" or a Service',
    );
  });
});

describe('creating an offer', () => {
  it('opens a pending offer with its deadline and tells both sides', () => {
    const clock = manualClock();

    const made = offerFrom(clock, { offerTimeoutSeconds: 30, onTimeout: 'default' });

    expect(made).toEqual({
      ok: true,
      offer: {
        offerId: 'o1',
        from: BOT,
        to: DESK,
        createdAt: iso(clock.now()),
        expiresAt: iso(clock.now() + 30_000),
        onTimeout: 'default',
        metadata: { topic: 'billing' },
        requestedBy: BOT,
      },
      superseded: null,
      events: [{ type: 'offer.created', recipients: [DESK, BOT] }],
    });
  });

  it('keeps the Idempotency-Key it came with', () => {
    const clock = manualClock();

    expect(live(clock, { idempotencyKey: 'k-1' }).idempotencyKey).toBe('k-1');
  });

  it('is refused to a Service that does not own the user: not_owner, with the owner', () => {
    const clock = manualClock();

    expect(offerFrom(clock, { by: DESK2, to: DESK })).toEqual({
      ok: false,
      code: 'not_owner',
      currentOwner: BOT,
    });
  });

  it('is refused when it offers the user to its owner', () => {
    const clock = manualClock();

    expect(() => offerFrom(clock, { to: BOT })).toThrow(ValidationError);
    expect(() => offerFrom(clock, { to: BOT })).toThrow(
      'An offer must go to another Service than the owner.',
    );
  });

  it('supersedes the live offer, even one past its deadline, and tells its offeree', () => {
    const clock = manualClock();
    const first = live(clock, { offerTimeoutSeconds: 5 });
    clock.advance(10_000);

    const second = offerFrom(clock, { offerId: 'o2', to: DESK2, current: first });

    expect(second.ok && second.superseded).toEqual(first);
    expect(second.ok && second.events).toEqual([
      { type: 'offer.superseded', recipients: [DESK] },
      { type: 'offer.created', recipients: [DESK2, BOT] },
    ]);
  });

  it('ends a live offer as superseded when another handover moves the user', () => {
    const clock = manualClock();

    expect(supersededByHandover(live(clock))).toEqual({
      status: 'superseded',
      events: [{ type: 'offer.superseded', recipients: [DESK] }],
    });
  });
});

describe('accepting an offer', () => {
  it('hands the user to the offeree with the offerer acting, as source offer', () => {
    const clock = manualClock();
    const offer = live(clock);
    clock.advance(119_999);

    expect(acceptOffer(state(offer), DESK, clock.now())).toEqual({
      ok: true,
      status: 'accepted',
      handover: {
        newOwner: DESK,
        actingService: BOT,
        source: 'offer',
        reason: 'offer_accepted',
        requestedBy: DESK,
        metadata: { topic: 'billing' },
      },
      events: [{ type: 'offer.accepted', recipients: [BOT, DESK] }],
    });
  });

  it('is only for the offeree: not_offeree for the offerer or a third Service', () => {
    const clock = manualClock();
    const offer = live(clock);

    expect(acceptOffer(state(offer), BOT, clock.now())).toEqual({
      ok: false,
      httpStatus: 403,
      code: 'not_offeree',
    });
    // The role comes first: a stranger learns nothing of how the offer ended.
    expect(acceptOffer(state(offer, 'expired'), DESK2, clock.now())).toMatchObject({
      code: 'not_offeree',
    });
  });

  it('is too late at expiresAt, before the sweep has recorded the expiry', () => {
    const clock = manualClock();
    const offer = live(clock);
    clock.advance(120_000);

    expect(acceptOffer(state(offer), DESK, clock.now())).toEqual({
      ok: false,
      httpStatus: 409,
      code: 'offer_expired',
    });
  });
});

describe('an offer that has ended answers with how it ended', () => {
  const ends: [OfferStatus, string][] = [
    ['expired', 'offer_expired'],
    ['superseded', 'offer_superseded'],
    ['cancelled', 'offer_cancelled'],
    ['declined', 'offer_declined'],
    ['accepted', 'offer_accepted'],
  ];

  it.each(ends)('%s: accept, decline and cancel all answer 409 %s', (status, code) => {
    const clock = manualClock();
    const ended = state(live(clock), status);

    const answers = [
      acceptOffer(ended, DESK, clock.now()),
      declineOffer(ended, DESK, clock.now()),
      cancelOffer(ended, BOT, clock.now()),
    ];

    expect(answers).toEqual(Array(3).fill({ ok: false, httpStatus: 409, code }));
  });

  it.each(ends)('%s: the sweep finds nothing to expire', (status) => {
    const clock = manualClock();
    const ended = state(live(clock), status);
    clock.advance(600_000);

    expect(expireOffer(ended, clock.now())).toEqual({ ok: false, code: 'not_due' });
  });
});

describe('declining and cancelling', () => {
  it('lets the offeree decline, with a reason, and tells the offerer; the owner stays', () => {
    const clock = manualClock();

    expect(declineOffer(state(live(clock)), DESK, clock.now(), 'busy')).toEqual({
      ok: true,
      status: 'declined',
      reason: 'busy',
      events: [{ type: 'offer.declined', recipients: [BOT] }],
    });
  });

  it('refuses a decline from anyone but the offeree', () => {
    const clock = manualClock();

    expect(declineOffer(state(live(clock)), BOT, clock.now())).toMatchObject({
      code: 'not_offeree',
    });
  });

  it('lets the offerer cancel and tells the offeree; nobody else may', () => {
    const clock = manualClock();
    const offer = live(clock);

    expect(cancelOffer(state(offer), BOT, clock.now())).toEqual({
      ok: true,
      status: 'cancelled',
      events: [{ type: 'offer.cancelled', recipients: [DESK] }],
    });
    expect(cancelOffer(state(offer), DESK, clock.now())).toEqual({
      ok: false,
      httpStatus: 403,
      code: 'not_offerer',
    });
  });

  it('answers offer_expired to a decline or a cancel at or after the deadline', () => {
    const clock = manualClock();
    const offer = live(clock, { offerTimeoutSeconds: 5 });
    clock.advance(5_000);

    expect(declineOffer(state(offer), DESK, clock.now())).toMatchObject({ code: 'offer_expired' });
    expect(cancelOffer(state(offer), BOT, clock.now())).toMatchObject({ code: 'offer_expired' });
  });
});

describe('an offer that expires', () => {
  it('is not due a millisecond before expiresAt, and is at expiresAt', () => {
    const clock = manualClock();
    const offer = live(clock);

    expect(expireOffer(state(offer), clock.now() + 119_999)).toEqual({
      ok: false,
      code: 'not_due',
    });
    expect(expireOffer(state(offer), clock.now() + 120_000).ok).toBe(true);
  });

  it('with keep: nothing moves, both sides are told', () => {
    const clock = manualClock();
    const offer = live(clock);

    expect(expireOffer(state(offer), clock.now() + 120_000)).toEqual({
      ok: true,
      status: 'expired',
      handover: null,
      events: [{ type: 'offer.expired', recipients: [BOT, DESK] }],
    });
  });

  it.each(['default', 'Bot Service'])(
    'with %s: a handover there, source offer, asked by system:offer',
    (onTimeout) => {
      const clock = manualClock();
      const offer = live(clock, { onTimeout, by: DESK2, owner: DESK2, requestedBy: DESK2 });

      const out = expireOffer(state(offer), clock.now() + 120_000);

      expect(out).toEqual({
        ok: true,
        status: 'expired',
        handover: {
          newOwner: onTimeout,
          actingService: DESK2,
          source: 'offer',
          reason: 'offer_expired',
          requestedBy: 'system:offer',
          metadata: { topic: 'billing' },
        },
        events: [{ type: 'offer.expired', recipients: [DESK2, DESK] }],
      });
    },
  );
});
