// The timers' refusals as the API answers them, through the one error mapper: 422
// lease_limit_exceeded with the hard cap, 403 not_offeree / not_offerer, 409 with the code of
// the offer's end.
import { extendLease, startLease } from '../../../functions/domain/lifecycle/lease';
import {
  LeaseLimitExceededError,
  OfferRefusedError,
} from '../../../functions/domain/lifecycle/errors';
import { acceptOffer, cancelOffer, createOffer } from '../../../functions/domain/lifecycle/offer';
import { toHttpResponse } from '../../../functions/platform/http';
import { manualClock } from '../../support/fakes';

const answer = (err: unknown) => {
  const res = toHttpResponse(err);
  return { status: res.statusCode, body: JSON.parse(String(res.body)) };
};

const offer = (nowMs: number) => {
  const made = createOffer({
    offerId: 'o1',
    by: 'bot',
    owner: 'bot',
    to: 'desk',
    nowMs,
    metadata: null,
    requestedBy: 'bot',
    current: null,
  });
  if (!made.ok) throw new Error('expected an offer');
  return made.offer;
};

describe('timer refusals over HTTP', () => {
  it('answers an extension past the hard cap 422 lease_limit_exceeded with hardExpiresAt', () => {
    const clock = manualClock();
    const cfg = { idleSeconds: 60, maxSeconds: 120, warnBeforeSeconds: 0, onExpiry: 'default' };
    const out = extendLease(startLease(clock.now(), cfg), 100, clock.now(), cfg);
    if (out.ok) throw new Error('expected a refusal');

    expect(answer(new LeaseLimitExceededError(out.hardExpiresAt))).toEqual({
      status: 422,
      body: {
        error: {
          code: 'lease_limit_exceeded',
          message: 'The lease cannot run past its hard limit.',
          hardExpiresAt: out.hardExpiresAt,
        },
      },
    });
  });

  it('answers 403 to the wrong side and 409 with the end of an ended offer', () => {
    const clock = manualClock();
    const o = offer(clock.now());
    const wrongSide = acceptOffer({ offer: o, status: 'pending' }, 'bot', clock.now());
    const ended = cancelOffer({ offer: o, status: 'declined' }, 'bot', clock.now());
    if (wrongSide.ok || ended.ok) throw new Error('expected refusals');

    expect(answer(new OfferRefusedError(wrongSide))).toEqual({
      status: 403,
      body: {
        error: { code: 'not_offeree', message: 'Only the Service offered the user may do this.' },
      },
    });
    expect(answer(new OfferRefusedError(ended))).toEqual({
      status: 409,
      body: { error: { code: 'offer_declined', message: 'The offer was declined.' } },
    });
  });
});
