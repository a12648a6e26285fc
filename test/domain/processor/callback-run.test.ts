// A claimed callback's way (processor/callback-run.ts): the owner check, the rules, the answer's
// reply and handover, and the message sent on to the owner afterwards.
import { DEFER_MS } from '../../../functions/domain/processor/owner-at-rest';
import { DownstreamError } from '../../../functions/domain/errors';
import type { HandoverInput, HandoverResult } from '../../../functions/domain/handover/deps';
import { processCallback } from '../../../functions/domain/processor/process-callback';
import {
  DeliveryDeferredError,
  HandoverInProgressError,
  IdempotencyKeyReusedError,
  ErasureInProgressError,
  NotOwnerError,
  ParleyApiError,
  ParleyTimeoutError,
  UnknownServiceError,
} from '../../../functions/domain/errors';
import { syncOwner } from '../../../functions/domain/handover/owner';
import { AGENT, BOT, sequentialIds } from '../../support/fakes';
import {
  USER,
  BOT_URL,
  DESK_URL,
  messageBody,
  queued,
  idOf,
  record,
  ownerItem,
  pendingTo,
  services,
  setup,
  loggedWith,
  rejection,
  withRealHandover,
  messageDeliveryLike,
} from './world';

describe('processCallback: owner check', () => {
  it('forwards the callback of a service that no longer owns the user to its owner', async () => {
    const t = setup();
    t.state.owners.set(USER, ownerItem(AGENT));
    t.parley.owners.set(USER, AGENT);
    const raw = messageBody('I want a human');

    const outcome = await processCallback(queued(raw), t.deps);

    // Parley routed it to the Bot while the Bot owned the user; the Agent owns them now.
    expect(outcome).toEqual({
      deliveryId: idOf(raw),
      disposition: 'handed_over',
      duplicate: false,
    });
    expect(t.delivery(idOf(raw))?.disposition).toEqual('handed_over');
    expect(t.downstream.urls()).toEqual([DESK_URL]);
    expect(t.handoverCalls).toEqual([]);
    expect(t.counted('CallbackToOwner').length).toEqual(1);
  });

  it('asks Parley before a standby: a cache naming another owner may be stale', async () => {
    const t = setup();
    t.state.owners.set(USER, ownerItem(AGENT));
    t.parley.owners.set(USER, BOT); // moved back at Parley, outside this service

    const outcome = await processCallback(queued(messageBody()), t.deps);

    expect(outcome.disposition).toEqual('forwarded');
    expect(t.refreshCalls).toEqual([[USER, BOT]]);
    expect(t.downstream.urls()).toEqual([BOT_URL]);
  });

  it("holds the owner's message while its handover to another service is in flight", async () => {
    const t = setup();
    t.state.owners.set(USER, ownerItem(BOT, pendingTo(AGENT)));
    t.clock.set(Date.parse('2026-03-10T14:00:00.000Z'));

    const err = await rejection(processCallback(queued(messageBody()), t.deps));

    expect(err).toBeInstanceOf(DeliveryDeferredError);
    expect((err as DeliveryDeferredError).retryAfterMs).toBe(DEFER_MS);
    expect(t.delivery(idOf(messageBody()))).toMatchObject({ state: 'in_progress', leaseUntil: 0 });
    expect(t.downstream.posts).toEqual([]);
  });

  it('forwards a held message to the new owner once the handover completed', async () => {
    const t = setup();
    t.state.owners.set(USER, ownerItem(BOT, pendingTo(AGENT)));
    t.clock.set(Date.parse('2026-03-10T14:00:00.000Z'));
    const raw = messageBody();
    // Received while the marker (13:59:50) was fresh: Parley still routed the user to the Bot.
    const message = { ...queued(raw), receivedAt: '2026-03-10T13:59:55.000Z' };
    await rejection(processCallback(message, t.deps));
    const done = { ...record(USER, BOT, AGENT), createdAt: '2026-03-10T13:59:50.000Z' };
    await t.history.append(done);
    t.state.owners.set(USER, { ...ownerItem(AGENT), lastSeq: 1, lastHandoverId: 'h0001' });
    t.parley.owners.set(USER, AGENT);
    t.clock.advance(1_000);

    const outcome = await processCallback(message, t.deps);

    expect(outcome).toEqual({
      deliveryId: idOf(raw),
      disposition: 'handed_over',
      duplicate: false,
    });
    expect(t.downstream.urls()).toEqual([DESK_URL]);
    expect(t.handoverCalls).toEqual([]);
    expect(t.counted('CallbackStandby')).toEqual([]);
  });

  it('forwards a held message to its own service once the handover failed', async () => {
    const t = setup();
    t.state.owners.set(USER, ownerItem(BOT, pendingTo(AGENT)));
    t.clock.set(Date.parse('2026-03-10T14:00:00.000Z'));
    const raw = messageBody();
    await rejection(processCallback(queued(raw), t.deps));
    t.state.owners.set(USER, { ...ownerItem(BOT), version: 3 });
    t.clock.advance(1_000);

    const outcome = await processCallback(queued(raw), t.deps);

    expect(outcome.disposition).toEqual('forwarded');
    expect(t.downstream.urls()).toEqual([BOT_URL]);
  });

  it('recovers a stale marker before deciding who hears the message', async () => {
    const t = setup();
    t.state.owners.set(USER, ownerItem(BOT, pendingTo(AGENT)));
    t.clock.set(Date.parse('2026-03-10T14:01:00.000Z')); // the marker is 70 s old

    const outcome = await processCallback(queued(messageBody()), t.deps);

    expect(t.recoverCalls).toEqual([USER]);
    expect(outcome.disposition).toEqual('forwarded');
    expect(t.downstream.urls()).toEqual([BOT_URL]);
  });

  it('waits while another recoverer holds a stale marker', async () => {
    const t = setup();
    t.state.owners.set(USER, ownerItem(BOT, pendingTo(AGENT)));
    t.clock.set(Date.parse('2026-03-10T14:01:00.000Z'));
    t.setRecover(async () => 'busy');

    const err = await rejection(processCallback(queued(messageBody()), t.deps));

    expect(err).toBeInstanceOf(DeliveryDeferredError);
    expect(t.downstream.posts).toEqual([]);
  });

  it('forwards a message queued before a handover to the new owner, not the old one', async () => {
    const t = setup();
    // The Bot owned the user when Parley routed the message (13:58); a handover moved them at 13:59.
    await t.history.append({ ...record(USER, BOT, AGENT), createdAt: '2026-03-10T13:59:00.000Z' });
    t.state.owners.set(USER, { ...ownerItem(AGENT), lastSeq: 1, lastHandoverId: 'h0001' });
    t.parley.owners.set(USER, AGENT);
    const message = { ...queued(messageBody()), receivedAt: '2026-03-10T13:58:00.000Z' };

    const outcome = await processCallback(message, t.deps);

    expect(outcome.disposition).toEqual('handed_over');
    expect(t.downstream.urls()).toEqual([DESK_URL]);
    expect(t.counted('CallbackToOwner').length).toEqual(1);
  });

  it('forwards to the target of a handover in flight', async () => {
    const t = setup();
    t.state.owners.set(USER, ownerItem(BOT, pendingTo(AGENT)));

    const outcome = await processCallback(queued(messageBody(), AGENT), t.deps);

    expect(outcome.disposition).toEqual('forwarded');
    expect(t.downstream.urls()).toEqual([DESK_URL]);
  });
});

