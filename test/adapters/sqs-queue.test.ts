// The SQS FIFO callback queue (mocked at the SDK boundary): the message it sends, ids SQS would
// refuse replaced by their sha256, and a failed send reported as QueueUnavailableError.
import { createHash } from 'node:crypto';
import { SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { mockClient } from 'aws-sdk-client-mock';
import { createSqsQueue, sqsSafeId } from '../../functions/adapters/sqs-queue';
import { QueueUnavailableError } from '../../functions/domain/errors';
import { toHttpResponse } from '../../functions/platform/http';

const QUEUE_URL = 'https://sqs.eu-west-1.amazonaws.com/111122223333/callbacks.fifo';
const sqs = mockClient(SQSClient);
const sha256 = (s: string): string => createHash('sha256').update(s, 'utf8').digest('hex');
const queue = () => createSqsQueue({ client: new SQSClient({}), queueUrl: QUEUE_URL });

beforeEach(() => {
  sqs.reset();
  sqs.on(SendMessageCommand).resolves({ MessageId: 'm-1' });
});

describe('createSqsQueue', () => {
  it('sends the body with the group and deduplication ids', async () => {
    await queue().send({
      groupId: '20',
      dedupId: 'as272d6g2ds766fcdfgh#message#10737',
      body: '{}',
    });
    expect(sqs.commandCalls(SendMessageCommand).map((c) => c.args[0].input)).toEqual([
      {
        QueueUrl: QUEUE_URL,
        MessageBody: '{}',
        MessageGroupId: '20',
        MessageDeduplicationId: 'as272d6g2ds766fcdfgh#message#10737',
      },
    ]);
  });

  it('replaces ids SQS would refuse (too long, spaces, non-ASCII) with their sha256 hex', async () => {
    const long = `svc#${'a'.repeat(200)}`;
    await queue().send({ groupId: 'user 20', dedupId: long, body: '{}' });
    await queue().send({ groupId: 'gebruiker-é', dedupId: '', body: '{}' });
    expect(
      sqs
        .commandCalls(SendMessageCommand)
        .map((c) => [c.args[0].input.MessageGroupId, c.args[0].input.MessageDeduplicationId]),
    ).toEqual([
      [sha256('user 20'), sha256(long)],
      [sha256('gebruiker-é'), sha256('')],
    ]);
  });

  it('throws QueueUnavailableError, answered 503 with Retry-After, when the send fails', async () => {
    sqs.on(SendMessageCommand).rejects(new Error('Service Unavailable'));
    const err = await queue()
      .send({ groupId: '20', dedupId: 'd1', body: '{"secret":"x"}' })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(QueueUnavailableError);
    const response = toHttpResponse(err);
    expect([
      response.statusCode,
      response.headers?.['Retry-After'],
      JSON.parse(response.body!),
    ]).toEqual([
      503,
      '5',
      { error: { code: 'enqueue_failed', message: 'The callback could not be queued; retry.' } },
    ]);
  });
});

describe('sqsSafeId', () => {
  it('keeps ids of up to 128 printable ASCII characters', () => {
    const max = '!~Az09#'.repeat(19).slice(0, 128);
    expect([sqsSafeId(max), sqsSafeId(`${max}x`)]).toEqual([max, sha256(`${max}x`)]);
  });
});
