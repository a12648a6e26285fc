// Authentication: every route that is not public, refused every bad credential the way it
// authenticates (test/support/reliability.ts's table). Bearer routes: missing, malformed, wrong,
// another Service's token, a callback token as an API token and the reverse, a token of a role the
// route does not take: 401 or 403 in the error shape, one body for every 401. The webhook: another
// Service's callback token, an API token. The console's pages and forms (a session cookie, no
// Authorization header looked at): no cookie, a forged, malformed, expired or logged-out session,
// the table's key of a live one, any Bearer header: the login form (GET /console: 200; other pages
// and forms: 401), and a live session posted from elsewhere, with another session's CSRF token or
// as an auditor acting: 403. The login form: a wrong token, a Service's API or callback token: 401;
// no token: 400; from elsewhere: 403; never a session cookie. A refused request changes nothing.
// Tokens are compared by digest with timingSafeEqual.
import { ScanCommand } from '@aws-sdk/lib-dynamodb';
import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import * as crypto from 'node:crypto';
import fc from 'fast-check';
import {
  csrfTokenOf,
  IDLE_MS,
  SESSION_COOKIE,
  sessionKeyOf,
} from '../../functions/console/session';
import { type HttpRoute, httpRoutes } from '../../functions/contracts/routes';
import { messageCallback } from '../../local/parley-sim/callback-body';
import { type ApiEventInput, apiEvent } from '../support/events';
import { AGENT, BOT, type Harness, startHarness } from '../support/harness';
import {
  errorShapeProblem,
  type Invoker,
  invoker,
  type MovableClock,
  movableClock,
  type Response,
  type RouteAuth,
  reportFigures,
  routeAuth,
} from '../support/reliability';

type Credential = { name: string; header: string | undefined };
type Bearer = Extract<RouteAuth, { by: 'bearer' }>;
type Session = Extract<RouteAuth, { by: 'session' }>;

/** A way to present a console session: cookies, an Authorization header, the form's CSRF token. */
interface SessionCredential {
  name: string;
  cookies?: string[];
  header?: string;
  csrf?: string;
  /** `Sec-Fetch-Site` of a POST. @default 'same-origin' */
  site?: string;
}

/** A login attempt: the form's token (absent: no field), maybe an Authorization header too. */
interface LoginCredential {
  name: string;
  token: string | undefined;
  header?: string;
  site?: string;
}

const LOGIN_FORM = '<form method="post" action="/console/login">';
const FORM = 'application/x-www-form-urlencoded';