describe('processCallback: one Service hears a message', () => {
  it('names the Service of its first forward on the delivery item before the forward leaves', async () => {
    const t = setup();
    t.state.owners.set(USER, ownerItem(BOT));
    const raw = messageBody();
    let namedBeforePost: string | undefined;
    const post = t.downstream.post.bind(t.downstream);
    t.downstream.post = async (...args) => {
      namedBeforePost = t.delivery(idOf(raw))?.forwardedTo;
      return post(...args);
    };

    await processCallback(queued(raw), t.deps);

    expect(namedBeforePost).toBe(BOT);
    expect(t.delivery(idOf(raw))).toMatchObject({ state: 'done', forwardedTo: BOT });
  });

  it('sends a retry to the Service an attempt that died forwarded to, not to a new owner', async () => {
    const t = setup();
    t.state.owners.set(USER, ownerItem(AGENT)); // the Bot handed the user over meanwhile
    t.parley.owners.set(USER, AGENT);
    const raw = messageBody();
    const id = idOf(raw);
    t.state.deliveries.set(id, {
      ...messageDeliveryLike(id),
      forwardedTo: BOT,
      leaseUntil: t.clock.now() - 1,
    });

    const outcome = await processCallback(queued(raw), t.deps);

    expect(outcome.disposition).toEqual('forwarded');
    expect(t.downstream.urls()).toEqual([BOT_URL]);
    expect(t.handoverCalls).toEqual([]);
    expect(t.parley.callsOf('sendMessage')).toEqual([]);
  });

  it("holds a message routed to a handover's target before its marker was written", async () => {
    const t = setup();
    t.state.owners.set(USER, ownerItem(BOT, pendingTo(AGENT))); // marked at 13:59:50
    t.clock.set(Date.parse('2026-03-10T14:00:00.000Z'));
    const early = { ...queued(messageBody(), AGENT), receivedAt: '2026-03-10T13:59:40.000Z' };

    const err = await rejection(processCallback(early, t.deps));

    expect(err).toBeInstanceOf(DeliveryDeferredError);
    expect(t.downstream.posts).toEqual([]);
  });
});

