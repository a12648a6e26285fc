// `lease.expiring` (issue 15): the sweep's warning to the owner that its lease of a user runs out
// soon. No history record stands behind it, so its outbox item is keyed by a stable synthetic id,
// `lease:{userId}:{expiresAt}` in place of a handover id: a sweep that runs again for the same
// lease writes nothing new, and a lease moved by activity warns again under a new id. Its `seq` is
// the user's last record's (the handover that started the lease).
import { canonicalJson } from '../canonical';
import type { LeaseState } from '../lifecycle/types';
import type { NotificationItem, OwnerItem } from '../types';
import { notificationId, wants } from './build';
import { type EmitDeps, queueNotification } from './emit';

const TYPE = 'lease.expiring';

/** The synthetic handover id of a lease's warning. */
export const leaseWarningKey = (userId: string, lease: LeaseState): string =>
  `lease:${userId}:${lease.expiresAt}`;

export interface LeaseWarning {
  item: Pick<OwnerItem, 'userId' | 'owner' | 'lastSeq'>;
  lease: LeaseState;
  /** When the warning fell due (ISO): its createdAt, the same for every writer. */
  dueAt: string;
  /** Where the user goes when it runs out (an identification). */
  onExpiry: string;
}

/** The owner's `lease.expiring` item, or null when it wants none (no url, not in its events). */
export function leaseWarningItem(
  warning: LeaseWarning,
  services: EmitDeps['services'],
  nowIso: string,
): NotificationItem | null {
  const { item, lease } = warning;
  const service = services.get(item.owner);
  if (!service || !wants(service, TYPE)) return null;
  const handoverId = leaseWarningKey(item.userId, lease);
  const id = notificationId(handoverId, TYPE, item.owner);
  const body = canonicalJson({
    id,
    type: TYPE,
    createdAt: warning.dueAt,
    userId: item.userId,
    seq: item.lastSeq,
    handoverId,
    from: item.owner,
    to: warning.onExpiry,
    reason: 'lease_expiring',
    source: 'timeout',
    requestedBy: 'system:lease',
    lease: {
      expiresAt: lease.expiresAt,
      hardExpiresAt: lease.hardExpiresAt,
      lastUserAt: lease.lastUserAt,
      lastOwnerAt: lease.lastOwnerAt,
    },
  });
  return {
    id,
    kind: 'notification',
    type: TYPE,
    recipient: item.owner,
    userId: item.userId,
    seq: item.lastSeq,
    handoverId,
    body,
    status: 'pending',
    attempts: 0,
    lastStatus: null,
    lastError: null,
    createdAt: warning.dueAt,
    updatedAt: nowIso,
    sentAt: null,
    version: 1,
  };
}

/**
 * Writes the warning (on its id's absence: a second writer writes nothing) and queues it; a
 * failed put throws (the sweep then leaves the lease unwarned and tries again), a failed send is
 * left to the relay. Output: the item, or null when the owner wants none.
 */
export async function emitLeaseWarning(
  warning: LeaseWarning,
  deps: EmitDeps,
): Promise<NotificationItem | null> {
  const item = leaseWarningItem(warning, deps.services, new Date(deps.clock.now()).toISOString());
  if (!item) return null;
  if (!(await deps.notifications.put(item))) {
    deps.log.info('notification already written', {
      notificationId: item.id,
      handoverId: item.handoverId,
    });
  }
  await queueNotification(item, deps);
  return item;
}
