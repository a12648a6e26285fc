// The callback queue (the `CallbackQueue` port) on an SQS FIFO queue. SQS accepts group and
// deduplication ids of 1 to 128 characters from [!-~]; the ids sent here come from groupIdFor and
// deliveryIdFor (domain/delivery), which always return such ids (QUEUE_ID), so they go out as they
// are: the delivery id SQS deduplicates on is the one the processor keys its delivery item on.
// Attributes go out as String message attributes (queue-message.ts has the message contract).
// A failed send throws QueueUnavailableError (503: Parley retries the callback).
import {
  ChangeMessageVisibilityCommand,
  type MessageAttributeValue,
  SendMessageCommand,
  type SQSClient,
} from '@aws-sdk/client-sqs';
import { QueueUnavailableError } from '../domain/errors';
import type { CallbackQueue } from '../domain/ports';

export interface SqsQueueOptions {
  /** The client, or a function that makes it on the first call (nothing is built before). */
  client: SQSClient | (() => SQSClient);
  queueUrl: string;
}

export function createSqsQueue(options: SqsQueueOptions): Required<CallbackQueue> {
  const { queueUrl } = options;
  let client = typeof options.client === 'function' ? undefined : options.client;
  const make = options.client;
  const sqs = (): SQSClient => {
    client ??= (make as () => SQSClient)();
    return client;
  };
  return {
    async send(message) {
      const attributes = Object.entries(message.attributes ?? {});
      try {
        await sqs().send(
          new SendMessageCommand({
            QueueUrl: queueUrl,
            MessageBody: message.body,
            MessageGroupId: message.groupId,
            MessageDeduplicationId: message.dedupId,
            ...(attributes.length
              ? {
                  MessageAttributes: Object.fromEntries(
                    attributes.map(([name, value]): [string, MessageAttributeValue] => [
                      name,
                      { DataType: 'String', StringValue: value },
                    ]),
                  ),
                }
              : {}),
          }),
        );
      } catch (err) {
        const error = new QueueUnavailableError();
        error.cause = err;
        throw error;
      }
    },
    async changeVisibility(receiptHandle, seconds) {
      await sqs().send(
        new ChangeMessageVisibilityCommand({
          QueueUrl: queueUrl,
          ReceiptHandle: receiptHandle,
          VisibilityTimeout: seconds,
        }),
      );
    },
  };
}