describe('processCallback: rules', () => {
  it('hands the user over on a matching rule and forwards the message to the new owner', async () => {
    const t = setup();
    t.state.owners.set(USER, ownerItem(BOT));
    const raw = messageBody('Can I talk to a HUMAN please');
    const id = idOf(raw);

    const outcome = await processCallback(queued(raw), t.deps);

    expect(t.handoverCalls).toEqual([
      {
        userId: USER,
        newOwner: AGENT,
        metadata: { reason: 'user_requested_human' },
        requestedBy: BOT,
        source: 'rule',
        idempotencyKey: `cb:rule:${id}`,
        idempotencyTtlSeconds: 2_592_000, // as long as the delivery item
      },
    ]);
    expect(outcome).toEqual({
      deliveryId: id,
      disposition: 'handed_over',
      duplicate: false,
      handoverId: 'h0001',
    });
    expect(t.downstream.urls()).toEqual([DESK_URL]);
    const post = t.downstream.posts[0]!;
    expect(post.headers['X-Handover-Delivery']).toEqual(id);
    expect(JSON.parse(post.body)).toEqual({
      deliveryId: id,
      serviceId: AGENT,
      userId: USER,
      type: 'message',
      text: 'Can I talk to a HUMAN please',
      handover: { handoverId: 'h0001', fromOwner: BOT },
      callback: JSON.parse(raw),
    });
    expect(t.delivery(id)).toEqual(
      expect.objectContaining({ state: 'done', disposition: 'handed_over', handoverId: 'h0001' }),
    );
  });

  it('skips a rule whose pattern does not compile and matches unicode case-insensitively', async () => {
    const [bot, agent] = services();
    const t = setup([
      {
        ...bot!,
        rules: [
          { match: '[', newOwner: AGENT, reason: 'bad' },
          { match: 'ÉLÈVE', newOwner: AGENT, reason: 'accent' },
        ],
      },
      agent!,
    ]);
    t.state.owners.set(USER, ownerItem(BOT));

    await processCallback(queued(messageBody('un élève')), t.deps);

    expect(t.handoverCalls.map((c) => c.metadata)).toEqual([{ reason: 'accent' }]);
  });

  it('still forwards to the receiving service when a rule names an unknown service', async () => {
    const t = setup();
    t.state.owners.set(USER, ownerItem(BOT));
    t.setHandover(async () => {
      throw new UnknownServiceError('Nobody');
    });

    const outcome = await processCallback(queued(messageBody('human please')), t.deps);

    expect(outcome.disposition).toEqual('forwarded');
    expect(t.downstream.urls()).toEqual([BOT_URL]);
  });

  it('resumes after a crash between the rule handover and the forward to the new owner', async () => {
    const t = setup();
    t.state.owners.set(USER, ownerItem(BOT));
    t.downstream.answer(DESK_URL, { status: 503, body: '' });
    const raw = messageBody('human please');
    const id = idOf(raw);
    const first = await rejection(processCallback(queued(raw), t.deps));
    t.clock.advance(60_001);
    t.setHandover(async () => ({
      changed: true,
      owner: { identification: AGENT, name: 'Agent Service', default: false },
      handover: record(USER, BOT, AGENT),
    }));

    const outcome = await processCallback(queued(raw), t.deps);

    expect(first).toBeInstanceOf(DownstreamError);
    expect(outcome).toEqual({
      deliveryId: id,
      disposition: 'handed_over',
      duplicate: false,
      handoverId: 'h0001',
    });
    // The retry asks for no handover again: the user already moved; the message goes to them.
    expect(t.handoverCalls.map((c) => c.idempotencyKey)).toEqual([`cb:rule:${id}`]);
    expect(t.downstream.urls()).toEqual([DESK_URL, DESK_URL]);
  });
});

