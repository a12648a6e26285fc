// The signed forward (processor/forward.ts): what a downstream receives, and how its failures
// become DownstreamError.
import { DownstreamError } from '../../../functions/domain/errors';
import { processCallback } from '../../../functions/domain/processor/process-callback';
import { verifyForwardSignature } from '../../../functions/domain/signature';
import { DownstreamTransportError } from '../../../functions/adapters/downstream';
import { AGENT, BOT } from '../../support/fakes';
import {
  USER,
  BOT_URL,
  BOT_SECRET,
  TEXT,
  messageBody,
  queued,
  idOf,
  ownerItem,
  services,
  setup,
  rejection,
} from './world';

describe('processCallback: forwarding', () => {
  it('forwards a message of the owner, signed, with the delivery headers', async () => {
    const t = setup();
    t.state.owners.set(USER, ownerItem(BOT));
    const raw = messageBody();

    const outcome = await processCallback(queued(raw), t.deps);

    const id = idOf(raw);
    expect(outcome).toEqual({ deliveryId: id, disposition: 'forwarded', duplicate: false });
    expect(t.downstream.posts.length).toEqual(1);
    const post = t.downstream.posts[0]!;
    expect([post.url, post.timeoutMs]).toEqual([BOT_URL, 5000]);
    expect(JSON.parse(post.body)).toEqual({
      deliveryId: id,
      serviceId: BOT,
      userId: USER,
      type: 'message',
      text: TEXT,
      callback: JSON.parse(raw),
    });
    const ts = Math.floor(t.clock.now() / 1000);
    expect(post.headers).toEqual({
      'Content-Type': 'application/json',
      'X-Handover-Timestamp': String(ts),
      'X-Handover-Delivery': id,
      'X-Handover-Signature': expect.stringMatching(/^v1=[0-9a-f]{64}$/),
    });
    const sig = post.headers['X-Handover-Signature'];
    expect(verifyForwardSignature(BOT_SECRET, sig, ts, post.body, ts + 300)).toBe(true);
    expect(verifyForwardSignature(BOT_SECRET, sig, ts, post.body, ts + 301)).toBe(false);
    expect(verifyForwardSignature('wrong-secret', sig, ts, post.body, ts)).toBe(false);
    expect([t.delivery(id)?.state, t.delivery(id)?.disposition]).toEqual(['done', 'forwarded']);
    expect(t.counted('CallbackProcessed')).toEqual([
      ['CallbackProcessed', 1, { disposition: 'forwarded' }],
    ]);
  });

  it('sends no signature header to a service without a signing secret', async () => {
    const t = setup();
    t.state.owners.set(USER, ownerItem(AGENT));
    t.parley.owners.set(USER, AGENT);

    await processCallback(queued(messageBody(), AGENT), t.deps);

    expect(Object.keys(t.downstream.posts[0]!.headers)).toEqual([
      'Content-Type',
      'X-Handover-Timestamp',
      'X-Handover-Delivery',
    ]);
  });

  it('stores the callback of a service without a downstream', async () => {
    const [bot, agent] = services();
    const t = setup([{ ...bot!, downstreamUrl: undefined }, agent!]);
    t.state.owners.set(USER, ownerItem(BOT));
    const raw = messageBody();

    const outcome = await processCallback(queued(raw), t.deps);

    expect(outcome.disposition).toEqual('stored');
    expect(t.delivery(idOf(raw))?.state).toEqual('done');
    expect(t.downstream.posts).toEqual([]);
  });

  it('refreshes a missing owner cache from Parley as the receiving service', async () => {
    const t = setup();

    const outcome = await processCallback(queued(messageBody()), t.deps);

    expect(t.refreshCalls).toEqual([[USER, BOT]]);
    expect(outcome.disposition).toEqual('forwarded');
  });

  it('forwards an event of the owner like a message, without applying rules', async () => {
    const t = setup();
    t.state.owners.set(USER, ownerItem(BOT));
    const raw = JSON.stringify({
      type: 'event',
      body: { name: 'human', body: {}, user: { id: USER } },
    });

    const outcome = await processCallback(queued(raw), t.deps);

    expect(outcome.disposition).toEqual('forwarded');
    expect(t.handoverCalls).toEqual([]);
    expect(JSON.parse(t.downstream.posts[0]!.body).type).toEqual('event');
  });

  it('forwards a callback without a user to the receiving service and ignores its answer', async () => {
    const t = setup();
    t.downstream.json(BOT_URL, { reply: 'hello', handover: { newOwner: AGENT } });

    const outcome = await processCallback(queued('{"type":"client-merge","body":{}}'), t.deps);

    expect(outcome.disposition).toEqual('forwarded');
    expect(t.refreshCalls).toEqual([]);
    expect(t.handoverCalls).toEqual([]);
    expect(t.parley.calls).toEqual([]);
  });
});

