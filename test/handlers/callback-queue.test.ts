// The webhook, the queue and the processor together: the real inbound and processor handlers with
// the production composition root (dynalite and the Parley simulator over HTTP), joined by the local
// queue, which enforces SQS's message size and feeds SQS-shaped records. The raw body is the
// message body; its metadata travels as message attributes; a record of the earlier JSON-wrapped
// shape is still processed; a deferred callback comes back after a short delay, in order, and a
// handover in flight up to staleAfter never parks a message in the DLQ.
import type { SQSBatchResponse, SQSEvent } from 'aws-lambda';
import {
  CALLBACK_BODY_MAX_BYTES,
  CALLBACK_MAX_RECEIVE_COUNT,
  messageSizeBytes,
  SQS_MAX_MESSAGE_BYTES,
} from '../../functions/contracts/queue';
import { DeliveryDeferredError } from '../../functions/domain/errors';
import type { QueuedCallback } from '../../functions/domain/ports';
import { makeHandler as inbound } from '../../functions/handlers/inbound';
import { makeHandler as processor } from '../../functions/handlers/processor';
import type { AppDeps } from '../../functions/platform/deps';
import { createLogger } from '../../functions/platform/logger';
import { type ForwardReceiver, startForwardReceiver } from '../../local/forward-receiver';
import { type LocalDynamo, startLocalDynamo } from '../../local/dynamo';
import { callbackJson, messageCallback } from '../../local/parley-sim/callback-body';
import { createLocalQueue, type LocalQueue } from '../../local/queue/local-queue';
import { queueTable } from '../../local/queue/store';
import { apiEvent, lambdaContext, sqsEvent, sqsRecord } from '../support/events';
import { type ManualClock, manualClock, recordingLog, recordingMetrics } from '../support/fakes';
import { AGENT, BOT, type Harness, startHarness } from '../support/harness';

const VISIBILITY_MS = 90_000;

let h: Harness;
let dynamo: LocalDynamo;
let tables = 0;

beforeAll(async () => {
  [h, dynamo] = await Promise.all([startHarness(), startLocalDynamo()]);
});

afterAll(async () => {
  await Promise.all([h.close(), dynamo.close()]);
});

// Each test gets its own clock: one that moved another test's queue time cannot shift this one's.
let clock: ManualClock;
beforeEach(() => {
  clock = manualClock(Date.parse('2026-03-10T14:00:00.000Z'));
});

const newQueue = async (maxReceiveCount = CALLBACK_MAX_RECEIVE_COUNT): Promise<LocalQueue> => {
  tables += 1;
  const tableName = `callbacks-${tables}`;
  await dynamo.ensureTable(queueTable, tableName);
  return createLocalQueue({
    client: dynamo.client,
    tableName,
    clock,
    visibilityTimeoutMs: VISIBILITY_MS,
    maxReceiveCount,
  });
};

/** The harness's deps with the local queue (and recording log and metrics). */
const depsWith = (queue: LocalQueue) => {
  const log = recordingLog();
  const metrics = recordingMetrics();
  const deps: AppDeps = { ...h.deps, queue, log, metrics };
  return { deps, source: async () => deps, log, metrics };
};

const callbackOf = (userId: string, id: number, text: string): string =>
  callbackJson(messageCallback({ userId, id, text, time: 1536739259 }));

const webhook = (rawBody: string) =>
  apiEvent({
    method: 'POST',
    path: `/webhooks/parley/${BOT}`,
    headers: { Authorization: `Bearer ${h.tokens.bot.callback}` },
    rawBody,
  });

/** A consumer that keeps the records it is given and answers every one as processed. */
const recorder = () => {
  const records: SQSEvent['Records'] = [];
  const consumer = async (event: SQSEvent): Promise<SQSBatchResponse> => {
    records.push(...event.Records);
    return { batchItemFailures: [] };
  };
  return { records, consumer };
};

