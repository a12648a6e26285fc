// The queue consumer: each SQS record is one callback for processCallback. Partial batch failures:
// a failed record and every later record of the same user (FIFO group) go back to the queue, so a
// user's messages stay in order; other users' records are unaffected.
import type { SQSBatchResponse, SQSEvent } from 'aws-lambda';
import { processCallback } from '../domain/callback';
import { performHandover, refreshOwner } from '../domain/handover';
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
    downstreamTimeoutMs: d.config.downstreamTimeoutMs,
  };
};

export const makeHandler =
  (deps: DepsSource) =>
  async (event: SQSEvent): Promise<SQSBatchResponse> => {
    const d = await deps();
    const cd = callbackDeps(d);
    const failedGroups = new Set<string>();
    const batchItemFailures: SQSBatchResponse['batchItemFailures'] = [];
    for (const record of event.Records) {
      const group = record.attributes?.MessageGroupId ?? record.messageId;
      if (failedGroups.has(group)) {
        batchItemFailures.push({ itemIdentifier: record.messageId });
        continue;
      }
      let message: QueuedCallback;
      try {
        message = JSON.parse(record.body) as QueuedCallback;
      } catch {
        // Only this service writes to the queue: an unreadable record is a bug, not a retry.
        d.log.error('unreadable queue record', { messageId: record.messageId });
        d.metrics.count('QueueRecordUnreadable');
        continue;
      }
      try {
        await processCallback(message, cd);
      } catch (err) {
        failedGroups.add(group);
        batchItemFailures.push({ itemIdentifier: record.messageId });
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
