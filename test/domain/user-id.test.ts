// The one user-id rule (domain/user-id): what an id may hold, the sentence that says why one is
// refused, and how a number given as an id is read, the same for the API and Parley's callbacks.
import { parseCallback } from '../../functions/domain/delivery';
import { ValidationError } from '../../functions/domain/errors';
import {
  assertUserId,
  isValidUserId,
  MAX_USER_ID_LENGTH,
  userIdFromJson,
  userIdProblem,
} from '../../functions/domain/user-id';

describe('isValidUserId', () => {
  it.each([
    ['a Parley id', '20'],
    ['inner spaces and emoji', 'user 💬 7'],
    ['dots inside', 'a.b'],
    ['three dots', '...'],
    ['the longest', '7'.repeat(MAX_USER_ID_LENGTH)],
    ['a non-Latin script', 'ユーザー'],
  ])('accepts %s', (_case, id) => {
    expect(isValidUserId(id)).toBe(true);
  });

  it.each([
    ['empty', ''],
    ['one space', ' '],
    ['only whitespace', ' \u00a0 '],
    ['a leading space', ' 20'],
    ['a trailing space', '20 '],
    ['a trailing no-break space', '20\u00a0'],
    ['a leading ideographic space', '\u300020'],
    ['a zero-width space', '2\u200b0'],
    ['only a zero-width space', '\u200b'],
    ['a zero-width joiner', '2\u200d0'],
    ['a right-to-left override', '\u202e20'],
    ['a bidi isolate', '20\u2066'],
    ['a byte order mark', '\ufeff20'],
    ['a soft hyphen', '2\u00ad0'],
    ['a line separator', '2\u20280'],
    ['a paragraph separator', '2\u20290'],
    ['a C0 control', 'a\u0000b'],
    ['a tab', '2\t0'],
    ['DEL', 'a\u007f'],
    ['a C1 control (NEL)', '2\u00850'],
    ['too long', '7'.repeat(MAX_USER_ID_LENGTH + 1)],
    ['"."', '.'],
    ['".."', '..'],
    ['a slash', 'a/b'],
    ['a lone high surrogate', 'a\ud800'],
    ['a lone low surrogate', '\udc00a'],
  ])('refuses %s', (_case, id) => {
    expect(isValidUserId(id)).toBe(false);
  });
});

describe('userIdProblem', () => {
  it.each([
    ['', 'must not be empty'],
    ['   ', 'must not be blank'],
    [' 20', 'must not start or end with whitespace'],
    ['2\u200b0', 'must not contain control or invisible characters (U+200B)'],
    ['\u202e20', 'must not contain control or invisible characters (U+202E)'],
    ['a/b', 'must not contain "/"'],
    ['..', 'must not be "." or ".."'],
    ['7'.repeat(129), `must be at most ${MAX_USER_ID_LENGTH} characters`],
    ['a\ud800', 'must be well-formed text (it holds a lone surrogate)'],
    ['20', null],
  ])('%j: %s', (id, problem) => {
    expect(userIdProblem(id)).toBe(problem);
  });

  it('never quotes the id', () => {
    expect(userIdProblem(' secret-looking-id ')).not.toContain('secret');
  });
});

describe('userIdFromJson', () => {
  it.each([
    ['a string by the rule', '20', '20'],
    ['a number', 20, '20'],
    ['zero', 0, '0'],
    ['negative zero', -0, '0'],
    ['a negative whole number', -7, '-7'],
    ['the largest safe integer', 2 ** 53 - 1, '9007199254740991'],
    ['a fraction', 1.5, null],
    ['an unsafe integer', 2 ** 53, null],
    ['an exponent form', 1e21, null],
    ['a string breaking the rule', ' 20', null],
    ['a boolean', true, null],
    ['null', null, null],
    ['an object', { id: 20 }, null],
  ])('reads %s', (_case, value, id) => {
    expect(userIdFromJson(value)).toBe(id);
  });

  it('reads a callback the same way: its user id is the one the API would take, or it is quarantined', () => {
    const ids: unknown[] = [20, -7, 1.5, 2 ** 53, '20', ' 20', '2\u200b0', '\u202e20', '', 'a/b'];
    const callbackUserId = (id: unknown) => {
      const parsed = parseCallback(
        JSON.stringify({ type: 'message', body: { id: 1, message: 'hi', user: { id } } }),
      );
      return parsed.ok ? parsed.userId : null;
    };

    expect(ids.map(callbackUserId)).toEqual(ids.map(userIdFromJson));
    expect(ids.map(userIdFromJson)).toEqual([
      '20',
      '-7',
      null,
      null,
      '20',
      null,
      null,
      null,
      null,
      null,
    ]);
  });
});

describe('assertUserId', () => {
  it.each([
    ['', 'userId must not be empty.'],
    ['20\u200b', 'userId must not contain control or invisible characters (U+200B).'],
    [20, 'userId must be a string.'],
  ])('refuses %j with 400 invalid_user_id saying what is wrong', (id, message) => {
    expect(() => assertUserId(id)).toThrow(new ValidationError(message, 'invalid_user_id'));
    try {
      assertUserId(id);
    } catch (err) {
      expect(err).toMatchObject({ httpStatus: 400, code: 'invalid_user_id' });
    }
  });

  it('lets a valid id through', () => {
    expect(() => assertUserId('20')).not.toThrow();
  });
});
