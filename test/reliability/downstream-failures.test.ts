// Suite 5, downstream failures, through the local stack: Parley's callbacks come in over HTTP to
// the local gateway, go through the local FIFO queue (visibility timeout, receive counts, DLQ) to the
// processor. A bot that times out or answers 5xx makes its message retry, in order for its user,
// and land in the DLQ after maxReceiveCount, never lost; the messages behind it wait, then go on.
// A reply already sent is never sent again, even when a later step fails and the message is
// retried. The runbook's redrive, once the programs are fixed, finishes every parked message.
import type { SQSBatchResponse, SQSEvent } from 'aws-lambda';
import { makeHandler as processorHandler } from '../../functions/handlers/processor';
import {
  AGENT_SERVICE_ID,
  BOT_SERVICE_ID,
  type LocalStack,
  startLocalStack,
} from '../../local/stack';
import {
  type DownstreamProgram,
  type MovableClock,
  movableClock,
  reportFigures,
  startDownstream,
} from '../support/reliability';

const VISIBILITY_MS = 90_000;
const MAX_RECEIVES = 4;
const PER_KIND = Number(process.env.DOWNSTREAM_USERS_PER_KIND ?? 3);
const KINDS = ['bot-times-out', 'bot-5xx', 'desk-5xx-after-reply', 'healthy'] as const;
type Kind = (typeof KINDS)[number];

let stack: LocalStack;
let clock: MovableClock;
let bot: DownstreamProgram;
let desk: DownstreamProgram;
let processor: (event: SQSEvent) => Promise<SQSBatchResponse>;
let broken = true;
let faultsInjected = 0;
/** Counts the answers that are a fault: a hang (timeout) or a 5xx. */
const counted = <T extends 'hang' | { status: number }>(answer: T): T => {
  if (answer === 'hang' || answer.status >= 500) faultsInjected++;
  return answer;
};

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
    if (broken && first && kind === 'bot-times-out') return counted('hang');
    if (broken && first && kind === 'bot-5xx') return counted({ status: 503, body: 'down' });
    if (first && kind === 'desk-5xx-after-reply') {
      return {
        status: 200,
        body: { reply: `re: ${text}`, handover: { newOwner: 'Agent Service' } },
      };
    }
    return { status: 200, body: { reply: `re: ${text}` } };
  });
  desk = await startDownstream(() => counted(broken ? { status: 502 } : { status: 200, body: {} }));
  stack = await startLocalStack({
    clock,
    reconcileIntervalMs: 0,
    simulator: { randomSeed: 11 },
    downstreamUrls: { [BOT_SERVICE_ID]: bot.url, [AGENT_SERVICE_ID]: desk.url },
    config: { downstreamTimeoutMs: 250 },
    queue: { deliver: false, visibilityTimeoutMs: VISIBILITY_MS, maxReceiveCount: MAX_RECEIVES },
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
  let polls = 0;
  for (let idle = 0; idle < 2 && polls < 200; ) {
    const delivered = await stack.queue.pollOnce(processor);
    polls++;
    if (delivered > 0) {
      idle = 0;
      continue;
    }
    const stats = await stack.queue.stats();
    if (stats.inFlight === 0 && stats.visible === 0) idle++;
    clock.advance(VISIBILITY_MS + 1_000);
  }
  return polls;
};

const deliveryOf = async (userId: string, n: number) => {
  const ids = stack
    .parley!.log()
    .flatMap((e) =>
      e.kind === 'callback' && e.userId === userId && (e.body as any)?.body?.message !== undefined
        ? [(e.body as any).body.id as number]
        : [],
    );
  const id = ids[n - 1];
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
    const accepted = users.length * 3;

    const pollsBefore = await drain();

    // Phase 1: each failing user's first message is parked after maxReceiveCount receives. A
    // message behind it that came in the same batch is handed back with it each time (a failed
    // record and every later record of its FIFO group are returned, to keep the order), so like
    // SQS it is parked too, in order; one that was not waits and then goes on.
    const failing = users.filter((u) => u.kind !== 'healthy');
    const dlq = await stack.queue.listDlq();
    const parkedOf = (userId: string) =>
      dlq
        .filter((m) => m.groupId === `user-${userId}`)
        .map((m) => JSON.parse(JSON.parse(m.body).body).body.message as string);
    expect(new Set(dlq.map((m) => m.groupId))).toEqual(
      new Set(failing.map((u) => `user-${u.userId}`)),
    );
    expect(dlq.every((m) => m.receiveCount === MAX_RECEIVES)).toBe(true);
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
      const expected = Array.from({ length: MAX_RECEIVES }, () => textOf(userId, 1));
      expect(forwards).toEqual(
        kind === 'desk-5xx-after-reply' ? expected : [...expected, ...waited],
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
    const redriven = await stack.queue.redrive();
    expect(redriven).toBe(dlq.length);
    await drain();
    expect(await stack.queue.stats()).toEqual({ visible: 0, inFlight: 0, dlq: 0 });

    let replies = 0;
    let done = 0;
    for (const { userId, kind } of users) {
      for (let n = 1; n <= 3; n++) {
        const item = await deliveryOf(userId, n);
        expect({ userId, n, state: item?.state }).toEqual({ userId, n, state: 'done' });
        done++;
      }
      const sent = stack.parley!.messagesTo(userId).map((m) => m.text);
      const forwards = bot.received.filter((f) => f.body.userId === userId).map((f) => f.body.text);
      // Every reply at most once.
      expect(new Set(sent).size).toBe(sent.length);
      if (kind === 'desk-5xx-after-reply') {
        expect(sent).toEqual([`re: ${textOf(userId, 1)}`]);
        expect((await deliveryOf(userId, 1))?.disposition).toBe('handed_over');
        // The user is the agent's now: m2 and m3 are not the bot's to hear.
        expect((await deliveryOf(userId, 2))?.disposition).toBe('standby');
        expect((await deliveryOf(userId, 3))?.disposition).toBe('standby');
        const deskForwards = desk.received.filter((f) => f.body.userId === userId);
        expect(new Set(deskForwards.map((f) => f.deliveryId)).size).toBe(1);
        expect(deskForwards.length).toBe(MAX_RECEIVES + 1);
      } else {
        expect(sent.sort()).toEqual([1, 2, 3].map((n) => `re: ${textOf(userId, n)}`));
        // After the redrive: the parked messages, in their order.
        const parked = kind === 'healthy' ? [] : parkedOf(userId);
        expect(forwards).toEqual([...phase1.get(userId)!, ...parked]);
      }
      replies += sent.length;
    }

    reportFigures('downstream-failures', {
      users: users.length,
      messages: accepted,
      downstreamFaults: faultsInjected,
      parkedInDlq: dlq.length,
      redriven,
      done,
      replies,
      polls: pollsBefore,
      messagesLost: accepted - done,
    });
  });
});
