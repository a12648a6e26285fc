// The simulator's Service API over real HTTP: Parley's answers to the seed exchange, auth, owner
// rules, the log, and the faults and latency injected per route.
import {
  AGENT_SERVICE_ID,
  BOT_SERVICE_ID,
  FaultEngine,
  LatencyEngine,
  type SimulatorOptions,
} from '../../../local/parley-sim';
import {
  authorization,
  between,
  call,
  closeAll,
  entriesOf,
  errorEnvelope,
  fixture,
  start,
  until,
} from './support';

afterAll(closeAll);

describe('Parley simulator: Service API', () => {
  it('answers GET services exactly as the seed exchange does', async () => {
    const sim = await start();
    const expected = fixture('seed-get-services.response.json') as Record<string, unknown>;

    const res = await call(sim, 'GET', 'services');

    expect(res.status).toBe(200);
    expect(res.headers.get('x-parley-api-version')).toBe('20500');
    expect(res.body).toEqual({
      ...expected,
      metadata: { method: 'get', duration: expect.any(Number) },
    });
  });

  it('answers the seed PUT owner in the shape of Parley’s response and moves the user', async () => {
    const sim = await start();
    const request = fixture('seed-put-owner.request.json') as {
      path: string;
      caller: string;
      body: unknown;
    };
    const expected = fixture('seed-put-owner.response.json') as {
      metadata: Record<string, unknown>;
    };

    const res = await call(sim, 'PUT', request.path, { as: request.caller, body: request.body });

    expect(res.status).toBe(200);
    expect(res.body).toEqual({
      ...expected,
      metadata: { ...expected.metadata, duration: expect.any(Number) },
    });
    expect(sim.ownerOf('20')).toBe(AGENT_SERVICE_ID);
  });

  it('gives a new user to the default service', async () => {
    const sim = await start();

    const res = await call(sim, 'GET', 'users/4711/owner', { as: AGENT_SERVICE_ID });

    expect(res.status).toBe(200);
    expect(res.body).toEqual({
      data: { owner: BOT_SERVICE_ID },
      notifications: [],
      status: 'SUCCESS',
      metadata: { method: 'get', duration: expect.any(Number) },
    });
  });

  it('answers another v2.x version as the live one', async () => {
    const sim = await start();

    const res = await fetch(`${sim.url}/serviceApi/v2.1/users/20/owner`, {
      headers: { authorization: authorization(BOT_SERVICE_ID) },
    });

    expect(res.status).toBe(200);
    expect(res.headers.get('x-parley-api-version')).toBe('20500');
    expect(((await res.json()) as { data: unknown }).data).toEqual({ owner: BOT_SERVICE_ID });
  });

  const past = Math.floor(Date.now() / 1000) - 10;
  it.each([
    ['a wrong secret', authorization(BOT_SERVICE_ID, { secret: 'not-the-secret' })],
    ['an expired validUntil', authorization(BOT_SERVICE_ID, { validUntil: past })],
    ['an unknown service', authorization('unknownService000001', { secret: 'x' })],
    ['a wrong account', authorization(BOT_SERVICE_ID, { account: 'anotherAccount' })],
    ['a Bearer prefix', `Bearer ${authorization(BOT_SERVICE_ID)}`],
    ['garbage', 'not base64 at all!'],
    ['base64 of garbage', Buffer.from('a|b|c').toString('base64')],
  ])('refuses %s with 401 api_key_not_valid', async (_label, auth) => {
    const sim = await start();

    const res = await call(sim, 'GET', 'services', { auth });

    expect(res.status).toBe(401);
    expect(res.body).toEqual(errorEnvelope('api_key_not_valid'));
  });

  it('refuses a call without an Authorization header', async () => {
    const sim = await start();

    const res = await call(sim, 'GET', 'users/20/owner', { as: null });

    expect(res.status).toBe(401);
    expect(res.body).toEqual(errorEnvelope('api_key_not_valid'));
  });

  it('judges expiry by the injected clock', async () => {
    const validUntil = 1_900_000_000;
    const sim = await start({ now: () => (validUntil + 1) * 1000 });

    const res = await call(sim, 'GET', 'services', {
      auth: authorization(BOT_SERVICE_ID, { validUntil }),
    });

    expect(res.status).toBe(401);
  });

  it('refuses a PUT owner from a service that does not own the user', async () => {
    const sim = await start();

    const res = await call(sim, 'PUT', 'users/20/owner', {
      as: AGENT_SERVICE_ID,
      body: { newOwner: AGENT_SERVICE_ID },
    });

    expect(res.status).toBe(403);
    expect(res.body).toEqual(errorEnvelope('service_is_not_owner'));
    expect(sim.ownerOf('20')).toBe(BOT_SERVICE_ID);
  });

  it('refuses a PUT owner to an unknown service', async () => {
    const sim = await start();

    const res = await call(sim, 'PUT', 'users/20/owner', { body: { newOwner: 'nobody' } });

    expect(res.status).toBe(400);
    expect(res.body).toEqual(errorEnvelope('unknown_service'));
    expect(sim.ownerOf('20')).toBe(BOT_SERVICE_ID);
  });

  it.each([
    ['a body without newOwner', JSON.stringify({ metadata: {} }), 'invalid_request_body'],
    [
      'metadata that is not an object',
      JSON.stringify({ newOwner: AGENT_SERVICE_ID, metadata: [1] }),
      'invalid_request_body',
    ],
    ['a body that is not JSON', '{"newOwner":', 'invalid_json'],
  ])('refuses a PUT owner with %s', async (_label, rawBody, code) => {
    const sim = await start();

    const res = await call(sim, 'PUT', 'users/20/owner', { rawBody });

    expect(res.status).toBe(400);
    expect(res.body).toEqual(errorEnvelope(code));
  });

  it('accepts messages only from the owner and records them', async () => {
    const sim = await start();

    const refused = await call(sim, 'POST', 'users/20/messages', {
      as: AGENT_SERVICE_ID,
      body: { message: 'from the agent' },
    });
    const accepted = await call(sim, 'POST', 'users/20/messages', {
      body: { message: 'hello from the bot' },
    });

    expect(refused.status).toBe(403);
    expect(refused.body).toEqual(errorEnvelope('service_is_not_owner'));
    expect(accepted.status).toBe(200);
    expect(sim.messagesTo('20')).toEqual([
      { from: BOT_SERVICE_ID, text: 'hello from the bot', at: expect.any(String) },
    ]);
  });

  it('answers agent unset with a success envelope and logs it', async () => {
    const sim = await start();

    const res = await call(sim, 'PUT', 'users/20/agent/unset', { as: AGENT_SERVICE_ID });

    expect(res.status).toBe(200);
    expect((res.body as { status: string }).status).toBe('SUCCESS');
    expect(sim.log()).toEqual([
      expect.objectContaining({
        kind: 'request',
        method: 'PUT',
        path: 'users/20/agent/unset',
        caller: AGENT_SERVICE_ID,
        status: 200,
      }),
    ]);
  });

  it('answers an unknown route with a 404 envelope', async () => {
    const sim = await start();

    const res = await call(sim, 'GET', 'users/20/unknown');

    expect(res.status).toBe(404);
    expect(res.body).toEqual(errorEnvelope('route_not_found'));
  });

  it('logs a change and its call as applied at one instant, whatever the clock does meanwhile', async () => {
    // A clock that moves on every reading: two readings can never agree by chance.
    let ms = Date.now();
    const sim = await start({ now: () => ms++ });

    const res = await call(sim, 'PUT', 'users/20/owner', {
      body: { newOwner: AGENT_SERVICE_ID },
      headers: { 'x-request-id': 'one-instant' },
    });

    expect(res.status).toBe(200);
    const [change] = entriesOf(sim, 'change');
    const [request] = entriesOf(sim, 'request');
    expect(request!.appliedAt).toBe(change!.at);
  });

  it('logs each call with its caller and code, without the message text', async () => {
    const sim = await start();

    await call(sim, 'POST', 'users/20/messages', { body: { message: 'private words' } });
    await call(sim, 'GET', 'services', { as: AGENT_SERVICE_ID, auth: 'garbage' });

    const log = sim.log();
    expect(log).toEqual([
      {
        kind: 'request',
        at: expect.any(String),
        method: 'POST',
        path: 'users/20/messages',
        caller: BOT_SERVICE_ID,
        body: { message: '[message text, 13 chars]' },
        status: 200,
        code: 'message_sent_successfully',
        appliedAt: expect.any(String),
      },
      {
        kind: 'request',
        at: expect.any(String),
        method: 'GET',
        path: 'services',
        caller: null,
        body: null,
        status: 401,
        code: 'api_key_not_valid',
      },
    ]);
    expect(JSON.stringify(log)).not.toContain('private words');
  });
});

