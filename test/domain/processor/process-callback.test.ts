// processCallback (processor/process-callback.ts): quarantine, the delivery item (duplicates,
// leases, retries that resume), and how long a delivery counts as a duplicate.
import { DeliveryBusyError, DownstreamError } from '../../../functions/domain/errors';
import { processCallback } from '../../../functions/domain/processor/process-callback';
import { AGENT, BOT } from '../../support/fakes';
import {
  USER,
  BOT_URL,
  DESK_URL,
  TEXT,
  messageBody,
  queued,
  idOf,
  record,
  ownerItem,
  setup,
  rejection,
  messageDeliveryLike,
  withRealHandover,
} from './world';

describe('processCallback: quarantine', () => {
  it.each([
    ['not JSON', 'not json at all: where is my parcel'],
    ['an array', '["where is my parcel"]'],
    ['without a type', '{"body":{"message":"where is my parcel"}}'],
    [
      'a message without a user',
      '{"type":"message","body":{"id":5,"message":"where is my parcel"}}',
    ],
    ['a message whose user id is ".."', messageBody(TEXT, 6, '..')],
    ['a message whose user id has 3,000 characters', messageBody(TEXT, 7, '2'.repeat(3000))],
  ])('quarantines %s without throwing, forwarding or logging its text', async (_case, raw) => {
    const t = setup();

    const outcome = await processCallback(queued(raw), t.deps);

    const id = idOf(raw);
    expect(outcome).toEqual({ deliveryId: id, disposition: 'quarantined', duplicate: false });
    expect([t.delivery(id)?.state, t.delivery(id)?.disposition]).toEqual(['done', 'quarantined']);
    expect(t.counted('CallbackQuarantined')).toEqual([['CallbackQuarantined', 1, undefined]]);
    expect(t.downstream.posts).toEqual([]);
    expect(JSON.stringify(t.logLines)).not.toContain('parcel');
  });

  it('answers a redelivered garbage body as a duplicate', async () => {
    const t = setup();
    await processCallback(queued('garbage'), t.deps);

    const outcome = await processCallback(queued('garbage'), t.deps);

    expect(outcome).toEqual({
      deliveryId: idOf('garbage'),
      disposition: 'quarantined',
      duplicate: true,
    });
    expect(t.counted('CallbackQuarantined').length).toEqual(1);
  });
});

