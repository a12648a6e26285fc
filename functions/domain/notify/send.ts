// The sender's use case: one attempt at one queued notification.
// Input: the notification id a queue message carries. Output: what the queue should do with the
// message (done, or again in N seconds, or fail it until the queue moves it to its DLQ).
// Steps: read the item (none: done) -> settled already: done (a duplicate message) -> POST the
// stored body, signed, to the recipient's notify url -> classify the answer -> write the outcome
// with a compare-and-set on the item's version.
// - 2xx: `sent`;
// - 400, 401, 403, 404, 410: `failed`, no retry (the receiver refused it for good);
// - anything else (5xx, 429, a timeout, no connection): one attempt more, and again after the
//   backoff for this attempt; once 24 h have passed since the event: `failed`, and the message
//   goes to the DLQ (`expired`: the handler fails it until the queue's receive limit moves it).
// At-least-once: a receiver that answered but whose answer was lost gets it again, with the same
// id (X-Handover-Delivery, webhook-id) to drop it by.
// An action (`kind: 'action'`, e.g. parley.agent_unset) goes through the same steps with
// `runAction` in place of the POST: ok -> sent, refused -> failed, retry -> the same backoff.
import type {
  Clock,
  Downstream,
  Log,
  MetricsSink,
  NotificationStore,
  ServiceCatalog,
} from '../ports';
import { hostOf } from '../signature';
import type { NotificationItem, NotificationStatus } from '../types';
import { DEFAULT_RETRY_SECONDS, NOTIFY_MAX_AGE_MS, nextDelaySeconds } from './backoff';
import { notifyUrlOf } from './build';
import { notificationHeaders } from './sign';

export interface SendDeps {
  notifications: NotificationStore;
  downstream: Downstream;
  /** The configured Services (no I/O): where each one's notifications go. */
  services: Pick<ServiceCatalog, 'get'>;
  /** A Service's signing secret, if it has one. */
  signingSecret: (serviceId: string) => Promise<string | undefined>;
  clock: Clock;
  log: Log;
  metrics: MetricsSink;
  /** One attempt's timeout (the stage's downstreamTimeoutMs). */
  downstreamTimeoutMs: number;
  /** @default DEFAULT_RETRY_SECONDS (2, 10, 30, then doubling) */
  retrySeconds?: readonly number[];
  /** @default NOTIFY_MAX_AGE_MS (24 h) */
  maxAgeMs?: number;
  /**
   * Runs an item of kind `action` (work for the sender that no Service receives; notify/actions.ts
   * in the notifier). Without it such an item waits, retried, for a notifier that has one.
   */
  runAction?: (item: NotificationItem) => Promise<AttemptResult>;
}

/** What one attempt came to. */
export type AttemptResult =
  | { result: 'ok'; status: number | null }
  | {
      result: 'refused';
      status: number | null;
      error: string;
      /** Nothing went wrong: the work no longer applies (an action superseded). Not counted. */
      moot?: true;
    }
  | { result: 'retry'; status: number | null; error: string };

export type SendOutcome =
  | { outcome: 'missing' }
  | { outcome: 'duplicate'; status: NotificationStatus }
  | { outcome: 'sent'; status: number | null }
  | { outcome: 'failed'; status: number | null; error: string }
  | { outcome: 'retry'; delaySeconds: number; status: number | null }
  | { outcome: 'expired' };

/** Answers that say "never send this here again": no retry. */
export const REFUSED_STATUSES: ReadonlySet<number> = new Set([400, 401, 403, 404, 410]);

/** Answers that say the receiver is set up wrong (a metric operators alarm on). */
const MISCONFIGURED_STATUSES: ReadonlySet<number> = new Set([401, 403, 404]);

const EXPIRED = 'expired';

/** A failed item whose retries ran out: its message belongs in the DLQ. */
export const isExpired = (item: NotificationItem): boolean =>
  item.status === 'failed' && (item.lastError ?? '').startsWith(EXPIRED);

const isTimeout = (err: unknown): boolean =>
  err instanceof Error &&
  (err.name === 'TimeoutError' ||
    err.name === 'AbortError' ||
    (err as { timedOut?: unknown }).timedOut === true);

/** Classifies an HTTP answer (or its absence) into the outcome of the attempt. */
export function classifyAnswer(status: number | null, problem?: string): AttemptResult {
  if (status === null) return { result: 'retry', status, error: problem ?? 'unreachable' };
  if (status >= 200 && status <= 299) return { result: 'ok', status };
  if (REFUSED_STATUSES.has(status)) return { result: 'refused', status, error: `status ${status}` };
  return { result: 'retry', status, error: `status ${status}` };
}

async function post(item: NotificationItem, deps: SendDeps): Promise<AttemptResult> {
  const service = deps.services.get(item.recipient);
  const url = service && notifyUrlOf(service);
  if (!url) return { result: 'refused', status: null, error: 'no notify url' };
  const secret = await deps.signingSecret(item.recipient);
  const timestamp = Math.floor(deps.clock.now() / 1000);
  const headers = notificationHeaders(secret, item.id, timestamp, item.body);
  try {
    const response = await deps.downstream.post(url, item.body, headers, deps.downstreamTimeoutMs);
    return classifyAnswer(response.status);
  } catch (err) {
    return classifyAnswer(null, isTimeout(err) ? 'timeout' : 'unreachable');
  }
}

