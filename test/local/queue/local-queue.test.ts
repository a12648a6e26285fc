import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PutCommand } from '@aws-sdk/lib-dynamodb';
import type { SQSBatchResponse, SQSEvent } from 'aws-lambda';
import { type LocalDynamo, startLocalDynamo } from '../../../local/dynamo';
import { createLocalQueue, type LocalQueue } from '../../../local/queue/local-queue';
import { queueTable } from '../../../local/queue/store';

const VISIBILITY = 1_000;

describe('local queue', () => {
  let dynamo: LocalDynamo;
  let tableCount = 0;
  let now = 1_700_000_000_000;
  const clock = { now: () => now };

  beforeAll(async () => {
    dynamo = await startLocalDynamo();
  });
  afterAll(async () => {
    await dynamo.close();
  });

  const newQueue = async (options: { maxReceiveCount?: number } = {}): Promise<LocalQueue> => {
    tableCount += 1;
    const tableName = `queue-${tableCount}`;
    await dynamo.ensureTable(queueTable, tableName);
    return createLocalQueue({
      client: dynamo.client,
      tableName,
      clock,
      visibilityTimeoutMs: VISIBILITY,
      ...options,
    });
  };

  /** A consumer that records what it got and fails the ids `fail` names. */
  const recorder = (fail: (event: SQSEvent) => string[] = () => []) => {
    const events: SQSEvent[] = [];
    const consumer = async (event: SQSEvent): Promise<SQSBatchResponse> => {
      events.push(event);
      return { batchItemFailures: fail(event).map((itemIdentifier) => ({ itemIdentifier })) };
    };
    const bodies = () => events.flatMap((e) => e.Records.map((r) => r.body));
    return { events, consumer, bodies };
  };

  it('delivers SQS-shaped records with the group, dedup id and receive count', async () => {
    const queue = await newQueue();
    await queue.send({ groupId: 'user-20', dedupId: 'd-1', body: '{"a":1}' });
    const { events, consumer } = recorder();

    expect(await queue.pollOnce(consumer)).toBe(1);

    const record = events[0]!.Records[0]!;
    expect(record).toMatchObject({
      body: '{"a":1}',
      eventSource: 'aws:sqs',
      attributes: {
        MessageGroupId: 'user-20',
        MessageDeduplicationId: 'd-1',
        ApproximateReceiveCount: '1',
      },
    });
    expect(record.messageId).toMatch(/^[0-9a-f-]{36}$/);
    expect(record.eventSourceARN).toMatch(/^arn:aws:sqs:.*\.fifo$/);
    expect(await queue.stats()).toEqual({ visible: 0, inFlight: 0, dlq: 0 });
  });

  it('carries String message attributes the way Lambda delivers them, through the DLQ and back', async () => {
    const queue = await newQueue({ maxReceiveCount: 1 });
    await queue.send({
      groupId: 'g',
      dedupId: 'attrs',
      body: 'b',
      attributes: { serviceId: 's-1' },
    });
    const got = recorder((e) => e.Records.map((r) => r.messageId));
    await queue.pollOnce(got.consumer);
    now += VISIBILITY + 1;
    await queue.pollOnce(got.consumer); // moves it to the DLQ
    await queue.redrive();
    await queue.pollOnce(got.consumer);

    const attributes = got.events.map((e) => e.Records[0]!.messageAttributes);
    expect(attributes).toEqual([
      {
        serviceId: {
          stringValue: 's-1',
          stringListValues: [],
          binaryListValues: [],
          dataType: 'String',
        },
      },
      expect.anything(),
    ]);
    expect(attributes[1]).toEqual(attributes[0]);
  });

  it('delivers a message again after the delay its consumer set, its group waiting behind it', async () => {
    const queue = await newQueue();
    await queue.send({ groupId: 'g', dedupId: 'd1', body: 'd1' });
    await queue.send({ groupId: 'g', dedupId: 'd2', body: 'd2' });
    const deferring = recorder((e) => e.Records.map((r) => r.messageId));
    const first = queue.pollOnce(async (event) => {
      for (const r of event.Records) await queue.changeVisibility(r.receiptHandle, 3);
      return deferring.consumer(event);
    });
    await first;
    const got = recorder();

    now += 2_999;
    const early = await queue.pollOnce(got.consumer);
    now += 1;
    await queue.pollOnce(got.consumer);

    expect(early).toBe(0);
    expect(got.bodies()).toEqual(['d1', 'd2']);
  });

  it('refuses a visibility change with the receipt handle of an earlier receive', async () => {
    const queue = await newQueue();
    await queue.send({ groupId: 'g', dedupId: 'old-handle', body: 'x' });
    const handles: string[] = [];
    const keep = async (event: SQSEvent): Promise<SQSBatchResponse> => {
      handles.push(event.Records[0]!.receiptHandle);
      return { batchItemFailures: [{ itemIdentifier: event.Records[0]!.messageId }] };
    };
    await queue.pollOnce(keep);
    now += VISIBILITY + 1;
    await queue.pollOnce(keep);

    await expect(queue.changeVisibility(handles[0]!, 1)).rejects.toThrow(
      'The receipt handle is no longer valid',
    );
    await expect(queue.changeVisibility(handles[1]!, 1)).resolves.toBeUndefined();
  });

  it('refuses a message larger than SQS accepts, counting its attributes', async () => {
    const queue = await newQueue();
    const body = 'x'.repeat(262_144 - 'serviceId'.length - 'String'.length - 1);

    await queue.send({ groupId: 'g', dedupId: 'fits', body, attributes: { serviceId: 'a' } });
    const err = await queue
      .send({ groupId: 'g', dedupId: 'too-big', body, attributes: { serviceId: 'ab' } })
      .catch((e: unknown) => e as Error);

    expect(err).toBeInstanceOf(Error);
    expect((err as Error).message).toBe(
      'The message takes 262145 bytes with its attributes; SQS accepts at most 262144 bytes.',
    );
    expect((await queue.list()).map((m) => m.dedupId)).toEqual(['fits']);
  });

  it('drops a repeat of a deduplication id inside the window and accepts it after', async () => {
    const queue = await newQueue();
    await queue.send({ groupId: 'g', dedupId: 'same', body: 'first' });
    await queue.send({ groupId: 'g', dedupId: 'same', body: 'second' });
    expect((await queue.list()).map((m) => m.body)).toEqual(['first']);

    now += 5 * 60_000 + 1;
    await queue.send({ groupId: 'g', dedupId: 'same', body: 'third' });

    expect((await queue.list()).map((m) => m.body)).toEqual(['first', 'third']);
  });

  it('completes a send interrupted after its dedup marker when the sender retries', async () => {
    const queue = await newQueue();
    const tableName = `queue-${tableCount}`;
    // What a crash between the two writes of a send leaves: the marker with the message in it.
    await dynamo.client.send(
      new PutCommand({
        TableName: tableName,
        Item: {
          pk: 'DEDUP#callbacks#crashed',
          sk: '-',
          messageId: 'm-crashed',
          expiresAt: now + 60_000,
          stored: false,
          pending: {
            pk: 'QUEUE#callbacks',
            sk: '0000000000000001',
            messageId: 'm-crashed',
            groupId: 'g',
            dedupId: 'crashed',
            body: 'accepted before the crash',
            sentAt: now,
            visibleAt: now,
            receiveCount: 0,
          },
        },
      }),
    );
    expect(await queue.list()).toEqual([]);

    await queue.send({ groupId: 'g', dedupId: 'crashed', body: 'accepted before the crash' });
    await queue.send({ groupId: 'g', dedupId: 'crashed', body: 'accepted before the crash' });

    expect((await queue.list()).map((m) => [m.messageId, m.body])).toEqual([
      ['m-crashed', 'accepted before the crash'],
    ]);
  });

  it('holds a group behind its head while the head is in flight, other groups move on', async () => {
    const queue = await newQueue();
    await queue.send({ groupId: 'a', dedupId: 'a1', body: 'a1' });
    await queue.send({ groupId: 'a', dedupId: 'a2', body: 'a2' });
    await queue.send({ groupId: 'b', dedupId: 'b1', body: 'b1' });
    // The head of group a fails: it and the rest of its group go back, b1 succeeds.
    const first = recorder((e) =>
      e.Records.filter((r) => r.body.startsWith('a')).map((r) => r.messageId),
    );
    await queue.pollOnce(first.consumer);
    expect(first.bodies()).toEqual(['a1', 'a2', 'b1']);

    const second = recorder();
    await queue.send({ groupId: 'b', dedupId: 'b2', body: 'b2' });
    await queue.pollOnce(second.consumer);
    expect(second.bodies()).toEqual(['b2']);

    now += VISIBILITY + 1;
    await queue.pollOnce(second.consumer);
    expect(second.bodies()).toEqual(['b2', 'a1', 'a2']);
    expect(second.events[1]!.Records.map((r) => r.attributes.ApproximateReceiveCount)).toEqual([
      '2',
      '2',
    ]);
  });

  it('makes a thrown batch visible again only after the visibility timeout', async () => {
    const queue = await newQueue();
    await queue.send({ groupId: 'g', dedupId: 'x', body: 'x' });
    await queue.pollOnce(async () => {
      throw new Error('processor crashed');
    });

    expect(await queue.pollOnce(recorder().consumer)).toBe(0);
    expect(await queue.stats()).toEqual({ visible: 0, inFlight: 1, dlq: 0 });
    now += VISIBILITY + 1;
    expect(await queue.pollOnce(recorder().consumer)).toBe(1);
  });

  it('treats an unknown batchItemFailures identifier as a failure of the whole batch', async () => {
    const queue = await newQueue();
    await queue.send({ groupId: 'g', dedupId: 'y', body: 'y' });
    await queue.pollOnce(recorder(() => ['not-a-message-of-this-batch']).consumer);

    now += VISIBILITY + 1;
    const again = recorder();
    await queue.pollOnce(again.consumer);
    expect(again.bodies()).toEqual(['y']);
  });

  it('moves a message to the DLQ after maxReceiveCount failed receives, and redrives it', async () => {
    const queue = await newQueue({ maxReceiveCount: 5 });
    await queue.send({ groupId: 'g', dedupId: 'poison', body: 'poison' });
    const failing = recorder((e) => e.Records.map((r) => r.messageId));
    for (let i = 0; i < 5; i += 1) {
      await queue.pollOnce(failing.consumer);
      now += VISIBILITY + 1;
    }
    expect(failing.events).toHaveLength(5);
    await queue.send({ groupId: 'g', dedupId: 'next', body: 'next' });

    const ok = recorder();
    await queue.pollOnce(ok.consumer);

    expect(ok.bodies()).toEqual(['next']);
    const dlq = await queue.listDlq();
    expect(dlq.map((m) => [m.body, m.receiveCount])).toEqual([['poison', 5]]);

    expect(await queue.redrive()).toBe(1);
    await queue.pollOnce(ok.consumer);
    expect(ok.bodies()).toEqual(['next', 'poison']);
    expect(ok.events[1]!.Records[0]!.attributes.ApproximateReceiveCount).toBe('1');
    expect(await queue.stats()).toEqual({ visible: 0, inFlight: 0, dlq: 0 });
  });

  it('keeps accepted messages on disk across a restart of the store', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'queue-'));
    try {
      const first = await startLocalDynamo({ path: dir });
      await first.ensureTable(queueTable, 'queue-on-disk');
      await createLocalQueue({ client: first.client, tableName: 'queue-on-disk', clock }).send({
        groupId: 'g',
        dedupId: 'kept',
        body: 'kept',
      });
      await first.close();

      const second = await startLocalDynamo({ path: dir });
      const queue = createLocalQueue({ client: second.client, tableName: 'queue-on-disk', clock });
      const got = recorder();
      await queue.pollOnce(got.consumer);
      await second.close();

      expect(got.bodies()).toEqual(['kept']);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('runs a poller that delivers what is sent until stopped', async () => {
    const queue = await newQueue();
    const got = recorder();
    let delivered!: () => void;
    const done = new Promise<void>((resolve) => {
      delivered = resolve;
    });
    queue.start(async (event) => {
      const out = await got.consumer(event);
      if (got.bodies().length >= 3) delivered();
      return out;
    });
    await queue.send({ groupId: 'u1', dedupId: 'p1', body: 'p1' });
    await queue.send({ groupId: 'u1', dedupId: 'p2', body: 'p2' });
    await queue.send({ groupId: 'u2', dedupId: 'p3', body: 'p3' });
    await done;
    await queue.stop();

    expect(got.bodies().filter((b) => b !== 'p3')).toEqual(['p1', 'p2']);
    expect(got.bodies()).toContain('p3');
  });
});