describe('Parley simulator: faults', () => {
  it('answers an injected error status without applying the call', async () => {
    const sim = await start({ faults: [{ route: 'putOwner', errorRate: 1, errorStatus: 503 }] });

    const res = await call(sim, 'PUT', 'users/20/owner', { body: { newOwner: AGENT_SERVICE_ID } });

    expect(res.status).toBe(503);
    expect(res.body).toEqual(errorEnvelope('service_unavailable'));
    expect(sim.ownerOf('20')).toBe(BOT_SERVICE_ID);
    expect(sim.log()[0]).toEqual(expect.objectContaining({ status: 503, fault: 'error' }));
  });

  it('answers 429 with Retry-After', async () => {
    const sim = await start({ faults: [{ route: 'services', rate429: 1, retryAfterSeconds: 7 }] });

    const res = await call(sim, 'GET', 'services');

    expect(res.status).toBe(429);
    expect(res.headers.get('retry-after')).toBe('7');
    expect(res.body).toEqual(errorEnvelope('too_many_requests'));
  });

  it('drops the connection without an answer', async () => {
    const sim = await start({ faults: [{ route: 'getOwner', dropRate: 1 }] });

    const outcome = call(sim, 'GET', 'users/20/owner');

    await expect(outcome).rejects.toThrow();
    expect(sim.log()[0]).toEqual(expect.objectContaining({ status: 0, fault: 'drop' }));
  });

  it('holds a timed-out call open until the client gives up', async () => {
    const sim = await start({ faults: [{ route: 'getOwner', timeoutRate: 1 }] });

    const outcome = fetch(`${sim.baseUrl}/users/20/owner`, {
      headers: { authorization: authorization(BOT_SERVICE_ID) },
      signal: AbortSignal.timeout(200),
    });

    await expect(outcome).rejects.toThrow();
    expect(sim.log()[0]).toEqual(expect.objectContaining({ status: 0, fault: 'timeout' }));
  });

  it('applies a PUT owner and then answers 500 (apply, then fail)', async () => {
    const sim = await start({ faults: [{ route: 'putOwner', applyThenFailRate: 1 }] });

    const res = await call(sim, 'PUT', 'users/20/owner', { body: { newOwner: AGENT_SERVICE_ID } });

    expect(res.status).toBe(500);
    expect(res.body).toEqual(errorEnvelope('internal_server_error'));
    expect(sim.ownerOf('20')).toBe(AGENT_SERVICE_ID);
  });

  it('records a message and then cuts the connection (apply, then drop)', async () => {
    const sim = await start({
      faults: [{ route: 'messages', applyThenFailRate: 1, applyThenFailMode: 'drop' }],
    });

    const outcome = call(sim, 'POST', 'users/20/messages', { body: { message: 'sent?' } });

    await expect(outcome).rejects.toThrow();
    expect(sim.messagesTo('20').map((m) => m.text)).toEqual(['sent?']);
    expect(sim.log()[0]).toEqual(expect.objectContaining({ status: 0, fault: 'applyThenFail' }));
  });

  it('does not turn a refused call into apply-then-fail', async () => {
    const sim = await start({ faults: [{ route: 'putOwner', applyThenFailRate: 1 }] });

    const res = await call(sim, 'PUT', 'users/20/owner', {
      as: AGENT_SERVICE_ID,
      body: { newOwner: AGENT_SERVICE_ID },
    });

    expect(res.status).toBe(403);
  });

  it('repeats the same fault sequence for the same random seed', async () => {
    const faults = [{ route: '*' as const, errorRate: 0.5 }];
    const statuses = async (randomSeed: number) => {
      const sim = await start({ faults, randomSeed });
      const seen: number[] = [];
      for (let i = 0; i < 16; i++) seen.push((await call(sim, 'GET', 'services')).status);
      return seen;
    };

    const first = await statuses(42);
    const second = await statuses(42);
    const other = await statuses(7);

    expect(second).toEqual(first);
    expect(first).toContain(500);
    expect(first).toContain(200);
    expect(other).not.toEqual(first);
  });

  it('applies a rule with times to the next N matching calls only', async () => {
    const sim = await start({ faults: [{ route: 'services', errorRate: 1, times: 2 }] });

    const seen: number[] = [];
    for (let i = 0; i < 3; i++) seen.push((await call(sim, 'GET', 'services')).status);

    expect(seen).toEqual([500, 500, 200]);
  });

  it('limits a rule to its route', async () => {
    const sim = await start({ faults: [{ route: 'putOwner', errorRate: 1 }] });

    const res = await call(sim, 'GET', 'services');

    expect(res.status).toBe(200);
  });

  it('draws a latency range inside its bounds, the same for the same seed', () => {
    const draw = (seed: number) => {
      const engine = new FaultEngine([{ route: '*', latencyMs: [20, 80] }], seed);
      return Array.from({ length: 50 }, () => engine.decide('getOwner').latencyMs);
    };

    const first = draw(3);

    expect(first.every((ms) => ms >= 20 && ms <= 80)).toBe(true);
    expect(new Set(first).size).toBeGreaterThan(1);
    expect(draw(3)).toEqual(first);
  });

  it('adds fixed latency from every matching rule', () => {
    const engine = new FaultEngine(
      [
        { route: '*', latencyMs: 30 },
        { route: 'putOwner', latencyMs: 20 },
      ],
      1,
    );

    expect(engine.decide('putOwner').latencyMs).toBe(50);
    expect(engine.decide('services').latencyMs).toBe(30);
  });

  it('replaces its rules with setFaults', async () => {
    const sim = await start({ faults: [{ route: 'services', errorRate: 1 }] });

    sim.setFaults([]);
    const res = await call(sim, 'GET', 'services');

    expect(res.status).toBe(200);
  });
});

