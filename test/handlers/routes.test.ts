// Every HTTP route through its real handler: events built by the factory, the production
// composition root, dynalite and the Parley simulator over HTTP.
import { ASSETS } from '../../functions/console/static/assets';
import { SESSION_COOKIE } from '../../functions/console/session';
import { makeHandler as audit } from '../../functions/handlers/audit';
import { makeHandler as checkpoint } from '../../functions/handlers/checkpoints';
import { makeHandler as consoleHandler } from '../../functions/handlers/console';
import { makeHandler as eraser } from '../../functions/handlers/eraser';
import { makeHandler as erasure } from '../../functions/handlers/erasure';
import { makeHandler as handover } from '../../functions/handlers/handover';
import { makeHandler as health } from '../../functions/handlers/health';
import { makeHandler as inbound } from '../../functions/handlers/inbound';
import { makeHandler as lease } from '../../functions/handlers/lease';
import { makeHandler as messages } from '../../functions/handlers/messages';
import { makeHandler as metrics } from '../../functions/handlers/metrics';
import { makeHandler as notifications } from '../../functions/handlers/notifications';
import { makeHandler as offers } from '../../functions/handlers/offers';
import { CACHE_CONTROL, makeHandler as openapi } from '../../functions/handlers/openapi';
import { makeHandler as owner } from '../../functions/handlers/owner';
import { makeHandler as reconcile } from '../../functions/handlers/reconcile';
import { makeHandler as release } from '../../functions/handlers/release';
import { makeHandler as services } from '../../functions/handlers/services';
import { makeHandler as verify } from '../../functions/handlers/verify';
import type { HttpResult } from '../../functions/platform/handler';
import { buildOpenApiDocument } from '../../functions/contracts/openapi';
import { OPERATIONS, type Security } from '../../functions/contracts/openapi-operations';
import { type HttpRoute, httpRoutes } from '../../functions/contracts/routes';
import { startGateway } from '../../local/gateway';
import { messageCallback } from '../../local/parley-sim/callback-body';
import { type ApiEventInput, apiEvent } from '../support/events';
import { AGENT, BOT, type Harness, startHarness } from '../support/harness';
import { type RouteAuth, routeAuth, routesAuthenticatedBy } from '../support/reliability';

let h: Harness;
/** `cookies`: as API Gateway gives them (`name=value`), for the console's session. */
let call: (
  input: ApiEventInput & { cookies?: string[] },
) => Promise<HttpResult & { json: any; text: string }>;

beforeAll(async () => {
  // Checkpoints configured: the public key route has a key to serve.
  h = await startHarness({ checkpoints: true });
  const handlers = {
    audit: audit(h.source),
    checkpoint: checkpoint(h.source),
    console: consoleHandler(h.source),
    erasure: erasure(h.source),
    eraser: eraser(h.source),
    handover: handover(h.source),
    health: health(h.source),
    inbound: inbound(h.source),
    lease: lease(h.source),
    messages: messages(h.source),
    metrics: metrics(h.source),
    notifications: notifications(h.source),
    offers: offers(h.source),
    openapi: openapi(h.source),
    owner: owner(h.source),
    reconcile: reconcile(h.source),
    release: release(h.source),
    services: services(h.source),
    verify: verify(h.source),
  } as Record<string, (e: ReturnType<typeof apiEvent>) => Promise<unknown>>;
  call = async ({ cookies, ...input }) => {
    const event = { ...apiEvent(input), ...(cookies ? { cookies } : {}) };
    const route = httpRoutes.find((r) => `${r.method} ${r.path}` === event.routeKey)!;
    const result = (await handlers[route.fn]!(event)) as HttpResult;
    const text = typeof result.body === 'string' ? result.body : '';
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      json = undefined;
    }
    return { ...result, json, text };
  };
});

afterAll(async () => {
  await h.close();
});

/** A completed handover, as a test's own arrangement (it never relies on another test's). */
const handOver = async (userId: string, newOwner: string, token = h.tokens.bot.api) => {
  const res = await call({ method: 'POST', path: '/handovers', token, body: { userId, newOwner } });
  if (res.statusCode !== 200)
    throw new Error(`arranging a handover of ${userId}: ${res.statusCode}`);
  return res.json;
};

const samplePath = (route: HttpRoute) =>
  route.path
    .replace('{serviceId}', BOT)
    .replace('{userId}', '20')
    .replace('{file}', ASSETS.script.file);

/** The OpenAPI security a route's way of authenticating stands for (any one of them). */
const documentedSecurity = (auth: RouteAuth): Security[] => {
  const byRole = { service: 'apiToken', auditor: 'auditorToken', operator: 'operatorToken' };
  switch (auth.by) {
    case 'bearer':
      return auth.roles.map((role) => byRole[role] as Security);
    case 'callback':
      return ['callbackToken'];
    case 'session':
      // A page anyone is answered (the login form) is documented as public.
      return auth.anonymous === 200 ? [] : ['consoleSession'];
    default:
      return [];
  }
};

