// The simulator's control API under /_sim/: faults, owners out of band, messages, the log,
// callbacks, latency and the calls in flight.
import { AGENT_SERVICE_ID, BOT_SERVICE_ID } from '../../../local/parley-sim';
import { authorization, call, closeAll, control, receiver, start, until } from './support';

afterAll(closeAll);

describe('Parley simulator: control API', () => {
  it('answers GET /_sim/ (the URL its banner prints) with the list of control routes', async () => {
    const sim = await start();

    const index = await control(sim, 'GET', '');
    const routes = (index.body as { routes: { method: string; path: string }[] }).routes;

    expect(index.status).toBe(200);
    expect(routes.map((r) => `${r.method} ${r.path}`)).toEqual(
      expect.arrayContaining([
        'GET /_sim/log',
        'POST /_sim/users/{userId}/messages',
        'PUT /_sim/services/{serviceId}/callback',
      ]),
    );
    // Each one answers something other than "no such route".
    for (const r of routes) {
      const path = r.path
        .replace('/_sim/', '')
        .replace('{userId}', '20')
        .replace('{serviceId}', BOT_SERVICE_ID);
      const res = await control(sim, r.method, path, r.method === 'GET' ? undefined : {});
      expect([r.path, res.status]).not.toEqual([r.path, 404]);
    }
  });

  it('sets faults with PUT /_sim/faults and refuses invalid rules', async () => {
    const sim = await start();

    const set = await control(sim, 'PUT', 'faults', [{ route: 'services', errorRate: 1 }]);
    const bad = await control(sim, 'PUT', 'faults', [{ route: 'everything', errorRate: 2 }]);
    const res = await call(sim, 'GET', 'services');

    expect(set.status).toBe(200);
    expect(bad.status).toBe(400);
    expect(res.status).toBe(500);
  });

  it('changes and reads an owner out of band', async () => {
    const sim = await start();

    const put = await control(sim, 'PUT', 'users/20/owner', { owner: AGENT_SERVICE_ID });
    const got = await control(sim, 'GET', 'users/20/owner');
    const unknown = await control(sim, 'PUT', 'users/20/owner', { owner: 'nobody' });

    expect(put).toEqual({ status: 200, body: { userId: '20', owner: AGENT_SERVICE_ID } });
    expect(got).toEqual({ status: 200, body: { userId: '20', owner: AGENT_SERVICE_ID } });
    expect(unknown.status).toBe(400);
    expect(sim.ownerOf('20')).toBe(AGENT_SERVICE_ID);
  });

  it('lists the messages services sent a user', async () => {
    const sim = await start();
    await call(sim, 'POST', 'users/20/messages', { body: { message: 'welcome' } });

    const res = await control(sim, 'GET', 'users/20/messages');

    expect(res).toEqual({
      status: 200,
      body: [{ from: BOT_SERVICE_ID, text: 'welcome', at: expect.any(String) }],
    });
  });

  it('reads and clears the log', async () => {
    const sim = await start();
    await call(sim, 'GET', 'services');

    const before = await control(sim, 'GET', 'log');
    const cleared = await control(sim, 'DELETE', 'log');
    const after = await control(sim, 'GET', 'log');

    expect((before.body as unknown[]).length).toBe(1);
    expect(cleared.status).toBe(200);
    expect(after.body).toEqual([]);
  });

  it('registers a callback and plays a user message and an event', async () => {
    const hook = await receiver();
    const sim = await start();
    const registered = await control(sim, 'PUT', `services/${BOT_SERVICE_ID}/callback`, {
      url: hook.url,
      headers: { authorization: 'Bearer t1' },
    });

    const message = await control(sim, 'POST', 'users/20/messages', { text: 'hello' });
    const event = await control(sim, 'POST', 'users/20/events', { name: 'startTyping' });

    expect(registered.status).toBe(200);
    expect(message).toEqual({
      status: 200,
      body: { delivered: true, attempts: 1, serviceId: BOT_SERVICE_ID },
    });
    expect(event.body).toEqual({ delivered: true, attempts: 1, serviceId: BOT_SERVICE_ID });
    expect(hook.received.map((r) => r.headers.authorization)).toEqual(['Bearer t1', 'Bearer t1']);
    expect(hook.received[1]!.body).toEqual({
      type: 'event',
      body: {
        name: 'startTyping',
        body: {},
        user: { id: '20', uniqueIdentifier: null, additionalInformation: null },
      },
    });
  });

  it('refuses a callback for an unknown service and a bad message request', async () => {
    const sim = await start();

    const unknown = await control(sim, 'PUT', 'services/nobody/callback', { url: 'http://x/' });
    const noText = await control(sim, 'POST', 'users/20/messages', { words: 'hi' });

    expect(unknown.status).toBe(404);
    expect(noText.status).toBe(400);
  });
});

describe('Parley simulator: control API for latency', () => {
  it('sets latency with PUT /_sim/latency, reads it back, and refuses invalid rules', async () => {
    const sim = await start();
    const rules = [{ route: 'putOwner', response: { fixedMs: 400 } }];

    const set = await control(sim, 'PUT', 'latency', rules);
    const read = await control(sim, 'GET', 'latency');
    const negative = await control(sim, 'PUT', 'latency', [
      { route: '*', request: { fixedMs: -1 } },
    ]);
    const unknownKey = await control(sim, 'PUT', 'latency', [{ route: '*', delay: 5 }]);

    expect(set).toEqual({ status: 200, body: rules });
    expect(read.body).toEqual(rules);
    expect(sim.latency()).toEqual(rules);
    expect(negative.status).toBe(400);
    expect(negative.body).toEqual({
      error: { code: 'invalid_latency', message: expect.stringContaining('request.fixedMs') },
    });
    expect(unknownKey.status).toBe(400);
  });

  it('lists the calls in flight with GET /_sim/in-flight, not one held by a timeout', async () => {
    const sim = await start({
      faults: [{ route: 'getOwner', timeoutRate: 1 }],
      latency: [{ route: 'putOwner', request: { fixedMs: 1000 } }],
    });

    const held = fetch(`${sim.baseUrl}/users/20/owner`, {
      headers: { authorization: authorization(BOT_SERVICE_ID) },
      signal: AbortSignal.timeout(2000),
    }).catch(() => 'cut');
    const put = call(sim, 'PUT', 'users/20/owner', { body: { newOwner: AGENT_SERVICE_ID } });
    await until(() => sim.log().length === 1 && sim.inFlight().length === 1);
    const listed = await control(sim, 'GET', 'in-flight');
    await put;

    expect(listed.body).toEqual([
      { method: 'PUT', path: 'users/20/owner', startedAt: expect.any(String) },
    ]);
    expect(sim.inFlight()).toEqual([]);
    await sim.close();
    expect(await held).toBe('cut');
  });
});
