// A downstream's reply, sent to the user through Parley at most once per delivery: the delivery
// item's replyState is written before the call (`sending`), so a retry never sends it again.
import { DeliveryBusyError, ParleyError } from '../errors';
import { recordActivity } from '../lifecycle/activity';
import { isNotOwnerRefusal, MAX_MESSAGE_CHARS } from '../messages';
import type { DeliveryItem } from '../types';
import type { CallbackDeps } from './deps';
import { refusalDetails } from './refusals';

type ReplyDeps = Pick<
  CallbackDeps,
  'clock' | 'log' | 'metrics' | 'parley' | 'refreshOwner' | 'noteOwnerMessage' | 'state' | 'catalog'
>;

/** The delivery a reply belongs to: its item (replyState, lease) and a lease-fenced write. */
export interface ReplyDelivery {
  item: DeliveryItem;
  serviceId: string;
  ctx: Record<string, string | null>;
  /** Stores the reply state while the attempt holds its lease; else throws DeliveryBusyError. */
  setReplyState(replyState: DeliveryItem['replyState']): Promise<void>;
}

/** The reply of a downstream, sent at most once as the receiving Service. */
export async function replyOnce(
  deps: ReplyDeps,
  delivery: ReplyDelivery,
  userId: string,
  reply: string,
): Promise<void> {
  if (delivery.item.replyState !== 'none') {
    deps.log.info('reply not sent again', {
      ...delivery.ctx,
      replyState: delivery.item.replyState,
    });
    return;
  }
  const text = reply.trim();
  const length = [...text].length;
  if (length === 0) return;
  if (length > MAX_MESSAGE_CHARS) {
    await delivery.setReplyState('failed');
    deps.log.warn('reply not sent: too long', { ...delivery.ctx, length });
    return;
  }
  if (deps.clock.now() > delivery.item.leaseUntil) {
    // Another attempt may own the delivery by now; it decides about the reply.
    throw new DeliveryBusyError(delivery.item.deliveryId, delivery.item.leaseUntil);
  }
  await delivery.setReplyState('sending');
  try {
    await deps.parley(delivery.serviceId).sendMessage(userId, text);
  } catch (err) {
    if (err instanceof ParleyError && err.outcome === 'rejected') {
      await delivery.setReplyState('failed');
      deps.log.warn('reply refused by Parley', { ...delivery.ctx, ...refusalDetails(err) });
      if (isNotOwnerRefusal(err)) await refreshQuietly(deps, delivery, userId);
    } else {
      // It may have reached the user: stays `sending`, never sent again.
      deps.log.warn('reply outcome unknown; it will not be sent again', {
        ...delivery.ctx,
        error: err instanceof Error ? err.name : typeof err,
      });
    }
    return;
  }
  await delivery.setReplyState('sent');
  // The owner's activity on its lease; the reply is out whatever a handover marked first does.
  await recordActivity(userId, delivery.serviceId, 'owner', deps);
  await deps.noteOwnerMessage?.({ userId, serviceId: delivery.serviceId });
  deps.metrics.count('CallbackReplySent');
  deps.log.info('reply sent', { ...delivery.ctx, length });
}

/** The owner cache was wrong about this Service: fix it for the next callback, best effort. */
async function refreshQuietly(
  deps: ReplyDeps,
  delivery: ReplyDelivery,
  userId: string,
): Promise<void> {
  try {
    await deps.refreshOwner(userId, delivery.serviceId);
  } catch (err) {
    deps.log.warn('owner refresh after a refused reply failed', {
      ...delivery.ctx,
      error: err instanceof Error ? err.name : typeof err,
    });
  }
}