describe('Parley simulator: latency', () => {
  // Logged instants have millisecond resolution and a timer may fire within that millisecond, so
  // a delay of N ms shows as at least N - 1 between two instants.
  const AT_LEAST = (ms: number) => ms - 1;

  it('applies a PUT owner only after its request latency', async () => {
    const sim = await start({ latency: [{ route: 'putOwner', request: { fixedMs: 300 } }] });
    const sentAt = new Date().toISOString();

    const res = await call(sim, 'PUT', 'users/20/owner', {
      body: { newOwner: AGENT_SERVICE_ID },
      headers: { 'x-request-id': 'put-1' },
    });

    const [request] = entriesOf(sim, 'request');
    const [change] = entriesOf(sim, 'change');
    expect(res.status).toBe(200);
    expect(change).toEqual({
      kind: 'change',
      at: expect.any(String),
      userId: '20',
      from: BOT_SERVICE_ID,
      to: AGENT_SERVICE_ID,
      by: BOT_SERVICE_ID,
      requestId: 'put-1',
    });
    expect(request).toEqual(
      expect.objectContaining({ status: 200, requestId: 'put-1', appliedAt: change!.at }),
    );
    expect(between(sentAt, change!.at)).toBeGreaterThanOrEqual(AT_LEAST(300));
  });

  it('shows a call in flight while it waits, and applies it after the client gave up', async () => {
    const sim = await start({ latency: [{ route: 'putOwner', request: { fixedMs: 1500 } }] });

    const outcome = call(sim, 'PUT', 'users/20/owner', {
      body: { newOwner: AGENT_SERVICE_ID },
      headers: { 'x-request-id': 'late-1' },
      signal: AbortSignal.timeout(50),
    });
    await until(() => sim.inFlight().length === 1);
    const waiting = sim.inFlight();
    await expect(outcome).rejects.toThrow();
    const ownerWhenClientGaveUp = sim.ownerOf('20');
    await until(() => sim.inFlight().length === 0);

    const [change] = entriesOf(sim, 'change');
    expect(waiting).toEqual([
      { method: 'PUT', path: 'users/20/owner', requestId: 'late-1', startedAt: expect.any(String) },
    ]);
    expect(ownerWhenClientGaveUp).toBe(BOT_SERVICE_ID);
    expect(sim.ownerOf('20')).toBe(AGENT_SERVICE_ID);
    expect(change).toEqual(expect.objectContaining({ requestId: 'late-1', to: AGENT_SERVICE_ID }));
    expect(between(waiting[0]!.startedAt, change!.at)).toBeGreaterThanOrEqual(AT_LEAST(1500));
    expect(entriesOf(sim, 'request')[0]).toEqual(
      expect.objectContaining({ status: 200, requestId: 'late-1', appliedAt: change!.at }),
    );
  });

  it('reads the owner early and answers it late (a GET owner with response latency)', async () => {
    const sim = await start({ latency: [{ route: 'getOwner', response: { fixedMs: 1000 } }] });

    const outcome = call(sim, 'GET', 'users/20/owner');
    await until(() => sim.inFlight().some((c) => c.appliedAt !== undefined));
    sim.setOwner('20', AGENT_SERVICE_ID);
    const res = await outcome;

    const [request] = entriesOf(sim, 'request');
    const [outside] = entriesOf(sim, 'owner-set');
    expect(res.body).toEqual(expect.objectContaining({ data: { owner: BOT_SERVICE_ID } }));
    expect(outside).toEqual({
      kind: 'owner-set',
      at: expect.any(String),
      userId: '20',
      from: BOT_SERVICE_ID,
      owner: AGENT_SERVICE_ID,
    });
    expect(between(request!.appliedAt!, outside!.at)).toBeGreaterThanOrEqual(0);
    expect(between(outside!.at, request!.at)).toBeGreaterThanOrEqual(0);
    expect(between(request!.appliedAt!, request!.at)).toBeGreaterThanOrEqual(AT_LEAST(1000));
  });

  it('applies a PUT owner, then answers after the client gave up (response latency)', async () => {
    const sim = await start({ latency: [{ route: 'putOwner', response: { fixedMs: 400 } }] });

    const outcome = call(sim, 'PUT', 'users/20/owner', {
      body: { newOwner: AGENT_SERVICE_ID },
      signal: AbortSignal.timeout(50),
    });
    await expect(outcome).rejects.toThrow();
    await until(() => entriesOf(sim, 'request').length === 1);

    const [request] = entriesOf(sim, 'request');
    expect(sim.ownerOf('20')).toBe(AGENT_SERVICE_ID);
    expect(entriesOf(sim, 'change')).toHaveLength(1);
    expect(request!.status).toBe(200);
    expect(between(request!.appliedAt!, request!.at)).toBeGreaterThanOrEqual(AT_LEAST(400));
  });

  it('logs no change for a refused PUT owner, and the caller of each change', async () => {
    const sim = await start();

    const refused = await call(sim, 'PUT', 'users/20/owner', {
      as: AGENT_SERVICE_ID,
      body: { newOwner: AGENT_SERVICE_ID },
    });
    await call(sim, 'PUT', 'users/20/owner', { body: { newOwner: AGENT_SERVICE_ID } });
    await call(sim, 'PUT', 'users/20/owner', {
      as: AGENT_SERVICE_ID,
      body: { newOwner: BOT_SERVICE_ID },
      headers: { 'x-request-id': 'not an id!' },
    });

    expect(refused.status).toBe(403);
    expect(entriesOf(sim, 'request')[0]!.appliedAt).toBeUndefined();
    expect(
      entriesOf(sim, 'change').map(({ from, to, by, requestId }) => [from, to, by, requestId]),
    ).toEqual([
      [BOT_SERVICE_ID, AGENT_SERVICE_ID, BOT_SERVICE_ID, undefined],
      [AGENT_SERVICE_ID, BOT_SERVICE_ID, AGENT_SERVICE_ID, undefined],
    ]);
  });

  it('draws latency within fixed + jitter, the same for the same seed', () => {
    const draw = (seed: number) => {
      const engine = new LatencyEngine(
        [{ route: '*', request: { fixedMs: 20, jitterMs: 60 }, response: { jitterMs: 10 } }],
        seed,
      );
      return Array.from({ length: 50 }, () => engine.draw('getOwner'));
    };

    const first = draw(3);

    expect(first.every((d) => d.requestMs >= 20 && d.requestMs <= 80)).toBe(true);
    expect(first.every((d) => d.responseMs >= 0 && d.responseMs <= 10)).toBe(true);
    expect(new Set(first.map((d) => d.requestMs)).size).toBeGreaterThan(1);
    expect(draw(3)).toEqual(first);
    expect(draw(4)).not.toEqual(first);
  });

  it('adds the latency of every matching rule, and only of those', () => {
    const engine = new LatencyEngine(
      [
        { route: '*', request: { fixedMs: 30 } },
        { route: 'putOwner', request: { fixedMs: 20 }, response: { fixedMs: 5 } },
      ],
      1,
    );

    expect(engine.draw('putOwner')).toEqual({ requestMs: 50, responseMs: 5 });
    expect(engine.draw('getOwner')).toEqual({ requestMs: 30, responseMs: 0 });
  });

  it('leaves the fault sequence of a seed unchanged when latency is added', async () => {
    const statuses = async (options: SimulatorOptions) => {
      const sim = await start({
        faults: [{ route: '*', errorRate: 0.5 }],
        randomSeed: 42,
        ...options,
      });
      const seen: number[] = [];
      for (let i = 0; i < 16; i++) seen.push((await call(sim, 'GET', 'services')).status);
      return seen;
    };

    const without = await statuses({});
    const withLatency = await statuses({
      latency: [{ route: '*', request: { jitterMs: 3 }, response: { jitterMs: 3 } }],
    });

    expect(withLatency).toEqual(without);
    expect(without).toContain(500);
  });
});
