// The console's session rules, pure and clock-driven: the cookie, idle and absolute expiry, the
// per-session CSRF token, the same-origin check every POST passes, and the login throttle. The
// session id lives only in the browser's cookie; the state table keeps its sha256 (so a read of
// the table gives no usable session) and the CSRF token is derived from it, never stored.
import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

/** `__Host-`: Secure, Path=/, no Domain, so no other host or path can set or shadow it. */
export const SESSION_COOKIE = '__Host-parley-console';
export const IDLE_MS = 30 * 60_000;
export const ABSOLUTE_MS = 8 * 3600_000;
/** A session's last-seen time is written again at most this often (one put per minute of use). */
export const TOUCH_EVERY_MS = 60_000;
/** Failed logins one source may make in a minute; the next ones are refused until it ends. */
export const LOGIN_FAILURES_PER_MINUTE = 5;

export type ConsoleRole = 'auditor' | 'operator';

export interface ConsoleSession {
  /** sha256 of the session id (hex): the item's key. */
  idHash: string;
  /** The auditor's or operator's name from the auditors' secret (never the token). */
  name: string;
  role: ConsoleRole;
  /** Epoch ms. */
  createdAt: number;
  lastSeenAt: number;
  /** Set by logout. */
  endedAt: number | null;
  /** 1 on creation, +1 on every write (compare-and-set). */
  version: number;
}

const sha256 = (text: string): Buffer => createHash('sha256').update(text, 'utf8').digest();

export const newSessionId = (): string => randomBytes(32).toString('base64url');
export const sessionKeyOf = (sessionId: string): string => sha256(sessionId).toString('hex');

/** When the session stops being accepted: 30 min after its last use, 8 h after its start. */
export const sessionExpiresAt = (s: ConsoleSession): number =>
  Math.min(s.lastSeenAt + IDLE_MS, s.createdAt + ABSOLUTE_MS);

export const isLive = (s: ConsoleSession, now: number): boolean =>
  s.endedAt === null && now < sessionExpiresAt(s);

export const startSession = (
  sessionId: string,
  who: { name: string; role: ConsoleRole },
  now: number,
): ConsoleSession => ({
  idHash: sessionKeyOf(sessionId),
  ...who,
  createdAt: now,
  lastSeenAt: now,
  endedAt: null,
  version: 1,
});

/** The session seen again now, or null when its last-seen time is recent enough to keep. */
export const touched = (s: ConsoleSession, now: number): ConsoleSession | null =>
  now - s.lastSeenAt >= TOUCH_EVERY_MS ? { ...s, lastSeenAt: now, version: s.version + 1 } : null;

export const ended = (s: ConsoleSession, now: number): ConsoleSession => ({
  ...s,
  endedAt: now,
  version: s.version + 1,
});

/** The Set-Cookie value: the id, or (logout) an immediate expiry. */
export const sessionCookie = (sessionId: string | null): string =>
  sessionId === null
    ? `${SESSION_COOKIE}=; Path=/; Secure; HttpOnly; SameSite=Strict; Max-Age=0`
    : `${SESSION_COOKIE}=${sessionId}; Path=/; Secure; HttpOnly; SameSite=Strict; Max-Age=${ABSOLUTE_MS / 1000}`;

/** The session id from the request's cookies (API Gateway gives them as `name=value` strings). */
export const sessionIdFrom = (cookies: readonly string[]): string | undefined => {
  for (const cookie of cookies) {
    const eq = cookie.indexOf('=');
    if (eq > 0 && cookie.slice(0, eq).trim() === SESSION_COOKIE) {
      const value = cookie.slice(eq + 1).trim();
      // Our ids are 43 base64url characters; anything else is no session.
      if (/^[A-Za-z0-9_-]{43}$/.test(value)) return value;
    }
  }
  return undefined;
};

/** The session's CSRF token: a keyed hash of its id, so it needs no storage and dies with it. */
export const csrfTokenOf = (sessionId: string): string =>
  createHmac('sha256', sessionId).update('parley-console-csrf').digest('base64url');

/** Compared in constant time (both sides hashed first, so lengths never differ). */
export const csrfMatches = (sessionId: string, given: string | undefined): boolean =>
  given !== undefined && timingSafeEqual(sha256(csrfTokenOf(sessionId)), sha256(given));

/**
 * A POST the browser made from one of our own pages: `Sec-Fetch-Site: same-origin`, or, from a
 * client that sends no Sec-Fetch-Site, an Origin naming this host. A browser that says
 * `cross-site` or `same-site` is refused whatever its Origin.
 */
export const isSameOrigin = (headers: {
  secFetchSite?: string;
  origin?: string;
  host?: string;
  proto?: string;
}): boolean => {
  if (headers.secFetchSite !== undefined) return headers.secFetchSite === 'same-origin';
  if (!headers.origin || !headers.host) return false;
  try {
    const origin = new URL(headers.origin);
    const proto = headers.proto ? `${headers.proto}:` : origin.protocol;
    return origin.host === headers.host && origin.protocol === proto;
  } catch {
    return false;
  }
};

/** The key of a source's failed-login item (its address hashed: the table holds no address). */
export const loginSourceKey = (sourceIp: string): string =>
  sha256(sourceIp).toString('hex').slice(0, 32);

/** The failures that still count at `now`: those of the last minute, newest last. */
export const recentFailures = (failures: readonly number[], now: number): number[] =>
  failures.filter((at) => at > now - 60_000 && at <= now).sort((a, b) => a - b);

/**
 * A login from this source is refused while it failed LOGIN_FAILURES_PER_MINUTE times within the
 * last minute (a sliding window): then the seconds until the oldest of them is a minute old.
 */
export const loginRefusal = (
  failures: readonly number[],
  now: number,
): { retryAfterSeconds: number } | null => {
  const recent = recentFailures(failures, now);
  if (recent.length < LOGIN_FAILURES_PER_MINUTE) return null;
  const oldest = recent[recent.length - LOGIN_FAILURES_PER_MINUTE]!;
  return { retryAfterSeconds: Math.max(1, Math.ceil((oldest + 60_000 - now) / 1000)) };
};

/** The failures kept after one more at `now` (the last minute's, at most the limit). */
export const withFailure = (failures: readonly number[], now: number): number[] =>
  [...recentFailures(failures, now), now].slice(-LOGIN_FAILURES_PER_MINUTE);
