// The outbox's writer: after a history record is stored, the notifications and actions it causes
// are written (conditional on their id: a retry writes nothing new) and then queued for the sender.
// Input: the record as stored. Output: the items it causes.
// Steps: build the items -> put each (an existing one is left as it is) -> send its id to the
// FIFO notify queue. The one builder of the queue's messages (notifyMessage) lives here.
// A failed put throws: the caller's pending marker then stays, and whoever finishes the handover
// (a retry, recovery) writes the record's notifications again. A failed send is only logged: the
// item is stored and pending, the relay queues it, and the request that wrote the record must not
// fail for it.
import type { CallbackQueue, Clock, Log, NotificationStore, ServiceCatalog } from '../ports';
import type { HandoverRecord, NotificationItem } from '../types';
import { outboxItemsFor, queueGroupOf, queueIdOf } from './build';

export interface EmitDeps {
  notifications: NotificationStore;
  /** The FIFO notify queue. */
  queue: Pick<CallbackQueue, 'send'>;
  /** The configured Services (no I/O). */
  services: Pick<ServiceCatalog, 'get'>;
  clock: Clock;
  log: Log;
}

/**
 * The queue message of an item: its id as the body, in its FIFO group (queueGroupOf),
 * deduplicated on the id; a redelivery on `{id}#redeliver#{version}` (hashed when SQS could not
 * take it), so the queue does not drop it as a repeat of the first send.
 */
export const notifyMessage = (
  item: Pick<NotificationItem, 'id' | 'kind' | 'recipient' | 'userId' | 'version'>,
  options: { redelivery?: boolean } = {},
): { groupId: string; dedupId: string; body: string } => ({
  groupId: queueGroupOf(item),
  dedupId: options.redelivery ? queueIdOf(`${item.id}#redeliver#${item.version}`) : item.id,
  body: JSON.stringify({ id: item.id }),
});

/** Sends an item's message; false (logged) when the queue refused it. */
export async function queueNotification(
  item: NotificationItem,
  deps: Pick<EmitDeps, 'queue' | 'log'>,
): Promise<boolean> {
  try {
    await deps.queue.send(notifyMessage(item));
    return true;
  } catch (err) {
    deps.log.warn('notification not queued; the relay will send it', {
      notificationId: item.id,
      handoverId: item.handoverId,
      error: err instanceof Error ? err.name : typeof err,
    });
    return false;
  }
}

export async function emitNotifications(
  record: HandoverRecord,
  deps: EmitDeps,
): Promise<NotificationItem[]> {
  const items = outboxItemsFor(record, deps.services, new Date(deps.clock.now()).toISOString());
  for (const item of items) {
    const created = await deps.notifications.put(item);
    if (!created) {
      deps.log.info('notification already written', {
        notificationId: item.id,
        handoverId: item.handoverId,
      });
    }
    // Queued again even when it existed: the earlier writer may have died before its send. The
    // queue drops a repeat within its window; the sender drops one for a settled item.
    await queueNotification(item, deps);
  }
  return items;
}
