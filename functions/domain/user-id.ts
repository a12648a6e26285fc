// The one rule for a Parley user id, shared by the HTTP API (path and body), the callback parser
// and the Parley paths. Parley's ids are numbers sent as strings; any short id that reads the same
// to a person as it does to us, and that can name a single path segment, is accepted.

import { ValidationError } from './errors';

export const MAX_USER_ID_LENGTH = 128;

/** With the `u` flag a surrogate range matches only surrogates that are not part of a pair. */
export const LONE_SURROGATE = /[\ud800-\udfff]/u;

/**
 * Controls (Cc, C0 and C1), invisible format characters (Cf: zero-width space and joiners, bidi
 * controls, the byte order mark, the soft hyphen) and the line and paragraph separators (Zl, Zp):
 * two ids that look alike must not name two users.
 */
const INVISIBLE = /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}]/u;
const BLANK = /^\p{White_Space}+$/u;
const EDGE_SPACE = /^\p{White_Space}|\p{White_Space}$/u;

const codePoint = (char: string): string =>
  `U+${char.codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0')}`;

/**
 * What breaks the rule, as a phrase to follow the field's name ("userId must not be blank"), or
 * null when the id is valid. It never quotes the id (at most a code point). The rule: 1 to
 * MAX_USER_ID_LENGTH UTF-16 code units; no '/', not '.' or '..' (a URL parser resolves those as
 * path segments); well-formed (a lone surrogate cannot be URL-encoded); no leading or trailing
 * White_Space; no control, invisible format, line or paragraph separator character.
 */
export function userIdProblem(id: string): string | null {
  if (id.length === 0) return 'must not be empty';
  if (id.length > MAX_USER_ID_LENGTH) return `must be at most ${MAX_USER_ID_LENGTH} characters`;
  if (id === '.' || id === '..') return 'must not be "." or ".."';
  if (id.includes('/')) return 'must not contain "/"';
  if (LONE_SURROGATE.test(id)) return 'must be well-formed text (it holds a lone surrogate)';
  if (BLANK.test(id)) return 'must not be blank';
  const invisible = INVISIBLE.exec(id);
  if (invisible) {
    return `must not contain control or invisible characters (${codePoint(invisible[0])})`;
  }
  if (EDGE_SPACE.test(id)) return 'must not start or end with whitespace';
  return null;
}

export const isValidUserId = (id: string): boolean => userIdProblem(id) === null;

/** Throws ValidationError (400 `invalid_user_id`) saying what breaks the rule, if anything does. */
export function assertUserId(userId: unknown): asserts userId is string {
  const problem = typeof userId === 'string' ? userIdProblem(userId) : 'must be a string';
  if (problem !== null) throw new ValidationError(`userId ${problem}.`, 'invalid_user_id');
}

/**
 * A user id as JSON carries it (an API body, a Parley callback): a string by the rule, or a safe
 * integer, read as its decimal digits (`20` is `"20"`, `-0` is `"0"`). Anything else (a fraction,
 * an integer past 2^53 whose digits JSON may not keep, a boolean) is null.
 */
export function userIdFromJson(value: unknown): string | null {
  if (typeof value === 'string') return isValidUserId(value) ? value : null;
  if (typeof value === 'number' && Number.isSafeInteger(value)) return String(value);
  return null;
}
