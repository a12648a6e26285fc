// The dead-letter queues' depths from SQS, mocked at the SDK boundary (no local SQS server exists):
// the attributes asked of each queue, the figures read from the answer, and errors that name the
// queue and never its URL or the SDK's message.
import { GetQueueAttributesCommand, QueueDoesNotExist, SQSClient } from '@aws-sdk/client-sqs';
import { mockClient } from 'aws-sdk-client-mock';
import {
  QueueDepthUnavailableError,
  createSqsQueueDepths,
} from '../../functions/adapters/queue-depths';

const CALLBACK_DLQ =
  'https://sqs.eu-west-1.amazonaws.com/111122223333/api-CallbacksDeadLetter.fifo';
const NOTIFY_DLQ = 'https://sqs.eu-west-1.amazonaws.com/111122223333/api-NotifyDeadLetter.fifo';
const queues = [
  { name: 'callbacks', url: CALLBACK_DLQ },
  { name: 'notify', url: NOTIFY_DLQ },
];

const sqs = mockClient(SQSClient);
beforeEach(() => sqs.reset());

const answer = (url: string, visible: string, inFlight: string) =>
  sqs.on(GetQueueAttributesCommand, { QueueUrl: url }).resolves({
    Attributes: {
      ApproximateNumberOfMessages: visible,
      ApproximateNumberOfMessagesNotVisible: inFlight,
    },
  });

describe('SQS dead-letter queue depths', () => {
  it('reads each queue its waiting and in-flight counts, in the order given', async () => {
    answer(CALLBACK_DLQ, '3', '1');
    answer(NOTIFY_DLQ, '0', '0');
    const depths = createSqsQueueDepths({ client: new SQSClient({}), queues });

    const got = await depths.depths();

    expect(got).toEqual([
      { name: 'callbacks', visible: 3, inFlight: 1 },
      { name: 'notify', visible: 0, inFlight: 0 },
    ]);
    const asked = sqs.commandCalls(GetQueueAttributesCommand).map((c) => c.args[0].input);
    expect(asked).toEqual(
      expect.arrayContaining([
        {
          QueueUrl: CALLBACK_DLQ,
          AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'],
        },
        {
          QueueUrl: NOTIFY_DLQ,
          AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'],
        },
      ]),
    );
    expect(asked).toHaveLength(2);
  });

  it('makes no client before the first call', async () => {
    let made = 0;
    const depths = createSqsQueueDepths({
      client: () => {
        made += 1;
        return new SQSClient({});
      },
      queues,
    });
    expect(made).toBe(0);
    answer(CALLBACK_DLQ, '0', '0');
    answer(NOTIFY_DLQ, '2', '0');

    await depths.depths();
    await depths.depths();

    expect(made).toBe(1);
  });

  it('names the queue, not its URL or the SDK message, when SQS refuses the call', async () => {
    answer(CALLBACK_DLQ, '0', '0');
    sqs
      .on(GetQueueAttributesCommand, { QueueUrl: NOTIFY_DLQ })
      .rejects(
        new QueueDoesNotExist({ $metadata: {}, message: `no queue at ${NOTIFY_DLQ} 111122223333` }),
      );
    const depths = createSqsQueueDepths({ client: new SQSClient({}), queues });

    const err = await depths.depths().catch((e: unknown) => e);

    expect(err).toBeInstanceOf(QueueDepthUnavailableError);
    expect((err as QueueDepthUnavailableError).queue).toBe('notify');
    expect((err as Error).message).toBe(
      'The depth of the notify dead-letter queue could not be read: QueueDoesNotExist.',
    );
    expect((err as Error).message).not.toContain('111122223333');
  });

  it('refuses an answer without a whole number for either count', async () => {
    answer(CALLBACK_DLQ, '1', '');
    answer(NOTIFY_DLQ, '0', '0');
    const depths = createSqsQueueDepths({ client: new SQSClient({}), queues });

    await expect(depths.depths()).rejects.toThrow(
      'The depth of the callbacks dead-letter queue could not be read: SQS answered no whole number for ApproximateNumberOfMessagesNotVisible.',
    );
  });
});
