// The one rule for a Parley user id, shared by the HTTP API (path and body), the callback parser
// and the Parley paths. Parley's ids are numbers sent as strings; any short printable id that can
// name a single path segment is accepted.

export const MAX_USER_ID_LENGTH = 128;

/** With the `u` flag a surrogate range matches only surrogates that are not part of a pair. */
export const LONE_SURROGATE = /[\ud800-\udfff]/u;

// biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what it refuses
const CONTROL = /[\u0000-\u001f\u007f]/;

/**
 * 1..MAX_USER_ID_LENGTH characters (UTF-16 code units), no control character, no '/', not '.' or
 * '..' (a URL parser resolves those as path segments), and no lone surrogate (it cannot be
 * URL-encoded).
 */
export function isValidUserId(id: string): boolean {
  return (
    id.length >= 1 &&
    id.length <= MAX_USER_ID_LENGTH &&
    id !== '.' &&
    id !== '..' &&
    !id.includes('/') &&
    !CONTROL.test(id) &&
    !LONE_SURROGATE.test(id)
  );
}
