// The local queue's poller, Lambda's event source mapping in small: it receives batches from the
// store while fewer than `concurrency` are in flight (other groups keep moving while one waits),
// hands each to the consumer as an SQS event, deletes what succeeded and leaves the failures to
// reappear after their visibility timeout. An idle poller looks again every `pollIntervalMs`, or
// at once when the store says a message arrived.
import { ResourceNotFoundException } from '@aws-sdk/client-dynamodb';
import type { SQSBatchResponse, SQSEvent } from 'aws-lambda';
import type { Clock, Log } from '../../functions/domain/ports';
import { failedMessageIds, toSqsRecord } from './sqs-event';
import type { MessageItem, QueueStore } from './store';

export type QueueConsumer = (event: SQSEvent) => Promise<SQSBatchResponse | undefined>;

export interface PollerOptions {
  concurrency: number;
  pollIntervalMs: number;
  clock: Clock;
  log: Log;
}

export interface Poller {
  /** Ends an idle wait at once. */
  wake(): void;
  start(consumer: QueueConsumer): void;
  /** One receive and delivery, awaited: the number of messages handed to `consumer`. */
  pollOnce(consumer: QueueConsumer): Promise<number>;
  /** Stops polling and waits (up to `timeoutMs`) for batches in flight; the rest is released. */
  stop(options?: { timeoutMs?: number }): Promise<void>;
}

export const createPoller = (store: QueueStore, options: PollerOptions): Poller => {
  const { concurrency, pollIntervalMs, clock, log } = options;

  /** Ids of the messages handed to a consumer that has not answered yet. */
  const inFlightHere = new Set<string>();

  /** Lambda's event source mapping: delete what succeeded, leave the failures to reappear. */
  const deliver = async (batch: MessageItem[], consumer: QueueConsumer): Promise<void> => {
    for (const item of batch) inFlightHere.add(item.messageId);
    try {
      let failed: Set<string>;
      try {
        const now = clock.now();
        const response = await consumer({
          Records: batch.map((item) => toSqsRecord(item, store.arn, now)),
        });
        // Like Lambda: an empty or unknown identifier fails the whole batch.
        failed = failedMessageIds(batch, response);
      } catch (err) {
        log.warn('queue consumer threw; the batch will be retried', {
          error: err instanceof Error ? err.name : typeof err,
          messageIds: batch.map((b) => b.messageId),
        });
        failed = new Set(batch.map((b) => b.messageId));
      }
      for (const item of batch) {
        if (!failed.has(item.messageId)) await store.remove(item);
      }
    } finally {
      for (const item of batch) inFlightHere.delete(item.messageId);
    }
  };

  let running = false;
  let receiving: Promise<unknown> = Promise.resolve();
  const active = new Map<Promise<void>, MessageItem[]>();
  let wakeUp: (() => void) | null = null;
  let idleTimer: NodeJS.Timeout | null = null;
  let lastSweep = 0;
  let loopDone: Promise<void> = Promise.resolve();

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
          await store.sweepDedup();
        }
        if (active.size < concurrency) {
          const step = store.receive(inFlightHere);
          receiving = step;
          const batch = await step;
          if (batch.length > 0 && running) {
            dispatch(batch, consumer);
            continue;
          }
          if (batch.length > 0) await store.release(batch);
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

  return {
    wake,
    start(consumer) {
      if (running) return;
      running = true;
      loopDone = loop(consumer);
    },
    async pollOnce(consumer) {
      const batch = await store.receive(inFlightHere);
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
        for (const batch of active.values()) await store.release(batch);
      }
    },
  };
};
