// The local stand-in for the SQS FIFO queue and its DLQ: the store (store.ts, a dynalite table, so
// that a Ctrl-C loses no accepted callback) and the poller that feeds the processor handler
// (poller.ts) with SQS-shaped events (sqs-event.ts). It behaves like the parts of SQS FIFO and
// Lambda's event source mapping that the service relies on:
// - send with a group id, a deduplication id and String message attributes; a message larger than
//   SQS's limit (body and attributes) is refused; a repeat of a dedup id within the window (5 min)
//   is accepted and dropped;
// - per group order: while a group's head is in flight, nothing behind it is delivered; one batch
//   may carry several consecutive messages of a group, like SQS;
// - receive count and visibility timeout: a message not deleted (a batchItemFailure, a thrown
//   batch, a crash) is delivered again once its visibility timeout has passed, or after the delay
//   a consumer set with `changeVisibility(receiptHandle, seconds)`;
// - a message received maxReceiveCount times and still not deleted moves to the DLQ on its next
//   receive; `redrive()` moves DLQ messages back (the runbook's DLQ redrive).
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { CALLBACK_MAX_RECEIVE_COUNT } from '../../functions/contracts/queue';
import type { CallbackQueue, Clock, Log } from '../../functions/domain/ports';
import { silentLog } from '../../functions/domain/ports';
import { createPoller, type Poller, type QueueConsumer } from './poller';
import { createQueueStore, type QueuedMessage, type QueueStats } from './store';

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

export const createLocalQueue = (options: LocalQueueOptions): LocalQueue => {
  const clock = options.clock ?? { now: () => Date.now() };
  const log = options.log ?? silentLog;
  // The store tells the poller when a message arrives; the poller is made once the store is.
  let poller: Poller | null = null;
  const store = createQueueStore({
    client: options.client,
    tableName: options.tableName,
    name: options.name ?? 'callbacks',
    visibilityTimeoutMs: options.visibilityTimeoutMs ?? 10_000,
    maxReceiveCount: options.maxReceiveCount ?? CALLBACK_MAX_RECEIVE_COUNT,
    dedupWindowMs: options.dedupWindowMs ?? 300_000,
    batchSize: options.batchSize ?? 10,
    clock,
    log,
    onAvailable: () => poller?.wake(),
  });
  const running = createPoller(store, {
    concurrency: options.concurrency ?? 4,
    pollIntervalMs: options.pollIntervalMs ?? 250,
    clock,
    log,
  });
  poller = running;

  return {
    send: store.send,
    changeVisibility: store.changeVisibility,
    start: running.start,
    pollOnce: running.pollOnce,
    stop: running.stop,
    stats: store.stats,
    list: store.list,
    listDlq: store.listDlq,
    redrive: store.redrive,
  };
};
