// Suite 1, duplicate deliveries: every callback is delivered three times, the copies processed
// concurrently (as overlapping consumers would), retried through the queue's rules (a later round
// once a lease has passed), and once more after it was done. Exactly one effect each: at most one
// handover, at most one reply, one delivery item; forwards at least once under one delivery id,
// and never again after the delivery is done.
import { messageCallback } from '../../local/parley-sim/callback-body';
import { sqsEvent, sqsRecord } from '../support/events';
import { AGENT, BOT, type Harness, startHarness } from '../support/harness';
import {
  auditUser,
  type DownstreamProgram,
  faultsAnswered,
  type Invoker,
  invoker,
  type MovableClock,
  movableClock,
  reportFigures,
  startDownstream,
} from '../support/reliability';

const USERS = Number(process.env.DUPLICATE_USERS ?? 150);
const COPIES = 3;
const CHUNK = 25;
const LEASE_MS = 60_000;
const KINDS = ['plain', 'reply', 'handover', 'reply-and-handover', 'flaky'] as const;
type Kind = (typeof KINDS)[number];

const kindOf = (i: number): Kind => KINDS[i % KINDS.length]!;
const userOf = (i: number) => `dup-${i}`;

let h: Harness;
let api: Invoker;
let clock: MovableClock;
let bot: DownstreamProgram;
let desk: DownstreamProgram;

beforeAll(async () => {
  bot = await startDownstream((forward, attempt) => {
    const text = String(forward.body.text ?? '');
    const reply = { reply: `answer to ${forward.deliveryId}` };
    const handover = { handover: { newOwner: AGENT, metadata: { reason: 'needs_human' } } };
    if (text.startsWith('flaky'))
      return attempt === 1 ? { status: 503 } : { status: 200, body: reply };
    if (text.startsWith('reply-and-handover'))
      return { status: 200, body: { ...reply, ...handover } };
    if (text.startsWith('reply')) return { status: 200, body: reply };
    if (text.startsWith('handover')) return { status: 200, body: handover };
    return { status: 200, body: {} };
  });
  desk = await startDownstream(() => ({ status: 200, body: {} }));
  clock = movableClock();
  h = await startHarness({
    clock,
    services: { [BOT]: { downstreamUrl: bot.url }, [AGENT]: { downstreamUrl: desk.url } },
  });
  api = invoker(h.source);
});

afterAll(async () => {
  await h.close();
  await bot.close();
  await desk.close();
});

const callbackOf = (i: number) =>
  messageCallback({
    userId: userOf(i),
    id: 90_000 + i,
    text: `${kindOf(i)} question ${i}`,
    time: 1_700_000_000 + i,
  });

const deliver = async (raw: string) => {
  const res = await api.call({
    method: 'POST',
    path: `/webhooks/parley/${BOT}`,
    headers: { Authorization: `Bearer ${h.tokens.bot.callback}` },
    rawBody: raw,
  });
  webhookAnswers.push(res.statusCode ?? 0);
  return res;
};

type Queued = Harness['queued'][number];

/** Every webhook answer and every processor invocation's outcome, as they happened. */
const webhookAnswers: number[] = [];
const processorRuns: { failed: boolean }[] = [];

/** Each queued copy in its own processor invocation, all at once; the copies that failed. */
const processConcurrently = async (copies: Queued[]): Promise<Queued[]> => {
  const results = await Promise.all(
    copies.map(async (copy) => {
      const out = await api.processor(sqsEvent([sqsRecord(copy)]));
      const failed = out.batchItemFailures.length > 0;
      processorRuns.push({ failed });
      return failed ? copy : null;
    }),
  );
  return results.filter((c): c is Queued => c !== null);
};