describe('processCallback: delivery items', () => {
  it('does nothing again for a delivery already done', async () => {
    const t = setup();
    t.state.owners.set(USER, ownerItem(BOT));
    t.downstream.json(BOT_URL, { reply: 'On its way', handover: { newOwner: AGENT } });
    const raw = messageBody();
    await processCallback(queued(raw), t.deps);
    const before = {
      posts: t.downstream.posts.length,
      parley: t.parley.calls.length,
      handovers: t.handoverCalls.length,
    };

    const outcome = await processCallback(queued(raw), t.deps);

    expect(before).toEqual({ posts: 2, parley: 1, handovers: 1 });
    expect(outcome).toEqual({
      deliveryId: idOf(raw),
      disposition: 'handed_over',
      duplicate: true,
      handoverId: 'h0001',
    });
    expect([t.downstream.posts.length, t.parley.calls.length, t.handoverCalls.length]).toEqual([
      2, 1, 1,
    ]);
    expect(t.counted('DuplicateDelivery').length).toEqual(1);
  });

  it('refuses a delivery whose lease another attempt holds', async () => {
    const t = setup();
    t.state.owners.set(USER, ownerItem(BOT));
    const raw = messageBody();
    const id = idOf(raw);
    const now = t.clock.now();
    t.state.deliveries.set(id, {
      ...messageDeliveryLike(id),
      receivedAt: '2026-03-10T13:59:00.000Z',
      replyState: 'none',
      handoverId: null,
      leaseUntil: now + 59_000,
      expiresAt: Math.floor(now / 1000) + 86_400,
    });

    const err = await rejection(processCallback(queued(raw), t.deps));

    expect(err).toBeInstanceOf(DeliveryBusyError);
    expect(t.downstream.posts.length).toEqual(0);
  });

  it('keeps the delivery in progress after a downstream failure and lets the next delivery claim it at once', async () => {
    const t = setup();
    t.state.owners.set(USER, ownerItem(BOT));
    t.downstream.answer(BOT_URL, { status: 500, body: 'oops' });
    const raw = messageBody();
    const id = idOf(raw);

    const err = await rejection(processCallback(queued(raw), t.deps));
    const afterFailure = t.delivery(id)?.state;
    const leaseAfterFailure = t.delivery(id)?.leaseUntil;
    t.clock.advance(1);
    const outcome = await processCallback(queued(raw), t.deps);

    expect(err).toBeInstanceOf(DownstreamError);
    expect(afterFailure).toEqual('in_progress');
    expect(leaseAfterFailure).toEqual(0);
    expect(outcome.disposition).toEqual('forwarded');
    expect(t.downstream.posts.map((p) => p.headers['X-Handover-Delivery'])).toEqual([id, id]);
  });

  it('stops an attempt whose lease another attempt has claimed since, leaving that lease alone', async () => {
    const t = setup();
    t.state.owners.set(USER, ownerItem(BOT));
    const raw = messageBody();
    const id = idOf(raw);
    // While this attempt waits on its downstream, its lease passes and a retry claims the delivery.
    const takeover = { ...messageDeliveryLike(id), leaseUntil: t.clock.now() + 120_000 };
    t.downstream.post = async (url, body, headers, timeoutMs) => {
      t.downstream.posts.push({ url, body, headers, timeoutMs });
      t.state.deliveries.set(id, takeover);
      return { status: 200, body: '' };
    };

    const err = await rejection(processCallback(queued(raw), t.deps));

    expect(err).toBeInstanceOf(DeliveryBusyError);
    expect(t.delivery(id)).toEqual(takeover);
  });

  it('never sends again a reply a crashed attempt left in `sending`', async () => {
    const t = setup();
    t.state.owners.set(USER, ownerItem(BOT));
    const raw = messageBody();
    const id = idOf(raw);
    const now = t.clock.now();
    t.state.deliveries.set(id, {
      ...messageDeliveryLike(id),
      receivedAt: '2026-03-10T13:58:00.000Z',
      replyState: 'sending',
      handoverId: null,
      leaseUntil: now - 1,
      expiresAt: Math.floor(now / 1000) + 3600,
    });
    t.downstream.json(BOT_URL, { reply: 'On its way' });

    const outcome = await processCallback(queued(raw), t.deps);

    expect(outcome.disposition).toEqual('forwarded');
    expect(t.parley.callsOf('sendMessage')).toEqual([]);
    expect(t.delivery(id)).toEqual(
      expect.objectContaining({
        state: 'done',
        replyState: 'sending',
        receivedAt: '2026-03-10T13:58:00.000Z',
      }),
    );
  });

  it('retries after a failed forward to the new owner: reply once, same handover resumed', async () => {
    const t = setup();
    t.state.owners.set(USER, ownerItem(BOT));
    t.downstream.json(BOT_URL, { reply: 'Connecting you', handover: { newOwner: AGENT } });
    t.downstream.answer(DESK_URL, { status: 502, body: '' });
    t.downstream.json(BOT_URL, { reply: 'Connecting you', handover: { newOwner: AGENT } });
    const raw = messageBody();
    const id = idOf(raw);
    await rejection(processCallback(queued(raw), t.deps));
    t.clock.advance(60_001);
    t.setHandover(async () => ({
      changed: true,
      owner: { identification: AGENT, name: 'Agent Service', default: false },
      handover: record(USER, BOT, AGENT),
    }));

    const outcome = await processCallback(queued(raw), t.deps);

    expect(outcome.disposition).toEqual('handed_over');
    expect(t.parley.callsOf('sendMessage').length).toEqual(1);
    // Neither the old owner's forward nor the handover is repeated: the message goes to the owner.
    expect(t.handoverCalls.map((c) => c.idempotencyKey)).toEqual([`cb:ds:${id}`]);
    expect(t.downstream.urls()).toEqual([BOT_URL, DESK_URL, DESK_URL]);
    expect(t.delivery(id)).toEqual(expect.objectContaining({ state: 'done', replyState: 'sent' }));
  });
  it.each([
    ['downstream', 'ds'],
    ['rule', 'rule'],
  ])(
    "resumes through the %s handover's idempotency item when a crash came before the handover id was recorded",
    async (_source, prefix) => {
      const t = setup();
      t.state.owners.set(USER, ownerItem(AGENT));
      t.parley.owners.set(USER, AGENT);
      const raw = messageBody();
      const id = idOf(raw);
      const now = t.clock.now();
      t.state.deliveries.set(id, {
        ...messageDeliveryLike(id),
        receivedAt: '2026-03-10T13:58:00.000Z',
        replyState: 'sent',
        handoverId: null,
        leaseUntil: now - 1,
        expiresAt: Math.floor(now / 1000) + 3600,
      });
      t.state.idempotency.set(`${BOT}#cb:${prefix}:${id}`, {
        callerServiceId: BOT,
        key: `cb:${prefix}:${id}`,
        handoverId: 'h0042',
        userId: USER,
        bodyHash: 'b'.repeat(64),
        expiresAt: Math.floor(now / 1000) + 3600,
      });

      const outcome = await processCallback(queued(raw), t.deps);

      expect(outcome).toEqual({
        deliveryId: id,
        disposition: 'handed_over',
        duplicate: false,
        handoverId: 'h0042',
      });
      expect(t.downstream.urls()).toEqual([DESK_URL]);
      expect(t.parley.calls).toEqual([]);
    },
  );

  it.each([
    ['the user is back with the Bot', BOT, [BOT_URL], 'forwarded'],
    ['the desk owns the user', AGENT, [DESK_URL], 'handed_over'],
  ])(
    'repeats no handover for a redriven delivery whose key expired (%s)',
    async (_case, ownerNow, urls, disposition) => {
      const t = setup();
      t.state.owners.set(USER, ownerItem(ownerNow));
      t.parley.owners.set(USER, ownerNow);
      const raw = messageBody('human please'); // matches the Bot's rule
      const id = idOf(raw);
      const now = t.clock.now();
      // The delivery item remembers its handover; the Idempotency-Key has expired long ago.
      t.state.deliveries.set(id, {
        ...messageDeliveryLike(id),
        handoverId: 'h0001',
        replyState: 'none',
        leaseUntil: now - 1,
      });

      const outcome = await processCallback(queued(raw), t.deps);

      expect(t.handoverCalls).toEqual([]);
      expect(outcome).toEqual({
        deliveryId: id,
        disposition,
        duplicate: false,
        handoverId: 'h0001',
      });
      expect(t.downstream.urls()).toEqual(urls);
    },
  );

  it('forwards a retried delivery to the owner when no handover of its own moved the user', async () => {
    const t = setup();
    t.state.owners.set(USER, ownerItem(AGENT));
    t.parley.owners.set(USER, AGENT);
    const raw = messageBody();
    const id = idOf(raw);
    const now = t.clock.now();
    t.state.deliveries.set(id, {
      ...messageDeliveryLike(id),
      receivedAt: '2026-03-10T13:58:00.000Z',
      replyState: 'none',
      handoverId: null,
      leaseUntil: now - 1,
      expiresAt: Math.floor(now / 1000) + 3600,
    });

    const outcome = await processCallback(queued(raw), t.deps);

    expect(outcome.disposition).toEqual('handed_over');
    expect(t.downstream.urls()).toEqual([DESK_URL]);
    expect(t.handoverCalls).toEqual([]);
  });
});

