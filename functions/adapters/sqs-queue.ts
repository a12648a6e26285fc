// The callback queue (the `CallbackQueue` port) on an SQS FIFO queue. SQS accepts group and
// deduplication ids of at most 128 characters from [!-~] (printable ASCII, no space): an id that
// does not fit is replaced by its sha256 hex, so the same input always maps to the same id.
// A failed send throws QueueUnavailableError (503: Parley retries the callback).
import { createHash } from 'node:crypto';
import { SendMessageCommand, type SQSClient } from '@aws-sdk/client-sqs';
import { QueueUnavailableError } from '../domain/errors';
import type { CallbackQueue } from '../domain/ports';

export interface SqsQueueOptions {
  /** The client, or a function that makes it on the first send (nothing is built before). */
  client: SQSClient | (() => SQSClient);
  queueUrl: string;
}

const SQS_ID = /^[!-~]{1,128}$/;

/** `id` itself when SQS accepts it as a group or deduplication id, else its sha256 hex. */
export function sqsSafeId(id: string): string {
  return SQS_ID.test(id) ? id : createHash('sha256').update(id, 'utf8').digest('hex');
}

export function createSqsQueue(options: SqsQueueOptions): CallbackQueue {
  const { queueUrl } = options;
  let client = typeof options.client === 'function' ? undefined : options.client;
  const make = options.client;
  return {
    async send(message) {
      try {
        client ??= (make as () => SQSClient)();
        await client.send(
          new SendMessageCommand({
            QueueUrl: queueUrl,
            MessageBody: message.body,
            MessageGroupId: sqsSafeId(message.groupId),
            MessageDeduplicationId: sqsSafeId(message.dedupId),
          }),
        );
      } catch (err) {
        const error = new QueueUnavailableError();
        error.cause = err;
        throw error;
      }
    },
  };
}