describe('duplicate deliveries', () => {
  it('has exactly one effect per callback delivered three times, also concurrently', async () => {
    const indices = Array.from({ length: USERS }, (_, i) => i);
    const dedupIds = new Map<number, Set<string>>();

    for (let start = 0; start < USERS; start += CHUNK) {
      const chunk = indices.slice(start, start + CHUNK);
      const accepted = await Promise.all(
        chunk.flatMap((i) =>
          Array.from({ length: COPIES }, () => deliver(JSON.stringify(callbackOf(i)))),
        ),
      );
      expect(accepted.map((r) => r.statusCode)).toEqual(accepted.map(() => 200));
      const copies = h.queued.splice(0);
      for (const copy of copies) {
        const i = Number(JSON.parse(copy.body).body.id) - 90_000;
        dedupIds.set(i, (dedupIds.get(i) ?? new Set()).add(copy.dedupId));
      }

      // The queue gives a failed message back after its visibility timeout: by then any lease
      // of an earlier attempt has passed.
      let failed = copies;
      for (let round = 0; failed.length > 0 && round < 6; round++) {
        if (round > 0) clock.advance(LEASE_MS + 1_000);
        failed = await processConcurrently(failed);
      }
      expect(failed).toEqual([]);
    }

    // A copy that arrives after the delivery is done: accepted, acknowledged, nothing repeated.
    const forwardsBefore = bot.received.length;
    const late = await Promise.all(indices.map((i) => deliver(JSON.stringify(callbackOf(i)))));
    expect(late.every((r) => r.statusCode === 200)).toBe(true);
    const lateCopies = h.queued.splice(0);
    expect(await processConcurrently(lateCopies)).toEqual([]);
    expect(bot.received.length).toBe(forwardsBefore);

    let lost = 0;
    for (const i of indices) {
      const userId = userOf(i);
      const kind = kindOf(i);
      const deliveryId = `${BOT}#message#${90_000 + i}`;
      const wantsHandover = kind === 'handover' || kind === 'reply-and-handover';
      const wantsReply = kind === 'reply' || kind === 'reply-and-handover' || kind === 'flaky';

      expect([...(dedupIds.get(i) ?? [])]).toEqual([deliveryId]);
      const puts = h.sim
        .log()
        .filter(
          (e) => e.kind === 'request' && e.method === 'PUT' && e.path === `users/${userId}/owner`,
        );
      expect(puts).toHaveLength(wantsHandover ? 1 : 0);
      const sent = h.sim.messagesTo(userId).filter((m) => m.text === `answer to ${deliveryId}`);
      expect(sent).toHaveLength(wantsReply ? 1 : 0);
      const item = await h.deps.state.getDelivery(deliveryId, clock.now());
      expect(item).toMatchObject({
        state: 'done',
        disposition: wantsHandover ? 'handed_over' : 'forwarded',
        replyState: wantsReply ? 'sent' : 'none',
      });
      const forwards = bot.received.filter((f) => f.body.userId === userId);
      expect(forwards.length).toBe(kind === 'flaky' ? 2 : 1);
      expect(new Set(forwards.map((f) => f.deliveryId))).toEqual(new Set([deliveryId]));
      expect(desk.received.filter((f) => f.body.userId === userId)).toHaveLength(
        wantsHandover ? 1 : 0,
      );
      const audit = await auditUser(h.deps, h.sim, userId, BOT);
      expect(audit.problems).toEqual([]);
      lost += audit.lost;
    }
    expect(lost).toBe(0);

    // The figures, from what happened: the webhook's answers, the queue's copies, the bot's own
    // log, the simulator's log and the state table.
    const deliveryIds = new Set([...dedupIds.values()].flatMap((ids) => [...ids]));
    const items = await Promise.all(
      [...deliveryIds].map((id) => h.deps.state.getDelivery(id, clock.now())),
    );
    const users = indices.map(userOf);
    const handovers = h.sim
      .log()
      .filter(
        (e) =>
          e.kind === 'request' &&
          e.method === 'PUT' &&
          e.status === 200 &&
          users.includes(e.path.split('/')[1]!),
      ).length;
    const replies = users.reduce(
      (n, userId) =>
        n + h.sim.messagesTo(userId).filter((m) => m.text.startsWith('answer to ')).length,
      0,
    );
    const downstream503s = faultsAnswered(bot).length;
    expect(downstream503s).toBe(indices.filter((i) => kindOf(i) === 'flaky').length);
    const figures = {
      callbacks: deliveryIds.size,
      webhookDeliveries: webhookAnswers.length,
      answered200: webhookAnswers.filter((s) => s === 200).length,
      processorRuns: processorRuns.length,
      processorRunsFailed: processorRuns.filter((r) => r.failed).length,
      downstream503s,
      forwards: bot.received.length + desk.received.length,
      handovers,
      replies,
      deliveryItemsDone: items.filter((item) => item?.state === 'done').length,
      recordsLost: lost,
    };
    expect(figures.deliveryItemsDone).toBe(figures.callbacks);
    reportFigures('duplicates', figures, {
      drives: `${figures.callbacks} callbacks each delivered ${COPIES} times (copies processed concurrently) plus once more after done: ${figures.webhookDeliveries} webhook deliveries, ${figures.processorRuns} processor runs; the bot answers ${figures.downstream503s} forwards with 503`,
      proved: `one delivery id and one done delivery item per callback (${figures.deliveryItemsDone}); ${figures.handovers} handovers and ${figures.replies} replies, each exactly once; nothing forwarded again once done; ${figures.recordsLost} records lost`,
    });
  });
});
