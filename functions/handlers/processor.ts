// The queue consumer: each SQS record is one callback for processCallback, read from the record's
// body and message attributes (or the earlier JSON-wrapped body). Partial batch failures
// (platform/fifo-batch.ts): a failed record and every later record of the same user (FIFO group)
// go back to the queue unprocessed, so a user's messages stay in order; other users' records are
// unaffected. A callback deferred while its user's handover is in flight comes back after a short
// delay (its visibility changed), and so do the records of that user behind it, instead of after
// the whole visibility timeout.
import type { Context, SQSBatchResponse, SQSEvent, SQSRecord } from 'aws-lambda';
import { callbackFromRecord, deferralSeconds } from '../contracts/queue';
import type { CallbackDeps } from '../domain/processor/deps';
import { processCallback } from '../domain/processor/process-callback';
import { DeliveryDeferredError } from '../domain/errors';
import type { QueuedCallback } from '../domain/ports';
import type { DepsSource } from '../platform/deps';
import { processFifoBatch, RedeliverAfterError } from '../platform/fifo-batch';
import { flushMetrics, startInvocation } from '../platform/handler';
import { depsFromEnvironment } from '../platform/runtime';
import { callbackDeps } from '../platform/views';

export interface ProcessorOptions {
  /** The use case; tests replace it to drive outcomes the stores cannot easily stage. */
  processCallback?: (message: QueuedCallback, deps: CallbackDeps) => Promise<unknown>;
}

export const makeHandler =
  (deps: DepsSource, options: ProcessorOptions = {}) =>
  async (event: SQSEvent, context?: Context): Promise<SQSBatchResponse> => {
    const d = await deps();
    startInvocation(d, context);
    const cd = callbackDeps(d);
    const process = options.processCallback ?? processCallback;

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
        if (!(err instanceof DeliveryDeferredError)) {
          d.log.warn('callback processing failed; will retry', {
            deliveryId: message.deliveryId,
            error: (err as Error).name,
            receiveCount: record.attributes?.ApproximateReceiveCount,
          });
          throw err;
        }
        const seconds = deferralSeconds(err.retryAfterMs, receiveCount);
        d.metrics.count('CallbackDeferred');
        d.log.info('callback deferred', {
          deliveryId: message.deliveryId,
          delaySeconds: seconds,
          receiveCount,
        });
        throw new RedeliverAfterError(seconds, { cause: err });
      }
    };

    const response = await processFifoBatch(event, handleRecord, { queue: d.queue, log: d.log });
    flushMetrics(d);
    return response;
  };

export const handler = makeHandler(depsFromEnvironment());