describe('how each route authenticates', () => {
  it('names every route, as the OpenAPI document does', () => {
    const declared = httpRoutes.filter((r) => r.method !== 'HEAD');
    const table = declared.map((r) => {
      const auth = routeAuth(r);
      return [`${r.method} ${r.path}`, auth ? documentedSecurity(auth).sort() : 'not in the table'];
    });
    const documented = declared.map((r) => {
      const op = OPERATIONS[`${r.method} ${r.path}`];
      return [`${r.method} ${r.path}`, op ? [...op.security].sort() : 'not documented'];
    });

    expect(table).toEqual(documented);
  });
});

describe('authentication', () => {
  const protectedRoutes = routesAuthenticatedBy('bearer', 'callback');

  it.each(protectedRoutes.map((r) => [`${r.method} ${r.path}`, r] as const))(
    'answers 401 on %s without a token',
    async (_name, route) => {
      const res = await call({ method: route.method, path: samplePath(route), body: {} });
      expect(res.statusCode).toBe(401);
      expect(res.json).toEqual({ error: { code: 'unauthorized', message: expect.any(String) } });
    },
  );

  it.each(protectedRoutes.map((r) => [`${r.method} ${r.path}`, r] as const))(
    'answers 401 on %s with a wrong token',
    async (_name, route) => {
      const res = await call({
        method: route.method,
        path: samplePath(route),
        token: 'not-a-real-token-0123456789',
        body: {},
      });
      expect(res.statusCode).toBe(401);
    },
  );

  it('refuses an auditor token for a handover with 403', async () => {
    const res = await call({
      method: 'POST',
      path: '/handovers',
      token: h.tokens.auditor,
      body: { userId: '20', newOwner: AGENT },
    });
    expect(res.statusCode).toBe(403);
    expect(res.json.error.code).toBe('service_required');
  });

  it('refuses a service token on the audit routes with 403', async () => {
    const res = await call({ method: 'GET', path: '/users/20/handovers', token: h.tokens.bot.api });
    expect(res.statusCode).toBe(403);
  });

  it('refuses a callback token used as an API token', async () => {
    const res = await call({ method: 'GET', path: '/services', token: h.tokens.bot.callback });
    expect(res.statusCode).toBe(401);
  });
});

describe('public routes', () => {
  it.each(routesAuthenticatedBy('public').map((r) => [`${r.method} ${r.path}`, r] as const))(
    'answers %s without credentials, and the same to a wrong token',
    async (_name, route) => {
      const anonymous = await call({ method: route.method, path: samplePath(route) });
      const wrong = await call({
        method: route.method,
        path: samplePath(route),
        token: 'not-a-real-token-0123456789',
      });

      expect([anonymous.statusCode, wrong.statusCode]).toEqual([200, 200]);
      expect(wrong.text).toBe(anonymous.text);
    },
  );
});

describe('the console without a session', () => {
  const LOGIN_FORM = '<form method="post" action="/console/login">';
  const FORM = 'application/x-www-form-urlencoded';
  const sessionRoutes = routesAuthenticatedBy('session');
  const pages = sessionRoutes.filter((r) => r.method !== 'POST');
  const forms = sessionRoutes.filter((r) => r.method === 'POST');
  /** A well-formed session id that no login ever gave out. */
  const forged = `${SESSION_COOKIE}=${'A'.repeat(43)}`;

  it.each(pages.map((r) => [`${r.method} ${r.path}`, r] as const))(
    'answers %s with the login form, to a Bearer token or a forged session cookie too',
    async (_name, route) => {
      const { anonymous } = routeAuth(route) as Extract<RouteAuth, { by: 'session' }>;
      const path = samplePath(route);
      const none = await call({ method: route.method, path });
      const bearer = await call({ method: route.method, path, token: h.tokens.operator });
      const cookie = await call({ method: route.method, path, cookies: [forged] });

      expect([none.statusCode, bearer.statusCode, cookie.statusCode]).toEqual([
        anonymous,
        anonymous,
        anonymous,
      ]);
      for (const res of [none, bearer, cookie]) expect(res.text).toContain(LOGIN_FORM);
    },
  );

  it.each(forms.map((r) => [`${r.method} ${r.path}`, r] as const))(
    "refuses %s without a session: 401 from the console's own page, 403 from elsewhere",
    async (_name, route) => {
      const post = (site: string) =>
        call({
          method: 'POST',
          path: samplePath(route),
          token: h.tokens.operator,
          cookies: [forged],
          headers: { 'Content-Type': FORM, 'Sec-Fetch-Site': site },
          rawBody: 'csrf=x&reason=routes&key=kkkkkkkkkkkkkkkkkkkkkk',
        });
      const own = await post('same-origin');
      const elsewhere = await post('cross-site');

      expect([own.statusCode, elsewhere.statusCode]).toEqual([401, 403]);
      expect(own.text).toContain(LOGIN_FORM);
    },
  );

  it("trades an operator's token for a session, and refuses a Service's or a wrong one (401) and one from elsewhere (403)", async () => {
    const login = (token: string, site = 'same-origin') =>
      call({
        method: 'POST',
        path: '/console/login',
        headers: { 'Content-Type': FORM, 'Sec-Fetch-Site': site },
        rawBody: new URLSearchParams({ token }).toString(),
      });
    const operator = await login(h.tokens.operator);
    const service = await login(h.tokens.bot.api);
    const wrong = await login('not-a-real-token-0123456789');
    const elsewhere = await login(h.tokens.operator, 'cross-site');

    expect([operator.statusCode, operator.cookies?.length]).toEqual([303, 1]);
    expect([service.statusCode, wrong.statusCode, elsewhere.statusCode]).toEqual([401, 401, 403]);
    expect([service.cookies, wrong.cookies, elsewhere.cookies]).toEqual([
      undefined,
      undefined,
      undefined,
    ]);
  });
});

