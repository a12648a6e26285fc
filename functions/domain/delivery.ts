// Reading a Parley callback and naming its delivery: the parse, the delivery id (the dedupe key of
// the queue and of the delivery item) and the FIFO group. Shared by the inbound webhook (which
// names the message) and the processor (which acts on it), so the two always agree.
import { sha256Hex } from './chain';
import { isValidUserId, LONE_SURROGATE } from './user-id';

export type ParsedCallback =
  | {
      ok: true;
      type: string;
      /** body.user.id of a message, event or action, as a string. */
      userId: string | null;
      /** body.id (a string or a number), as a string. */
      bodyId: string | null;
      /** body.message of a `message` callback. */
      text: string | null;
      /** The whole callback as parsed: unknown types and fields are kept. */
      value: unknown;
    }
  | { ok: false; reason: string };

/** Callback types whose body names the user (PARLEY.md "Callbacks"). */
const USER_TYPES = new Set(['message', 'event', 'action']);

/**
 * Delivery ids and group ids also name SQS FIFO messages (deduplication and group ids): 1 to 128
 * characters from [!-~]. deliveryIdFor and groupIdFor never return anything else, so the queue
 * adapter passes them on unchanged.
 */
export const QUEUE_ID = /^[!-~]{1,128}$/;

type JsonObject = Record<string, unknown>;

const isObject = (v: unknown): v is JsonObject =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

/** An own property only: a `__proto__` or `constructor` key in the JSON is plain data here. */
const own = (obj: JsonObject, key: string): unknown =>
  Object.hasOwn(obj, key) ? obj[key] : undefined;

/** Deeper JSON than any Parley callback; re-serializing it for a forward could overflow the stack. */
export const MAX_CALLBACK_DEPTH = 64;

/** Whether `value` nests objects/arrays deeper than `max` (iterative: no recursion on input). */
const deeperThan = (value: unknown, max: number): boolean => {
  const stack: [unknown, number][] = [[value, 1]];
  while (stack.length > 0) {
    const [v, depth] = stack.pop()!;
    if (typeof v !== 'object' || v === null) continue;
    if (depth > max) return true;
    for (const child of Object.values(v)) stack.push([child, depth + 1]);
  }
  return false;
};

const idString = (v: unknown): string | null => {
  // An id with a lone surrogate cannot name a user at Parley (it cannot be URL-encoded).
  if (typeof v === 'string') return v.length > 0 && !LONE_SURROGATE.test(v) ? v : null;
  if (typeof v === 'number' && Number.isSafeInteger(v)) return String(v);
  return null;
};

/**
 * Parses a callback body as Parley sent it. Not a JSON object, nested deeper than
 * MAX_CALLBACK_DEPTH, no string `type`, a `message` without a usable user id, or a user id (string
 * or number) that breaks the rule of isValidUserId: `ok: false` (the processor quarantines it: no
 * retry could make such an id usable). Anything else is accepted.
 */
export function parseCallback(raw: string): ParsedCallback {
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch {
    return { ok: false, reason: 'not_json' };
  }
  if (!isObject(value)) return { ok: false, reason: 'not_an_object' };
  if (deeperThan(value, MAX_CALLBACK_DEPTH)) return { ok: false, reason: 'too_deep' };
  const type = own(value, 'type');
  if (typeof type !== 'string' || type.length === 0) return { ok: false, reason: 'no_type' };

  const body = own(value, 'body');
  const fields = isObject(body) ? body : {};
  const user = own(fields, 'user');
  const rawUserId = USER_TYPES.has(type) && isObject(user) ? own(user, 'id') : undefined;
  const userId = idString(rawUserId);
  if (
    (typeof rawUserId === 'string' || typeof rawUserId === 'number') &&
    (userId === null || !isValidUserId(userId))
  ) {
    return { ok: false, reason: 'invalid_user_id' };
  }
  if (type === 'message' && userId === null) return { ok: false, reason: 'message_without_user' };

  const message = own(fields, 'message');
  return {
    ok: true,
    type,
    userId,
    bodyId: idString(own(fields, 'id')),
    text: type === 'message' && typeof message === 'string' ? message : null,
    value,
  };
}

/**
 * `{serviceId}#{suffix}`, or `h-{sha256(serviceId, suffix)}` when a long or non-ASCII service id
 * would make that no QUEUE_ID (a readable id always has a `#`, a hashed one never: no overlap).
 */
const namedFor = (serviceId: string, suffix: string): string => {
  const readable = `${serviceId}#${suffix}`;
  return QUEUE_ID.test(readable) ? readable : `h-${sha256Hex(JSON.stringify([serviceId, suffix]))}`;
};

/**
 * `{serviceId}#{type}#{body.id}` when the callback has an id, else `{serviceId}#{sha256(raw)}`, so
 * identical id-less deliveries collapse. A type or id that would make the id ambiguous (a `#`) or
 * unusable as an SQS deduplication id (too long, not printable ASCII) is hashed instead:
 * `{serviceId}#id-{sha256(type, id)}`. Always a QUEUE_ID (see namedFor).
 */
export function deliveryIdFor(serviceId: string, raw: string, parsed: ParsedCallback): string {
  if (!parsed.ok || parsed.bodyId === null) return namedFor(serviceId, sha256Hex(raw));
  const suffix = `${parsed.type}#${parsed.bodyId}`;
  const readable = `${serviceId}#${suffix}`;
  const plain =
    !parsed.type.includes('#') && !parsed.bodyId.includes('#') && QUEUE_ID.test(readable);
  return plain
    ? readable
    : namedFor(serviceId, `id-${sha256Hex(JSON.stringify([parsed.type, parsed.bodyId]))}`);
}

/** How long a delivery with a body id counts as a duplicate: the id names that one event. */
export const DELIVERY_TTL_SECONDS = 30 * 24 * 3600;

/**
 * How long a delivery without a body id counts as a duplicate. Its id is a hash of the body, and
 * the same body can be a new event later (a user's `startTyping` next week); only Parley's own
 * retries of one call (at most 2 more, within minutes) must collapse.
 */
export const IDLESS_DELIVERY_TTL_SECONDS = 3600;

/**
 * Seconds until the delivery item of `parsed` expires: `withId` (30 days unless given) for a
 * callback with a body id, at most IDLESS_DELIVERY_TTL_SECONDS for one named by its body's hash
 * (unparsable bodies included).
 */
export function deliveryTtlSeconds(parsed: ParsedCallback, withId = DELIVERY_TTL_SECONDS): number {
  return parsed.ok && parsed.bodyId !== null
    ? withId
    : Math.min(withId, IDLESS_DELIVERY_TTL_SECONDS);
}

/**
 * The FIFO group keeping one user's callbacks in order: `user-{userId}`, or `unrouted`; a user id
 * that would make no QUEUE_ID is hashed: `user-h-{sha256(userId)}`. Always a QUEUE_ID.
 */
export function groupIdFor(parsed: ParsedCallback): string {
  if (!parsed.ok || parsed.userId === null) return 'unrouted';
  const group = `user-${parsed.userId}`;
  return QUEUE_ID.test(group) ? group : `user-h-${sha256Hex(parsed.userId)}`;
}
