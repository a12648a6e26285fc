// The outbox relay (run on a schedule): queues again the pending notifications whose message is
// gone, e.g. the writer died between the item's put and the queue send, or the queue refused it.
// Input: now. Output: counts of what it looked at and did, in one log line.
// Steps: page through pending items created before now - relayAfter, oldest first (bounded per
// run) -> keep the overdue ones: untouched for relayAfter past the moment their sender was due
// (on the write for a first attempt, after the backoff of the last one otherwise) -> per FIFO
// group, stop at the first item that is not overdue (the ones behind it wait in the queue behind
// it, in order) -> bump the item's updatedAt (CAS, so the next run waits again) and send it.
// A duplicate message is harmless: the queue drops one within its window, the sender one for a
// settled item. Order: a healed item may reach its receiver after later ones of the same user;
// its `seq` lets the receiver drop it as stale.
import type { CallbackQueue, Clock, Log, MetricsSink, NotificationStore } from '../ports';
import type { NotificationItem } from '../types';
import { DEFAULT_RETRY_SECONDS, retryDelaySeconds } from './backoff';
import { queueGroupOf } from './build';
import { queueNotification } from './emit';

export interface RelayDeps {
  notifications: NotificationStore;
  queue: Pick<CallbackQueue, 'send'>;
  clock: Clock;
  log: Log;
  metrics: MetricsSink;
  /** How long past due an item waits before it is queued again. @default 60000 */
  relayAfterMs?: number;
  /** @default DEFAULT_RETRY_SECONDS */
  retrySeconds?: readonly number[];
  /** Items looked at per run at most. @default 1000 */
  maxItems?: number;
  /** Items per store page. @default 100 */
  pageSize?: number;
}

export interface RelaySummary {
  examined: number;
  requeued: number;
  /** Waiting behind an earlier notification of the same Service and user. */
  waiting: number;
  /** Not yet overdue. */
  notDue: number;
  /** The send failed (the next run tries again). */
  failed: number;
  /** More pending items were left for the next run. */
  more: boolean;
}

/** When the sender should have touched the item by (ms): its write, or after its last backoff. */
export const dueAtMs = (item: NotificationItem, retrySeconds: readonly number[]): number =>
  Date.parse(item.updatedAt) +
  (item.attempts > 0 ? retryDelaySeconds(item.attempts, retrySeconds) * 1000 : 0);

export async function relayPending(deps: RelayDeps): Promise<RelaySummary> {
  const relayAfterMs = deps.relayAfterMs ?? 60_000;
  const schedule = deps.retrySeconds ?? DEFAULT_RETRY_SECONDS;
  const maxItems = deps.maxItems ?? 1000;
  const nowMs = deps.clock.now();
  const before = new Date(nowMs - relayAfterMs).toISOString();
  const summary: RelaySummary = {
    examined: 0,
    requeued: 0,
    waiting: 0,
    notDue: 0,
    failed: 0,
    more: false,
  };
  /** FIFO groups whose head is still in the sender's hands: the rest of the group waits. */
  const held = new Set<string>();
  let cursor: string | undefined;
  do {
    const limit = Math.min(deps.pageSize ?? 100, maxItems - summary.examined);
    const page = await deps.notifications.listPendingBefore(before, { limit, cursor });
    cursor = page.cursor;
    for (const item of page.items) {
      summary.examined += 1;
      const group = queueGroupOf(item);
      if (held.has(group)) {
        summary.waiting += 1;
        continue;
      }
      if (nowMs - dueAtMs(item, schedule) < relayAfterMs) {
        held.add(group);
        summary.notDue += 1;
        continue;
      }
      const touched: NotificationItem = {
        ...item,
        updatedAt: new Date(nowMs).toISOString(),
        version: item.version + 1,
      };
      // Lost: the sender changed it just now, so it is not lost after all.
      if (!(await deps.notifications.compareAndSet(touched, item.version))) {
        held.add(group);
        continue;
      }
      if (await queueNotification(touched, deps)) summary.requeued += 1;
      else summary.failed += 1;
    }
  } while (cursor && summary.examined < maxItems);
  summary.more = cursor !== undefined;
  if (summary.requeued > 0) deps.metrics.count('NotificationRequeued', summary.requeued);
  deps.log.info('notification relay', { ...summary });
  return summary;
}
