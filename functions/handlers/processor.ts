// The queue consumer: each SQS record is one callback for processCallback, read from the record's
// body and message attributes (or the earlier JSON-wrapped body). Partial batch failures: a failed
// record and every later record of the same user (FIFO group) go back to the queue, so a user's
// messages stay in order; other users' records are unaffected. A callback deferred while its
// user's handover is in flight comes back after a short delay (its visibility changed), and so do
// the records of that user behind it, instead of after the whole visibility timeout.
import type { SQSBatchResponse, SQSEvent, SQSRecord } from 'aws-lambda';
import { callbackFromRecord, deferralSeconds } from '../adapters/queue-message';
import { type CallbackDeps, processCallback } from '../domain/callback';
import { DeliveryDeferredError } from '../domain/errors';
import { performHandover, recoverPending, refreshOwner } from '../domain/handover';
import type { QueuedCallback } from '../domain/ports';
import type { AppDeps, DepsSource } from '../platform/deps';
import { flushMetrics } from '../platform/handler';
import { depsFromEnvironment, handoverDeps } from '../platform/runtime';

const callbackDeps = (d: AppDeps) => {
  const hd = handoverDeps(d);
  return {
    ...d,
    signingSecret: async (serviceId: string) => (await d.secrets.service(serviceId)).signingSecret,
    handover: (input: Parameters<typeof performHandover>[0]) => performHandover(input, hd),
    refreshOwner: (userId: string, asService: string) => refreshOwner(userId, asService, hd),
    recoverPending: (userId: string) => recoverPending(userId, hd),
    staleAfterMs: hd.staleAfterMs,
    downstreamTimeoutMs: d.config.downstreamTimeoutMs,
  };
};

export interface ProcessorOptions {
  /** The use case; tests replace it to drive outcomes the stores cannot easily stage. */
  processCallback?: (message: QueuedCallback, deps: CallbackDeps) => Promise<unknown>;
}

export const makeHandler =
  (deps: DepsSource, options: ProcessorOptions = {}) =>
  async (event: SQSEvent): Promise<SQSBatchResponse> => {
    const d = await deps();
    const cd = callbackDeps(d);
    const process = options.processCallback ?? processCallback;
    /** Failed groups, with the delay in seconds when the failure was a deferral. */
    const failedGroups = new Map<string, number | null>();
    const batchItemFailures: SQSBatchResponse['batchItemFailures'] = [];

    const delay = async (record: SQSRecord, seconds: number): Promise<void> => {
      try {
        await d.queue.changeVisibility?.(record.receiptHandle, seconds);
      } catch (err) {
        d.log.warn('visibility change failed; the message returns after the visibility timeout', {
          messageId: record.messageId,
          error: (err as Error).name,
        });
      }
    };

    for (const record of event.Records) {
      const group = record.attributes?.MessageGroupId ?? record.messageId;
      const receiveCount = Number(record.attributes?.ApproximateReceiveCount ?? 1);
      if (failedGroups.has(group)) {
        batchItemFailures.push({ itemIdentifier: record.messageId });
        // Behind a deferred record: come back with it, in order.
        const seconds = failedGroups.get(group);
        if (seconds) await delay(record, seconds);
        continue;
      }
      const message = callbackFromRecord(record);
      if (!message) {
        // Only this service writes to the queue: an unreadable record is a bug, not a retry.
        d.log.error('unreadable queue record', { messageId: record.messageId });
        d.metrics.count('QueueRecordUnreadable');
        continue;
      }
      try {
        await process(message, cd);
      } catch (err) {
        batchItemFailures.push({ itemIdentifier: record.messageId });
        if (err instanceof DeliveryDeferredError) {
          const seconds = deferralSeconds(err.retryAfterMs, receiveCount);
          failedGroups.set(group, seconds);
          await delay(record, seconds);
          d.metrics.count('CallbackDeferred');
          d.log.info('callback deferred', {
            deliveryId: message.deliveryId,
            delaySeconds: seconds,
            receiveCount,
          });
          continue;
        }
        failedGroups.set(group, null);
        d.log.warn('callback processing failed; will retry', {
          deliveryId: message.deliveryId,
          error: (err as Error).name,
          receiveCount: record.attributes?.ApproximateReceiveCount,
        });
      }
    }
    flushMetrics(d);
    return { batchItemFailures };
  };

export const handler = makeHandler(depsFromEnvironment());
