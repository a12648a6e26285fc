import {
  failedMessageIds,
  type ReceivedMessage,
  toSqsRecord,
} from '../../../local/queue/sqs-event';

const message = (messageId: string, overrides: Partial<ReceivedMessage> = {}): ReceivedMessage => ({
  messageId,
  groupId: 'user-20',
  dedupId: `dedup-${messageId}`,
  body: '{"type":"message"}',
  attributes: { serviceId: 'bot' },
  sentAt: 1_700_000_000_000,
  receiveCount: 2,
  sk: '0000000000000042',
  firstReceivedAt: 1_700_000_001_000,
  receipt: 'receipt-1',
  ...overrides,
});

describe('SQS events of the local queue', () => {
  it('builds the record Lambda hands a function, its receipt handle naming the receive', () => {
    const record = toSqsRecord(message('m-1'), 'arn:aws:sqs:local:000000000000:q.fifo', 5);

    expect(record).toEqual({
      messageId: 'm-1',
      receiptHandle: '0000000000000042:receipt-1',
      body: '{"type":"message"}',
      attributes: {
        ApproximateReceiveCount: '2',
        SentTimestamp: '1700000000000',
        SenderId: 'local',
        ApproximateFirstReceiveTimestamp: '1700000001000',
        SequenceNumber: '42',
        MessageGroupId: 'user-20',
        MessageDeduplicationId: 'dedup-m-1',
      },
      messageAttributes: {
        serviceId: {
          stringValue: 'bot',
          stringListValues: [],
          binaryListValues: [],
          dataType: 'String',
        },
      },
      // The body's MD5 in hex, as SQS gives it (computed apart, with md5sum).
      md5OfBody: '2cd339507f7d58ea4875f45c47d12e33',
      eventSource: 'aws:sqs',
      eventSourceARN: 'arn:aws:sqs:local:000000000000:q.fifo',
      awsRegion: 'local',
    });
  });

  it('stamps the first receive with the delivery instant when none was recorded', () => {
    const record = toSqsRecord(message('m-2', { firstReceivedAt: undefined }), 'arn', 1234);

    expect(record.attributes.ApproximateFirstReceiveTimestamp).toBe('1234');
  });

  it('reads a batch response as Lambda does: the failures named, or the whole batch', () => {
    const batch = [message('a'), message('b'), message('c')];
    const failures = (...ids: string[]) => ({
      batchItemFailures: ids.map((itemIdentifier) => ({ itemIdentifier })),
    });

    expect([...failedMessageIds(batch, failures('b'))]).toEqual(['b']);
    expect([...failedMessageIds(batch, failures())]).toEqual([]);
    expect([...failedMessageIds(batch, undefined)]).toEqual([]);
    expect([...failedMessageIds(batch, failures('b', 'unknown'))]).toEqual(['a', 'b', 'c']);
    expect([...failedMessageIds(batch, failures(''))]).toEqual(['a', 'b', 'c']);
  });
});