/**
 * Writes `change` onto the item with a CAS on its version; when the item changed meanwhile (the
 * relay re-queued it) the change is made again on what is stored now. `lost`: the stored item is
 * settled already (another attempt got there), with its status.
 */
async function settle(
  item: NotificationItem,
  change: (current: NotificationItem) => Partial<NotificationItem>,
  deps: SendDeps,
): Promise<{ item: NotificationItem } | { lost: NotificationStatus }> {
  let current = item;
  for (let tries = 0; tries < 3; tries += 1) {
    const next = { ...current, ...change(current), version: current.version + 1 };
    if (await deps.notifications.compareAndSet(next, current.version)) return { item: next };
    const fresh = await deps.notifications.get(item.id);
    if (!fresh) return { lost: 'failed' };
    if (fresh.status !== 'pending') return { lost: fresh.status };
    current = fresh;
  }
  throw new Error('The notification kept changing while its outcome was written.');
}

export async function sendNotification(id: string, deps: SendDeps): Promise<SendOutcome> {
  const item = await deps.notifications.get(id);
  const ctx = { notificationId: id };
  if (!item) {
    deps.log.warn('queued notification not found', ctx);
    return { outcome: 'missing' };
  }
  if (item.status !== 'pending') {
    if (isExpired(item)) return { outcome: 'expired' };
    deps.log.info('notification already settled', { ...ctx, status: item.status });
    return { outcome: 'duplicate', status: item.status };
  }

  const isAction = item.kind === 'action';
  let attempt: AttemptResult;
  if (!isAction) attempt = await post(item, deps);
  else if (deps.runAction) attempt = await deps.runAction(item);
  else attempt = { result: 'retry', status: null, error: 'no runner for this action' };

  const nowMs = deps.clock.now();
  const nowIso = new Date(nowMs).toISOString();
  const service = deps.services.get(item.recipient);
  // An action goes to Parley, never to the Service's url.
  const url = !isAction && service ? notifyUrlOf(service) : undefined;
  const what = isAction ? 'action' : 'notification';
  /** An action that will not happen: the user may still see an agent (an existing metric). */
  const actionLost = () => {
    if (isAction) deps.metrics.count('AgentUnsetFailed');
  };
  const fields = {
    ...ctx,
    type: item.type,
    recipient: item.recipient,
    handoverId: item.handoverId,
    host: url ? hostOf(url) : null,
    status: attempt.status,
  };
  const tried = (c: NotificationItem) => ({
    attempts: c.attempts + 1,
    lastStatus: attempt.status,
    updatedAt: nowIso,
  });

  if (attempt.result === 'ok') {
    const done = await settle(
      item,
      (c) => ({ ...tried(c), status: 'sent', lastError: null, sentAt: nowIso }),
      deps,
    );
    if ('lost' in done) return { outcome: 'duplicate', status: done.lost };
    deps.metrics.count('NotificationSent');
    deps.log.info(isAction ? 'action done' : 'notification sent', {
      ...fields,
      attempts: done.item.attempts,
    });
    return { outcome: 'sent', status: attempt.status };
  }

  const error = attempt.error;
  if (attempt.result === 'refused') {
    const done = await settle(
      item,
      (c) => ({ ...tried(c), status: 'failed', lastError: `refused: ${error}` }),
      deps,
    );
    if ('lost' in done) return { outcome: 'duplicate', status: done.lost };
    if (attempt.moot) {
      deps.log.info(`${what} not needed any more; not run`, { ...fields, error });
      return { outcome: 'failed', status: attempt.status, error };
    }
    deps.metrics.count('NotificationFailed');
    actionLost();
    // Parley refusing an action says nothing about the Service's receiver.
    if (!isAction && attempt.status !== null && MISCONFIGURED_STATUSES.has(attempt.status)) {
      deps.metrics.count('DownstreamMisconfigured');
    }
    deps.log.warn(`${what} refused; not retried`, {
      ...fields,
      error,
      attempts: done.item.attempts,
    });
    return { outcome: 'failed', status: attempt.status, error };
  }

  const delay = nextDelaySeconds(
    item.attempts + 1,
    Date.parse(item.createdAt),
    nowMs,
    deps.retrySeconds ?? DEFAULT_RETRY_SECONDS,
    deps.maxAgeMs ?? NOTIFY_MAX_AGE_MS,
  );
  if (delay === null) {
    const done = await settle(
      item,
      (c) => ({
        ...tried(c),
        status: 'failed',
        lastError: `${EXPIRED} after ${c.attempts + 1} attempts (last: ${error})`,
      }),
      deps,
    );
    if ('lost' in done) return { outcome: 'duplicate', status: done.lost };
    deps.metrics.count('NotificationFailed');
    actionLost();
    deps.log.error(`${what} out of retries; to the DLQ`, {
      ...fields,
      error,
      attempts: done.item.attempts,
    });
    return { outcome: 'expired' };
  }
  const done = await settle(item, (c) => ({ ...tried(c), lastError: error }), deps);
  if ('lost' in done) return { outcome: 'duplicate', status: done.lost };
  deps.metrics.count('NotificationRetried');
  deps.log.warn(`${what} failed; will retry`, {
    ...fields,
    error,
    attempts: done.item.attempts,
    delaySeconds: delay,
  });
  return { outcome: 'retry', delaySeconds: delay, status: attempt.status };
}