export const defineAuthSuite = (randomTokens: number, label: string): void => {
  let h: Harness;
  let api: Invoker;
  let clock: MovableClock;
  /** Every request sent with a credential under test: its route, how it was answered. */
  const sent: { route: string; status: number; loginForm: boolean; cookie: boolean }[] = [];
  /** The session ids of the suite's own logins. */
  const sessions = { expired: '', ended: '', operator: '', auditor: '' };
  let loginsMade = 0;
  let sourceCounter = 0;
  /** A source address of its own per login: the throttle (5 failures a minute) stays out of it. */
  const freshSource = () => `2001:db8::${(++sourceCounter).toString(16)}`;

  /** A console request: the factory's event with cookies and a source address. */
  const consoleEvent = (
    input: ApiEventInput,
    cookies: string[] | undefined,
    sourceIp = '192.0.2.10',
  ): APIGatewayProxyEventV2 => {
    const base = apiEvent(input);
    return {
      ...base,
      ...(cookies ? { cookies } : {}),
      requestContext: { ...base.requestContext, http: { ...base.requestContext.http, sourceIp } },
    };
  };

  const login = (cred: LoginCredential): Promise<Response> => {
    const form = new URLSearchParams(cred.token === undefined ? {} : { token: cred.token });
    return api.send(
      consoleEvent(
        {
          method: 'POST',
          path: '/console/login',
          headers: {
            'Content-Type': FORM,
            'Sec-Fetch-Site': cred.site ?? 'same-origin',
            ...(cred.header === undefined ? {} : { Authorization: cred.header }),
          },
          rawBody: form.toString(),
        },
        undefined,
        freshSource(),
      ),
    );
  };

  /** A session of the suite's own (the login must succeed), its id from the cookie. */
  const openSession = async (token: string): Promise<string> => {
    const res = await login({ name: 'setup', token });
    const id = new RegExp(`^${SESSION_COOKIE}=([^;]+);`).exec(res.cookies?.[0] ?? '')?.[1];
    if (res.statusCode !== 303 || !id) throw new Error(`setup login answered ${res.statusCode}`);
    loginsMade++;
    return id;
  };

  beforeAll(async () => {
    clock = movableClock();
    h = await startHarness({ clock, checkpoints: true });
    api = invoker(h.source);
    sessions.expired = await openSession(h.tokens.operator);
    clock.advance(IDLE_MS + 60_000);
    sessions.ended = await openSession(h.tokens.operator);
    const out = await api.send(
      consoleEvent(
        {
          method: 'POST',
          path: '/console/logout',
          headers: { 'Content-Type': FORM, 'Sec-Fetch-Site': 'same-origin' },
          rawBody: new URLSearchParams({ csrf: csrfTokenOf(sessions.ended) }).toString(),
        },
        [`${SESSION_COOKIE}=${sessions.ended}`],
      ),
    );
    if (out.statusCode !== 303) throw new Error(`setup logout answered ${out.statusCode}`);
    sessions.operator = await openSession(h.tokens.operator);
    sessions.auditor = await openSession(h.tokens.auditor);
  });

  afterAll(async () => {
    await h.close();
    const byRoute = new Map<string, number>();
    for (const { route } of sent) byRoute.set(route, (byRoute.get(route) ?? 0) + 1);
    const count = (status: number) => sent.filter((r) => r.status === status).length;
    const loginForm200 = sent.filter((r) => r.status === 200 && r.loginForm).length;
    const figures = {
      routes: byRoute.size,
      requests: sent.length,
      perRoute: [...byRoute].map(([route, n]) => `${route} ${n}`).join('; '),
      refused401: count(401),
      refused403: count(403),
      refused400: count(400),
      loginForm200,
      sessionCookies: sent.filter((r) => r.cookie).length,
      letIn: sent.filter(
        (r) =>
          r.cookie || (![400, 401, 403].includes(r.status) && !(r.status === 200 && r.loginForm)),
      ).length,
    };
    reportFigures(label, figures, {
      drives: `${figures.requests} requests over ${figures.routes} routes that are not public (${figures.perRoute}): missing, malformed, wrong and random tokens, another Service's, a callback token as an API token and the reverse, a token of a role the route does not take; the console with no, forged, malformed, expired and logged-out sessions and Bearer headers, its forms from elsewhere or with another session's CSRF token, its login with wrong, random and Services' tokens`,
      proved: `${figures.refused401} answered 401 (one body per route for every 401), ${figures.refused403} answered 403, ${figures.refused400} a login without a token 400, ${figures.loginForm200} GET /console its login form; ${figures.letIn} let in and ${figures.sessionCookies} session cookies given; nothing queued, recorded or sent to Parley, no session opened; tokens compared by digest with timingSafeEqual`,
    });
  });

  const notPublic = httpRoutes.filter((r) => routeAuth(r)?.by !== 'public');
  const pathOf = (r: HttpRoute) => r.path.replace('{serviceId}', BOT).replace('{userId}', 'auth-1');
  const bodyOf = (r: HttpRoute): unknown =>
    r.fn === 'handover'
      ? { userId: 'auth-1', newOwner: AGENT }
      : r.fn === 'messages'
        ? { text: 'hello' }
        : r.fn === 'inbound'
          ? messageCallback({ userId: 'auth-1', id: 1, text: 'hi' })
          : r.method === 'POST'
            ? {}
            : undefined;

  /** Credentials that must never pass, whatever the route. */
  const alwaysBad = (): Credential[] => {
    const t = h.tokens;
    return [
      { name: 'missing', header: undefined },
      { name: 'empty', header: '' },
      { name: 'scheme only', header: 'Bearer' },
      { name: 'scheme and spaces', header: 'Bearer    ' },
      { name: 'basic auth', header: `Basic ${Buffer.from(`x:${t.bot.api}`).toString('base64')}` },
      { name: 'two tokens', header: `Bearer ${t.bot.api} ${t.bot.api}` },
      { name: 'token with a prefix', header: `Bearer x${t.bot.api}` },
      { name: 'token cut short', header: `Bearer ${t.bot.api.slice(0, -1)}` },
      { name: 'token in another case', header: `Bearer ${t.bot.api.toUpperCase()}` },
      { name: 'overlong', header: `Bearer ${'a'.repeat(4096)}` },
      { name: 'unicode', header: 'Bearer tökén-💬' },
      { name: 'wrong', header: `Bearer ${crypto.randomBytes(24).toString('base64url')}` },
      { name: 'the signing secret', header: `Bearer ${t.bot.signing}` },
      {
        name: 'the Parley shared secret',
        header: `Bearer ${h.sim.seed.services[0]!.sharedSecret}`,
      },
    ];
  };

  /** Valid tokens used where they do not belong: refused with 401 (wrong kind) or 403 (role). */
  const misplaced = (route: HttpRoute, auth: Bearer | { by: 'callback' }) => {
    const t = h.tokens;
    const bearer = (token: string) => `Bearer ${token}`;
    if (auth.by === 'callback') {
      return [
        {
          cred: { name: "another Service's callback token", header: bearer(t.agent.callback) },
          status: 401,
        },
        {
          cred: { name: 'an API token as a callback token', header: bearer(t.bot.api) },
          status: 401,
        },
        {
          cred: { name: 'an auditor token as a callback token', header: bearer(t.auditor) },
          status: 401,
        },
      ];
    }
    const out = [
      {
        cred: { name: 'a callback token as an API token', header: bearer(t.bot.callback) },
        status: 401,
      },
      {
        cred: { name: "another Service's callback token", header: bearer(t.agent.callback) },
        status: 401,
      },
    ];
    if (!auth.roles.includes('service')) {
      out.push(
        { cred: { name: "a Service's API token", header: bearer(t.bot.api) }, status: 403 },
        { cred: { name: "another Service's API token", header: bearer(t.agent.api) }, status: 403 },
      );
    }
    if (!auth.roles.includes('auditor')) {
      out.push({ cred: { name: 'an auditor token', header: bearer(t.auditor) }, status: 403 });
    }
    if (!auth.roles.includes('operator')) {
      out.push({ cred: { name: 'an operator token', header: bearer(t.operator) }, status: 403 });
    }
    if (route.fn === 'messages') {
      // The agent's own, valid token, for a user the agent does not own.
      out.push({
        cred: { name: "another Service's API token", header: bearer(t.agent.api) },
        status: 403,
      });
    }
    return out;
  };

  /** The console's answers are pages: HTML, no trace, none of our tokens in them. */
  const pageProblem = (res: Response): string | null => {
    const type = Object.entries(res.headers ?? {}).find(
      ([k]) => k.toLowerCase() === 'content-type',
    )?.[1];
    if (!String(type).startsWith('text/html')) return `content type ${type}`;
    const body = String(res.body);
    if (/\n\s+at /.test(body)) return 'stack trace in body';
    const t = h.tokens;
    const secrets = [t.bot.api, t.bot.callback, t.bot.signing, t.agent.api, t.auditor, t.operator];
    if (secrets.some((s) => body.includes(s))) return 'a token in the body';
    return null;
  };

  const record = (route: HttpRoute, res: Response) => {
    const cookie = (res.cookies ?? []).some(
      (c) => c.startsWith(`${SESSION_COOKIE}=`) && !c.includes('Max-Age=0'),
    );
    sent.push({
      route: `${route.method} ${route.path}`,
      status: res.statusCode ?? 0,
      loginForm: String(res.body ?? '').includes(LOGIN_FORM),
      cookie,
    });
    return res;
  };

  const send = async (route: HttpRoute, header: string | undefined) => {
    const body = bodyOf(route);
    const res = await api.call({
      method: route.method,
      path: pathOf(route),
      ...(header === undefined ? {} : { headers: { Authorization: header } }),
      ...(body === undefined ? {} : { body }),
    });
    return record(route, res);
  };

  const sendSession = async (route: HttpRoute, cred: SessionCredential) => {
    const headers: Record<string, string> =
      cred.header === undefined ? {} : { Authorization: cred.header };
    let rawBody: string | undefined;
    if (route.method === 'POST') {
      headers['Content-Type'] = FORM;
      headers['Sec-Fetch-Site'] = cred.site ?? 'same-origin';
      rawBody = new URLSearchParams({
        csrf: cred.csrf ?? 'none',
        reason: 'auth suite',
        key: 'k'.repeat(22),
      }).toString();
    }
    const res = await api.send(
      consoleEvent(
        { method: route.method, path: pathOf(route), headers, ...(rawBody ? { rawBody } : {}) },
        cred.cookies,
      ),
    );
    return record(route, res);
  };

  const cookieOf = (id: string) => [`${SESSION_COOKIE}=${id}`];
  /** A presented session id with the CSRF token a forger could make for it. */
  const presenting = (name: string, id: string): SessionCredential => ({
    name,
    cookies: cookieOf(id),
    csrf: csrfTokenOf(id),
  });

  /** Sessions that are none: the login form (GET /console 200, else 401), whatever else is sent. */
  const noSessions = (): SessionCredential[] => [
    ...alwaysBad().map((c) => ({ name: `no cookie, Authorization ${c.name}`, header: c.header })),
    { name: "an operator's token as a Bearer header", header: `Bearer ${h.tokens.operator}` },
    presenting('an unknown session id', crypto.randomBytes(32).toString('base64url')),
    presenting('a malformed session id', 'not-a-session'),
    presenting('a live session id with a character more', `${sessions.operator}A`),
    {
      name: 'a live session id under another cookie name',
      cookies: [`parley-console=${sessions.operator}`],
      csrf: csrfTokenOf(sessions.operator),
    },
    presenting("the table's key of a live session", sessionKeyOf(sessions.operator)),
    presenting('a session idle past 30 minutes', sessions.expired),
    presenting('a logged-out session', sessions.ended),
    presenting("an operator's token as the cookie", h.tokens.operator),
  ];

  /** Live sessions used where they do not belong (POSTs only): 403, nothing done. */
  const misusedSessions = (route: HttpRoute): SessionCredential[] => {
    if (route.method !== 'POST') return [];
    const out: SessionCredential[] = [
      {
        ...presenting('a live session posted from another site', sessions.operator),
        site: 'cross-site',
      },
      {
        name: "a live session with another session's CSRF token",
        cookies: cookieOf(sessions.operator),
        csrf: csrfTokenOf(sessions.auditor),
      },
    ];
    if (route.path !== '/console/logout') {
      out.push(presenting("an auditor's live session acting", sessions.auditor));
    }
    return out;
  };

  /** Login attempts that must never open a session: 401, or 400 without a token. */
  const badLogins = (): { cred: LoginCredential; status: number }[] => {
    const t = h.tokens;
    const refused = (name: string, token: string, extra: Partial<LoginCredential> = {}) => ({
      cred: { name, token, ...extra },
      status: 401,
    });
    return [
      { cred: { name: 'no token field', token: undefined }, status: 400 },
      { cred: { name: 'an empty token', token: '' }, status: 400 },
      { cred: { name: 'spaces only', token: '   ' }, status: 400 },
      refused('a wrong token', crypto.randomBytes(24).toString('base64url')),
      refused("an operator's token cut short", t.operator.slice(0, -1)),
      refused("an operator's token with a prefix", `x${t.operator}`),
      refused("an operator's token in another case", t.operator.toUpperCase()),
      refused("an operator's token twice", `${t.operator} ${t.operator}`),
      refused("an operator's token with its scheme", `Bearer ${t.operator}`),
      refused('overlong', 'a'.repeat(4096)),
      refused('unicode', 'tökén-💬'),
      refused("a Service's API token", t.bot.api),
      refused("another Service's API token", t.agent.api),
      refused('a callback token', t.bot.callback),
      refused('the signing secret', t.bot.signing),
      refused('the Parley shared secret', h.sim.seed.services[0]!.sharedSecret),
      refused("a wrong token, an operator's as a Bearer header", 'wrong-token-0123456789', {
        header: `Bearer ${t.operator}`,
      }),
      {
        cred: {
          name: "an operator's token from another site",
          token: t.operator,
          site: 'cross-site',
        },
        status: 403,
      },
    ];
  };

  it.each(notPublic.map((r) => [`${r.method} ${r.path}`, r] as const))(
    'refuses every bad credential on %s the way it authenticates',
    async (_name, route) => {
      const auth = routeAuth(route);
      if (!auth)
        throw new Error(
          'not in the table of test/support/reliability.ts: say how it authenticates',
        );
      const bodies401 = new Set<string>();
      let expected401 = false;
      const expectRefused = (
        res: Response,
        name: string,
        status: number,
        problem: string | null,
      ) => {
        expected401 ||= status === 401;
        expect({ cred: name, status: res.statusCode, problem }).toEqual({
          cred: name,
          status,
          problem: null,
        });
        expect({ cred: name, cookies: res.cookies }).toEqual({ cred: name, cookies: undefined });
        if (status === 401) bodies401.add(String(res.body));
      };

      if (auth.by === 'bearer' || auth.by === 'callback') {
        for (const cred of alwaysBad()) {
          const res = await send(route, cred.header);
          expectRefused(res, cred.name, 401, errorShapeProblem(res));
        }
        for (const { cred, status } of misplaced(route, auth)) {
          const res = await send(route, cred.header);
          expectRefused(res, cred.name, status, errorShapeProblem(res));
        }
      } else if (auth.by === 'session') {
        const anonymous = route.method === 'POST' ? 401 : (auth as Session).anonymous;
        for (const cred of noSessions()) {
          const res = await sendSession(route, cred);
          expectRefused(res, cred.name, anonymous, pageProblem(res));
          expect({ cred: cred.name, loginForm: String(res.body).includes(LOGIN_FORM) }).toEqual({
            cred: cred.name,
            loginForm: true,
          });
        }
        for (const cred of misusedSessions(route)) {
          const res = await sendSession(route, cred);
          expectRefused(res, cred.name, 403, pageProblem(res));
        }
      } else {
        for (const { cred, status } of badLogins()) {
          const res = record(route, await login(cred));
          expectRefused(res, cred.name, status, pageProblem(res));
        }
      }
      // One answer for every 401: nothing tells a wrong token from a wrong kind or an unknown id.
      expect(bodies401.size).toBe(expected401 ? 1 : 0);
    },
  );

  it('refuses random tokens on every route that is not public', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(...notPublic),
        fc.string({ minLength: 1, maxLength: 64, unit: 'binary-ascii' }),
        async (route, token) => {
          const auth = routeAuth(route);
          if (auth?.by === 'session') {
            const res = await sendSession(route, presenting('random', token));
            expect(res.statusCode).toBe(route.method === 'POST' ? 401 : auth.anonymous);
            expect(String(res.body)).toContain(LOGIN_FORM);
          } else if (auth?.by === 'login') {
            const res = record(route, await login({ name: 'random', token }));
            // The form's token is trimmed: nothing left is "Enter your token".
            expect(res.statusCode).toBe(token.trim() === '' ? 400 : 401);
            expect(res.cookies).toBeUndefined();
          } else {
            const res = await send(route, `Bearer ${token}`);
            expect(res.statusCode).toBe(401);
          }
        },
      ),
      { numRuns: randomTokens, seed: 4242 },
    );
  });

  it('answers an unknown service id on the webhook like a wrong token', async () => {
    const res = await api.call({
      method: 'POST',
      path: '/webhooks/parley/not-a-service',
      headers: { Authorization: `Bearer ${h.tokens.bot.callback}` },
      body: { type: 'event' },
    });
    const wrong = await send(notPublic.find((r) => r.fn === 'inbound')!, 'Bearer nope');
    expect(res.statusCode).toBe(401);
    expect(res.body).toEqual(wrong.body);
  });

  it('changed nothing for any refused request, and opened no session but its own logins', async () => {
    let sessionItems = 0;
    let start: Record<string, unknown> | undefined;
    do {
      const page = await h.dynamo.client.send(
        new ScanCommand({
          TableName: h.dynamo.tables.state,
          FilterExpression: 'begins_with(pk, :p)',
          ExpressionAttributeValues: { ':p': 'SESSION#' },
          ConsistentRead: true,
          ExclusiveStartKey: start,
        }),
      );
      sessionItems += page.Items?.length ?? 0;
      start = page.LastEvaluatedKey;
    } while (start);

    expect(h.queued).toEqual([]);
    expect((await h.deps.history.listUser('auth-1', { limit: 10 })).items).toEqual([]);
    expect(h.sim.log().filter((e) => e.kind === 'request' && e.method !== 'GET')).toEqual([]);
    expect(sessionItems).toBe(loginsMade);
  });

  it('compares presented tokens by digest in constant time', async () => {
    // The module object itself (a namespace import is a copy under CommonJS interop).
    const spy = jest.spyOn(require('node:crypto') as typeof crypto, 'timingSafeEqual');
    try {
      const ok = await api.call({ method: 'GET', path: '/services', token: h.tokens.agent.api });
      expect(ok.statusCode).toBe(200);
      // The token's sha256 digest against the stored one: fixed-length buffers, so the time taken
      // does not depend on how much of the token matches. (The in-process simulator's own HMAC
      // checks show up here too, with 64-byte buffers.)
      const digest = crypto.createHash('sha256').update(h.tokens.agent.api).digest();
      const tokenChecks = spy.mock.calls.filter(([, b]) => Buffer.from(b as Buffer).equals(digest));
      expect(tokenChecks.length).toBeGreaterThan(0);
      for (const [a] of tokenChecks) expect(Buffer.from(a as Buffer).equals(digest)).toBe(true);
    } finally {
      spy.mockRestore();
    }
  });
};
