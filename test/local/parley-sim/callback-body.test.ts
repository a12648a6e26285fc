import {
  callbackJson,
  eventCallback,
  messageCallback,
} from '../../../local/parley-sim/callback-body';

describe('Parley callback bodies', () => {
  it("builds a message callback in the shape of docs/PARLEY.md's example", () => {
    const callback = messageCallback({ userId: '20', id: 10737, text: 'hi!', time: 1536739259 });

    expect(callback).toEqual({
      type: 'message',
      body: {
        id: 10737,
        message: 'hi!',
        time: 1536739259,
        typeId: 1,
        user: { id: '20', uniqueIdentifier: null, additionalInformation: null },
      },
    });
  });

  it('stamps a message with the current unix second when no time is given', () => {
    const before = Math.floor(Date.now() / 1000);
    const { body } = messageCallback({ userId: '7', id: 'm-1', text: 'x' });
    const after = Math.floor(Date.now() / 1000);

    expect(body.id).toBe('m-1');
    expect(body.time).toBeGreaterThanOrEqual(before);
    expect(body.time).toBeLessThanOrEqual(after);
  });

  it('builds an event callback with an empty body unless one is given', () => {
    expect(eventCallback({ userId: '20', name: 'startTyping' })).toEqual({
      type: 'event',
      body: {
        name: 'startTyping',
        body: {},
        user: { id: '20', uniqueIdentifier: null, additionalInformation: null },
      },
    });
    expect(eventCallback({ userId: '20', name: 'read', body: { upTo: 5 } }).body.body).toEqual({
      upTo: 5,
    });
  });

  it('writes the raw body Parley posts, fields in the order of the example', () => {
    const raw = callbackJson(messageCallback({ userId: '20', id: 1, text: 'a "quote"', time: 2 }));

    expect(raw).toBe(
      '{"type":"message","body":{"id":1,"message":"a \\"quote\\"","time":2,"typeId":1,' +
        '"user":{"id":"20","uniqueIdentifier":null,"additionalInformation":null}}}',
    );
  });
});
