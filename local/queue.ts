// The local stand-in for the SQS FIFO queue and its DLQ, kept in a dynalite table of its own so that
// a Ctrl-C loses no accepted callback. It behaves like the parts of SQS FIFO + Lambda's event source
// mapping that the service relies on:
// - send with a group id, a deduplication id and String message attributes; a message larger than
//   SQS's limit (body and attributes) is refused; a repeat of a dedup id within the window (5 min)
//   is accepted and dropped;
// - per group order: while a group's head is in flight, nothing behind it is delivered; one batch
//   may carry several consecutive messages of a group, like SQS;
// - receive count and visibility timeout: a message not deleted (a batchItemFailure, a thrown
//   batch, a crash) is delivered again once its visibility timeout has passed, or after the delay
//   a consumer set with `changeVisibility(receiptHandle, seconds)`;
// - a message received maxReceiveCount times and still not deleted moves to the DLQ on its next
//   receive; `redrive()` moves DLQ messages back (the runbook's DLQ redrive);
// - SQS-shaped events (messageId, receiptHandle, body, messageAttributes, attributes.MessageGroupId
//   / MessageDeduplicationId / ApproximateReceiveCount, eventSource 'aws:sqs') fed to the same
//   processor handler.
import { createHash, randomUUID } from 'node:crypto';
import {
  ConditionalCheckFailedException,
  ResourceNotFoundException,
} from '@aws-sdk/client-dynamodb';
import {
  DeleteCommand,
  type DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  QueryCommand,
  ScanCommand,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import type { SQSBatchResponse, SQSEvent, SQSRecord } from 'aws-lambda';
import {
  CALLBACK_MAX_RECEIVE_COUNT,
  messageSizeBytes,
  SQS_MAX_MESSAGE_BYTES,
} from '../functions/contracts/queue';
import type { CallbackQueue, Clock, Log } from '../functions/domain/ports';
import { silentLog } from '../functions/domain/ports';
import type { TableDefinition } from '../functions/contracts/tables';

/** The queue table: messages, the DLQ, dedup markers and a sequence counter share one key shape. */
export const queueTable: TableDefinition = {
  partitionKey: { name: 'pk', type: 'S' },
  sortKey: { name: 'sk', type: 'S' },
  globalIndexes: [],
  localIndexes: [],
};

export type QueueConsumer = (event: SQSEvent) => Promise<SQSBatchResponse | undefined>;

export interface LocalQueueOptions {
  client: DynamoDBDocumentClient;
  tableName: string;
  /** Names the queue inside the table (and in the event's ARN). @default 'callbacks' */
  name?: string;
  /** Shorter than AWS's 90 s so that a local retry comes soon. @default 10000 */
  visibilityTimeoutMs?: number;
  /** @default CALLBACK_MAX_RECEIVE_COUNT, the deployed queue's */
  maxReceiveCount?: number;
  /** @default 300000 (SQS's five minutes) */
  dedupWindowMs?: number;
  /** Messages per event. @default 10 */
  batchSize?: number;
  /** Batches in flight at once (other groups keep moving while one waits). @default 4 */
  concurrency?: number;
  /** How often an idle poller looks again (a send wakes it at once). @default 250 */
  pollIntervalMs?: number;
  clock?: Clock;
  log?: Log;
}

export interface QueuedMessage {
  messageId: string;
  groupId: string;
  dedupId: string;
  body: string;
  /** String message attributes, by name. */
  attributes: Record<string, string>;
  /** Epoch ms. */
  sentAt: number;
  receiveCount: number;
  /** Epoch ms; in flight while in the future. */
  visibleAt: number;
}

export interface QueueStats {
  /** Waiting in the queue, visible now. */
  visible: number;
  /** Received and not yet deleted, visibility timeout still running. */
  inFlight: number;
  dlq: number;
}

export interface LocalQueue extends CallbackQueue {
  changeVisibility(receiptHandle: string, seconds: number): Promise<void>;
  /** Starts the poller feeding `consumer`; `stop()` ends it. */
  start(consumer: QueueConsumer): void;
  /**
   * One receive and delivery, awaited: the number of messages handed to `consumer`. For tests
   * and tools that want to step the queue themselves (with an injected clock).
   */
  pollOnce(consumer: QueueConsumer): Promise<number>;
  /** Stops the poller and waits (up to `timeoutMs`) for batches in flight; the rest is released. */
  stop(options?: { timeoutMs?: number }): Promise<void>;
  stats(): Promise<QueueStats>;
  /** Messages of the queue (oldest first), in flight included. */
  list(): Promise<QueuedMessage[]>;
  /** Messages of the DLQ, oldest first. */
  listDlq(): Promise<QueuedMessage[]>;
  /** Moves DLQ messages (all, or the given ids) back to the end of the queue with a fresh count. */
  redrive(options?: { messageIds?: string[] }): Promise<number>;
}

const pad = (n: number) => String(n).padStart(16, '0');
const md5 = (text: string) => createHash('md5').update(text, 'utf8').digest('hex');
const isConditionFailure = (err: unknown) =>
  err instanceof ConditionalCheckFailedException ||
  (err instanceof Error && err.name === 'ConditionalCheckFailedException');

interface MessageItem extends QueuedMessage {
  pk: string;
  sk: string;
  firstReceivedAt?: number;
  receipt?: string;
}

const toMessage = (item: MessageItem): QueuedMessage => ({
  messageId: item.messageId,
  groupId: item.groupId,
  dedupId: item.dedupId,
  body: item.body,
  attributes: item.attributes ?? {},
  sentAt: item.sentAt,
  receiveCount: item.receiveCount,
  visibleAt: item.visibleAt,
});

export const createLocalQueue = (options: LocalQueueOptions): LocalQueue => {
  const { client, tableName } = options;
  const name = options.name ?? 'callbacks';
  const visibilityTimeoutMs = options.visibilityTimeoutMs ?? 10_000;
  const maxReceiveCount = options.maxReceiveCount ?? CALLBACK_MAX_RECEIVE_COUNT;
  const dedupWindowMs = options.dedupWindowMs ?? 300_000;
  const batchSize = options.batchSize ?? 10;
  const concurrency = options.concurrency ?? 4;
  const pollIntervalMs = options.pollIntervalMs ?? 250;
  const clock = options.clock ?? { now: () => Date.now() };
  const log = options.log ?? silentLog;

  const mainPk = `QUEUE#${name}`;
  const dlqPk = `QUEUE#${name}-dlq`;
  const dedupPrefix = `DEDUP#${name}#`;
  const arn = `arn:aws:sqs:local:000000000000:${name}.fifo`;

  // ------------------------------------------------------------------ send

  const nextSeq = async (): Promise<number> => {
    const out = await client.send(
      new UpdateCommand({
        TableName: tableName,
        Key: { pk: `SEQ#${name}`, sk: '-' },
        UpdateExpression: 'ADD #n :one',
        ExpressionAttributeNames: { '#n': 'n' },
        ExpressionAttributeValues: { ':one': 1 },
        ReturnValues: 'UPDATED_NEW',
      }),
    );
    return Number(out.Attributes?.n);
  };

  const putMessage = async (item: MessageItem) => {
    try {
      await client.send(
        new PutCommand({
          TableName: tableName,
          Item: item,
          ConditionExpression: 'attribute_not_exists(pk)',
        }),
      );
    } catch (err) {
      if (!isConditionFailure(err)) throw err;
    }
  };

  const markStored = (dedupId: string) =>
    client.send(
      new UpdateCommand({
        TableName: tableName,
        Key: { pk: dedupPrefix + dedupId, sk: '-' },
        UpdateExpression: 'SET #stored = :true REMOVE #pending',
        ExpressionAttributeNames: { '#stored': 'stored', '#pending': 'pending' },
        ExpressionAttributeValues: { ':true': true },
      }),
    );

  // The dedup marker is written first and carries the message until the message itself is
  // stored: a crash in between leaves a marker that the sender's retry (Parley retries anything
  // but a 200) completes, so a dedup id is never marked without its message reaching the queue.
  const send: CallbackQueue['send'] = async ({ groupId, dedupId, body, attributes = {} }) => {
    if (!groupId || !dedupId) throw new Error('A FIFO message needs a group id and a dedup id.');
    const size = messageSizeBytes(body, attributes);
    if (size > SQS_MAX_MESSAGE_BYTES) {
      throw new Error(
        `The message takes ${size} bytes with its attributes; SQS accepts at most ${SQS_MAX_MESSAGE_BYTES} bytes.`,
      );
    }
    const now = clock.now();
    const seq = await nextSeq();
    const message: MessageItem = {
      pk: mainPk,
      sk: pad(seq),
      messageId: randomUUID(),
      groupId,
      dedupId,
      body,
      attributes,
      sentAt: now,
      visibleAt: now,
      receiveCount: 0,
    };
    try {
      await client.send(
        new PutCommand({
          TableName: tableName,
          Item: {
            pk: dedupPrefix + dedupId,
            sk: '-',
            messageId: message.messageId,
            expiresAt: now + dedupWindowMs,
            stored: false,
            pending: message,
          },
          ConditionExpression: 'attribute_not_exists(pk) OR #expiresAt < :now',
          ExpressionAttributeNames: { '#expiresAt': 'expiresAt' },
          ExpressionAttributeValues: { ':now': now },
        }),
      );
    } catch (err) {
      if (!isConditionFailure(err)) throw err;
      // A duplicate within the window: accepted and dropped, after finishing an interrupted send.
      const existing = await client.send(
        new GetCommand({
          TableName: tableName,
          Key: { pk: dedupPrefix + dedupId, sk: '-' },
          ConsistentRead: true,
        }),
      );
      const pending = existing.Item?.pending as MessageItem | undefined;
      if (existing.Item && existing.Item.stored === false && pending) {
        await putMessage(pending);
        await markStored(dedupId);
        wake();
      }
      return;
    }
    await putMessage(message);
    await markStored(dedupId);
    wake();
  };

  // ------------------------------------------------------------------ receive and delete

  const queryAll = async (pk: string, limit = Number.POSITIVE_INFINITY): Promise<MessageItem[]> => {
    const items: MessageItem[] = [];
    let startKey: Record<string, unknown> | undefined;
    do {
      const out = await client.send(
        new QueryCommand({
          TableName: tableName,
          KeyConditionExpression: 'pk = :pk',
          ExpressionAttributeValues: { ':pk': pk },
          ConsistentRead: true,
          ExclusiveStartKey: startKey,
          Limit: Math.min(500, limit - items.length),
        }),
      );
      items.push(...((out.Items ?? []) as MessageItem[]));
      startKey = out.LastEvaluatedKey;
    } while (startKey && items.length < limit);
    return items;
  };

  const moveToDlq = async (item: MessageItem) => {
    await client.send(
      new PutCommand({
        TableName: tableName,
        Item: { ...item, pk: dlqPk, movedAt: clock.now(), receipt: undefined },
      }),
    );
    await client.send(
      new DeleteCommand({ TableName: tableName, Key: { pk: mainPk, sk: item.sk } }),
    );
    log.warn('queue message moved to the DLQ', {
      messageId: item.messageId,
      dedupId: item.dedupId,
      receiveCount: item.receiveCount,
    });
  };

  /** Marks a message received; false when someone else changed it first. */
  const claim = async (item: MessageItem, now: number, receipt: string): Promise<boolean> => {
    try {
      await client.send(
        new UpdateCommand({
          TableName: tableName,
          Key: { pk: mainPk, sk: item.sk },
          UpdateExpression:
            'SET #visibleAt = :until, #receiveCount = :count, #receipt = :receipt, #first = if_not_exists(#first, :now)',
          ConditionExpression: '#visibleAt = :seen AND #receiveCount = :seenCount',
          ExpressionAttributeNames: {
            '#visibleAt': 'visibleAt',
            '#receiveCount': 'receiveCount',
            '#receipt': 'receipt',
            '#first': 'firstReceivedAt',
          },
          ExpressionAttributeValues: {
            ':until': now + visibilityTimeoutMs,
            ':count': item.receiveCount + 1,
            ':receipt': receipt,
            ':now': now,
            ':seen': item.visibleAt,
            ':seenCount': item.receiveCount,
          },
        }),
      );
      item.visibleAt = now + visibilityTimeoutMs;
      item.receiveCount += 1;
      item.receipt = receipt;
      item.firstReceivedAt ??= now;
      return true;
    } catch (err) {
      if (isConditionFailure(err)) return false;
      throw err;
    }
  };

  /** Ids of the messages handed to a consumer that has not answered yet. */
  const inFlightHere = new Set<string>();

  const receive = async (): Promise<MessageItem[]> => {
    const now = clock.now();
    const items = await queryAll(mainPk, 1000);
    const blocked = new Set<string>();
    const batch: MessageItem[] = [];
    const receipt = randomUUID();
    for (const item of items) {
      if (batch.length >= batchSize) break;
      if (blocked.has(item.groupId)) continue;
      if (item.visibleAt > now || inFlightHere.has(item.messageId)) {
        blocked.add(item.groupId);
        continue;
      }
      if (item.receiveCount >= maxReceiveCount) {
        await moveToDlq(item);
        continue;
      }
      if (await claim(item, now, receipt)) batch.push(item);
      else blocked.add(item.groupId);
    }
    return batch;
  };

  const toRecord = (item: MessageItem): SQSRecord => ({
    messageId: item.messageId,
    receiptHandle: `${item.sk}:${item.receipt}`,
    body: item.body,
    attributes: {
      ApproximateReceiveCount: String(item.receiveCount),
      SentTimestamp: String(item.sentAt),
      SenderId: 'local',
      ApproximateFirstReceiveTimestamp: String(item.firstReceivedAt ?? clock.now()),
      SequenceNumber: String(Number(item.sk)),
      MessageGroupId: item.groupId,
      MessageDeduplicationId: item.dedupId,
    },
    messageAttributes: Object.fromEntries(
      Object.entries(item.attributes ?? {}).map(([key, value]) => [
        key,
        { stringValue: value, stringListValues: [], binaryListValues: [], dataType: 'String' },
      ]),
    ),
    md5OfBody: md5(item.body),
    eventSource: 'aws:sqs',
    eventSourceARN: arn,
    awsRegion: 'local',
  });

  const deleteReceived = async (item: MessageItem) => {
    try {
      await client.send(
        new DeleteCommand({
          TableName: tableName,
          Key: { pk: mainPk, sk: item.sk },
          ConditionExpression: '#receipt = :receipt',
          ExpressionAttributeNames: { '#receipt': 'receipt' },
          ExpressionAttributeValues: { ':receipt': item.receipt },
        }),
      );
    } catch (err) {
      // Received again by someone else after its visibility timeout: theirs to delete now.
      if (!isConditionFailure(err)) throw err;
    }
  };

  /** Lambda's event source mapping: delete what succeeded, leave the failures to reappear. */
  const deliver = async (batch: MessageItem[], consumer: QueueConsumer): Promise<void> => {
    for (const item of batch) inFlightHere.add(item.messageId);
    try {
      let failed: Set<string>;
      try {
        const response = await consumer({ Records: batch.map(toRecord) });
        const ids = (response?.batchItemFailures ?? []).map((f) => f.itemIdentifier);
        const known = new Set(batch.map((b) => b.messageId));
        // Like Lambda: an empty or unknown identifier fails the whole batch.
        failed = ids.every((id) => typeof id === 'string' && known.has(id)) ? new Set(ids) : known;
      } catch (err) {
        log.warn('queue consumer threw; the batch will be retried', {
          error: err instanceof Error ? err.name : typeof err,
          messageIds: batch.map((b) => b.messageId),
        });
        failed = new Set(batch.map((b) => b.messageId));
      }
      for (const item of batch) {
        if (!failed.has(item.messageId)) await deleteReceived(item);
      }
    } finally {
      for (const item of batch) inFlightHere.delete(item.messageId);
    }
  };

  // ------------------------------------------------------------------ the poller

  let running = false;
  let receiving: Promise<unknown> = Promise.resolve();
  const active = new Map<Promise<void>, MessageItem[]>();
  let wakeUp: (() => void) | null = null;
  let idleTimer: NodeJS.Timeout | null = null;
  let lastSweep = 0;

  function wake() {
    const resolve = wakeUp;
    wakeUp = null;
    if (idleTimer) clearTimeout(idleTimer);
    idleTimer = null;
    resolve?.();
  }

  const idle = () =>
    new Promise<void>((resolve) => {
      wakeUp = resolve;
      idleTimer = setTimeout(wake, pollIntervalMs);
    });

  /** Drops dedup markers whose window has passed (DynamoDB TTL would; dynalite has none). */
  const sweepDedup = async () => {
    const now = clock.now();
    let startKey: Record<string, unknown> | undefined;
    do {
      const out = await client.send(
        new ScanCommand({
          TableName: tableName,
          FilterExpression: 'begins_with(pk, :prefix) AND #expiresAt < :now',
          ExpressionAttributeNames: { '#expiresAt': 'expiresAt' },
          ExpressionAttributeValues: { ':prefix': dedupPrefix, ':now': now },
          ExclusiveStartKey: startKey,
        }),
      );
      for (const item of out.Items ?? []) {
        if (item.stored === false) continue; // an interrupted send still waits for its retry
        await client
          .send(
            new DeleteCommand({
              TableName: tableName,
              Key: { pk: item.pk, sk: item.sk },
              ConditionExpression: '#expiresAt < :now',
              ExpressionAttributeNames: { '#expiresAt': 'expiresAt' },
              ExpressionAttributeValues: { ':now': now },
            }),
          )
          .catch((err) => {
            if (!isConditionFailure(err)) throw err;
          });
      }
      startKey = out.LastEvaluatedKey;
    } while (startKey);
  };

  const dispatch = (batch: MessageItem[], consumer: QueueConsumer) => {
    const done: Promise<void> = deliver(batch, consumer)
      .catch((err) => {
        log.error('queue delivery failed', { error: err instanceof Error ? err.name : typeof err });
      })
      .finally(() => {
        active.delete(done);
        wake();
      });
    active.set(done, batch);
  };

  const loop = async (consumer: QueueConsumer) => {
    while (running) {
      try {
        if (clock.now() - lastSweep > 60_000) {
          lastSweep = clock.now();
          await sweepDedup();
        }
        if (active.size < concurrency) {
          const step = receive();
          receiving = step;
          const batch = await step;
          if (batch.length > 0 && running) {
            dispatch(batch, consumer);
            continue;
          }
          if (batch.length > 0) await release(batch);
        }
      } catch (err) {
        // The store went away (shutdown) or hiccuped: look again later.
        if (!running) break;
        if (!(err instanceof ResourceNotFoundException)) {
          log.warn('queue poll failed', { error: err instanceof Error ? err.name : typeof err });
        }
      }
      if (running) await idle();
    }
  };

  /** Makes received messages visible again at once (SQS's ChangeMessageVisibility to 0). */
  const release = async (batch: MessageItem[]) => {
    for (const item of batch) {
      await client
        .send(
          new UpdateCommand({
            TableName: tableName,
            Key: { pk: mainPk, sk: item.sk },
            UpdateExpression: 'SET #visibleAt = :now',
            ConditionExpression: '#receipt = :receipt',
            ExpressionAttributeNames: { '#visibleAt': 'visibleAt', '#receipt': 'receipt' },
            ExpressionAttributeValues: { ':now': clock.now(), ':receipt': item.receipt },
          }),
        )
        .catch(() => undefined);
    }
  };

  /** SQS's ChangeMessageVisibility: valid only while the receive that handed out the handle holds it. */
  const changeVisibility = async (receiptHandle: string, seconds: number): Promise<void> => {
    const [sk, receipt] = receiptHandle.split(':');
    if (!sk || !receipt || !Number.isInteger(seconds) || seconds < 0 || seconds > 43_200) {
      throw new Error('A visibility change needs a receipt handle and 0 to 43200 seconds.');
    }
    try {
      await client.send(
        new UpdateCommand({
          TableName: tableName,
          Key: { pk: mainPk, sk },
          UpdateExpression: 'SET #visibleAt = :at',
          ConditionExpression: '#receipt = :receipt',
          ExpressionAttributeNames: { '#visibleAt': 'visibleAt', '#receipt': 'receipt' },
          ExpressionAttributeValues: { ':at': clock.now() + seconds * 1000, ':receipt': receipt },
        }),
      );
    } catch (err) {
      if (!isConditionFailure(err)) throw err;
      throw new Error('The receipt handle is no longer valid: the message was received again.');
    }
  };

  let loopDone: Promise<void> = Promise.resolve();

  return {
    send,
    changeVisibility,
    start(consumer) {
      if (running) return;
      running = true;
      loopDone = loop(consumer);
    },
    async pollOnce(consumer) {
      const batch = await receive();
      if (batch.length > 0) await deliver(batch, consumer);
      return batch.length;
    },
    async stop(stopOptions = {}) {
      running = false;
      wake();
      await receiving.catch(() => undefined);
      await loopDone;
      const pending = [...active.keys()];
      if (pending.length === 0) return;
      let timer: NodeJS.Timeout | undefined;
      const timedOut = await Promise.race([
        Promise.all(pending).then(() => false),
        new Promise<boolean>((resolve) => {
          timer = setTimeout(() => resolve(true), stopOptions.timeoutMs ?? 10_000);
        }),
      ]);
      if (timer) clearTimeout(timer);
      if (timedOut) {
        // Whatever is still running is handed back: the next run delivers it again.
        for (const batch of active.values()) await release(batch);
      }
    },
    async stats() {
      const now = clock.now();
      const items = await queryAll(mainPk);
      const inFlight = items.filter((i) => i.visibleAt > now).length;
      const dlq = await queryAll(dlqPk);
      return { visible: items.length - inFlight, inFlight, dlq: dlq.length };
    },
    async list() {
      return (await queryAll(mainPk)).map(toMessage);
    },
    async listDlq() {
      return (await queryAll(dlqPk)).map(toMessage);
    },
    async redrive(redriveOptions = {}) {
      const wanted = redriveOptions.messageIds ? new Set(redriveOptions.messageIds) : null;
      let moved = 0;
      for (const item of await queryAll(dlqPk)) {
        if (wanted && !wanted.has(item.messageId)) continue;
        const seq = await nextSeq();
        const now = clock.now();
        const back: MessageItem = {
          pk: mainPk,
          sk: pad(seq),
          messageId: item.messageId,
          groupId: item.groupId,
          dedupId: item.dedupId,
          body: item.body,
          attributes: item.attributes ?? {},
          sentAt: item.sentAt,
          visibleAt: now,
          receiveCount: 0,
        };
        await putMessage(back);
        await client.send(
          new DeleteCommand({ TableName: tableName, Key: { pk: dlqPk, sk: item.sk } }),
        );
        moved += 1;
      }
      if (moved > 0) {
        log.info('DLQ redriven', { moved });
        wake();
      }
      return moved;
    },
  };
};
