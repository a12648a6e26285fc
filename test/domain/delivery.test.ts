// How long a delivery item dedupes: a callback's id names one event for good; a body hash only
// has to collapse Parley's retries of one call.
import {
  DELIVERY_TTL_SECONDS,
  deliveryTtlSeconds,
  IDLESS_DELIVERY_TTL_SECONDS,
  parseCallback,
} from '../../functions/domain/delivery';

const user = { id: '20', uniqueIdentifier: null, additionalInformation: null };

describe('deliveryTtlSeconds', () => {
  it('keeps a callback with an id 30 days and one without an id an hour', () => {
    const withId = parseCallback(
      JSON.stringify({ type: 'message', body: { id: 7, message: 'hi', user } }),
    );
    const withoutId = parseCallback(
      JSON.stringify({ type: 'event', body: { name: 'startTyping', body: {}, user } }),
    );
    const garbage = parseCallback('not json');

    expect([
      deliveryTtlSeconds(withId),
      deliveryTtlSeconds(withoutId),
      deliveryTtlSeconds(garbage),
    ]).toEqual([30 * 86_400, 3_600, 3_600]);
    expect([DELIVERY_TTL_SECONDS, IDLESS_DELIVERY_TTL_SECONDS]).toEqual([30 * 86_400, 3_600]);
  });

  it('never keeps an id-less delivery longer than a shorter window asked for', () => {
    const withoutId = parseCallback(JSON.stringify({ type: 'action', body: { user } }));
    const withId = parseCallback(JSON.stringify({ type: 'action', body: { id: 'a-1', user } }));

    expect([
      deliveryTtlSeconds(withoutId, 600),
      deliveryTtlSeconds(withId, 600),
      deliveryTtlSeconds(withoutId, 86_400),
    ]).toEqual([600, 600, 3_600]);
  });
});
