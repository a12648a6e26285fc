// Failover in the processor (DESIGN.md "Failover"), on the fakes with the real handover use case
// and an injected clock: a desk that fails one delivery afterFailures times, or whose circuit is
// open, loses the user to its target (one `failover` record, the message to the new owner once);
// the loop guard keeps the user where they are, and the message goes on to the DLQ.
import { DownstreamError } from '../../../functions/domain/errors';
import { CircuitOpenError } from '../../../functions/domain/failover/errors';
import { processCallback } from '../../../functions/domain/processor/process-callback';
import type { CircuitItem, HandoverRecord } from '../../../functions/domain/types';
import { AGENT, BOT } from '../../support/fakes';
import {
  BOT_URL,
  DESK_URL,
  failoverWorld,
  idOf,
  loggedWith,
  messageBody,
  queued,
  rejection,
  services,
  USER,
} from './world';

type World = ReturnType<typeof failoverWorld>;

const down = { status: 500, body: 'desk down' };
const raw = messageBody('where is my parcel', 5001);
const fromDesk = () => queued(raw, AGENT);
const deliveryId = idOf(raw, AGENT);

/** One queue receive: the outcome, or what it threw. */
const receive = async (t: World) => {
  try {
    return await processCallback(fromDesk(), t.deps);
  } catch (err) {
    return err;
  }
};

const failovers = (t: World): HandoverRecord[] =>
  t.history.all().filter((r) => r.source === 'failover');
const postsTo = (t: World, url: string) => t.downstream.posts.filter((p) => p.url === url);

const openCircuit = (serviceId: string, openedAt: number): CircuitItem => ({
  serviceId,
  state: 'open',
  windowStart: openedAt,
  requests: 10,
  failures: 10,
  openedAt,
  probeAt: null,
  version: 3,
});