/** A JSON callback whose raw text is exactly `bytes` long, full of characters JSON escapes. */
const callbackOfSize = (userId: string, id: number, bytes: number): string => {
  const frame = callbackOf(userId, id, '');
  const quotes = Math.floor((bytes - Buffer.byteLength(frame)) / 2);
  const text = '\\"'.repeat(quotes); // each one is an escaped quote in the raw body
  const raw = frame.replace('"message":""', `"message":"${text}"`);
  // An odd remainder becomes insignificant whitespace.
  return raw.replace('"typeId":1', `"typeId":${' '.repeat(bytes - raw.length)}1`);
};

describe('the webhook enqueues the raw body', () => {
  it('sends the callback body unchanged, with serviceId, deliveryId and receivedAt as attributes', async () => {
    const queue = await newQueue();
    const { source } = depsWith(queue);
    const raw = callbackOf('q-1', 101, 'a "quoted" word');

    const res = await inbound(source)(webhook(raw));
    const { records, consumer } = recorder();
    await queue.pollOnce(consumer);

    expect(res.statusCode).toBe(200);
    expect(records).toHaveLength(1);
    expect(records[0]!.body).toBe(raw);
    expect(records[0]!.messageAttributes).toEqual({
      serviceId: {
        stringValue: BOT,
        stringListValues: [],
        binaryListValues: [],
        dataType: 'String',
      },
      deliveryId: {
        stringValue: `${BOT}#message#101`,
        stringListValues: [],
        binaryListValues: [],
        dataType: 'String',
      },
      receivedAt: {
        stringValue: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/),
        stringListValues: [],
        binaryListValues: [],
        dataType: 'String',
      },
    });
  });

  it('accepts a 240 KB body of escaped quotes: the message is no larger than the body and its attributes', async () => {
    const queue = await newQueue();
    const { source } = depsWith(queue);
    const raw = callbackOfSize('q-2', 102, 240 * 1024);

    const res = await inbound(source)(webhook(raw));
    const [message] = await queue.list();

    expect(res.statusCode).toBe(200);
    expect(message!.body).toBe(raw);
    expect(messageSizeBytes(message!.body, message!.attributes)).toBeLessThan(240 * 1024 + 1024);
  });

  it('accepts a body exactly at the cap: with its attributes it fits the SQS limit', async () => {
    const queue = await newQueue();
    const { source } = depsWith(queue);
    const raw = callbackOfSize('q-3', 103, CALLBACK_BODY_MAX_BYTES);
    expect(Buffer.byteLength(raw)).toBe(CALLBACK_BODY_MAX_BYTES);

    const res = await inbound(source)(webhook(raw));
    const [message] = await queue.list();

    expect(res.statusCode).toBe(200);
    expect(message!.body).toBe(raw);
    const size = messageSizeBytes(message!.body, message!.attributes);
    expect(size).toBeLessThanOrEqual(SQS_MAX_MESSAGE_BYTES);
  });

  it('answers 413 to a body one byte over the cap, and queues nothing', async () => {
    const queue = await newQueue();
    const { source } = depsWith(queue);
    const raw = callbackOfSize('q-4', 104, CALLBACK_BODY_MAX_BYTES + 1);

    const res = await inbound(source)(webhook(raw));

    expect(res.statusCode).toBe(413);
    expect(JSON.parse(String(res.body))).toEqual({
      error: { code: 'payload_too_large', message: 'The callback body is larger than 255 KB.' },
    });
    expect(await queue.list()).toEqual([]);
  });

  it('refuses, like SQS, a message larger than the limit', async () => {
    const queue = await newQueue();
    const body = 'x'.repeat(SQS_MAX_MESSAGE_BYTES - 20);

    const err = await queue
      .send({ groupId: 'g', dedupId: 'big', body, attributes: { serviceId: 'a'.repeat(20) } })
      .catch((e: unknown) => e);

    expect((err as Error).message).toMatch(/262144 bytes/);
    expect(await queue.list()).toEqual([]);
  });
});