describe('processCallback: a rule handover and a downstream handover in one delivery', () => {
  it('gives each its own Idempotency-Key, so the second is not refused as a reused key', async () => {
    const t = setup();
    t.state.owners.set(USER, ownerItem(BOT));
    // The stand-in claims each key as performHandover does: another body under a key is a 422.
    const claimed = new Map<string, string>();
    const moveTo = async (input: HandoverInput): Promise<HandoverResult> => {
      t.parley.owners.set(USER, input.newOwner);
      t.state.owners.set(USER, ownerItem(input.newOwner));
      return {
        changed: true,
        owner: { identification: input.newOwner, name: 'Agent Service', default: false },
        handover: record(USER, BOT, input.newOwner),
      };
    };
    t.setHandover(async (input) => {
      const body = JSON.stringify([input.newOwner, input.metadata ?? null]);
      const earlier = claimed.get(input.idempotencyKey!);
      if (earlier !== undefined && earlier !== body) throw new IdempotencyKeyReusedError();
      claimed.set(input.idempotencyKey!, body);
      // The rule's handover is refused by Parley; the downstream's goes through.
      if (input.source === 'rule') {
        throw new ParleyApiError(400, 'invalid_request', 'PUT', 'users/20/owner', '20500', 5);
      }
      return moveTo(input);
    });
    t.downstream.json(BOT_URL, {
      handover: { newOwner: AGENT, metadata: { reason: 'question_too_complex' } },
    });
    const raw = messageBody('a human please');
    const id = idOf(raw);

    const outcome = await processCallback(queued(raw), t.deps);

    expect(t.handoverCalls.map((c) => [c.source, c.idempotencyKey])).toEqual([
      ['rule', `cb:rule:${id}`],
      ['downstream', `cb:ds:${id}`],
    ]);
    expect(outcome).toEqual({
      deliveryId: id,
      disposition: 'handed_over',
      duplicate: false,
      handoverId: 'h0001',
    });
    expect(t.downstream.urls()).toEqual([BOT_URL, DESK_URL]);
  });
});