describe('GET /health', () => {
  it('answers 200 without credentials', async () => {
    const res = await call({ method: 'GET', path: '/health' });
    expect(res.statusCode).toBe(200);
    expect(res.json).toEqual({ status: 'ok', stage: 'test', services: 2 });
  });
});

describe('GET /openapi.json', () => {
  it('answers the OpenAPI document without credentials, cacheable', async () => {
    const res = await call({ method: 'GET', path: '/openapi.json' });
    expect(res.statusCode).toBe(200);
    expect(res.headers?.['Cache-Control']).toBe(CACHE_CONTROL);
    expect(res.json).toEqual(buildOpenApiDocument());
  });

  it('is served over HTTP by the local gateway, HEAD included', async () => {
    const gateway = await startGateway({ handlers: { openapi: openapi(h.source) } });
    try {
      const get = await fetch(`${gateway.url}/openapi.json`);
      const head = await fetch(`${gateway.url}/openapi.json`, { method: 'HEAD' });

      expect([get.status, get.headers.get('cache-control')]).toEqual([200, CACHE_CONTROL]);
      expect(await get.json()).toEqual(buildOpenApiDocument());
      expect([head.status, await head.text()]).toEqual([200, '']);
    } finally {
      await gateway.close();
    }
  });
});

describe('GET /services', () => {
  it("lists Parley's services with default as a boolean", async () => {
    const res = await call({ method: 'GET', path: '/services', token: h.tokens.agent.api });
    expect(res.statusCode).toBe(200);
    expect(res.json).toEqual({
      services: [
        { identification: BOT, name: 'Bot Service', default: true, role: 'bot' },
        { identification: AGENT, name: 'Agent Service', default: false, role: 'agent' },
      ],
    });
  });
});