describe('the processor reads the queue', () => {
  it('processes a callback from the body and attributes the webhook queued', async () => {
    const queue = await newQueue();
    const { source, metrics } = depsWith(queue);
    await inbound(source)(webhook(callbackOf('q-10', 110, 'hello')));

    await queue.pollOnce(processor(source));

    expect(await queue.stats()).toEqual({ visible: 0, inFlight: 0, dlq: 0 });
    const item = await h.deps.state.getDelivery(`${BOT}#message#110`, clock.now());
    expect(item).toMatchObject({ serviceId: BOT, userId: 'q-10', state: 'done' });
    expect(metrics.total('QueueRecordUnreadable')).toBe(0);
  });

  it('still processes a record of the earlier shape: the callback wrapped as JSON in the body', async () => {
    const { source, metrics } = depsWith(await newQueue());
    const raw = callbackOf('q-11', 111, 'queued before the deploy');
    const legacy: QueuedCallback = {
      serviceId: BOT,
      deliveryId: `${BOT}#message#111`,
      receivedAt: new Date(clock.now()).toISOString(),
      body: raw,
    };

    const out = await processor(source)(sqsEvent([sqsRecord(JSON.stringify(legacy), 'user-q-11')]));

    expect(out.batchItemFailures).toEqual([]);
    const item = await h.deps.state.getDelivery(`${BOT}#message#111`, clock.now());
    expect(item).toMatchObject({ serviceId: BOT, userId: 'q-11', state: 'done' });
    expect(metrics.total('QueueRecordUnreadable')).toBe(0);
  });

  it('drops, with an error log and a metric, a record with only some of the attributes', async () => {
    const { source, metrics, log } = depsWith(await newQueue());
    const record = sqsRecord({
      body: callbackOf('q-12', 112, 'x'),
      groupId: 'user-q-12',
      attributes: { serviceId: BOT },
    });

    const out = await processor(source)(sqsEvent([record]));

    expect(out.batchItemFailures).toEqual([]);
    expect(metrics.total('QueueRecordUnreadable')).toBe(1);
    expect(log.lines.filter((l) => l.level === 'error').map((l) => l.message)).toEqual([
      'unreadable queue record',
    ]);
  });
});

