// The outbox as operators see it: the listing auditors and operators read (GET /notifications)
// and the redelivery an operator asks for (POST /notifications/{id}/redeliver), notifications and
// actions alike (`kind` tells them apart). The listing never carries an item's body: the body
// holds the new owner's metadata, which is not the auditors'.
import { NotificationBusyError, NotificationNotFoundError } from '../errors';
import type {
  CallbackQueue,
  Clock,
  Log,
  MetricsSink,
  NotificationStore,
  NotificationSummary,
  ServiceCatalog,
} from '../ports';
import type { NotificationItem, NotificationStatus, Page } from '../types';
import { notifyMessage } from './emit';

export interface NotificationRouteDeps {
  notifications: NotificationStore;
  notifyQueue: CallbackQueue;
  catalog: ServiceCatalog;
  clock: Clock;
  log: Log;
  metrics: MetricsSink;
}

/** One outbox item as listed: the store's summary (everything but its body and its CAS version). */
export type NotificationView = NotificationSummary;

/** Field by field, so nothing else a summary object carries reaches the answer. */
export const toNotificationView = (item: NotificationSummary): NotificationView => ({
  id: item.id,
  kind: item.kind,
  type: item.type,
  recipient: item.recipient,
  userId: item.userId,
  seq: item.seq,
  handoverId: item.handoverId,
  status: item.status,
  attempts: item.attempts,
  lastStatus: item.lastStatus,
  lastError: item.lastError,
  createdAt: item.createdAt,
  updatedAt: item.updatedAt,
  sentAt: item.sentAt,
});

/**
 * A page of the outbox, newest first.
 * Input: optional `service` (identification, name or "default"), `status`, `limit`, `cursor`.
 * Output: `{ items, cursor? }`. Steps: resolve the service (400 unknown_service) -> the store's
 * page -> views without bodies.
 */
export async function listNotifications(
  query: { service?: string; status?: NotificationStatus; limit: number; cursor?: string },
  deps: Pick<NotificationRouteDeps, 'notifications' | 'catalog'>,
): Promise<Page<NotificationView>> {
  const service =
    query.service === undefined
      ? undefined
      : (await deps.catalog.resolve(query.service)).identification;
  const page = await deps.notifications.list({
    limit: query.limit,
    ...(service !== undefined ? { service } : {}),
    ...(query.status !== undefined ? { status: query.status } : {}),
    ...(query.cursor !== undefined ? { cursor: query.cursor } : {}),
  });
  return {
    items: page.items.map(toNotificationView),
    ...(page.cursor !== undefined ? { cursor: page.cursor } : {}),
  };
}

/** Reads of the item before giving up on one the sender keeps changing. */
const REDELIVER_ATTEMPTS = 3;

/**
 * Sends a notification again, sent or failed alike.
 * Input: the id, the operator and an optional reason. Output: `{ id, status: 'pending' }`.
 * Steps: read (404 notification_not_found) -> CAS back to pending (attempts and the last outcome
 * kept, version + 1; a lost CAS reads again, 409 notification_busy after a few) -> enqueue with
 * a fresh deduplication id (`{id}#redeliver#{version}`, so the queue does not drop it as a repeat
 * of the first send) -> log who asked and why. A failed enqueue still answers: the item is
 * pending in the outbox, and the relay queues pending items a writer left behind.
 */
export async function redeliverNotification(
  id: string,
  request: { operator: string; reason?: string },
  deps: NotificationRouteDeps,
): Promise<{ id: string; status: 'pending' }> {
  for (let attempt = 0; attempt < REDELIVER_ATTEMPTS; attempt++) {
    const item = await deps.notifications.get(id);
    if (!item) throw new NotificationNotFoundError();
    const pending: NotificationItem = {
      ...item,
      status: 'pending',
      version: item.version + 1,
      updatedAt: new Date(deps.clock.now()).toISOString(),
    };
    if (!(await deps.notifications.compareAndSet(pending, item.version))) continue;
    const context = {
      notificationId: id,
      handoverId: item.handoverId,
      previousStatus: item.status,
      attempts: item.attempts,
      requestedBy: `operator:${request.operator}`,
      ...(request.reason !== undefined ? { reason: request.reason } : {}),
    };
    try {
      await deps.notifyQueue.send(notifyMessage(pending, { redelivery: true }));
    } catch (err) {
      deps.log.warn('redeliver enqueue failed; the outbox relay sends it', {
        ...context,
        error: (err as Error).name,
      });
      deps.metrics.count('NotificationRedeliverEnqueueFailed');
    }
    deps.log.info('notification redelivery requested', context);
    deps.metrics.count('NotificationRedelivered');
    return { id, status: 'pending' };
  }
  throw new NotificationBusyError();
}
