// The simulator's user side: callbacks to the owner's callback URL, with their headers, retries
// and ids, over real HTTP.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { AGENT_SERVICE_ID, BOT_SERVICE_ID } from '../../../local/parley-sim';
import { between, call, closeAll, entriesOf, receiver, start } from './support';

afterAll(closeAll);

describe('Parley simulator: callbacks', () => {
  it('delivers a user message to the owner with its callback headers', async () => {
    const hook = await receiver();
    const sim = await start({ now: () => 1_700_000_000_000 });
    sim.setCallback(BOT_SERVICE_ID, hook.url, { authorization: 'Bearer callback-token' });

    const result = await sim.sendUserMessage('20', 'hi!');

    expect(result).toEqual({ delivered: true, attempts: 1, serviceId: BOT_SERVICE_ID });
    expect(hook.received).toHaveLength(1);
    expect(hook.received[0]!.headers.authorization).toBe('Bearer callback-token');
    expect(hook.received[0]!.headers['content-type']).toBe('application/json');
    expect(hook.received[0]!.body).toEqual({
      type: 'message',
      body: {
        id: 1_700_000_000_000,
        message: 'hi!',
        time: 1_700_000_000,
        typeId: 1,
        user: { id: '20', uniqueIdentifier: null, additionalInformation: null },
      },
    });
  });

  it('numbers messages with increasing ids', async () => {
    const hook = await receiver();
    const sim = await start({ firstMessageId: 1 });
    sim.setCallback(BOT_SERVICE_ID, hook.url);

    await sim.sendUserMessage('20', 'one');
    await sim.sendUserMessage('21', 'two');

    expect(hook.received.map((r) => (r.body as { body: { id: number } }).body.id)).toEqual([1, 2]);
  });

  it('never reuses a message id after a restart (ids start from the clock)', async () => {
    const hook = await receiver();
    const first = await start({ now: () => 1_700_000_000_000 });
    first.setCallback(BOT_SERVICE_ID, hook.url);
    await first.sendUserMessage('20', 'one');
    await first.sendUserMessage('20', 'two');
    const second = await start({ now: () => 1_700_000_005_000 });
    second.setCallback(BOT_SERVICE_ID, hook.url);
    await second.sendUserMessage('20', 'three');

    expect(hook.received.map((r) => (r.body as { body: { id: number } }).body.id)).toEqual([
      1_700_000_000_000, 1_700_000_000_001, 1_700_000_005_000,
    ]);
  });

  it('logs when it chose the recipient, the same instant on every attempt', async () => {
    const hook = await receiver([503]);
    const sim = await start();
    sim.setCallback(BOT_SERVICE_ID, hook.url);

    await sim.sendUserMessage('20', 'hello?');

    const attempts = entriesOf(sim, 'callback');
    expect(attempts.map((a) => [a.attempt, a.status])).toEqual([
      [1, 503],
      [2, 200],
    ]);
    expect(attempts[1]!.routedAt).toBe(attempts[0]!.routedAt);
    expect(between(attempts[0]!.routedAt, attempts[0]!.at)).toBeGreaterThanOrEqual(0);
    expect(between(attempts[0]!.at, attempts[1]!.at)).toBeGreaterThanOrEqual(5 - 1);
  });

  it('sends to the current owner after a handover', async () => {
    const bot = await receiver();
    const agent = await receiver();
    const sim = await start();
    sim.setCallback(BOT_SERVICE_ID, bot.url);
    sim.setCallback(AGENT_SERVICE_ID, agent.url);
    await call(sim, 'PUT', 'users/20/owner', { body: { newOwner: AGENT_SERVICE_ID } });

    const result = await sim.sendUserMessage('20', 'still there?');

    expect(result.serviceId).toBe(AGENT_SERVICE_ID);
    expect(bot.received).toHaveLength(0);
    expect(agent.received).toHaveLength(1);
  });

  it('retries until it gets exactly 200, three attempts at most', async () => {
    const hook = await receiver([503, 201]);
    const sim = await start();
    sim.setCallback(BOT_SERVICE_ID, hook.url);

    const result = await sim.sendUserMessage('20', 'again');

    expect(result).toEqual({ delivered: true, attempts: 3, serviceId: BOT_SERVICE_ID });
    expect(hook.received).toHaveLength(3);
    expect(
      sim
        .log()
        .filter((e) => e.kind === 'callback')
        .map((e) => (e.kind === 'callback' ? [e.attempt, e.status] : null)),
    ).toEqual([
      [1, 503],
      [2, 201],
      [3, 200],
    ]);
  });

  it('gives up after three failed attempts', async () => {
    const hook = await receiver([500, 500, 500, 500]);
    const sim = await start();
    sim.setCallback(BOT_SERVICE_ID, hook.url);

    const result = await sim.sendUserMessage('20', 'lost');

    expect(result).toEqual({
      delivered: false,
      attempts: 3,
      serviceId: BOT_SERVICE_ID,
      reason: `3 attempts at ${hook.url} got HTTP 500, HTTP 500, HTTP 500: Parley wants exactly 200 and gives up after 3.`,
    });
    expect(hook.received).toHaveLength(3);
  });

  it('counts a refused connection as a failed attempt', async () => {
    const closedPort = await new Promise<number>((resolve) => {
      const s = http.createServer();
      s.listen(0, '127.0.0.1', () => {
        const { port } = s.address() as AddressInfo;
        s.close(() => resolve(port));
      });
    });
    const sim = await start();
    sim.setCallback(BOT_SERVICE_ID, `http://127.0.0.1:${closedPort}/webhook`);

    const result = await sim.sendUserMessage('20', 'nobody home');

    expect(result).toEqual({
      delivered: false,
      attempts: 3,
      serviceId: BOT_SERVICE_ID,
      reason: `3 attempts at http://127.0.0.1:${closedPort}/webhook got no answer, no answer, no answer: Parley wants exactly 200 and gives up after 3.`,
    });
    expect(sim.log().map((e) => (e.kind === 'callback' ? e.status : 'request'))).toEqual([
      null,
      null,
      null,
    ]);
  });

  it('reports no attempt, and why, when the owner has no callback URL', async () => {
    const sim = await start();

    const result = await sim.sendUserMessage('20', 'into the void');

    expect(result).toEqual({
      delivered: false,
      attempts: 0,
      serviceId: BOT_SERVICE_ID,
      reason: `Bot Service (${BOT_SERVICE_ID}), the owner of user 20, has no callback URL: set one with PUT /_sim/services/${BOT_SERVICE_ID}/callback.`,
    });
  });

  it('keeps message text out of the callback log', async () => {
    const hook = await receiver();
    const sim = await start();
    sim.setCallback(BOT_SERVICE_ID, hook.url, { authorization: 'Bearer callback-token' });

    await sim.sendUserMessage('20', 'a secret plan');

    const text = JSON.stringify(sim.log());
    expect(text).not.toContain('a secret plan');
    expect(text).not.toContain('callback-token');
  });
});