describe('processor failover: a desk that keeps failing one delivery', () => {
  it('records each failure on the delivery and retries, below afterFailures', async () => {
    const t = failoverWorld();
    t.downstream.answer(DESK_URL, down, down);

    const outcomes = [await receive(t), await receive(t)];

    expect(outcomes.map((o) => (o as Error).name)).toEqual(['DownstreamError', 'DownstreamError']);
    expect(t.delivery(deliveryId)).toMatchObject({
      state: 'in_progress',
      failures: 2,
      lastStatus: 500,
    });
    expect(t.parley.callsOf('setOwner')).toEqual([]);
    expect(t.parley.ownerOf(USER)).toBe(AGENT);
  });

  it('hands the user to the default Service on the third failure, and the bot gets the message once', async () => {
    const t = failoverWorld();
    t.downstream.answer(DESK_URL, down, down, down);

    await receive(t);
    await receive(t);
    const outcome = await receive(t);

    expect(outcome).toEqual({
      deliveryId,
      disposition: 'handed_over',
      duplicate: false,
      handoverId: 'h0001',
    });
    expect(failovers(t)).toEqual([
      expect.objectContaining({
        seq: 1,
        fromOwner: AGENT,
        toOwner: BOT,
        reason: 'downstream_unavailable',
        metadata: { reason: 'downstream_unavailable', failures: 3, lastStatus: 500 },
        requestedBy: 'system:failover',
        source: 'failover',
        status: 'completed',
      }),
    ]);
    expect(t.parley.callsOf('setOwner')).toEqual([
      expect.objectContaining({ as: AGENT, userId: USER, newOwner: BOT }),
    ]);
    const toBot = postsTo(t, BOT_URL);
    expect(toBot).toHaveLength(1);
    expect(JSON.parse(toBot[0]!.body)).toMatchObject({
      deliveryId,
      serviceId: BOT,
      text: 'where is my parcel',
      handover: { handoverId: 'h0001', fromOwner: AGENT },
    });
    expect(postsTo(t, DESK_URL)).toHaveLength(3);
    expect(t.counted('FailoverTriggered')).toEqual([['FailoverTriggered', 1, undefined]]);
  });

  it('counts timeouts, no connection, 429 and an answer that is not a JSON object as failures', async () => {
    const t = failoverWorld();
    const timeout = Object.assign(new Error('aborted'), { name: 'TimeoutError' });
    t.downstream.answer(
      DESK_URL,
      timeout,
      { status: 429, body: '' },
      {
        status: 200,
        body: '["not", "an", "object"]',
      },
    );

    await receive(t);
    await receive(t);
    const outcome = await receive(t);

    expect(outcome).toMatchObject({ disposition: 'handed_over' });
    expect(failovers(t)[0]?.metadata).toEqual({
      reason: 'downstream_unavailable',
      failures: 3,
      lastStatus: 200,
    });
  });

  it('never counts a 2xx answer against the delivery, and starts no failover for it', async () => {
    const t = failoverWorld();
    t.downstream.answer(DESK_URL, down, down, { status: 200, body: '{}' });

    await receive(t);
    await receive(t);
    const outcome = await receive(t);

    expect(outcome).toMatchObject({ disposition: 'forwarded' });
    expect(t.delivery(deliveryId)).toMatchObject({ state: 'done', failures: 2 });
    expect(failovers(t)).toEqual([]);
  });

  it('treats 401, 403 and 404 as misconfiguration: alarm metric, circuit counted, no failover', async () => {
    const t = failoverWorld();
    for (const status of [401, 403, 404, 404]) t.downstream.answer(DESK_URL, { status, body: '' });

    const outcomes = [await receive(t), await receive(t), await receive(t), await receive(t)];

    expect(outcomes.every((o) => o instanceof DownstreamError)).toBe(true);
    expect(failovers(t)).toEqual([]);
    expect(t.delivery(deliveryId)?.failures ?? 0).toBe(0);
    expect(t.counted('DownstreamMisconfigured')).toHaveLength(4);
    expect(await t.circuits.get(AGENT)).toMatchObject({ requests: 4, failures: 4 });
  });

  it('resumes its own failover on a retry: one record, one PUT owner, the bot hears it again', async () => {
    const t = failoverWorld();
    t.downstream.answer(DESK_URL, down, down, down);
    // The bot is briefly down when the message reaches it after the failover.
    t.downstream.answer(BOT_URL, down);
    await receive(t);
    await receive(t);
    const first = await receive(t);

    const retry = await receive(t);

    expect((first as Error).name).toBe('DownstreamError');
    expect(retry).toMatchObject({ disposition: 'handed_over', handoverId: 'h0001' });
    expect(failovers(t)).toHaveLength(1);
    expect(t.parley.callsOf('setOwner')).toHaveLength(1);
    expect(postsTo(t, BOT_URL).map((p) => p.headers['X-Handover-Delivery'])).toEqual([
      deliveryId,
      deliveryId,
    ]);
    expect(postsTo(t, DESK_URL)).toHaveLength(3);
  });

  it('asks again with the same request after Parley refused the failover (no 422, one completed record)', async () => {
    const t = failoverWorld();
    t.downstream.answer(DESK_URL, down, down, down);
    t.parley.failNext('setOwner', 'reject_403');
    await receive(t);
    await receive(t);
    const refused = await receive(t);

    const retry = await receive(t);

    expect((refused as Error).name).toBe('DownstreamError');
    expect(retry).toMatchObject({ disposition: 'handed_over' });
    expect(failovers(t).map((r) => [r.status, r.metadata])).toEqual([
      ['failed', { reason: 'downstream_unavailable', failures: 3, lastStatus: 500 }],
      ['completed', { reason: 'downstream_unavailable', failures: 3, lastStatus: 500 }],
    ]);
    // The retry went straight to the failover it had asked for: the desk heard three forwards.
    expect(postsTo(t, DESK_URL)).toHaveLength(3);
    expect(t.counted('CallbackHandoverRefused')).toEqual([
      ['CallbackHandoverRefused', 1, { reason: 'not_owner' }],
    ]);
  });

  it('sends the message to the owner Parley names when it refuses the failover: the user moved on', async () => {
    const SECOND_DESK = 'Xq7d2Lm4Pz8rTn5Kw3Vb';
    const secondDeskUrl = 'https://desk-two.example/inbox';
    const t = failoverWorld([
      ...services(),
      {
        identification: SECOND_DESK,
        name: 'Second Desk',
        role: 'agent',
        default: false,
        downstreamUrl: secondDeskUrl,
        rules: [],
      },
    ]);
    t.downstream.answer(DESK_URL, down, down, down);
    await receive(t);
    await receive(t);
    t.parley.owners.set(USER, SECOND_DESK); // moved at Parley, outside this service

    const outcome = await receive(t);

    expect(outcome).toEqual({ deliveryId, disposition: 'handed_over', duplicate: false });
    expect(t.counted('CallbackHandoverRefused')).toEqual([
      ['CallbackHandoverRefused', 1, { reason: 'not_owner' }],
    ]);
    expect(t.counted('CallbackToOwner')).toHaveLength(1);
    expect(loggedWith(t.logLines, 'callback goes to the owner')).toMatchObject({
      owner: SECOND_DESK,
      why: 'failover refused',
    });
    expect(postsTo(t, secondDeskUrl)).toHaveLength(1);
    expect(postsTo(t, BOT_URL)).toEqual([]);
    expect(t.counted('FailoverTriggered')).toEqual([]);
  });

  it('fails over no user of a bot, nor of the default Service', async () => {
    const t = failoverWorld();
    t.parley.owners.set(USER, BOT);
    t.state.owners.set(USER, { ...t.state.owners.get(USER)!, owner: BOT });
    for (let i = 0; i < 5; i++) t.downstream.answer(BOT_URL, down);

    for (let i = 0; i < 5; i++) await rejection(processCallback(queued(raw, BOT), t.deps));

    expect(t.history.all()).toEqual([]);
    expect(t.parley.ownerOf(USER)).toBe(BOT);
  });

  it('fails over no user of a delivery that already moved them once', async () => {
    const t = failoverWorld(
      services().map((s) =>
        s.identification === AGENT
          ? { ...s, rules: [{ match: '\\bparcel\\b', newOwner: BOT, reason: 'parcels' }] }
          : s,
      ),
    );
    t.downstream.answer(BOT_URL, down, down, down, down);

    for (let i = 0; i < 4; i++) await receive(t);

    expect(t.history.all().map((r) => r.source)).toEqual(['rule']);
    expect(t.parley.ownerOf(USER)).toBe(BOT);
  });
});

