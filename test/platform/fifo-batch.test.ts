// The FIFO batch both queue consumers run on (functions/platform/fifo-batch.ts): which records a
// failure hands back (the failed one and the later ones of its group, no other group's), which
// records the work saw, and the visibility each record handed back was given.
import type { SQSRecord } from 'aws-lambda';
import { processFifoBatch, RedeliverAfterError } from '../../functions/platform/fifo-batch';
import { sqsEvent, sqsRecord } from '../support/events';
import { recordingLog } from '../support/fakes';

/** A queue that notes each visibility change (or refuses them all). */
const recordingQueue = (refuse = false) => {
  const visibility: [string, number][] = [];
  const queue = {
    send: async () => undefined,
    changeVisibility: async (receiptHandle: string, seconds: number) => {
      if (refuse) throw Object.assign(new Error('sqs down'), { name: 'QueueUnavailable' });
      visibility.push([receiptHandle, seconds]);
    },
  };
  return { queue, visibility };
};

/** Work that throws what `outcome` gives for a record's body, and notes each body it saw. */
const scripted =
  (outcome: (body: string) => Error | null, seen: string[]) => async (r: SQSRecord) => {
    seen.push(r.body);
    const err = outcome(r.body);
    if (err) throw err;
  };

const failed = (response: { batchItemFailures: { itemIdentifier: string }[] }) =>
  response.batchItemFailures.map((f) => f.itemIdentifier);

describe('processFifoBatch', () => {
  it('hands back a failed record and the later records of its group, and goes on with the others', async () => {
    const { queue, visibility } = recordingQueue();
    const log = recordingLog();
    const seen: string[] = [];
    const records = [
      sqsRecord('a1', 'a'),
      sqsRecord('b1', 'b'),
      sqsRecord('a2', 'a'),
      sqsRecord('b2', 'b'),
    ];

    const response = await processFifoBatch(
      sqsEvent(records),
      scripted((body) => (body === 'a1' ? new Error('no') : null), seen),
      { queue, log },
    );

    expect(failed(response)).toEqual([records[0]!.messageId, records[2]!.messageId]);
    expect(seen).toEqual(['a1', 'b1', 'b2']);
    // A plain failure comes back after the visibility timeout: no change asked.
    expect(visibility).toEqual([]);
    expect(log.lines).toEqual([]);
  });

  it('brings a record back after the seconds it asked, and the later records of its group with it', async () => {
    const { queue, visibility } = recordingQueue();
    const seen: string[] = [];
    const records = [
      sqsRecord('a1', 'a'),
      sqsRecord('b1', 'b'),
      sqsRecord('a2', 'a'),
      sqsRecord('a3', 'a'),
    ];

    const response = await processFifoBatch(
      sqsEvent(records),
      scripted((body) => (body === 'a1' ? new RedeliverAfterError(7) : null), seen),
      { queue, log: recordingLog() },
    );

    expect(failed(response)).toEqual([
      records[0]!.messageId,
      records[2]!.messageId,
      records[3]!.messageId,
    ]);
    expect(seen).toEqual(['a1', 'b1']);
    expect(visibility).toEqual([
      [records[0]!.receiptHandle, 7],
      [records[2]!.receiptHandle, 7],
      [records[3]!.receiptHandle, 7],
    ]);
  });

  it('gives a delay of 0 s to the group behind it too (back at once)', async () => {
    const { queue, visibility } = recordingQueue();
    const records = [sqsRecord('x1', 'x'), sqsRecord('x2', 'x')];

    const response = await processFifoBatch(
      sqsEvent(records),
      scripted(() => new RedeliverAfterError(0), []),
      { queue, log: recordingLog() },
    );

    expect(failed(response)).toEqual(records.map((r) => r.messageId));
    expect(visibility).toEqual([
      [records[0]!.receiptHandle, 0],
      [records[1]!.receiptHandle, 0],
    ]);
  });

  it('delays only the group that asked, whatever else failed in the batch', async () => {
    const { queue, visibility } = recordingQueue();
    const records = [sqsRecord('a1', 'a'), sqsRecord('b1', 'b'), sqsRecord('b2', 'b')];

    const response = await processFifoBatch(
      sqsEvent(records),
      scripted(
        (body) =>
          body === 'a1' ? new RedeliverAfterError(4) : body === 'b1' ? new Error('no') : null,
        [],
      ),
      { queue, log: recordingLog() },
    );

    expect(failed(response)).toEqual(records.map((r) => r.messageId));
    expect(visibility).toEqual([[records[0]!.receiptHandle, 4]]);
  });

  it('answers every record as failed, without throwing, when the whole batch fails', async () => {
    const { queue } = recordingQueue();
    const records = [sqsRecord('a1', 'a'), sqsRecord('b1', 'b')];

    const response = await processFifoBatch(
      sqsEvent(records),
      scripted(() => new Error('down'), []),
      { queue, log: recordingLog() },
    );

    expect(failed(response)).toEqual(records.map((r) => r.messageId));
  });

  it('fails a record without a group on its own', async () => {
    const { queue, visibility } = recordingQueue();
    const seen: string[] = [];
    const records = [sqsRecord('n1', 'unused'), sqsRecord('n2', 'unused')];
    for (const r of records) delete (r.attributes as { MessageGroupId?: string }).MessageGroupId;

    const response = await processFifoBatch(
      sqsEvent(records),
      scripted((body) => (body === 'n1' ? new RedeliverAfterError(3) : null), seen),
      { queue, log: recordingLog() },
    );

    expect(failed(response)).toEqual([records[0]!.messageId]);
    expect(seen).toEqual(['n1', 'n2']);
    expect(visibility).toEqual([[records[0]!.receiptHandle, 3]]);
  });

  it('still hands the records back when their visibility cannot be changed, and says so', async () => {
    const { queue } = recordingQueue(true);
    const log = recordingLog();
    const records = [sqsRecord('a1', 'a'), sqsRecord('a2', 'a')];

    const response = await processFifoBatch(
      sqsEvent(records),
      scripted(() => new RedeliverAfterError(5), []),
      { queue, log },
    );

    expect(failed(response)).toEqual(records.map((r) => r.messageId));
    expect(log.lines).toEqual(
      records.map((r) => ({
        level: 'warn',
        message: 'visibility change failed; the message returns after the visibility timeout',
        attributes: { messageId: r.messageId, error: 'QueueUnavailable' },
      })),
    );
  });

  it('keeps apart two batches handled at the same time', async () => {
    const { queue, visibility } = recordingQueue();
    let open = (): void => undefined;
    const gate = new Promise<void>((resolve) => {
      open = resolve;
    });
    const [slow, fast] = [sqsRecord('s1', 'g'), sqsRecord('f1', 'g')];
    const work = async (r: SQSRecord) => {
      await gate;
      if (r.body === 's1') throw new RedeliverAfterError(9);
    };

    // Both batches are in before either record settles; their records share a group name.
    const both = Promise.all([
      processFifoBatch(sqsEvent([slow]), work, { queue, log: recordingLog() }),
      processFifoBatch(sqsEvent([fast]), work, { queue, log: recordingLog() }),
    ]);
    await new Promise((resolve) => setImmediate(resolve));
    open();

    expect((await both).map(failed)).toEqual([[slow.messageId], []]);
    expect(visibility).toEqual([[slow.receiptHandle, 9]]);
  });
});