describe('POST /handovers and GET /users/{userId}/owner', () => {
  it('answers the owner of a new user from Parley: the default service', async () => {
    const res = await call({ method: 'GET', path: '/users/101/owner', token: h.tokens.auditor });
    expect(res.statusCode).toBe(200);
    // Never handed over: no since and no lastHandoverId (both optional in the contract).
    expect(res.json).toEqual({
      userId: '101',
      owner: { identification: BOT, name: 'Bot Service', default: true },
    });
  });

  it('moves a user to another service by name and records it', async () => {
    const res = await call({
      method: 'POST',
      path: '/handovers',
      token: h.tokens.bot.api,
      body: {
        userId: '102',
        newOwner: 'agent service',
        metadata: { reason: 'question_too_complex' },
      },
    });
    expect(res.statusCode).toBe(200);
    expect(res.json.changed).toBe(true);
    expect(res.json.owner).toEqual({
      identification: AGENT,
      name: 'Agent Service',
      default: false,
    });
    expect(res.json.handover).toMatchObject({
      userId: '102',
      seq: 1,
      fromOwner: BOT,
      toOwner: AGENT,
      reason: 'question_too_complex',
      source: 'api',
      status: 'completed',
      requestedBy: BOT,
    });
    expect(h.sim.ownerOf('102')).toBe(AGENT);
    const ownerNow = await call({
      method: 'GET',
      path: '/users/102/owner',
      token: h.tokens.bot.api,
    });
    expect(ownerNow.json.owner.identification).toBe(AGENT);
  });

  it('answers changed: false when the new owner already owns the user', async () => {
    const before = h.sim.log().length;
    const res = await call({
      method: 'POST',
      path: '/handovers',
      token: h.tokens.bot.api,
      body: { userId: '103', newOwner: BOT },
    });
    expect(res.statusCode).toBe(200);
    expect(res.json).toEqual({
      changed: false,
      owner: { identification: BOT, name: 'Bot Service', default: true },
    });
    const puts = h.sim
      .log()
      .slice(before)
      .filter((e) => e.kind === 'request' && e.method === 'PUT');
    expect(puts).toEqual([]);
  });

  it('answers 400 unknown_service for a service nobody knows', async () => {
    const res = await call({
      method: 'POST',
      path: '/handovers',
      token: h.tokens.bot.api,
      body: { userId: '104', newOwner: 'Nobody Service' },
    });
    expect(res.statusCode).toBe(400);
    expect(res.json.error.code).toBe('unknown_service');
  });

  it('answers 403 not_owner with the current owner to a service that does not own the user', async () => {
    const res = await call({
      method: 'POST',
      path: '/handovers',
      token: h.tokens.agent.api,
      body: { userId: '105', newOwner: AGENT },
    });
    expect(res.statusCode).toBe(403);
    expect(res.json.error).toEqual({
      code: 'not_owner',
      message: expect.any(String),
      currentOwner: BOT,
    });
  });

  it('answers 409 owner_changed for a stale expectedOwner', async () => {
    const res = await call({
      method: 'POST',
      path: '/handovers',
      token: h.tokens.bot.api,
      body: { userId: '106', newOwner: AGENT, expectedOwner: AGENT },
    });
    expect(res.statusCode).toBe(409);
    expect(res.json.error.code).toBe('owner_changed');
  });

  it('answers 400 invalid_json for a malformed body', async () => {
    const res = await call({
      method: 'POST',
      path: '/handovers',
      token: h.tokens.bot.api,
      rawBody: '{"userId": "20",',
    });
    expect(res.statusCode).toBe(400);
    expect(res.json.error.code).toBe('invalid_json');
  });

  it('answers 400 for a body missing newOwner', async () => {
    const res = await call({
      method: 'POST',
      path: '/handovers',
      token: h.tokens.bot.api,
      body: { userId: '20' },
    });
    expect(res.statusCode).toBe(400);
    expect(res.json.error.code).toBe('invalid_request');
  });

  it('answers 413 for a body over 256 KB', async () => {
    const res = await call({
      method: 'POST',
      path: '/handovers',
      token: h.tokens.bot.api,
      body: { userId: '20', newOwner: AGENT, metadata: { pad: 'x'.repeat(300 * 1024) } },
    });
    expect(res.statusCode).toBe(413);
    expect(res.json.error.code).toBe('payload_too_large');
  });

  it('answers 422 when an Idempotency-Key is reused with another body', async () => {
    const headers = { 'Idempotency-Key': 'key-107' };
    const first = await call({
      method: 'POST',
      path: '/handovers',
      token: h.tokens.bot.api,
      headers,
      body: { userId: '107', newOwner: AGENT },
    });
    const again = await call({
      method: 'POST',
      path: '/handovers',
      token: h.tokens.bot.api,
      headers,
      body: { userId: '107', newOwner: AGENT },
    });
    const other = await call({
      method: 'POST',
      path: '/handovers',
      token: h.tokens.bot.api,
      headers,
      body: { userId: '107', newOwner: AGENT, metadata: { reason: 'x' } },
    });
    expect(first.statusCode).toBe(200);
    expect(again.json).toEqual(first.json);
    expect(other.statusCode).toBe(422);
    expect(other.json.error.code).toBe('idempotency_key_reused');
  });

  it('answers from history with ?at=, and known: false before the first record', async () => {
    await handOver('108', AGENT);
    const before = await call({
      method: 'GET',
      path: '/users/108/owner?at=2000-01-01T00:00:00Z',
      token: h.tokens.auditor,
    });
    expect(before.statusCode).toBe(200);
    expect(before.json).toMatchObject({ owner: null, known: false });
    const now = await call({
      method: 'GET',
      path: `/users/108/owner?at=${new Date(Date.now() + 1000).toISOString()}`,
      token: h.tokens.auditor,
    });
    expect(now.json).toMatchObject({ known: true, owner: { identification: AGENT } });
  });

  it('counts a handover made during the second an ?at= without a fraction names', async () => {
    const made = await handOver('109', AGENT);
    const wholeSecond = `${String(made.handover.createdAt).slice(0, 19)}Z`;

    const res = await call({
      method: 'GET',
      path: `/users/109/owner?at=${wholeSecond}`,
      token: h.tokens.auditor,
    });

    expect(res.json).toMatchObject({
      at: `${wholeSecond.slice(0, 19)}.999Z`,
      known: true,
      owner: { identification: AGENT },
    });
  });

  it('says an ?at= with an unencoded + has a space where the + belongs', async () => {
    const res = await call({
      method: 'GET',
      path: '/users/109/owner?at=2026-03-10T15:00:00+01:00',
      token: h.tokens.auditor,
    });
    expect([res.statusCode, res.json.error.code, res.json.error.message]).toEqual([
      400,
      'invalid_instant',
      expect.stringContaining('write it as %2B'),
    ]);
  });

  it('answers 400 for an ?at= that is not an instant', async () => {
    const res = await call({
      method: 'GET',
      path: '/users/102/owner?at=yesterday',
      token: h.tokens.auditor,
    });
    expect(res.statusCode).toBe(400);
    expect(res.json.error.code).toBe('invalid_instant');
  });
});

