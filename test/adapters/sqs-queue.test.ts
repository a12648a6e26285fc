// The SQS FIFO callback queue (mocked at the SDK boundary): the message it sends, with the group
// and deduplication ids exactly as given, a failed send reported as QueueUnavailableError, and that
// the ids the inbound webhook gives it (groupIdFor, deliveryIdFor) are always ids SQS accepts.
import { ChangeMessageVisibilityCommand, SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { mockClient } from 'aws-sdk-client-mock';
import fc from 'fast-check';
import { createSqsQueue } from '../../functions/adapters/sqs-queue';
import { deliveryIdFor, groupIdFor, parseCallback } from '../../functions/domain/delivery';
import { QueueUnavailableError } from '../../functions/domain/errors';
import { toHttpResponse } from '../../functions/platform/http';

const QUEUE_URL = 'https://sqs.eu-west-1.amazonaws.com/111122223333/callbacks.fifo';
const sqs = mockClient(SQSClient);
const queue = () => createSqsQueue({ client: new SQSClient({}), queueUrl: QUEUE_URL });

/** What SQS accepts as MessageGroupId and MessageDeduplicationId. */
const SQS_ID = /^[!-~]{1,128}$/;

beforeEach(() => {
  sqs.reset();
  sqs.on(SendMessageCommand).resolves({ MessageId: 'm-1' });
});

describe('createSqsQueue', () => {
  it('sends the body with the group and deduplication ids', async () => {
    await queue().send({
      groupId: 'user-20',
      dedupId: 'as272d6g2ds766fcdfgh#message#10737',
      body: '{}',
    });
    expect(sqs.commandCalls(SendMessageCommand).map((c) => c.args[0].input)).toEqual([
      {
        QueueUrl: QUEUE_URL,
        MessageBody: '{}',
        MessageGroupId: 'user-20',
        MessageDeduplicationId: 'as272d6g2ds766fcdfgh#message#10737',
      },
    ]);
  });

  it('sends message attributes as String attributes beside the body', async () => {
    await queue().send({
      groupId: 'user-20',
      dedupId: 'svc#message#1',
      body: '{"type":"message"}',
      attributes: { serviceId: 'svc', deliveryId: 'svc#message#1' },
    });
    expect(sqs.commandCalls(SendMessageCommand)[0]!.args[0].input).toEqual({
      QueueUrl: QUEUE_URL,
      MessageBody: '{"type":"message"}',
      MessageGroupId: 'user-20',
      MessageDeduplicationId: 'svc#message#1',
      MessageAttributes: {
        serviceId: { DataType: 'String', StringValue: 'svc' },
        deliveryId: { DataType: 'String', StringValue: 'svc#message#1' },
      },
    });
  });

  it('changes a received message visibility by its receipt handle', async () => {
    sqs.on(ChangeMessageVisibilityCommand).resolves({});
    await queue().changeVisibility!('receipt-handle-1', 4);
    expect(sqs.commandCalls(ChangeMessageVisibilityCommand).map((c) => c.args[0].input)).toEqual([
      { QueueUrl: QUEUE_URL, ReceiptHandle: 'receipt-handle-1', VisibilityTimeout: 4 },
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

describe('the ids the webhook sends', () => {
  /** A configured Service identification: 1..100 characters of any text (config allows that). */
  const serviceId = fc.string({ unit: 'grapheme', minLength: 1, maxLength: 100 });
  const anyId = fc.oneof(
    fc.string({ maxLength: 300 }),
    fc.string({ unit: 'grapheme', maxLength: 300 }),
    fc.integer(),
  );
  const callback = fc.oneof(
    fc.string({ maxLength: 200 }),
    fc
      .record({
        type: fc.oneof(
          fc.constantFrom('message', 'event', 'action'),
          fc.string({ maxLength: 150 }),
        ),
        id: fc.option(anyId, { nil: undefined }),
        userId: fc.option(anyId, { nil: undefined }),
      })
      .map(({ type, id, userId }) =>
        JSON.stringify({ type, body: { id, message: 'hi', user: { id: userId } } }),
      ),
  );

  it('are always ids SQS accepts, for any Service identification and any callback', () => {
    fc.assert(
      fc.property(serviceId, callback, (service, raw) => {
        const parsed = parseCallback(raw);
        expect(deliveryIdFor(service, raw, parsed)).toMatch(SQS_ID);
        expect(groupIdFor(parsed)).toMatch(SQS_ID);
      }),
      { numRuns: 2000 },
    );
  });

  it('stay within the limit for the longest Service identification and an id-less callback', () => {
    const longest = 's'.repeat(100);
    const raw = '{"type":"event","body":{"user":{"id":"20"}}}';
    const other = '{"type":"event","body":{"user":{"id":"21"}}}';

    const ids = [raw, other].map((r) => deliveryIdFor(longest, r, parseCallback(r)));

    expect(ids[0]).toMatch(SQS_ID);
    expect(ids[0]).not.toEqual(ids[1]);
    expect(ids[0]).toEqual(deliveryIdFor(longest, raw, parseCallback(raw)));
    expect(deliveryIdFor('é-service', raw, parseCallback(raw))).toMatch(SQS_ID);
  });

  it('go out unchanged', async () => {
    const raw = '{"type":"message","body":{"id":7,"message":"hi","user":{"id":"20"}}}';
    const parsed = parseCallback(raw);

    await queue().send({
      groupId: groupIdFor(parsed),
      dedupId: deliveryIdFor('svc', raw, parsed),
      body: raw,
    });

    const input = sqs.commandCalls(SendMessageCommand)[0]!.args[0].input;
    expect([input.MessageGroupId, input.MessageDeduplicationId]).toEqual([
      'user-20',
      'svc#message#7',
    ]);
  });
});