describe('processCallback: how long a delivery counts as a duplicate', () => {
  const HOUR_MS = 3_600_000;
  const typing = JSON.stringify({
    type: 'event',
    body: { name: 'startTyping', body: {}, user: { id: USER } },
  });

  it('drops an id-less callback repeated within the hour and processes it again a week later', async () => {
    const t = setup();
    t.state.owners.set(USER, ownerItem(BOT));
    const first = await processCallback(queued(typing), t.deps);
    t.clock.advance(HOUR_MS - 1_000);
    const retried = await processCallback(queued(typing), t.deps);
    t.clock.advance(7 * 24 * HOUR_MS);

    const nextWeek = await processCallback(queued(typing), t.deps);

    expect([first.duplicate, retried.duplicate, nextWeek.duplicate]).toEqual([false, true, false]);
    expect(nextWeek.disposition).toEqual('forwarded');
    expect(t.downstream.urls()).toEqual([BOT_URL, BOT_URL]);
  });

  it('hands a user over again for the same id-less callback a week later', async () => {
    const t = setup();
    t.state.owners.set(USER, ownerItem(BOT));
    const history = withRealHandover(t);
    const handoverAnswer = { status: 200, body: `{"handover":{"newOwner":"${AGENT}"}}` };
    t.downstream.answer(BOT_URL, handoverAnswer, handoverAnswer);
    const first = await processCallback(queued(typing), t.deps);
    t.clock.advance(24 * HOUR_MS);
    await t.deps.handover({ userId: USER, newOwner: BOT, requestedBy: AGENT, source: 'api' });
    t.clock.advance(6 * 24 * HOUR_MS);
    // A new event: Parley calls again, and the webhook receives it now.
    const again = { ...queued(typing), receivedAt: new Date(t.clock.now()).toISOString() };

    const nextWeek = await processCallback(again, t.deps);

    expect([first.disposition, nextWeek.disposition]).toEqual(['handed_over', 'handed_over']);
    expect(t.parley.ownerOf(USER)).toBe(AGENT);
    const records = (await history.listUser(USER, { limit: 10 })).items;
    expect(records.map((r) => [r.source, r.toOwner, r.status])).toEqual([
      ['downstream', AGENT, 'completed'],
      ['api', BOT, 'completed'],
      ['downstream', AGENT, 'completed'],
    ]);
  });

  it('repeats no handover for an id-less callback redriven from the DLQ after the hour', async () => {
    const t = setup();
    t.state.owners.set(USER, ownerItem(BOT));
    withRealHandover(t);
    t.downstream.answer(BOT_URL, { status: 200, body: `{"handover":{"newOwner":"${AGENT}"}}` });
    t.downstream.answer(DESK_URL, { status: 503, body: '' });
    // The handover goes through; the forward to the desk fails, and the message ends in the DLQ.
    await rejection(processCallback(queued(typing), t.deps));
    t.clock.advance(3 * 24 * HOUR_MS); // redriven three days later

    const redriven = await processCallback(queued(typing), t.deps);

    expect(redriven.disposition).toEqual('handed_over');
    expect(t.parley.callsOf('setOwner')).toHaveLength(1);
    expect(t.downstream.urls()).toEqual([BOT_URL, DESK_URL, DESK_URL]);
  });

  it('keeps a callback with an id a duplicate for 30 days', async () => {
    const t = setup();
    t.state.owners.set(USER, ownerItem(BOT));
    const raw = messageBody();
    await processCallback(queued(raw), t.deps);
    t.clock.advance(29 * 24 * HOUR_MS);
    const within = await processCallback(queued(raw), t.deps);
    t.clock.advance(24 * HOUR_MS);

    const after = await processCallback(queued(raw), t.deps);

    expect([within.duplicate, after.duplicate]).toEqual([true, false]);
    expect(t.downstream.urls()).toEqual([BOT_URL, BOT_URL]);
  });
});
