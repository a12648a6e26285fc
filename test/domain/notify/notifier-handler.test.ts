// The notifier handler (functions/handlers/notifier.ts) with events built by the factory and the
// use case's outcomes scripted: what goes back to the queue, and after how long.
import type { SQSBatchResponse, SQSEvent } from 'aws-lambda';
import { makeHandler } from '../../../functions/handlers/notifier';
import type { SendOutcome } from '../../../functions/domain/notify/send';
import type { AppDeps } from '../../../functions/platform/deps';
import { stageConfigSchema } from '../../../functions/schemas/config';
import { sqsEvent, sqsRecord } from '../../support/events';
import {
  AGENT,
  BOT,
  FakeNotificationStore,
  recordingLog,
  recordingMetrics,
} from '../../support/fakes';
import { capturingQueue } from './world';

const world = (outcomes: Record<string, SendOutcome | Error>) => {
  const visibility: [string, number][] = [];
  const queue = Object.assign(capturingQueue(), {
    async changeVisibility(receiptHandle: string, seconds: number) {
      visibility.push([receiptHandle, seconds]);
    },
  });
  const deps = {
    config: stageConfigSchema.parse({
      stage: 'test',
      accountIdentification: 'acc-1',
      parley: { baseUrl: 'https://parley.example' },
      services: [{ identification: BOT, name: 'Bot Service', role: 'bot' }],
    }),
    clock: { now: () => Date.parse('2026-03-10T14:00:00.000Z') },
    log: recordingLog(),
    metrics: recordingMetrics(),
    notifications: new FakeNotificationStore(),
    notifyQueue: queue,
  } as unknown as AppDeps;
  const sent: string[] = [];
  const handler = makeHandler(async () => deps, {
    send: async (id) => {
      sent.push(id);
      const outcome = outcomes[id] ?? { outcome: 'sent', status: 200 };
      if (outcome instanceof Error) throw outcome;
      return outcome;
    },
  });
  /** A queue event's answer (the scheduled run answers its summary instead). */
  const batch = async (event: SQSEvent) => (await handler(event)) as SQSBatchResponse;
  return { handler, batch, visibility, sent, deps };
};

const record = (id: string, group: string) => sqsRecord(JSON.stringify({ id }), group);

describe('the notifier handler', () => {
  it('sends each queued id and deletes the records that are done', async () => {
    const w = world({ n2: { outcome: 'duplicate', status: 'sent' } });
    const event = sqsEvent([record('n1', `${BOT}#1`), record('n2', `${AGENT}#1`)]);
    expect(await w.batch(event)).toEqual({ batchItemFailures: [] });
    expect(w.sent).toEqual(['n1', 'n2']);
    expect(w.visibility).toEqual([]);
  });

  it('brings a retry back after its delay, and the later records of its group with it', async () => {
    const w = world({ a1: { outcome: 'retry', delaySeconds: 30, status: 503 } });
    const [a1, a2, b1] = [
      record('a1', `${AGENT}#7`),
      record('a2', `${AGENT}#7`),
      record('b1', `${BOT}#7`),
    ];
    const response = await w.batch(sqsEvent([a1!, a2!, b1!]));

    expect(response.batchItemFailures.map((f) => f.itemIdentifier)).toEqual([
      a1!.messageId,
      a2!.messageId,
    ]);
    expect(w.sent).toEqual(['a1', 'b1']); // a2 waits behind a1, untried
    expect(w.visibility).toEqual([
      [a1!.receiptHandle, 30],
      [a2!.receiptHandle, 30],
    ]);
  });

  it('fails an expired notification at once each time, so the queue parks it in the DLQ', async () => {
    const w = world({ x: { outcome: 'expired' } });
    const x = record('x', `${AGENT}#9`);
    const response = await w.batch(sqsEvent([x]));
    expect(response.batchItemFailures).toEqual([{ itemIdentifier: x.messageId }]);
    expect(w.visibility).toEqual([[x.receiptHandle, 0]]);
  });

  it('leaves a record the notifier could not work on to the visibility timeout, and drops an unreadable one', async () => {
    const w = world({ y: new Error('ServiceUnavailable') });
    const y = record('y', `${AGENT}#3`);
    const junk = sqsRecord('not json', `${AGENT}#4`);
    const response = await w.batch(sqsEvent([y, junk]));
    expect(response.batchItemFailures).toEqual([{ itemIdentifier: y.messageId }]);
    expect(w.visibility).toEqual([]);
    const lines = (w.deps.log as ReturnType<typeof recordingLog>).lines.map((l) => l.message);
    expect(lines).toEqual([
      'notification attempt failed in the notifier; will retry',
      'unreadable notify queue record',
    ]);
  });

  it('runs the relay on a scheduled event', async () => {
    const w = world({});
    const summary = await w.handler({ source: 'aws.events', 'detail-type': 'Scheduled Event' });
    expect(summary).toEqual({
      examined: 0,
      requeued: 0,
      waiting: 0,
      notDue: 0,
      failed: 0,
      more: false,
    });
  });
});
