// The dead-letter queues' depths (the `QueueDepths` port) of the local queues: the messages each
// one's DLQ holds. Nothing receives from a local DLQ (a redrive moves its messages at once), so
// none is ever in flight there.
import type { QueueDepths } from '../../functions/domain/ports';
import type { LocalQueue } from './local-queue';

export const localDeadLetterDepths = (
  queues: readonly { name: string; queue: Pick<LocalQueue, 'listDlq'> }[],
): QueueDepths => ({
  depths: () =>
    Promise.all(
      queues.map(async ({ name, queue }) => ({
        name,
        visible: (await queue.listDlq()).length,
        inFlight: 0,
      })),
    ),
});
