// The dead-letter queues' depths (the `QueueDepths` port) from SQS: GetQueueAttributes on each
// queue's URL, ApproximateNumberOfMessages (waiting) and ApproximateNumberOfMessagesNotVisible
// (received, not deleted). SQS's figures are approximate; the console says so.
import { GetQueueAttributesCommand, type SQSClient } from '@aws-sdk/client-sqs';
import type { QueueDepth, QueueDepths } from '../domain/ports';

export interface SqsQueueDepthsOptions {
  /** The client, or a function that makes it on the first call (nothing is built before). */
  client: SQSClient | (() => SQSClient);
  /** The dead-letter queues, in the order the console shows them. */
  queues: readonly { name: string; url: string }[];
}

/** A depth that could not be read; names the queue, never its URL or the SDK's message. */
export class QueueDepthUnavailableError extends Error {
  override readonly name = 'QueueDepthUnavailableError';
  constructor(
    readonly queue: string,
    readonly reason: string,
  ) {
    super(`The depth of the ${queue} dead-letter queue could not be read: ${reason}.`);
  }
}

const VISIBLE = 'ApproximateNumberOfMessages';
const IN_FLIGHT = 'ApproximateNumberOfMessagesNotVisible';

const count = (queue: string, attributes: Record<string, string> | undefined, key: string) => {
  const raw = attributes?.[key];
  if (raw === undefined || !/^\d{1,15}$/.test(raw)) {
    throw new QueueDepthUnavailableError(queue, `SQS answered no whole number for ${key}`);
  }
  return Number(raw);
};

export const createSqsQueueDepths = (options: SqsQueueDepthsOptions): QueueDepths => {
  let client = typeof options.client === 'function' ? undefined : options.client;
  const make = options.client;
  const sqs = (): SQSClient => {
    client ??= (make as () => SQSClient)();
    return client;
  };
  const one = async ({ name, url }: { name: string; url: string }): Promise<QueueDepth> => {
    let attributes: Record<string, string> | undefined;
    try {
      const out = await sqs().send(
        new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: [VISIBLE, IN_FLIGHT] }),
      );
      attributes = out.Attributes;
    } catch (err) {
      // The SDK's message may carry the account and the queue's ARN: only its name goes on.
      throw new QueueDepthUnavailableError(name, err instanceof Error ? err.name : 'no answer');
    }
    return {
      name,
      visible: count(name, attributes, VISIBLE),
      inFlight: count(name, attributes, IN_FLIGHT),
    };
  };
  return { depths: () => Promise.all(options.queues.map(one)) };
};
