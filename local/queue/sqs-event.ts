// What Lambda's SQS event source mapping hands a function and reads back: SQS-shaped records
// (messageId, receiptHandle, body, String messageAttributes, attributes.MessageGroupId /
// MessageDeduplicationId / ApproximateReceiveCount, eventSource 'aws:sqs'), and the batch response
// whose batchItemFailures name the records to keep.
import { createHash } from 'node:crypto';
import type { SQSBatchResponse, SQSRecord } from 'aws-lambda';

/** A message as the queue holds it, with what a receive set. */
export interface ReceivedMessage {
  messageId: string;
  groupId: string;
  dedupId: string;
  body: string;
  attributes?: Record<string, string>;
  /** Epoch ms. */
  sentAt: number;
  receiveCount: number;
  /** The message's sequence key in the store. */
  sk: string;
  firstReceivedAt?: number;
  receipt?: string;
}

const md5 = (text: string) => createHash('md5').update(text, 'utf8').digest('hex');

/** String message attributes as Lambda's SQS event carries them. */
export const sqsMessageAttributes = (
  attributes: Record<string, string> = {},
): SQSRecord['messageAttributes'] =>
  Object.fromEntries(
    Object.entries(attributes).map(([name, value]) => [
      name,
      { stringValue: value, stringListValues: [], binaryListValues: [], dataType: 'String' },
    ]),
  );

/** One record of the event; the receipt handle names the receive that handed it out. */
export const toSqsRecord = (item: ReceivedMessage, arn: string, now: number): SQSRecord => ({
  messageId: item.messageId,
  receiptHandle: `${item.sk}:${item.receipt}`,
  body: item.body,
  attributes: {
    ApproximateReceiveCount: String(item.receiveCount),
    SentTimestamp: String(item.sentAt),
    SenderId: 'local',
    ApproximateFirstReceiveTimestamp: String(item.firstReceivedAt ?? now),
    SequenceNumber: String(Number(item.sk)),
    MessageGroupId: item.groupId,
    MessageDeduplicationId: item.dedupId,
  },
  messageAttributes: sqsMessageAttributes(item.attributes ?? {}),
  md5OfBody: md5(item.body),
  eventSource: 'aws:sqs',
  eventSourceARN: arn,
  awsRegion: 'local',
});

/**
 * The ids of a batch that failed, as Lambda reads a response: those batchItemFailures names; all
 * of them when one identifier is empty or unknown.
 */
export const failedMessageIds = (
  batch: readonly { messageId: string }[],
  response: SQSBatchResponse | undefined,
): Set<string> => {
  const ids = (response?.batchItemFailures ?? []).map((f) => f.itemIdentifier);
  const known = new Set(batch.map((b) => b.messageId));
  return ids.every((id) => typeof id === 'string' && known.has(id)) ? new Set(ids) : known;
};