describe('Parley errors', () => {
  afterEach(() => h.sim.setFaults([]));

  it('maps a definite Parley refusal to 502 parley_error with a failed record', async () => {
    h.sim.setFaults([{ route: 'putOwner', errorRate: 1, errorStatus: 400 }]);
    const res = await call({
      method: 'POST',
      path: '/handovers',
      token: h.tokens.bot.api,
      body: { userId: '201', newOwner: AGENT },
    });
    expect(res.statusCode).toBe(502);
    expect(res.json.error).toMatchObject({ code: 'parley_error', parley: { status: 400 } });
    h.sim.setFaults([]);
    const history = await call({
      method: 'GET',
      path: '/users/201/handovers',
      token: h.tokens.auditor,
    });
    expect(history.json.handovers).toEqual([
      expect.objectContaining({ status: 'failed', toOwner: AGENT, fromOwner: BOT }),
    ]);
  });

  it('lets a retry with the same Idempotency-Key after a 502 make a new attempt', async () => {
    const request = {
      method: 'POST',
      path: '/handovers',
      token: h.tokens.bot.api,
      headers: { 'Idempotency-Key': 'key-204' },
      body: { userId: '204', newOwner: AGENT },
    } as const;
    h.sim.setFaults([{ route: 'putOwner', errorRate: 1, errorStatus: 400 }]);
    const failed = await call(request);
    h.sim.setFaults([]);

    const retry = await call(request);

    expect(failed.statusCode).toBe(502);
    expect(retry.statusCode).toBe(200);
    expect(retry.json).toMatchObject({ changed: true, owner: { identification: AGENT } });
    const history = await call({
      method: 'GET',
      path: '/users/204/handovers',
      token: h.tokens.auditor,
    });
    expect(history.json.handovers.map((r: { status: string }) => r.status)).toEqual([
      'completed',
      'failed',
    ]);
    expect(retry.json.handover.handoverId).not.toBe(history.json.handovers[1].handoverId);
  });

  it('maps Parley being unavailable to 503 with Retry-After', async () => {
    h.sim.setFaults([{ route: 'getOwner', errorRate: 1, errorStatus: 503 }]);
    const res = await call({ method: 'GET', path: '/users/202/owner', token: h.tokens.bot.api });
    expect(res.statusCode).toBe(503);
    expect(res.json.error).toMatchObject({ code: 'parley_unavailable', parley: { status: 503 } });
    expect(res.headers?.['Retry-After']).toBeDefined();
  });

  it('maps a Parley timeout to 504 parley_timeout', async () => {
    h.sim.setFaults([{ route: 'getOwner', timeoutRate: 1 }]);
    const res = await call({ method: 'GET', path: '/users/203/owner', token: h.tokens.bot.api });
    expect(res.statusCode).toBe(504);
    expect(res.json.error.code).toBe('parley_timeout');
  });
});

describe('POST /users/{userId}/messages', () => {
  it('sends the owning service text to its user', async () => {
    const res = await call({
      method: 'POST',
      path: '/users/301/messages',
      token: h.tokens.bot.api,
      body: { text: 'Hello from the bot' },
    });
    expect(res.statusCode).toBe(200);
    expect(h.sim.messagesTo('301')).toEqual([
      expect.objectContaining({ from: BOT, text: 'Hello from the bot' }),
    ]);
  });

  it('answers 403 not_owner to a service that does not own the user', async () => {
    const res = await call({
      method: 'POST',
      path: '/users/302/messages',
      token: h.tokens.agent.api,
      body: { text: 'Hi' },
    });
    expect(res.statusCode).toBe(403);
    expect(res.json.error).toMatchObject({ code: 'not_owner', currentOwner: BOT });
  });

  it('answers 400 for an empty text', async () => {
    const res = await call({
      method: 'POST',
      path: '/users/302/messages',
      token: h.tokens.bot.api,
      body: { text: '' },
    });
    expect(res.statusCode).toBe(400);
  });
});