describe('processCallback: the answer', () => {
  it('sends the reply once, as the receiving service', async () => {
    const t = setup();
    t.state.owners.set(USER, ownerItem(BOT));
    t.downstream.json(BOT_URL, { reply: '  Your parcel arrives tomorrow ' });
    const raw = messageBody();

    const outcome = await processCallback(queued(raw), t.deps);

    expect(outcome.disposition).toEqual('forwarded');
    expect(t.parley.calls).toEqual([
      { as: BOT, method: 'sendMessage', userId: USER, text: 'Your parcel arrives tomorrow' },
    ]);
    expect(t.delivery(idOf(raw))?.replyState).toEqual('sent');
    expect(JSON.stringify(t.logLines)).not.toContain('parcel');
  });

  it('marks a reply Parley refused as failed, without throwing', async () => {
    const t = setup();
    t.state.owners.set(USER, ownerItem(BOT));
    t.parley.failNext('sendMessage', 'reject_403');
    t.downstream.json(BOT_URL, { reply: 'hello' });
    const raw = messageBody();

    const outcome = await processCallback(queued(raw), t.deps);

    expect(outcome.disposition).toEqual('forwarded');
    expect(t.delivery(idOf(raw))?.replyState).toEqual('failed');
    expect(t.refreshCalls).toEqual([[USER, BOT]]);
  });

  it("logs Parley's status and code for a refused reply, not our error code", async () => {
    const t = setup();
    t.state.owners.set(USER, ownerItem(BOT));
    t.parley.failNext('sendMessage', 'reject_403');
    t.downstream.json(BOT_URL, { reply: 'hello' });

    await processCallback(queued(messageBody()), t.deps);

    const attributes = loggedWith(t.logLines, 'reply refused by Parley');
    expect(attributes).toEqual(expect.objectContaining({ status: 403, parleyCode: 'forbidden' }));
    expect(attributes).not.toHaveProperty('code');
  });

  it("logs Parley's status and code for a handover Parley refused", async () => {
    const t = setup();
    t.state.owners.set(USER, ownerItem(BOT));
    t.downstream.json(BOT_URL, { handover: { newOwner: AGENT } });
    t.setHandover(async () => {
      throw new ParleyApiError(400, 'invalid_owner', 'PUT', 'users/20/owner', '20500', 5);
    });

    await processCallback(queued(messageBody()), t.deps);

    expect(loggedWith(t.logLines, 'handover requested by callback was refused')).toEqual(
      expect.objectContaining({
        reason: 'parley_rejected',
        status: 400,
        parleyCode: 'invalid_owner',
      }),
    );
  });

  it('leaves a reply with an unknown outcome in `sending` and does not throw', async () => {
    const t = setup();
    t.state.owners.set(USER, ownerItem(BOT));
    t.parley.failNext('sendMessage', 'apply_then_timeout');
    t.downstream.json(BOT_URL, { reply: 'hello' });
    const raw = messageBody();

    const outcome = await processCallback(queued(raw), t.deps);

    expect(outcome.disposition).toEqual('forwarded');
    expect(t.delivery(idOf(raw))).toEqual(
      expect.objectContaining({ state: 'done', replyState: 'sending' }),
    );
  });

  it('performs the downstream handover after the reply and forwards to the new owner', async () => {
    const t = setup();
    t.state.owners.set(USER, ownerItem(BOT));
    t.downstream.json(BOT_URL, {
      reply: 'Connecting you to a colleague',
      handover: { newOwner: AGENT, metadata: { reason: 'question_too_complex' } },
    });
    const raw = messageBody();
    const id = idOf(raw);

    const outcome = await processCallback(queued(raw), t.deps);

    expect(t.events).toEqual([`sendMessage as ${BOT}`, `handover to ${AGENT}`]);
    expect(t.handoverCalls).toEqual([
      {
        userId: USER,
        newOwner: AGENT,
        metadata: { reason: 'question_too_complex' },
        requestedBy: BOT,
        source: 'downstream',
        idempotencyKey: `cb:ds:${id}`,
        idempotencyTtlSeconds: 2_592_000, // as long as the delivery item
      },
    ]);
    expect(outcome).toEqual({
      deliveryId: id,
      disposition: 'handed_over',
      duplicate: false,
      handoverId: 'h0001',
    });
    expect(t.downstream.urls()).toEqual([BOT_URL, DESK_URL]);
    expect(t.downstream.posts[1]!.headers['X-Handover-Delivery']).toEqual(id);
  });

  it('records a handover refused with NotOwner and finishes without throwing', async () => {
    const t = setup();
    t.state.owners.set(USER, ownerItem(BOT));
    t.downstream.json(BOT_URL, { handover: { newOwner: AGENT } });
    t.setHandover(async () => {
      throw new NotOwnerError(BOT, AGENT);
    });
    const raw = messageBody();

    const outcome = await processCallback(queued(raw), t.deps);

    expect(outcome.disposition).toEqual('forwarded');
    expect(t.delivery(idOf(raw))?.state).toEqual('done');
    expect(t.downstream.urls()).toEqual([BOT_URL]);
    expect(t.counted('CallbackHandoverRefused')).toEqual([
      ['CallbackHandoverRefused', 1, { reason: 'not_owner' }],
    ]);
  });

  it('forwards the message and refuses the handover for good while its user is being erased', async () => {
    const t = setup();
    t.state.owners.set(USER, ownerItem(BOT));
    t.downstream.json(BOT_URL, { handover: { newOwner: AGENT } });
    t.setHandover(async () => {
      throw new ErasureInProgressError();
    });
    const raw = messageBody();

    const outcome = await processCallback(queued(raw), t.deps);

    expect(outcome.disposition).toEqual('forwarded');
    expect(t.delivery(idOf(raw))?.state).toEqual('done');
    expect(t.downstream.urls()).toEqual([BOT_URL]);
    expect(t.counted('CallbackHandoverRefused')).toEqual([
      ['CallbackHandoverRefused', 1, { reason: 'erasure_in_progress' }],
    ]);
  });

  it('forwards a callback that meets a fence to the owner Parley names, not the one the fence keeps', async () => {
    const t = setup();
    // The fence names the Agent (the owner when the erasure began); the user moved to the Bot at
    // Parley since, which routed this message to the Bot. The fence takes no record of that.
    const fence = { ...ownerItem(AGENT), erasing: { erasureId: 'era_1', since: 'x' } };
    t.state.owners.set(USER, fence);
    t.parley.owners.set(USER, BOT);
    const history = withRealHandover(t);
    t.deps.refreshOwner = (userId, asService) =>
      syncOwner(userId, asService, {
        parley: t.parley.clients,
        history,
        state: t.state,
        catalog: t.deps.catalog,
        clock: t.clock,
        ids: sequentialIds(),
        log: t.deps.log,
        metrics: t.deps.metrics,
        staleAfterMs: 60_000,
      });
    const raw = messageBody();

    const outcome = await processCallback(queued(raw), t.deps);

    expect(outcome.disposition).toEqual('forwarded');
    expect(t.downstream.urls()).toEqual([BOT_URL]);
    expect(t.counted('CallbackToOwner')).toEqual([]);
    expect(t.state.owners.get(USER)).toEqual(fence);
    expect(history.userRecords(USER)).toEqual([]);
  });

  it('waits a short while, not a visibility timeout, when its handover meets one in flight', async () => {
    const t = setup();
    t.state.owners.set(USER, ownerItem(BOT));
    t.downstream.json(BOT_URL, { handover: { newOwner: AGENT } });
    t.setHandover(async () => {
      throw new HandoverInProgressError(30);
    });
    const raw = messageBody();

    const err = await rejection(processCallback(queued(raw), t.deps));

    expect(err).toBeInstanceOf(DeliveryDeferredError);
    expect((err as DeliveryDeferredError).retryAfterMs).toBe(DEFER_MS);
    expect(t.delivery(idOf(raw))).toMatchObject({ state: 'in_progress', leaseUntil: 0 });
  });

  it.each([
    ['an unknown Parley outcome', () => new ParleyTimeoutError('PUT', 'users/20/owner', 3000)],
  ])('rethrows %s so the queue retries', async (_case, makeError) => {
    const t = setup();
    t.state.owners.set(USER, ownerItem(BOT));
    t.downstream.json(BOT_URL, { handover: { newOwner: AGENT } });
    const thrown = makeError();
    t.setHandover(async () => {
      throw thrown;
    });
    const raw = messageBody();

    const err = await rejection(processCallback(queued(raw), t.deps));

    expect(err).toBe(thrown);
    expect(t.delivery(idOf(raw))?.state).toEqual('in_progress');
  });

  it('forwards nothing more when the handover leaves the receiving service as owner', async () => {
    const t = setup();
    t.state.owners.set(USER, ownerItem(BOT));
    t.downstream.json(BOT_URL, { handover: { newOwner: 'Bot Service' } });
    t.setHandover(async () => ({
      changed: false,
      owner: { identification: BOT, name: 'Bot Service', default: true },
    }));

    const outcome = await processCallback(queued(messageBody()), t.deps);

    expect(outcome).toEqual(expect.objectContaining({ disposition: 'forwarded' }));
    expect(t.downstream.urls()).toEqual([BOT_URL]);
  });
});

