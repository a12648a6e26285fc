// The callback queue's message contract: the raw body with its metadata as attributes and back,
// the earlier JSON-wrapped shape still read, SQS's size accounting, the attribute reserve that makes
// the webhook's cap honest, and the deferral delays against the receive budget.
import fc from 'fast-check';
import {
  CALLBACK_ATTRIBUTES_RESERVE_BYTES,
  CALLBACK_BODY_MAX_BYTES,
  CALLBACK_MAX_RECEIVE_COUNT,
  callbackFromRecord,
  callbackMessage,
  DEFERRAL_MAX_SECONDS,
  deferralReceives,
  deferralSeconds,
  messageSizeBytes,
  SQS_MAX_MESSAGE_BYTES,
} from '../../functions/contracts/queue';
import { deliveryIdFor, parseCallback } from '../../functions/domain/delivery';
import { sqsMessageAttributes } from '../support/events';

const callback = {
  serviceId: 'svc-bot',
  deliveryId: 'svc-bot#message#7',
  receivedAt: '2026-03-10T14:00:00.000Z',
  body: '{"type":"message","body":{"id":7,"message":"a \\"quote\\"","user":{"id":"20"}}}',
};

describe('callbackMessage and callbackFromRecord', () => {
  it('carry the raw body unchanged and the metadata as attributes, both ways', () => {
    const message = callbackMessage(callback);

    const back = callbackFromRecord({
      body: message.body,
      messageAttributes: sqsMessageAttributes(message.attributes),
    });

    expect(message).toEqual({
      body: callback.body,
      attributes: {
        serviceId: 'svc-bot',
        deliveryId: 'svc-bot#message#7',
        receivedAt: '2026-03-10T14:00:00.000Z',
      },
    });
    expect(back).toEqual(callback);
  });

  it('read a record of the earlier shape, without attributes', () => {
    expect(callbackFromRecord({ body: JSON.stringify(callback), messageAttributes: {} })).toEqual(
      callback,
    );
  });

  it.each([
    ['some attributes missing', callback.body, { serviceId: 'svc-bot' }],
    [
      'an empty attribute',
      callback.body,
      { ...callbackMessage(callback).attributes, deliveryId: '' },
    ],
    ['an old body that is not JSON', 'not json', {}],
    ['an old body without a service', JSON.stringify({ ...callback, serviceId: undefined }), {}],
    ['an old body whose callback is not text', JSON.stringify({ ...callback, body: { a: 1 } }), {}],
    ['an old body that is an array', '[1,2]', {}],
  ])('refuse a record with %s', (_case, body, attributes) => {
    expect(
      callbackFromRecord({ body, messageAttributes: sqsMessageAttributes(attributes) }),
    ).toBeNull();
  });
});

describe('message size', () => {
  it('counts the body and each attribute name, type and value in UTF-8 bytes', () => {
    expect(messageSizeBytes('é', { ab: 'ü' })).toBe(2 + 2 + 'String'.length + 2);
  });

  it('keeps the webhook cap below the SQS limit by the attribute reserve', () => {
    expect([SQS_MAX_MESSAGE_BYTES, CALLBACK_BODY_MAX_BYTES]).toEqual([262_144, 261_120]);
  });

  it('fits the attributes of any configured Service and any callback in the reserve', () => {
    // Service identifications are 1 to 100 UTF-16 units of any text (the stage schema).
    const serviceId = fc.string({ unit: 'binary', minLength: 1, maxLength: 100 });
    fc.assert(
      fc.property(serviceId, fc.string({ maxLength: 300 }), (service, text) => {
        const raw = JSON.stringify({ type: 'message', body: { id: text, user: { id: text } } });
        const { attributes } = callbackMessage({
          serviceId: service,
          deliveryId: deliveryIdFor(service, raw, parseCallback(raw)),
          receivedAt: new Date(8.64e15).toISOString(),
          body: raw,
        });
        expect(messageSizeBytes('', attributes)).toBeLessThanOrEqual(
          CALLBACK_ATTRIBUTES_RESERVE_BYTES,
        );
      }),
      { numRuns: 1000 },
    );
  });
});

describe('deferral delays', () => {
  it('wait what the domain asks, rounded up to whole seconds, between 1 and 30', () => {
    expect([
      deferralSeconds(0, 1),
      deferralSeconds(1, 1),
      deferralSeconds(1_500, 1),
      deferralSeconds(4_000, 1),
      deferralSeconds(600_000, 1),
      deferralSeconds(Number.NaN, 1),
      deferralSeconds(-5, 1),
    ]).toEqual([1, 1, 2, 4, DEFERRAL_MAX_SECONDS, 1, 1]);
  });

  it('double with each receive so that a long wait costs few receives', () => {
    expect([1, 2, 3, 4, 5, 6, 7, 40].map((n) => deferralSeconds(1, n))).toEqual([
      1, 2, 4, 8, 16, 30, 30, 30,
    ]);
  });

  it('leave at least three receives for real failures during any staleAfter the chain allows', () => {
    // The timeout chain keeps staleAfter between the handover timeout (15 s) and the queue
    // visibility timeout (90 s).
    const left = [];
    for (let staleAfter = 16; staleAfter < 90; staleAfter++) {
      left.push(CALLBACK_MAX_RECEIVE_COUNT - deferralReceives(staleAfter));
    }
    expect(Math.min(...left)).toBe(3);
    expect([deferralReceives(60), deferralReceives(89)]).toEqual([6, 7]);
  });
});
