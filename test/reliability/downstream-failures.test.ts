// Suite 5, downstream failures, through the local stack: Parley's callbacks come in over HTTP to
// the local gateway, go through the local FIFO queue (visibility timeout, receive counts, DLQ) to the
// processor. A bot that times out or answers 5xx makes its message retry, in order for its user,
// and land in the DLQ after maxReceiveCount, never lost; the messages behind it wait, then go on.
// A reply already sent is never sent again, even when a later step fails and the message is
// retried. The runbook's redrive, once the programs are fixed, finishes every parked message. The
// queue parks after the receive count the deployed queue uses (functions/contracts/queue.ts).
import type { SQSBatchResponse, SQSEvent } from 'aws-lambda';
import { CALLBACK_MAX_RECEIVE_COUNT } from '../../functions/contracts/queue';
import { makeHandler as processorHandler } from '../../functions/handlers/processor';
import {
  AGENT_SERVICE_ID,
  BOT_SERVICE_ID,
  type LocalStack,
  startLocalStack,
} from '../../local/stack';
import {
  type DownstreamProgram,
  faultsAnswered,
  type MovableClock,
  movableClock,
  reportFigures,
  startDownstream,
} from '../support/reliability';

const VISIBILITY_MS = 90_000;
const MAX_RECEIVES = CALLBACK_MAX_RECEIVE_COUNT;
const PER_KIND = Number(process.env.DOWNSTREAM_USERS_PER_KIND ?? 3);
const KINDS = ['bot-times-out', 'bot-5xx', 'desk-5xx-after-reply', 'healthy'] as const;
type Kind = (typeof KINDS)[number];

let stack: LocalStack;
let clock: MovableClock;
let bot: DownstreamProgram;
let desk: DownstreamProgram;
let processor: (event: SQSEvent) => Promise<SQSBatchResponse>;
let broken = true;

const users = KINDS.flatMap((kind) =>
  Array.from({ length: PER_KIND }, (_, i) => ({ kind, userId: `ds-${kind}-${i}` })),
);
const kindOf = (userId: string): Kind => users.find((u) => u.userId === userId)!.kind;
const textOf = (userId: string, n: number) => `${userId} m${n}`;

beforeAll(async () => {
  clock = movableClock();
  bot = await startDownstream((f) => {
    const userId = String(f.body.userId);
    const text = String(f.body.text);
    const first = text.endsWith(' m1');
    const kind = kindOf(userId);
    if (broken && first && kind === 'bot-times-out') return 'hang';
    if (broken && first && kind === 'bot-5xx') return { status: 503, body: 'down' };
    if (first && kind === 'desk-5xx-after-reply') {
      return {
        status: 200,
        body: { reply: `re: ${text}`, handover: { newOwner: 'Agent Service' } },
      };
    }
    return { status: 200, body: { reply: `re: ${text}` } };
  });
  desk = await startDownstream(() => (broken ? { status: 502 } : { status: 200, body: {} }));
  stack = await startLocalStack({
    clock,
    reconcileIntervalMs: 0,
    simulator: { randomSeed: 11 },
    downstreamUrls: { [BOT_SERVICE_ID]: bot.url, [AGENT_SERVICE_ID]: desk.url },
    config: { downstreamTimeoutMs: 250 },
    // The local queue's own default receive count: it must be the deployed one.
    queue: { deliver: false, visibilityTimeoutMs: VISIBILITY_MS },
  });
  processor = processorHandler(async () => stack.deps);
});

afterAll(async () => {
  await stack.close();
  await bot.close();
  await desk.close();
});

/** Steps the queue like the event source mapping would, moving the clock past each visibility. */
const drain = async () => {
  for (let idle = 0, polls = 0; idle < 2 && polls < 200; polls++) {
    const delivered = await stack.queue.pollOnce(processor);
    if (delivered > 0) {
      idle = 0;
      continue;
    }
    const stats = await stack.queue.stats();
    if (stats.inFlight === 0 && stats.visible === 0) idle++;
    clock.advance(VISIBILITY_MS + 1_000);
  }
};