describe('processCallback: a downstream handover with metadata the store cannot keep', () => {
  it.each([
    ['a constructor key', '{"constructor":"x"}'],
    ['a __proto__ key', '{"__proto__":{"admin":true}}'],
    ['a nested __proto__ key', '{"ticket":{"__proto__":{"admin":true}}}'],
    ['nesting 33 levels deep', `${'{"a":'.repeat(33)}1${'}'.repeat(33)}`],
  ])('refuses metadata with %s for good: logged, not retried', async (_case, metadata) => {
    const t = setup();
    t.state.owners.set(USER, ownerItem(BOT));
    const history = withRealHandover(t);
    t.downstream.answer(BOT_URL, {
      status: 200,
      body: `{"handover":{"newOwner":"${AGENT}","metadata":${metadata}}}`,
    });
    const raw = messageBody();
    const id = idOf(raw);

    const outcome = await processCallback(queued(raw), t.deps);
    const again = await processCallback(queued(raw), t.deps);

    expect(outcome).toEqual({ deliveryId: id, disposition: 'forwarded', duplicate: false });
    expect(again.duplicate).toBe(true);
    expect(t.delivery(id)?.state).toBe('done');
    expect(loggedWith(t.logLines, 'handover requested by callback was refused')).toEqual({
      deliveryId: id,
      serviceId: BOT,
      userId: USER,
      source: 'downstream',
      reason: 'invalid',
      code: 'invalid_metadata',
    });
    expect(t.counted('CallbackHandoverRefused')).toEqual([
      ['CallbackHandoverRefused', 1, { reason: 'invalid' }],
    ]);
    expect(t.parley.calls.filter((c) => c.method === 'setOwner')).toEqual([]);
    expect(t.parley.ownerOf(USER)).toBe(BOT);
    expect(await history.listUser(USER, { limit: 10 })).toEqual(
      expect.objectContaining({ items: [] }),
    );
  });
});
