// The notification types as a value (the configuration's `notify.events` is checked against it).
import type { NotificationType } from '../types';

/** Every NotificationType, in the order LIFECYCLE.md lists them. */
export const NOTIFICATION_TYPES = [
  'handover.completed',
  'handover.failed',
  'handover.observed',
  'offer.created',
  'offer.accepted',
  'offer.declined',
  'offer.expired',
  'offer.cancelled',
  'offer.superseded',
  'lease.expiring',
  'lease.expired',
  'failover.triggered',
] as const satisfies readonly NotificationType[];

// A type added to NotificationType but not here fails the build.
type Missing = Exclude<NotificationType, (typeof NOTIFICATION_TYPES)[number]>;
const _complete: Missing extends never ? true : never = true;
void _complete;
