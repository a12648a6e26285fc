// A callback as the processor reads it: parsing, its user id, its delivery id and queue group, and
// how long a delivery item dedupes (a callback's id names one event for good; a body hash only has
// to collapse Parley's retries of one call).
import { createHash } from 'node:crypto';
import {
  DELIVERY_TTL_SECONDS,
  deliveryTtlSeconds,
  groupIdFor,
  IDLESS_DELIVERY_TTL_SECONDS,
  parseCallback,
} from '../../functions/domain/delivery';
import { isValidUserId, MAX_USER_ID_LENGTH } from '../../functions/domain/user-id';
import { AGENT, BOT } from '../support/fakes';
import { idOf, messageBody, USER } from './processor/world';

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

describe('parseCallback', () => {
  it('refuses a callback nested deeper than any Parley callback (the processor quarantines it)', () => {
    const deep = (n: number) => `${'['.repeat(n)}${']'.repeat(n)}`;
    const raw = (n: number) =>
      `{"type":"message","body":{"message":"hi","user":{"id":"20"},"x":${deep(n)}}}`;

    expect(parseCallback(raw(60)).ok).toBe(true);
    expect(parseCallback(raw(5000))).toEqual({ ok: false, reason: 'too_deep' });
  });

  it('does not take a user id with a lone surrogate (it cannot name a user at Parley)', () => {
    expect(parseCallback(messageBody('hi', 1, 'a\ud800'))).toEqual({
      ok: false,
      reason: 'invalid_user_id',
    });
  });

  it.each([
    ['".."', '..'],
    ['"."', '.'],
    ['3,000 characters', '7'.repeat(3000)],
    ['129 characters', '7'.repeat(129)],
    ['a slash', '20/owner'],
    ['a control character', '20\n'],
    ['an empty string', ''],
    ['a fraction', 1.5],
  ])('refuses a user id that breaks the user id rule: %s', (_case, userId) => {
    const message = parseCallback(messageBody('hi', 1, userId));
    const event = parseCallback(
      JSON.stringify({ type: 'event', body: { name: 'startTyping', user: { id: userId } } }),
    );

    expect([message, event]).toEqual([
      { ok: false, reason: 'invalid_user_id' },
      { ok: false, reason: 'invalid_user_id' },
    ]);
  });

  it('takes a user id of 128 characters, spaces and emoji included', () => {
    const longest = '7'.repeat(128);

    expect([
      parseCallback(messageBody('hi', 1, longest)),
      parseCallback(messageBody('hi', 1, 'user 💬')),
    ]).toEqual([
      expect.objectContaining({ ok: true, userId: longest }),
      expect.objectContaining({ ok: true, userId: 'user 💬' }),
    ]);
  });

  it('reads a message: user id, text and body id', () => {
    const parsed = parseCallback(messageBody('hi!'));

    expect(parsed).toEqual({
      ok: true,
      type: 'message',
      userId: USER,
      bodyId: '10737',
      text: 'hi!',
      value: JSON.parse(messageBody('hi!')),
    });
  });

  it('accepts an integer user id as a string', () => {
    const parsed = parseCallback(messageBody('hi', 1, 11111));

    expect(parsed.ok && [parsed.userId, parsed.bodyId]).toEqual(['11111', '1']);
  });

  it('reads an event without text', () => {
    const raw = JSON.stringify({
      type: 'event',
      body: { name: 'startTyping', body: {}, user: { id: '11111', uniqueIdentifier: null } },
    });

    expect(parseCallback(raw)).toEqual({
      ok: true,
      type: 'event',
      userId: '11111',
      bodyId: null,
      text: null,
      value: JSON.parse(raw),
    });
  });

  it('accepts unknown types and keeps unknown fields', () => {
    const raw = JSON.stringify({ type: 'client-merge', body: { from: 1, to: 2 }, extra: [1] });

    expect(parseCallback(raw)).toEqual({
      ok: true,
      type: 'client-merge',
      userId: null,
      bodyId: null,
      text: null,
      value: { type: 'client-merge', body: { from: 1, to: 2 }, extra: [1] },
    });
  });

  it.each([
    ['not JSON', '{"type":', 'not_json'],
    ['an array', '[{"type":"message"}]', 'not_an_object'],
    ['null', 'null', 'not_an_object'],
    ['without a type', '{"body":{}}', 'no_type'],
    ['with a numeric type', '{"type":1}', 'no_type'],
    [
      'a message without a user',
      '{"type":"message","body":{"id":1,"message":"x"}}',
      'message_without_user',
    ],
    ['a message with an object user id', messageBody('x', 1, { id: 1 }), 'message_without_user'],
  ])('refuses %s', (_case, raw, reason) => {
    expect(parseCallback(raw)).toEqual({ ok: false, reason });
  });

  it('treats __proto__ and constructor keys as plain data', () => {
    const raw =
      '{"type":"message","__proto__":{"polluted":true},"body":{"id":1,"message":"x",' +
      '"user":{"id":"7"},"constructor":{"prototype":{"polluted":true}}}}';

    const parsed = parseCallback(raw);

    expect(parsed.ok && parsed.userId).toEqual('7');
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(parsed.ok && JSON.stringify(parsed.value)).toContain('"__proto__":{"polluted":true}');
  });
});