describe('audit routes', () => {
  it("lists a user's handovers newest first", async () => {
    await handOver('401', AGENT);
    await handOver('401', 'default', h.tokens.agent.api);
    const res = await call({
      method: 'GET',
      path: '/users/401/handovers',
      token: h.tokens.auditor,
    });
    expect(res.statusCode).toBe(200);
    expect(
      res.json.handovers.map((r: { seq: number; toOwner: string }) => [r.seq, r.toOwner]),
    ).toEqual([
      [2, BOT],
      [1, AGENT],
    ]);
  });

  it('answers a range as CSV with the next cursor in X-Next-Cursor', async () => {
    await handOver('402', AGENT);
    await handOver('403', AGENT);
    const from = new Date(Date.now() - 3600_000).toISOString();
    const to = new Date(Date.now() + 3600_000).toISOString();
    const res = await call({
      method: 'GET',
      path: `/handovers?from=${encodeURIComponent(from)}&to=${encodeURIComponent(to)}&limit=1`,
      token: h.tokens.auditor,
      headers: { Accept: 'text/csv' },
    });
    expect(res.statusCode).toBe(200);
    expect(res.headers?.['Content-Type'] ?? res.headers?.['content-type']).toMatch(/text\/csv/);
    const lines = String(res.body).trim().split('\r\n');
    expect(lines[0]).toMatch(/^handoverId,userId,seq,createdAt/);
    expect(lines).toHaveLength(2);
    expect(res.headers?.['X-Next-Cursor']).toEqual(expect.any(String));
  });

  it('filters a range by destination service', async () => {
    await handOver('404', AGENT);
    await handOver('404', 'default', h.tokens.agent.api);
    const from = new Date(Date.now() - 3600_000).toISOString();
    const to = new Date(Date.now() + 3600_000).toISOString();
    const res = await call({
      method: 'GET',
      path: `/handovers?from=${encodeURIComponent(from)}&to=${encodeURIComponent(to)}&service=Agent%20Service&status=completed`,
      token: h.tokens.auditor,
    });
    expect(res.statusCode).toBe(200);
    const of404 = res.json.handovers
      .filter((r: { userId: string }) => r.userId === '404')
      .map((r: { seq: number }) => r.seq);
    expect(of404).toEqual([1]);
    for (const r of res.json.handovers)
      expect(r).toMatchObject({ toOwner: AGENT, status: 'completed' });
  });

  it('answers 400 for a range without from and to', async () => {
    const res = await call({ method: 'GET', path: '/handovers', token: h.tokens.auditor });
    expect(res.statusCode).toBe(400);
  });

  it('names what is wrong with a `from` that is present but malformed', async () => {
    const res = await call({
      method: 'GET',
      path: '/handovers?from=2026-03-01T00:00:00&to=2026-03-31',
      token: h.tokens.auditor,
    });
    expect([res.statusCode, res.json.error]).toEqual([
      400,
      {
        code: 'invalid_range',
        message:
          '`from` has no time zone: end it with Z (UTC) or an offset such as +01:00 (written %2B01:00 in a URL).',
      },
    ]);
  });
});

describe('user ids', () => {
  it.each([
    ['"."', '.'],
    ['".."', '..'],
    ['a lone surrogate', 'a\ud800'],
    ['129 characters', '7'.repeat(129)],
  ])('answers 400 invalid_user_id for a user id with %s in a path', async (_case, userId) => {
    const res = await call({
      method: 'GET',
      path: `/users/${userId.replace(/\./g, '%2E')}/handovers`,
      token: h.tokens.auditor,
    });
    expect([res.statusCode, res.json.error.code]).toEqual([400, 'invalid_user_id']);
  });

  it.each([
    ['".."', '..'],
    ['a lone surrogate', 'a\ud800'],
  ])('answers 400 naming userId for a handover of a user id with %s', async (_case, userId) => {
    const res = await call({
      method: 'POST',
      path: '/handovers',
      token: h.tokens.bot.api,
      body: { userId, newOwner: 'default' },
    });
    expect([res.statusCode, res.json.error.message]).toEqual([
      400,
      expect.stringContaining('userId'),
    ]);
  });
});

