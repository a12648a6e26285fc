// One batch of a FIFO queue with partial batch failures, for both queue consumers (the callback
// processor, the notifier). Powertools' SqsFifoPartialProcessorAsync with skipGroupOnError: a
// record whose work throws fails, and the later records of its group go back unprocessed; other
// groups go on. The library cannot change a message's visibility, and the records it skips never
// reach the work: so a record that must come back after a delay (RedeliverAfterError) has its
// visibility changed, and after the batch the records skipped behind it get the same delay, read
// from the response, so that they stay behind it.
import { processPartialResponse, SqsFifoPartialProcessorAsync } from '@aws-lambda-powertools/batch';
import type { SQSBatchResponse, SQSEvent, SQSRecord } from 'aws-lambda';
import type { CallbackQueue, Log } from '../domain/ports';

/** Thrown by a record's work: the record fails and comes back after `seconds` (0: at once). */
export class RedeliverAfterError extends Error {
  constructor(
    readonly seconds: number,
    options?: ErrorOptions,
  ) {
    super(`The record comes back in ${seconds} s.`, options);
    this.name = 'RedeliverAfterError';
  }
}

/** A record's FIFO group; a record without one is a group of its own. */
const groupOf = (record: SQSRecord): string =>
  record.attributes?.MessageGroupId ?? record.messageId;

export const processFifoBatch = async (
  event: SQSEvent,
  work: (record: SQSRecord) => Promise<void>,
  { queue, log }: { queue: CallbackQueue; log: Log },
): Promise<SQSBatchResponse> => {
  /** The delay of each group whose record asked for one. */
  const groupDelays = new Map<string, number>();
  const delayed = new Set<string>();
  const delay = async (record: SQSRecord, seconds: number): Promise<void> => {
    delayed.add(record.messageId);
    try {
      await queue.changeVisibility?.(record.receiptHandle, seconds);
    } catch (err) {
      log.warn('visibility change failed; the message returns after the visibility timeout', {
        messageId: record.messageId,
        error: (err as Error).name,
      });
    }
  };

  const handleRecord = async (record: SQSRecord): Promise<void> => {
    try {
      await work(record);
    } catch (err) {
      if (err instanceof RedeliverAfterError) {
        groupDelays.set(groupOf(record), err.seconds);
        await delay(record, err.seconds);
      }
      throw err;
    }
  };

  // A processor per batch: it keeps the batch's state, and invocations may overlap.
  // throwOnFullBatchFailure: false answers a batch whose every record failed instead of throwing.
  const response = await processPartialResponse(
    event,
    handleRecord,
    new SqsFifoPartialProcessorAsync(),
    { skipGroupOnError: true, throwOnFullBatchFailure: false },
  );
  const byId = new Map(event.Records.map((r) => [r.messageId, r]));
  for (const { itemIdentifier } of response.batchItemFailures) {
    const record = byId.get(itemIdentifier);
    if (!record || delayed.has(record.messageId)) continue;
    const seconds = groupDelays.get(groupOf(record));
    if (seconds !== undefined) await delay(record, seconds);
  }
  return response;
};
