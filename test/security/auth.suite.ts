// Authentication: every protected route against every kind of bad credential (missing, malformed,
// wrong, another Service's token, a callback token used as an API token and the reverse, an auditor
// token where a Service is needed and the reverse): 401 or 403 in the error shape, and a refused
// request changes nothing. Tokens are compared by digest with timingSafeEqual.
import { messageCallback } from '../../local/parley-sim/callback-body';
import * as crypto from 'node:crypto';
import fc from 'fast-check';
import { type HttpRoute, httpRoutes } from '../../functions/contracts/routes';
import { AGENT, BOT, type Harness, startHarness } from '../support/harness';
import { errorShapeProblem, type Invoker, invoker, reportFigures } from '../support/reliability';

type Credential = { name: string; header: string | undefined };

export const defineAuthSuite = (randomTokens: number, label: string): void => {
  let h: Harness;
  let api: Invoker;
  /** Every request sent with a credential under test, by route, with the status it got. */
  const sent: { route: string; status: number }[] = [];

  beforeAll(async () => {
    h = await startHarness();
    api = invoker(h.source);
  });

  afterAll(async () => {
    await h.close();
    const byRoute = new Map<string, { requests: number; refused: number }>();
    for (const { route, status } of sent) {
      const tally = byRoute.get(route) ?? { requests: 0, refused: 0 };
      tally.requests++;
      if (status === 401 || status === 403) tally.refused++;
      byRoute.set(route, tally);
    }
    const count = (status: number) => sent.filter((r) => r.status === status).length;
    const figures = {
      routes: byRoute.size,
      requests: sent.length,
      perRoute: [...byRoute].map(([route, t]) => `${route} ${t.requests}`).join('; '),
      refused401: count(401),
      refused403: count(403),
      letIn: sent.filter((r) => r.status !== 401 && r.status !== 403).length,
    };
    reportFigures(label, figures, {
      drives: `${figures.requests} requests over ${figures.routes} protected routes (${figures.perRoute}): missing, malformed, wrong and random tokens, another Service's, a callback token as an API token and the reverse, an auditor token for a Service route and the reverse`,
      proved: `${figures.refused401} answered 401 (one body for every 401) and ${figures.refused403} answered 403, in the error shape; ${figures.letIn} let in; nothing queued, recorded or sent to Parley; tokens compared by digest with timingSafeEqual`,
    });
  });

  const protectedRoutes = httpRoutes.filter((r) => r.fn !== 'health' && r.fn !== 'openapi');
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

  /** Valid tokens used where they do not belong: refused with 401 (wrong kind) or 403. */
  const misplaced = (route: HttpRoute): { cred: Credential; status: number }[] => {
    const t = h.tokens;
    const bearer = (token: string) => `Bearer ${token}`;
    if (route.fn === 'inbound') {
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
    if (route.fn === 'handover' || route.fn === 'messages') {
      out.push({
        cred: { name: 'an auditor token for a Service route', header: bearer(t.auditor) },
        status: 403,
      });
    }
    if (route.fn === 'audit' || route.fn === 'reconcile' || route.fn === 'verify') {
      out.push({
        cred: { name: 'a Service token for an auditor route', header: bearer(t.bot.api) },
        status: 403,
      });
      out.push({
        cred: { name: "another Service's API token", header: bearer(t.agent.api) },
        status: 403,
      });
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

  const send = async (route: HttpRoute, header: string | undefined) => {
    const body = bodyOf(route);
    const res = await api.call({
      method: route.method,
      path: pathOf(route),
      ...(header === undefined ? {} : { headers: { Authorization: header } }),
      ...(body === undefined ? {} : { body }),
    });
    sent.push({ route: `${route.method} ${route.path}`, status: res.statusCode ?? 0 });
    return res;
  };

  it.each(protectedRoutes.map((r) => [`${r.method} ${r.path}`, r] as const))(
    'refuses every bad credential on %s with 401 or 403',
    async (_name, route) => {
      const bodies401 = new Set<string>();
      for (const cred of alwaysBad()) {
        const res = await send(route, cred.header);
        expect({ cred: cred.name, status: res.statusCode }).toEqual({
          cred: cred.name,
          status: 401,
        });
        expect(errorShapeProblem(res)).toBeNull();
        bodies401.add(String(res.body));
      }
      for (const { cred, status } of misplaced(route)) {
        const res = await send(route, cred.header);
        expect({ cred: cred.name, status: res.statusCode }).toEqual({ cred: cred.name, status });
        expect(errorShapeProblem(res)).toBeNull();
        if (status === 401) bodies401.add(String(res.body));
      }
      // One answer for every 401: nothing tells a wrong token from a wrong kind or an unknown id.
      expect(bodies401.size).toBe(1);
    },
  );

  it('refuses random tokens on every route', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(...protectedRoutes),
        fc.string({ minLength: 1, maxLength: 64, unit: 'binary-ascii' }),
        async (route, token) => {
          const res = await send(route, `Bearer ${token}`);
          expect(res.statusCode).toBe(401);
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
    const wrong = await send(protectedRoutes.find((r) => r.fn === 'inbound')!, 'Bearer nope');
    expect(res.statusCode).toBe(401);
    expect(res.body).toEqual(wrong.body);
  });

  it('changed nothing for any refused request', async () => {
    expect(h.queued).toEqual([]);
    expect((await h.deps.history.listUser('auth-1', { limit: 10 })).items).toEqual([]);
    expect(h.sim.log().filter((e) => e.kind === 'request' && e.method !== 'GET')).toEqual([]);
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