describe('a failed record in a batch', () => {
  /** A record as the webhook queues it: the user's group, the callback's attributes. */
  const queued = (userId: string, id: number, receiveCount = 1) =>
    sqsRecord(
      {
        body: callbackOf(userId, id, `m${id}`),
        groupId: `user-${userId}`,
        attributes: {
          serviceId: BOT,
          deliveryId: `${BOT}#message#${id}`,
          receivedAt: new Date(clock.now()).toISOString(),
        },
      },
      receiveCount,
    );

  /** Deps whose queue records the visibility changes asked of it. */
  const recordingDeps = () => {
    const log = recordingLog();
    const metrics = recordingMetrics();
    const visibility: [string, number][] = [];
    const deps: AppDeps = {
      ...h.deps,
      log,
      metrics,
      queue: {
        send: async () => undefined,
        changeVisibility: async (receiptHandle, seconds) => {
          visibility.push([receiptHandle, seconds]);
        },
      },
    };
    return { deps, log, metrics, visibility };
  };

  /** A processCallback that throws what `outcome` gives for a callback, and notes each one. */
  const scripted =
    (outcome: (deliveryId: string) => Error | null, seen: string[], gate?: Promise<void>) =>
    async (message: QueuedCallback) => {
      seen.push(message.deliveryId);
      await gate;
      const err = outcome(message.deliveryId);
      if (err) throw err;
      return {
        deliveryId: message.deliveryId,
        disposition: 'forwarded' as const,
        duplicate: false,
      };
    };

  const id = (n: number) => `${BOT}#message#${n}`;

  it('hands back the failed record and the later records of its user, and goes on with the others', async () => {
    const { deps, log, metrics, visibility } = recordingDeps();
    const seen: string[] = [];
    const records = [
      queued('f-1', 201),
      queued('f-2', 202),
      queued('f-1', 203),
      queued('f-2', 204),
    ];
    const handler = processor(async () => deps, {
      processCallback: scripted(
        (d) => (d === id(201) ? new Error('downstream said no') : null),
        seen,
      ),
    });

    const out = await handler(sqsEvent(records));

    expect(out.batchItemFailures).toEqual([
      { itemIdentifier: records[0]!.messageId },
      { itemIdentifier: records[2]!.messageId },
    ]);
    expect(seen).toEqual([id(201), id(202), id(204)]);
    expect(visibility).toEqual([]);
    expect(metrics.total('CallbackDeferred')).toBe(0);
    expect(log.lines.filter((l) => l.level === 'warn')).toEqual([
      {
        level: 'warn',
        message: 'callback processing failed; will retry',
        attributes: { deliveryId: id(201), error: 'Error', receiveCount: '1' },
      },
    ]);
  });

  it('answers every record as failed, without throwing, when the whole batch fails', async () => {
    const { deps } = recordingDeps();
    const records = [queued('f-3', 211), queued('f-4', 212)];
    const handler = processor(async () => deps, {
      processCallback: scripted(() => new Error('down'), []),
    });

    const out = await handler(sqsEvent(records));

    expect(out.batchItemFailures).toEqual(records.map((r) => ({ itemIdentifier: r.messageId })));
  });

  it('fails a record without a group on its own', async () => {
    const { deps } = recordingDeps();
    const seen: string[] = [];
    const records = [queued('f-5', 221), queued('f-5', 222)];
    for (const r of records) delete (r.attributes as { MessageGroupId?: string }).MessageGroupId;
    const handler = processor(async () => deps, {
      processCallback: scripted((d) => (d === id(221) ? new Error('once') : null), seen),
    });

    const out = await handler(sqsEvent(records));

    expect(out.batchItemFailures).toEqual([{ itemIdentifier: records[0]!.messageId }]);
    expect(seen).toEqual([id(221), id(222)]);
  });

  it("delays the records behind a deferred one by its seconds, and no other user's", async () => {
    const { deps, metrics, visibility } = recordingDeps();
    const records = [queued('f-6', 231, 3), queued('f-7', 232), queued('f-6', 233, 1)];
    const handler = processor(async () => deps, {
      processCallback: scripted(
        (d) => (d === id(231) ? new DeliveryDeferredError(d, 1_000) : null),
        [],
      ),
    });

    const out = await handler(sqsEvent(records));

    // The third receive waits 2^2 = 4 s (more than the 1 s asked); the record behind it as long.
    expect(out.batchItemFailures).toEqual([
      { itemIdentifier: records[0]!.messageId },
      { itemIdentifier: records[2]!.messageId },
    ]);
    expect(visibility).toEqual([
      [records[0]!.receiptHandle, 4],
      [records[2]!.receiptHandle, 4],
    ]);
    expect(metrics.total('CallbackDeferred')).toBe(1);
  });

  it("puts the invocation's request id on the processor's log lines", async () => {
    const lines: string[] = [];
    const { deps } = recordingDeps();
    const log = createLogger({ level: 'INFO', sink: (line) => lines.push(line) });
    const handler = processor(async () => ({ ...deps, log }), {
      processCallback: scripted(() => new Error('down'), []),
    });

    await handler(sqsEvent([queued('f-10', 251)]), lambdaContext('req-p1', 'processor'));

    expect(
      lines
        .map((l) => JSON.parse(l))
        .map((l) => [l.message, l.function_request_id, l.function_name]),
    ).toEqual([['callback processing failed; will retry', 'req-p1', 'processor']]);
  });

  it('keeps apart the failures of two batches handled at the same time', async () => {
    const { deps } = recordingDeps();
    let open = (): void => undefined;
    const gate = new Promise<void>((resolve) => {
      open = resolve;
    });
    const failing = queued('f-8', 241);
    const passing = queued('f-9', 242);
    const handler = processor(async () => deps, {
      processCallback: scripted((d) => (d === id(241) ? new Error('no') : null), [], gate),
    });

    // Both batches are in the handler before either record settles.
    const both = Promise.all([handler(sqsEvent([failing])), handler(sqsEvent([passing]))]);
    await new Promise((resolve) => setImmediate(resolve));
    open();

    expect(await both).toEqual([
      { batchItemFailures: [{ itemIdentifier: failing.messageId }] },
      { batchItemFailures: [] },
    ]);
  });
});