describe('user ids on every route', () => {
  const recorded = async (userId: string) =>
    (await h.deps.history.listUser(userId, { limit: 10 })).items.length;

  it.each([
    ['blank', '   ', 'must not be blank'],
    ['with a leading space', ' 301', 'must not start or end with whitespace'],
    ['with a trailing no-break space', '301\u00a0', 'must not start or end with whitespace'],
    [
      'with a zero-width space',
      '30\u200b1',
      'must not contain control or invisible characters (U+200B)',
    ],
    [
      'with a right-to-left override',
      '\u202e301',
      'must not contain control or invisible characters (U+202E)',
    ],
  ])(
    'refuses a handover of a user id %s, naming what is wrong, and records nothing',
    async (_case, userId, problem) => {
      const res = await call({
        method: 'POST',
        path: '/handovers',
        token: h.tokens.bot.api,
        body: { userId, newOwner: AGENT },
      });

      expect([res.statusCode, res.json.error]).toEqual([
        400,
        { code: 'invalid_request', message: `Field "userId" is invalid: ${problem}.` },
      ]);
      expect(await recorded(userId)).toBe(0);
    },
  );

  it('refuses a user id with a leading space in a path', async () => {
    const res = await call({
      method: 'GET',
      path: '/users/%20301/handovers',
      token: h.tokens.auditor,
    });
    expect([res.statusCode, res.json.error]).toEqual([
      400,
      {
        code: 'invalid_user_id',
        message: 'The userId in the path must not start or end with whitespace.',
      },
    ]);
  });

  it('reads a numeric userId as its digits on /handovers and on /reconcile alike', async () => {
    const handover = await call({
      method: 'POST',
      path: '/handovers',
      token: h.tokens.bot.api,
      body: { userId: 302, newOwner: AGENT },
    });
    const asNumber = await call({
      method: 'POST',
      path: '/reconcile',
      token: h.tokens.auditor,
      body: { userId: 302 },
    });
    const asString = await call({
      method: 'POST',
      path: '/reconcile',
      token: h.tokens.auditor,
      body: { userId: '302' },
    });

    expect([handover.statusCode, handover.json.handover?.userId]).toEqual([200, '302']);
    expect([asNumber.statusCode, asNumber.json]).toEqual([asString.statusCode, asString.json]);
    expect(asNumber.statusCode).toBe(200);
  });
});

describe('request bodies that are not sent as JSON', () => {
  const handoverText = JSON.stringify({ userId: '311', newOwner: AGENT });

  it.each([
    ['text/plain', 'text/plain;charset=UTF-8'],
    ['a form', 'application/x-www-form-urlencoded'],
  ])('refuses a handover sent as %s with 415, moving no one', async (_case, type) => {
    const res = await call({
      method: 'POST',
      path: '/handovers',
      token: h.tokens.bot.api,
      headers: { 'Content-Type': type },
      rawBody: handoverText,
    });

    expect([res.statusCode, res.json.error.code]).toEqual([415, 'unsupported_media_type']);
    expect(h.sim.ownerOf('311')).not.toBe(AGENT);
    expect((await h.deps.history.listUser('311', { limit: 10 })).items).toEqual([]);
  });

  it('refuses a message and a reconcile body sent as text/plain with 415', async () => {
    const message = await call({
      method: 'POST',
      path: '/users/20/messages',
      token: h.tokens.bot.api,
      headers: { 'Content-Type': 'text/plain' },
      rawBody: '{"text":"hi"}',
    });
    const reconcileCall = await call({
      method: 'POST',
      path: '/reconcile',
      token: h.tokens.auditor,
      headers: { 'Content-Type': 'text/plain' },
      rawBody: '{}',
    });

    expect([message.statusCode, reconcileCall.statusCode]).toEqual([415, 415]);
  });

  it("takes a JSON body with a charset, and Parley's callbacks whatever their Content-Type", async () => {
    h.queued.length = 0;
    const charset = await call({
      method: 'POST',
      path: '/handovers',
      token: h.tokens.bot.api,
      headers: { 'Content-Type': 'application/json; charset=utf-8' },
      rawBody: JSON.stringify({ userId: '312', newOwner: AGENT }),
    });
    const callback = await call({
      method: 'POST',
      path: `/webhooks/parley/${BOT}`,
      headers: { Authorization: `Bearer ${h.tokens.bot.callback}`, 'Content-Type': 'text/plain' },
      rawBody: JSON.stringify({
        type: 'message',
        body: { id: 312, message: 'hi', user: { id: '312' } },
      }),
    });

    expect([charset.statusCode, callback.statusCode, h.queued.length]).toEqual([200, 200, 1]);
  });
});

