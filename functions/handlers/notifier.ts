// The notifier: the notify queue's consumer (each SQS record is one outbox id for
// sendNotification: a notification to POST, or an action such as a bot's agent/unset to run at
// Parley) and, on a schedule (EventBridge), the outbox relay. Partial batch failures
// (platform/fifo-batch.ts), as the callback processor: a record to retry and the later records
// of its FIFO group (one Service, one user) go back to the queue, with the retry's delay as their
// visibility, so a Service hears about a user in order. A notification out of retries fails its
// record each time, so the queue moves it to the DLQ.
import type { Context, SQSEvent, SQSRecord } from 'aws-lambda';
import { relayPending } from '../domain/notify/relay';
import { type SendDeps, sendNotification } from '../domain/notify/send';
import type { DepsSource } from '../platform/deps';
import { processFifoBatch, RedeliverAfterError } from '../platform/fifo-batch';
import { flushMetrics, startInvocation } from '../platform/handler';
import { depsFromEnvironment } from '../platform/runtime';
import { relayDeps, sendDeps } from '../platform/views';

interface ScheduledEvent {
  source: 'aws.events';
  'detail-type': string;
}

const isScheduled = (event: unknown): event is ScheduledEvent =>
  typeof event === 'object' && event !== null && (event as ScheduledEvent).source === 'aws.events';

/** The notification id a record carries (`{ "id": "ntf_..." }`), or null. */
const idOf = (record: SQSRecord): string | null => {
  try {
    const { id } = JSON.parse(record.body) as { id?: unknown };
    return typeof id === 'string' && id.length > 0 && id.length <= 128 ? id : null;
  } catch {
    return null;
  }
};

export interface NotifierOptions {
  /** The use case; tests replace it to drive outcomes. */
  send?: typeof sendNotification;
}

export const makeHandler =
  (deps: DepsSource, options: NotifierOptions = {}) =>
  async (event: SQSEvent | ScheduledEvent, context?: Context) => {
    const d = await deps();
    startInvocation(d, context);
    if (isScheduled(event)) {
      const summary = await relayPending(relayDeps(d));
      flushMetrics(d);
      return summary;
    }
    const sd: SendDeps = sendDeps(d);
    const send = options.send ?? sendNotification;

    const handleRecord = async (record: SQSRecord): Promise<void> => {
      const id = idOf(record);
      if (!id) {
        // Only this service writes to the queue: an unreadable record is a bug, not a retry.
        d.log.error('unreadable notify queue record', { messageId: record.messageId });
        d.metrics.count('QueueRecordUnreadable');
        return;
      }
      let outcome: Awaited<ReturnType<typeof sendNotification>>;
      try {
        outcome = await send(id, sd);
      } catch (err) {
        d.log.warn('notification attempt failed in the notifier; will retry', {
          notificationId: id,
          error: (err as Error).name,
          receiveCount: record.attributes?.ApproximateReceiveCount,
        });
        throw err;
      }
      if (outcome.outcome !== 'retry' && outcome.outcome !== 'expired') return;
      // Expired: back at once, failing each time, until the queue's receive limit parks it.
      throw new RedeliverAfterError(outcome.outcome === 'retry' ? outcome.delaySeconds : 0);
    };

    const response = await processFifoBatch(event, handleRecord, {
      queue: d.notifyQueue,
      log: d.log,
    });
    flushMetrics(d);
    return response;
  };

export const handler = makeHandler(depsFromEnvironment());