describe('processCallback: downstream failures', () => {
  it.each([
    ['a 500', { status: 500, body: '{"error":"boom"}' }, 'status', 500],
    ['a 404', { status: 404, body: '' }, 'status', 404],
    ['a non-JSON 200', { status: 200, body: '<html>ok</html>' }, 'bad_body', 200],
    ['a JSON array', { status: 200, body: '[1]' }, 'bad_body', 200],
    ['a reply of the wrong type', { status: 200, body: '{"reply":5}' }, 'bad_body', 200],
    ['a handover without newOwner', { status: 200, body: '{"handover":{}}' }, 'bad_body', 200],
  ])(
    'throws DownstreamError on %s and leaves the delivery in progress',
    async (_c, answer, problem, status) => {
      const t = setup();
      t.state.owners.set(USER, ownerItem(BOT));
      t.downstream.answer(BOT_URL, answer);
      const raw = messageBody();

      const err = await rejection(processCallback(queued(raw), t.deps));

      expect(err).toBeInstanceOf(DownstreamError);
      expect([(err as DownstreamError).problem, (err as DownstreamError).status]).toEqual([
        problem,
        status,
      ]);
      expect((err as Error).message).not.toContain('hooks');
      expect((err as Error).message).not.toContain('key=');
      expect(t.delivery(idOf(raw))?.state).toEqual('in_progress');
      expect(t.parley.calls).toEqual([]);
    },
  );

  it('names only the host and status in the error message', async () => {
    const t = setup();
    t.state.owners.set(USER, ownerItem(BOT));
    t.downstream.answer(BOT_URL, { status: 500, body: '' });

    const err = await rejection(processCallback(queued(messageBody()), t.deps));

    expect((err as Error).message).toEqual('Downstream bot.example answered HTTP 500.');
  });

  it('throws DownstreamError on a timeout', async () => {
    const t = setup();
    t.state.owners.set(USER, ownerItem(BOT));
    const timeout = new Error('The operation was aborted due to timeout');
    timeout.name = 'TimeoutError';
    t.downstream.answer(BOT_URL, timeout);

    const err = await rejection(processCallback(queued(messageBody()), t.deps));

    expect(err).toBeInstanceOf(DownstreamError);
    expect((err as DownstreamError).problem).toEqual('timeout');
  });

  it("treats the fetch adapter's timeout as a timeout", async () => {
    const t = setup();
    t.state.owners.set(USER, ownerItem(BOT));
    t.downstream.answer(
      BOT_URL,
      new DownstreamTransportError('Downstream bot.example did not answer.', 'bot.example', true),
    );

    const err = await rejection(processCallback(queued(messageBody()), t.deps));

    expect(err).toBeInstanceOf(DownstreamError);
    expect([(err as DownstreamError).problem, (err as Error).message]).toEqual([
      'timeout',
      'Downstream bot.example did not answer in time.',
    ]);
  });

  it('accepts an empty 2xx answer', async () => {
    const t = setup();
    t.state.owners.set(USER, ownerItem(BOT));
    t.downstream.answer(BOT_URL, { status: 204, body: '' });

    const outcome = await processCallback(queued(messageBody()), t.deps);

    expect(outcome.disposition).toEqual('forwarded');
  });
});