describe('processor failover: the circuit', () => {
  it('fails a user over at once while the desk circuit is open, without forwarding to the desk', async () => {
    const t = failoverWorld();
    t.circuits.items.set(AGENT, openCircuit(AGENT, t.clock.now() - 10_000));

    const outcome = await receive(t);

    expect(outcome).toMatchObject({ disposition: 'handed_over' });
    expect(postsTo(t, DESK_URL)).toEqual([]);
    expect(postsTo(t, BOT_URL)).toHaveLength(1);
    expect(failovers(t)[0]?.metadata).toEqual({
      reason: 'downstream_unavailable',
      failures: 0,
      lastStatus: null,
      circuit: 'open',
    });
  });

  it('opens the circuit from failed forwards of many users, then fails the next user over at once', async () => {
    const t = failoverWorld();
    // Ten users each see one failed forward: none reaches afterFailures, the window opens it.
    for (let i = 0; i < 10; i++) {
      const userId = `u${i}`;
      t.parley.owners.set(userId, AGENT);
      t.downstream.answer(DESK_URL, down);
      await rejection(
        processCallback(queued(messageBody('hello', 6000 + i, userId), AGENT), t.deps),
      );
    }
    const desk = postsTo(t, DESK_URL).length;

    const outcome = await receive(t);

    expect(desk).toBe(10);
    expect(t.counted('CircuitOpened')).toHaveLength(1);
    expect(outcome).toMatchObject({ disposition: 'handed_over' });
    expect(postsTo(t, DESK_URL)).toHaveLength(10);
  });

  it('lets one probe through after openSeconds, and closes the circuit when it succeeds', async () => {
    const t = failoverWorld();
    t.circuits.items.set(AGENT, openCircuit(AGENT, t.clock.now()));
    t.clock.advance(120_000);
    t.downstream.answer(DESK_URL, { status: 200, body: '{}' });

    const outcome = await receive(t);

    expect(outcome).toMatchObject({ disposition: 'forwarded' });
    expect(postsTo(t, DESK_URL)).toHaveLength(1);
    expect(await t.circuits.get(AGENT)).toMatchObject({ state: 'closed' });
    expect(failovers(t)).toEqual([]);
  });

  it('opens the circuit again when the probe fails, and the user stays until afterFailures', async () => {
    const t = failoverWorld();
    t.circuits.items.set(AGENT, openCircuit(AGENT, t.clock.now()));
    t.clock.advance(120_000);
    t.downstream.answer(DESK_URL, down);

    const probe = await receive(t);
    const next = await receive(t);

    expect((probe as Error).name).toBe('DownstreamError');
    expect(await t.circuits.get(AGENT)).toMatchObject({ state: 'open', openedAt: t.clock.now() });
    expect(next).toMatchObject({ disposition: 'handed_over' });
    expect(failovers(t)[0]?.metadata).toEqual({
      reason: 'downstream_unavailable',
      failures: 1,
      lastStatus: 500,
      circuit: 'open',
    });
  });
});

