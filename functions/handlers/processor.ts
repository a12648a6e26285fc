// The queue consumer: each SQS record is one callback for processCallback, read from the record's
// body and message attributes (or the earlier JSON-wrapped body). Partial batch failures on
// Powertools' FIFO processor: a failed record and every later record of the same user (FIFO
// group) go back to the queue unprocessed, so a user's messages stay in order; other users'
// records are unaffected. A callback deferred while its user's handover is in flight comes back
// after a short delay (its visibility changed), and so do the records of that user behind it,
// instead of after the whole visibility timeout.
import { processPartialResponse, SqsFifoPartialProcessorAsync } from '@aws-lambda-powertools/batch';
import type { Context, SQSBatchResponse, SQSEvent, SQSRecord } from 'aws-lambda';
import { callbackFromRecord, deferralSeconds } from '../contracts/queue';
import type { CallbackDeps } from '../domain/processor/deps';
import { processCallback } from '../domain/processor/process-callback';
import { DeliveryDeferredError } from '../domain/errors';
import type { QueuedCallback } from '../domain/ports';
import type { DepsSource } from '../platform/deps';
import { flushMetrics, startInvocation } from '../platform/handler';
import { depsFromEnvironment } from '../platform/runtime';
import { callbackDeps } from '../platform/views';

export interface ProcessorOptions {
  /** The use case; tests replace it to drive outcomes the stores cannot easily stage. */
  processCallback?: (message: QueuedCallback, deps: CallbackDeps) => Promise<unknown>;
}

/** A record's FIFO group; a record without one is a group of its own. */
const groupOf = (record: SQSRecord): string =>
  record.attributes?.MessageGroupId ?? record.messageId;

export const makeHandler =
  (deps: DepsSource, options: ProcessorOptions = {}) =>
  async (event: SQSEvent, context?: Context): Promise<SQSBatchResponse> => {
    const d = await deps();
    startInvocation(d, context);
    const cd = callbackDeps(d);
    const process = options.processCallback ?? processCallback;
    /** Deferred groups, with the delay in seconds their records come back after. */
    const deferredGroups = new Map<string, number>();
    const delayed = new Set<string>();

    const delay = async (record: SQSRecord, seconds: number): Promise<void> => {
      delayed.add(record.messageId);
      try {
        await d.queue.changeVisibility?.(record.receiptHandle, seconds);
      } catch (err) {
        d.log.warn('visibility change failed; the message returns after the visibility timeout', {
          messageId: record.messageId,
          error: (err as Error).name,
        });
      }
    };

    /** One record; a throw fails it and, unprocessed, the rest of its group. */
    const handleRecord = async (record: SQSRecord): Promise<void> => {
      const message = callbackFromRecord(record);
      if (!message) {
        // Only this service writes to the queue: an unreadable record is a bug, not a retry.
        d.log.error('unreadable queue record', { messageId: record.messageId });
        d.metrics.count('QueueRecordUnreadable');
        return;
      }
      const receiveCount = Number(record.attributes?.ApproximateReceiveCount ?? 1);
      try {
        await process(message, cd);
      } catch (err) {
        if (err instanceof DeliveryDeferredError) {
          const seconds = deferralSeconds(err.retryAfterMs, receiveCount);
          deferredGroups.set(groupOf(record), seconds);
          await delay(record, seconds);
          d.metrics.count('CallbackDeferred');
          d.log.info('callback deferred', {
            deliveryId: message.deliveryId,
            delaySeconds: seconds,
            receiveCount,
          });
        } else {
          d.log.warn('callback processing failed; will retry', {
            deliveryId: message.deliveryId,
            error: (err as Error).name,
            receiveCount: record.attributes?.ApproximateReceiveCount,
          });
        }
        throw err;
      }
    };

    // A processor per invocation: it keeps the batch's state, and invocations may overlap.
    const response = await processPartialResponse(
      event,
      handleRecord,
      new SqsFifoPartialProcessorAsync(),
      { skipGroupOnError: true, throwOnFullBatchFailure: false },
    );
    // The records the library handed back behind a deferred one come back with it, in order.
    const byId = new Map(event.Records.map((r) => [r.messageId, r]));
    for (const { itemIdentifier } of response.batchItemFailures) {
      const record = byId.get(itemIdentifier);
      if (!record || delayed.has(record.messageId)) continue;
      const seconds = deferredGroups.get(groupOf(record));
      if (seconds) await delay(record, seconds);
    }
    flushMetrics(d);
    return response;
  };

export const handler = makeHandler(depsFromEnvironment());