/** The message callbacks our webhook accepted (answered 200), from the simulator's log. */
const acceptedMessages = () =>
  stack
    .parley!.log()
    .flatMap((e) =>
      e.kind === 'callback' && e.status === 200 && (e.body as any)?.body?.message !== undefined
        ? [{ userId: e.userId, id: (e.body as any).body.id as number }]
        : [],
    );

const deliveryOf = async (userId: string, n: number) => {
  const id = acceptedMessages().filter((m) => m.userId === userId)[n - 1]?.id;
  return stack.deps.state.getDelivery(`${BOT_SERVICE_ID}#message#${id}`, clock.now());
};

describe('downstream failures through the local queue', () => {
  it('retries in order, parks in the DLQ after the limit, never sends a reply twice, and redrives', async () => {
    for (const { userId } of users) {
      for (let n = 1; n <= 3; n++) {
        const sent = await stack.parley!.sendUserMessage(userId, textOf(userId, n));
        expect(sent).toMatchObject({ delivered: true, serviceId: BOT_SERVICE_ID });
      }
    }
    expect(acceptedMessages()).toHaveLength(users.length * 3);

    await drain();

    // Phase 1: each failing user's first message is parked after maxReceiveCount receives. A
    // message behind it that came in the same batch is handed back with it each time (a failed
    // record and every later record of its FIFO group are returned, to keep the order), so like
    // SQS it is parked too, in order; one that was not waits and then goes on.
    const failing = users.filter((u) => u.kind !== 'healthy');
    const dlq = await stack.queue.listDlq();
    const parkedOf = (userId: string) =>
      dlq
        .filter((m) => m.groupId === `user-${userId}`)
        .map((m) => JSON.parse(m.body).body.message as string);
    expect(new Set(dlq.map((m) => m.groupId))).toEqual(
      new Set(failing.map((u) => `user-${u.userId}`)),
    );
    expect(dlq.map((m) => m.receiveCount)).toEqual(dlq.map(() => MAX_RECEIVES));
    expect(await stack.queue.stats()).toEqual({ visible: 0, inFlight: 0, dlq: dlq.length });

    const phase1 = new Map<string, string[]>();
    for (const { userId, kind } of users) {
      const forwards = bot.received.filter((f) => f.body.userId === userId).map((f) => f.body.text);
      phase1.set(userId, forwards);
      if (kind === 'healthy') {
        expect(forwards).toEqual([1, 2, 3].map((n) => textOf(userId, n)));
        continue;
      }
      const parked = parkedOf(userId);
      const all = [1, 2, 3].map((n) => textOf(userId, n));
      // m1 first, then whatever was parked with it, in order.
      expect(parked).toEqual(all.slice(0, parked.length));
      expect(parked.length).toBeGreaterThanOrEqual(1);
      const waited = all.slice(parked.length);
      // m1 once per receive; only afterwards, and only for the bot's users, what waited behind.
      // A bot whose answer already handed the user over hears m1 once: the retries go to the desk.
      const expected = Array.from({ length: MAX_RECEIVES }, () => textOf(userId, 1));
      expect(forwards).toEqual(
        kind === 'desk-5xx-after-reply' ? [textOf(userId, 1)] : [...expected, ...waited],
      );
      if (kind === 'desk-5xx-after-reply') {
        // The bot's reply went out on the first try and never again on the retries.
        expect(stack.parley!.messagesTo(userId).map((m) => m.text)).toEqual([
          `re: ${textOf(userId, 1)}`,
        ]);
      }
    }

    // Phase 2: the programs are fixed; the runbook's redrive brings the parked messages back.
    broken = false;
    const faultsBeforeRedrive = faultsAnswered(bot).length + faultsAnswered(desk).length;
    await stack.queue.redrive();
    const redriven = (await stack.queue.list()).length;
    expect(redriven).toBe(dlq.length);
    await drain();
    expect(await stack.queue.stats()).toEqual({ visible: 0, inFlight: 0, dlq: 0 });

    // Every accepted message's delivery item, read from the state table.
    const accepted = acceptedMessages();
    const items = await Promise.all(
      accepted.map((m) =>
        stack.deps.state.getDelivery(`${BOT_SERVICE_ID}#message#${m.id}`, clock.now()),
      ),
    );
    const done = items.filter((item) => item?.state === 'done').length;
    expect(accepted.filter((_, i) => items[i]?.state !== 'done')).toEqual([]);

    for (const { userId, kind } of users) {
      const sent = stack.parley!.messagesTo(userId).map((m) => m.text);
      const forwards = bot.received.filter((f) => f.body.userId === userId).map((f) => f.body.text);
      // Every reply at most once.
      expect(new Set(sent).size).toBe(sent.length);
      if (kind === 'desk-5xx-after-reply') {
        expect(sent).toEqual([`re: ${textOf(userId, 1)}`]);
        expect((await deliveryOf(userId, 1))?.disposition).toBe('handed_over');
        // The user is the agent's now: m2 and m3, routed to the bot while it owned the user, go
        // to the desk, never to the bot. While the desk failed, each message that reached it was
        // forwarded once per receive, in order (m1 first; one parked in m1's batch never reached
        // it); after the redrive each went through once, in order.
        expect((await deliveryOf(userId, 2))?.disposition).toBe('handed_over');
        expect((await deliveryOf(userId, 3))?.disposition).toBe('handed_over');
        const deskForwards = desk.received.filter((f) => f.body.userId === userId);
        const all = [1, 2, 3].map((n) => textOf(userId, n));
        const failedAtDesk = deskForwards.filter((f) => f.answered !== 200).map((f) => f.body.text);
        const reached = failedAtDesk.length / MAX_RECEIVES;
        expect(reached).toBeGreaterThanOrEqual(1);
        expect(failedAtDesk).toEqual(
          all.slice(0, reached).flatMap((text) => Array.from({ length: MAX_RECEIVES }, () => text)),
        );
        expect(deskForwards.filter((f) => f.answered === 200).map((f) => f.body.text)).toEqual(all);
        expect(new Set(deskForwards.map((f) => f.deliveryId)).size).toBe(3);
      } else {
        expect(sent.sort()).toEqual([1, 2, 3].map((n) => `re: ${textOf(userId, n)}`));
        // After the redrive: the parked messages, in their order.
        const parked = kind === 'healthy' ? [] : parkedOf(userId);
        expect(forwards).toEqual([...phase1.get(userId)!, ...parked]);
      }
    }

    // The faults the programs answered, from their own logs: all before the redrive.
    const faults = faultsAnswered(bot).length + faultsAnswered(desk).length;
    expect(faults).toBe(faultsBeforeRedrive);
    expect(faults).toBeGreaterThan(0);
    const replies = accepted
      .map((m) => m.userId)
      .filter((u, i, all) => all.indexOf(u) === i)
      .reduce((n, userId) => n + stack.parley!.messagesTo(userId).length, 0);
    const usersSeen = new Set(accepted.map((m) => m.userId)).size;
    reportFigures(
      'downstream-failures',
      {
        users: usersSeen,
        messages: accepted.length,
        downstreamFaults: faults,
        forwards: bot.received.length + desk.received.length,
        receivesBeforeDlq: [...new Set(dlq.map((m) => m.receiveCount))].join('/'),
        parkedInDlq: dlq.length,
        redriven,
        done,
        replies,
        messagesLost: accepted.length - done,
      },
      {
        drives: `${accepted.length} user messages of ${usersSeen} users through the local gateway and FIFO queue, to a bot that times out or answers 5xx and a desk that answers 502`,
        proved: `each failing message retried in order and parked in the DLQ after ${MAX_RECEIVES} receives (the deployed maxReceiveCount), the messages behind it waiting; after the redrive ${done} of ${accepted.length} delivery items done; no reply sent twice`,
      },
    );
  });
});