describe('a callback deferred while a handover is in flight', () => {
  /** A processCallback that defers the listed users' callbacks while `waiting()` says so. */
  const deferring =
    (waiting: (c: QueuedCallback) => number | null, seen: QueuedCallback[]) =>
    async (message: QueuedCallback) => {
      seen.push(message);
      const retryAfterMs = waiting(message);
      if (retryAfterMs !== null) throw new DeliveryDeferredError(message.deliveryId, retryAfterMs);
      return {
        deliveryId: message.deliveryId,
        disposition: 'forwarded' as const,
        duplicate: false,
      };
    };

  it('comes back after ceil(retryAfterMs) seconds, not the visibility timeout, and its user waits behind it', async () => {
    const queue = await newQueue();
    const { deps, log, metrics } = depsWith(queue);
    const seen: QueuedCallback[] = [];
    let inFlight = true;
    const handler = processor(async () => deps, {
      processCallback: deferring(
        (c) => (inFlight && c.body.includes('"q-20"') ? 1_500 : null),
        seen,
      ),
    });
    for (const [user, id] of [
      ['q-20', 120],
      ['q-20', 121],
      ['q-21', 122],
    ] as const) {
      await inbound(async () => deps)(webhook(callbackOf(user, id, `m${id}`)));
    }

    const t0 = clock.now();
    await queue.pollOnce(handler);
    const afterFirst = await queue.list();
    clock.advance(1_999);
    const tooEarly = await queue.pollOnce(handler);
    clock.advance(1);
    inFlight = false;
    await queue.pollOnce(handler);

    // Both of q-20's messages wait 2 s (not 90 s); q-21's went through at once.
    expect(afterFirst.map((m) => [m.dedupId, m.visibleAt - t0])).toEqual([
      [`${BOT}#message#120`, 2_000],
      [`${BOT}#message#121`, 2_000],
    ]);
    expect(tooEarly).toBe(0);
    expect(seen.map((c) => c.deliveryId)).toEqual([
      `${BOT}#message#120`,
      `${BOT}#message#122`,
      `${BOT}#message#120`,
      `${BOT}#message#121`,
    ]);
    expect(await queue.stats()).toEqual({ visible: 0, inFlight: 0, dlq: 0 });
    expect(metrics.total('CallbackDeferred')).toBe(1);
    expect(log.lines.filter((l) => l.message === 'callback deferred')).toEqual([
      {
        level: 'info',
        message: 'callback deferred',
        attributes: { deliveryId: `${BOT}#message#120`, delaySeconds: 2, receiveCount: 1 },
      },
    ]);
  });

  it.each([60, 89])(
    'never parks a message in the DLQ while a handover is in flight for %i s (staleAfter)',
    async (staleAfterSeconds) => {
      const queue = await newQueue();
      const { deps } = depsWith(queue);
      const seen: QueuedCallback[] = [];
      const start = clock.now();
      // The worst case: the domain asks for the shortest wait every time until the marker is stale.
      const handler = processor(async () => deps, {
        processCallback: deferring(
          () => (clock.now() - start < staleAfterSeconds * 1000 ? 1 : null),
          seen,
        ),
      });
      await inbound(async () => deps)(
        webhook(callbackOf(`q-stale-${staleAfterSeconds}`, 130, 'm')),
      );

      for (let step = 0; step < 50; step++) {
        const [next] = await queue.list();
        if (!next) break;
        clock.set(Math.max(clock.now(), next.visibleAt));
        await queue.pollOnce(handler);
      }

      const stats = await queue.stats();
      const deferrals = seen.length - 1;
      expect(stats).toEqual({ visible: 0, inFlight: 0, dlq: 0 });
      // Receives left for real failures once the handover has settled: at least three.
      expect(CALLBACK_MAX_RECEIVE_COUNT - deferrals).toBeGreaterThanOrEqual(3);
      expect(clock.now() - start).toBeGreaterThanOrEqual(staleAfterSeconds * 1000);
    },
  );

  it('still reports the message as failed when the visibility cannot be changed', async () => {
    const queue = await newQueue();
    const { deps, log } = depsWith(queue);
    const broken: AppDeps = {
      ...deps,
      queue: {
        send: queue.send,
        changeVisibility: async () => {
          throw new Error('sqs down');
        },
      },
    };
    const record = sqsRecord({
      body: callbackOf('q-30', 140, 'm'),
      groupId: 'user-q-30',
      attributes: {
        serviceId: BOT,
        deliveryId: `${BOT}#message#140`,
        receivedAt: new Date(clock.now()).toISOString(),
      },
    });
    const handler = processor(async () => broken, {
      processCallback: deferring(() => 1_000, []),
    });

    const out = await handler(sqsEvent([record]));

    expect(out.batchItemFailures).toEqual([{ itemIdentifier: record.messageId }]);
    expect(log.lines.filter((l) => l.level === 'warn').map((l) => l.message)).toEqual([
      'visibility change failed; the message returns after the visibility timeout',
    ]);
  });
});

