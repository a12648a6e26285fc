import {
  ABSOLUTE_MS,
  csrfMatches,
  csrfTokenOf,
  ended,
  IDLE_MS,
  isLive,
  isSameOrigin,
  LOGIN_FAILURES_PER_MINUTE,
  loginRefusal,
  newSessionId,
  SESSION_COOKIE,
  sessionCookie,
  sessionExpiresAt,
  sessionIdFrom,
  sessionKeyOf,
  startSession,
  touched,
  withFailure,
} from '../../functions/console/session';

const T0 = Date.parse('2026-12-01T09:00:00.000Z');
const MIN = 60_000;

describe('console sessions', () => {
  const id = newSessionId();
  const fresh = startSession(id, { name: 'ops', role: 'operator' }, T0);

  it('keys a session by the sha256 of its id, never the id itself', () => {
    expect(fresh.idHash).toBe(sessionKeyOf(id));
    expect(fresh.idHash).toMatch(/^[0-9a-f]{64}$/);
    expect(fresh.idHash).not.toContain(id);
  });

  it('ends a session 30 minutes after its last use', () => {
    expect(isLive(fresh, T0 + IDLE_MS - 1)).toBe(true);
    expect(isLive(fresh, T0 + IDLE_MS)).toBe(false);
  });

  it('keeps a session in use alive, but never past 8 hours from its start', () => {
    let s = fresh;
    for (let at = T0 + 20 * MIN; at < T0 + ABSOLUTE_MS; at += 20 * MIN) {
      expect(isLive(s, at)).toBe(true);
      s = touched(s, at) ?? s;
    }
    expect(sessionExpiresAt(s)).toBe(T0 + ABSOLUTE_MS);
    expect(isLive(s, T0 + ABSOLUTE_MS)).toBe(false);
  });

  it('writes the last-seen time again at most once a minute', () => {
    expect(touched(fresh, T0 + MIN - 1)).toBeNull();
    expect(touched(fresh, T0 + MIN)).toMatchObject({ lastSeenAt: T0 + MIN, version: 2 });
  });

  it('ends at logout whatever time is left', () => {
    expect(isLive(ended(fresh, T0 + MIN), T0 + MIN)).toBe(false);
  });

  it('sets a __Host- cookie: Secure, HttpOnly, SameSite=Strict, Path=/, no Domain', () => {
    const cookie = sessionCookie(id);
    expect(cookie.startsWith(`${SESSION_COOKIE}=${id};`)).toBe(true);
    expect(SESSION_COOKIE.startsWith('__Host-')).toBe(true);
    for (const part of ['Path=/', 'Secure', 'HttpOnly', 'SameSite=Strict', 'Max-Age=28800']) {
      expect(cookie.split('; ')).toContain(part);
    }
    expect(cookie).not.toMatch(/Domain=/i);
    expect(sessionCookie(null)).toContain('Max-Age=0');
  });

  it('reads the session id from the request cookies, and nothing that is not one of ours', () => {
    expect(sessionIdFrom(['a=1', `${SESSION_COOKIE}=${id}`])).toBe(id);
    expect(sessionIdFrom([`${SESSION_COOKIE}=short`])).toBeUndefined();
    expect(sessionIdFrom([`x${SESSION_COOKIE}=${id}`])).toBeUndefined();
    expect(sessionIdFrom([])).toBeUndefined();
  });
});

describe('CSRF and same-origin checks', () => {
  const id = newSessionId();

  it("accepts the session's own CSRF token and refuses another session's or none", () => {
    expect(csrfMatches(id, csrfTokenOf(id))).toBe(true);
    expect(csrfMatches(id, csrfTokenOf(newSessionId()))).toBe(false);
    expect(csrfMatches(id, undefined)).toBe(false);
    expect(csrfMatches(id, '')).toBe(false);
    expect(csrfMatches(id, `${csrfTokenOf(id)}x`)).toBe(false);
  });

  it('takes Sec-Fetch-Site: same-origin, and refuses cross-site or same-site whatever the Origin', () => {
    const host = 'console.example.net';
    expect(isSameOrigin({ secFetchSite: 'same-origin', host })).toBe(true);
    expect(isSameOrigin({ secFetchSite: 'cross-site', origin: `https://${host}`, host })).toBe(
      false,
    );
    expect(isSameOrigin({ secFetchSite: 'same-site', origin: `https://${host}`, host })).toBe(
      false,
    );
    expect(isSameOrigin({ secFetchSite: 'none', host })).toBe(false);
  });

  it('without Sec-Fetch-Site, takes only an Origin naming this host and scheme', () => {
    const host = 'localhost:3000';
    expect(isSameOrigin({ origin: 'http://localhost:3000', host, proto: 'http' })).toBe(true);
    expect(isSameOrigin({ origin: 'http://evil.test', host, proto: 'http' })).toBe(false);
    expect(isSameOrigin({ origin: 'https://localhost:3000', host, proto: 'http' })).toBe(false);
    expect(isSameOrigin({ origin: 'null', host })).toBe(false);
    expect(isSameOrigin({ host })).toBe(false);
  });
});

describe('the login throttle', () => {
  it('refuses the sixth attempt after five failures within a minute, until the oldest is a minute old', () => {
    let failures: number[] = [];
    for (let i = 0; i < LOGIN_FAILURES_PER_MINUTE; i++) {
      expect(loginRefusal(failures, T0 + i * 1000)).toBeNull();
      failures = withFailure(failures, T0 + i * 1000);
    }
    expect(loginRefusal(failures, T0 + 5_000)).toEqual({ retryAfterSeconds: 55 });
    expect(loginRefusal(failures, T0 + 59_999)).toEqual({ retryAfterSeconds: 1 });
    // The first failure is a minute old: four remain in the window.
    expect(loginRefusal(failures, T0 + 60_000)).toBeNull();
  });

  it('forgets failures older than a minute and keeps at most five', () => {
    let failures: number[] = [];
    for (let i = 0; i < 12; i++) failures = withFailure(failures, T0 + i * 20_000);
    expect(failures).toEqual([T0 + 180_000, T0 + 200_000, T0 + 220_000]);
    expect(loginRefusal(failures, T0 + 221_000)).toBeNull();
  });
});