describe('processor failover: the default Service', () => {
  it("sends the message while the circuit is open when Parley's list names the desk the default", async () => {
    const t = failoverWorld();
    // Before Parley's list is read the catalog cannot tell: get() says not default, resolve() does.
    const catalog = t.deps.catalog;
    t.deps.catalog = {
      ...catalog,
      resolve: async (ref) => {
        const found = await catalog.resolve(ref === 'default' ? AGENT : ref);
        return found.identification === AGENT ? { ...found, default: true } : found;
      },
    };
    t.circuits.items.set(AGENT, openCircuit(AGENT, t.clock.now()));
    t.downstream.answer(DESK_URL, { status: 200, body: '{}' });

    const outcome = await receive(t);

    expect(outcome).toMatchObject({ disposition: 'forwarded' });
    expect(postsTo(t, DESK_URL)).toHaveLength(1);
    expect(t.counted('FailoverTargetUnavailable')).toEqual([]);
    expect(t.history.all()).toEqual([]);
  });
});

describe('processor failover: the loop guard', () => {
  it('keeps the user with the desk when the target circuit is open: no PUT owner, alarm metric, on to the DLQ', async () => {
    const t = failoverWorld();
    t.circuits.items.set(BOT, openCircuit(BOT, t.clock.now()));
    t.downstream.answer(DESK_URL, down, down, down, down);

    const outcomes = [];
    for (let i = 0; i < 4; i++) outcomes.push(await receive(t));

    expect(outcomes.map((o) => (o as Error).name)).toEqual(Array(4).fill('DownstreamError'));
    expect(t.parley.callsOf('setOwner')).toEqual([]);
    expect(t.history.all()).toEqual([]);
    expect(t.counted('FailoverTargetUnavailable')).toEqual([
      ['FailoverTargetUnavailable', 1, undefined],
      ['FailoverTargetUnavailable', 1, undefined],
    ]);
    expect(postsTo(t, BOT_URL)).toEqual([]);
    expect(t.delivery(deliveryId)).toMatchObject({ state: 'in_progress', failures: 4 });
    expect(t.delivery(deliveryId)?.failover).toBeUndefined();
  });

  it('holds the message of an open desk circuit with the target down too, and fails it on', async () => {
    const t = failoverWorld();
    t.circuits.items.set(AGENT, openCircuit(AGENT, t.clock.now()));
    t.circuits.items.set(BOT, openCircuit(BOT, t.clock.now()));

    const err = await receive(t);

    expect(err).toBeInstanceOf(CircuitOpenError);
    expect(t.downstream.posts).toEqual([]);
    expect(t.counted('FailoverTargetUnavailable')).toHaveLength(1);
    expect(t.parley.ownerOf(USER)).toBe(AGENT);
  });

  it('refuses a third failover of the user in one UTC day', async () => {
    const t = failoverWorld();
    const today = (seq: number, from: string, to: string, at: string): HandoverRecord => ({
      handoverId: `old${seq}`,
      userId: USER,
      seq,
      fromOwner: from,
      toOwner: to,
      reason: 'downstream_unavailable',
      metadata: null,
      metadataDigest: 'd'.repeat(64),
      requestedBy: 'system:failover',
      source: 'failover',
      status: 'completed',
      parley: null,
      createdAt: at,
      prevHash: '0'.repeat(64),
      hash: 'a'.repeat(64),
    });
    await t.history.append(today(1, AGENT, BOT, '2026-03-10T08:00:00.000Z'));
    await t.history.append(today(2, AGENT, BOT, '2026-03-10T11:00:00.000Z'));
    t.downstream.answer(DESK_URL, down, down, down);

    for (let i = 0; i < 3; i++) await receive(t);

    expect(failovers(t)).toHaveLength(2);
    expect(t.parley.callsOf('setOwner')).toEqual([]);
    expect(t.counted('FailoverTargetUnavailable')).toHaveLength(1);
  });
});