describe('isValidUserId', () => {
  it.each([
    ['20', true],
    ['user 💬', true],
    ['a.b', true],
    ['...', true],
    ['7'.repeat(MAX_USER_ID_LENGTH), true],
    ['7'.repeat(MAX_USER_ID_LENGTH + 1), false],
    ['', false],
    ['.', false],
    ['..', false],
    ['a/b', false],
    ['a\u0000b', false],
    ['a\u007f', false],
    ['a\ud800', false],
    ['\udc00a', false],
  ])('%j -> %s', (id, valid) => {
    expect(isValidUserId(id)).toBe(valid);
  });
});

describe('deliveryIdFor and groupIdFor', () => {
  it('names a callback with an id by service, type and id', () => {
    expect(idOf(messageBody())).toEqual(`${BOT}#message#10737`);
  });

  it('names an id-less callback by the hash of its raw body, so identical ones collapse', () => {
    const raw = JSON.stringify({
      type: 'event',
      body: { name: 'startTyping', user: { id: USER } },
    });
    const hash = createHash('sha256').update(raw).digest('hex');

    expect(idOf(raw)).toEqual(`${BOT}#${hash}`);
    expect(idOf(raw)).toEqual(idOf(`${raw}`));
    expect(idOf(raw)).not.toEqual(idOf(raw.replace('startTyping', 'stopTyping')));
    expect(idOf(raw, AGENT)).not.toEqual(idOf(raw, BOT));
  });

  it('names an unparsable body by its hash', () => {
    const hash = createHash('sha256').update('garbage').digest('hex');

    expect(idOf('garbage')).toEqual(`${BOT}#${hash}`);
  });

  it('hashes an id that would be ambiguous or too long for the queue', () => {
    const withHash = idOf(messageBody('x', 'a#b'));
    const long = idOf(messageBody('x', 'y'.repeat(200)));

    expect(withHash).toMatch(new RegExp(`^${BOT}#id-[0-9a-f]{64}$`));
    expect(long).toMatch(new RegExp(`^${BOT}#id-[0-9a-f]{64}$`));
    expect(withHash).not.toEqual(long);
  });

  it('groups by user, or as unrouted', () => {
    expect(groupIdFor(parseCallback(messageBody()))).toEqual('user-20');
    expect(groupIdFor(parseCallback('{"type":"client-merge"}'))).toEqual('unrouted');
    expect(groupIdFor(parseCallback('nope'))).toEqual('unrouted');
  });
});