describe('HEAD', () => {
  it('is served wherever GET is, by the same function', () => {
    const gets = httpRoutes.filter((r) => r.method === 'GET');
    const heads = httpRoutes.filter((r) => r.method === 'HEAD');

    expect(heads.map((r) => [r.path, r.fn])).toEqual(gets.map((r) => [r.path, r.fn]));
  });

  it('answers HEAD /health with 200 without credentials', async () => {
    const res = await call({ method: 'HEAD', path: '/health' });
    expect(res.statusCode).toBe(200);
  });

  it('answers HEAD on an owner lookup as GET does, and 401 without a token', async () => {
    const get = await call({ method: 'GET', path: '/users/20/owner', token: h.tokens.auditor });
    const head = await call({ method: 'HEAD', path: '/users/20/owner', token: h.tokens.auditor });
    const anonymous = await call({ method: 'HEAD', path: '/users/20/owner' });

    expect([head.statusCode, head.headers]).toEqual([get.statusCode, get.headers]);
    expect(anonymous.statusCode).toBe(401);
  });

  it("is answered over HTTP with GET's status and length and no body (the local gateway)", async () => {
    const gateway = await startGateway({ handlers: { health: health(h.source) } });
    try {
      const get = await fetch(`${gateway.url}/health`);
      const head = await fetch(`${gateway.url}/health`, { method: 'HEAD' });
      const getBody = await get.text();

      expect([head.status, head.headers.get('content-length'), await head.text()]).toEqual([
        get.status,
        String(Buffer.byteLength(getBody)),
        '',
      ]);
      expect(get.status).toBe(200);
    } finally {
      await gateway.close();
    }
  });
});

describe('POST /reconcile', () => {
  it('answers what it examined and recovered', async () => {
    const res = await call({ method: 'POST', path: '/reconcile', token: h.tokens.auditor });
    expect(res.statusCode).toBe(200);
    expect(res.json).toMatchObject({ examined: 0, recovered: 0, failed: [] });
  });

  it('is for auditors only', async () => {
    const res = await call({
      method: 'POST',
      path: '/reconcile',
      token: h.tokens.bot.api,
      body: {},
    });
    expect(res.statusCode).toBe(403);
  });
});

describe('POST /webhooks/parley/{serviceId}', () => {
  const callback = (userId: string, id: number, text: string) =>
    messageCallback({ userId, id, text, time: 1536739259 });

  it('accepts an authentic callback with exactly 200 and queues it by user', async () => {
    h.queued.length = 0;
    const res = await call({
      method: 'POST',
      path: `/webhooks/parley/${BOT}`,
      headers: { Authorization: h.tokens.bot.callback },
      body: callback('20', 1, 'hi'),
    });
    expect(res.statusCode).toBe(200);
    expect(h.queued).toHaveLength(1);
    expect(h.queued[0]).toMatchObject({ groupId: 'user-20', dedupId: `${BOT}#message#1` });
  });

  it('answers 401 to another service token and to an unknown service', async () => {
    const wrong = await call({
      method: 'POST',
      path: `/webhooks/parley/${BOT}`,
      headers: { Authorization: `Bearer ${h.tokens.agent.callback}` },
      body: callback('20', 2, 'hi'),
    });
    const unknown = await call({
      method: 'POST',
      path: '/webhooks/parley/unknown-service',
      headers: { Authorization: `Bearer ${h.tokens.bot.callback}` },
      body: callback('20', 3, 'hi'),
    });
    expect(wrong.statusCode).toBe(401);
    expect(unknown.statusCode).toBe(401);
  });

  it('answers 400 to a body that is not JSON, and 413 to one over 256 KB', async () => {
    const notJson = await call({
      method: 'POST',
      path: `/webhooks/parley/${BOT}`,
      headers: { Authorization: `Bearer ${h.tokens.bot.callback}` },
      rawBody: 'hello',
    });
    const huge = await call({
      method: 'POST',
      path: `/webhooks/parley/${BOT}`,
      headers: { Authorization: `Bearer ${h.tokens.bot.callback}` },
      body: callback('20', 4, 'x'.repeat(270 * 1024)),
    });
    expect(notJson.statusCode).toBe(400);
    expect(huge.statusCode).toBe(413);
  });

  it('accepts authentic JSON it cannot understand (the processor quarantines it)', async () => {
    h.queued.length = 0;
    const res = await call({
      method: 'POST',
      path: `/webhooks/parley/${BOT}`,
      headers: { Authorization: `Bearer ${h.tokens.bot.callback}` },
      body: [1, 2, 3],
    });
    expect(res.statusCode).toBe(200);
    expect(h.queued).toHaveLength(1);
  });

  it('answers 503 with Retry-After when the enqueue fails', async () => {
    const failing = inbound(async () => ({
      ...h.deps,
      queue: {
        send: async () => {
          throw new Error('queue down');
        },
      },
    }));
    const res = await failing(
      apiEvent({
        method: 'POST',
        path: `/webhooks/parley/${BOT}`,
        headers: { Authorization: `Bearer ${h.tokens.bot.callback}` },
        body: callback('20', 5, 'hi'),
      }),
    );
    expect(res.statusCode).toBe(503);
    expect(res.headers?.['Retry-After']).toBe('5');
  });
});