describe('failover through the queue', () => {
  // A harness of its own: the agent desk and the bot have downstreams here.
  let f: Harness;
  let desk: ForwardReceiver;
  let bot: ForwardReceiver;
  const deskDown = { down: true };

  beforeAll(async () => {
    desk = await startForwardReceiver({
      signingSecret: () => f?.tokens.agent.signing,
      onForward: async () => ({}),
      fault: () => (deskDown.down ? { status: 503 } : null),
    });
    bot = await startForwardReceiver({
      signingSecret: () => f?.tokens.bot.signing,
      onForward: async () => ({}),
    });
    f = await startHarness({
      services: { [AGENT]: { downstreamUrl: desk.url }, [BOT]: { downstreamUrl: bot.url } },
    });
  });
  afterAll(async () => {
    await Promise.all([f.close(), desk.close(), bot.close()]);
  });

  it('counts the failures on the delivery item and hands the user to the bot at the third, once', async () => {
    const queue = await newQueue();
    const deps: AppDeps = { ...f.deps, queue };
    const handler = processor(async () => deps);
    f.sim.setOwner('fo-1', AGENT);
    const raw = callbackOf('fo-1', 901, 'my order is late');
    const accepted = await inbound(async () => deps)(
      apiEvent({
        method: 'POST',
        path: `/webhooks/parley/${AGENT}`,
        headers: { Authorization: `Bearer ${f.tokens.agent.callback}` },
        rawBody: raw,
      }),
    );
    const deliveryId = `${AGENT}#message#901`;

    const failures: (number | undefined)[] = [];
    for (let receive = 0; receive < 3; receive++) {
      await queue.pollOnce(handler);
      failures.push((await f.deps.state.getDelivery(deliveryId, Date.now()))?.failures);
      clock.advance(VISIBILITY_MS + 1_000);
    }

    expect(accepted.statusCode).toBe(200);
    expect(failures).toEqual([1, 2, 3]);
    expect(desk.failed.map((x) => x.deliveryId)).toEqual([deliveryId, deliveryId, deliveryId]);
    expect(bot.received.map((x) => [x.deliveryId, x.handover?.fromOwner])).toEqual([
      [deliveryId, AGENT],
    ]);
    const records = (await f.deps.history.listUser('fo-1', { limit: 10 })).items;
    expect(records.map((r) => [r.source, r.fromOwner, r.toOwner, r.requestedBy])).toEqual([
      ['failover', AGENT, BOT, 'system:failover'],
    ]);
    const changes = f.sim.log().filter((e) => e.kind === 'change' && e.userId === 'fo-1');
    expect(changes).toEqual([expect.objectContaining({ from: AGENT, to: BOT, by: AGENT })]);
    expect(await queue.stats()).toEqual({ visible: 0, inFlight: 0, dlq: 0 });
  });
});
