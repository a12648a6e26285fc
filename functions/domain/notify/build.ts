// Which notifications a history record causes (LIFECYCLE.md "Notifications"), built as outbox
// items. Pure: the same record and configuration always give the same items, byte for byte, so a
// writer that runs again after a crash writes nothing new (the ids are taken).
//
// - completed handover (api, rule, downstream, operator, offer): `handover.completed` to
//   the old owner, the new owner and the requesting Service;
// - failed handover: `handover.failed` to the requesting Service;
// - observed (a change made at Parley): `handover.observed` to the old and the new owner;
// - failover: `failover.triggered` to the old and the new owner;
// - timeout (a lease ran out): `lease.expired` to the old and the new owner;
// - an offer's records and its handovers: `offer.*` (offers/notify.ts), the body with `offer`.
// Each recipient once, and only a configured Service with a notify url (notify.url, else its
// downstreamUrl) whose `events` (default: all) include the type.
// Besides notifications, one action: after a completed change (not observed) to a `bot` Service,
// `parley.agent_unset` run as that bot by the sender, so the user no longer sees a human agent.
// It is outbox work rather than a request's second Parley call: retried, its outcome recorded.
import { createHash } from 'node:crypto';
import { canonicalJson } from '../canonical';
import { sha256Hex } from '../chain';
import { QUEUE_ID } from '../delivery';
import { offerAudience, offerMetadataFor } from '../offers/notify';
import type { ServiceCatalog } from '../ports';
import type { HandoverRecord, NotificationItem, NotificationType, ServiceInfo } from '../types';

/** The Service a `requestedBy` names, or null for actors that are no Service. */
export function requestingService(requestedBy: string): string | null {
  if (requestedBy.startsWith('rule:')) return requestedBy.slice('rule:'.length) || null;
  // system:*, operator:* and parley (an observed change) ask for no notification.
  if (requestedBy === 'parley' || /^(system|operator):/.test(requestedBy)) return null;
  return requestedBy;
}

/** The type a record causes and who would get it, before the configuration has its say. */
export function audienceOf(
  record: HandoverRecord,
): { type: NotificationType; recipients: string[] } | null {
  // An offer's records (and an offer's handovers) have types of their own (offers/notify.ts).
  const offered = offerAudience(record);
  if (offered) return offered;
  if (record.kind === 'offer') return null;
  const requester = requestingService(record.requestedBy);
  const ends = [record.fromOwner, record.toOwner];
  let type: NotificationType;
  let candidates: (string | null)[];
  if (record.status === 'failed') {
    type = 'handover.failed';
    candidates = [requester];
  } else if (record.source === 'observed') {
    type = 'handover.observed';
    candidates = ends;
  } else if (record.source === 'failover') {
    type = 'failover.triggered';
    candidates = ends;
  } else if (record.source === 'timeout') {
    // A lease that ran out: both sides hear why the user moved (the system asked, no requester).
    type = 'lease.expired';
    candidates = ends;
  } else {
    type = 'handover.completed';
    candidates = [...ends, requester];
  }
  const recipients = [...new Set(candidates.filter((c): c is string => !!c))];
  return recipients.length > 0 ? { type, recipients } : null;
}

/** Where a Service's notifications go: notify.url, else its downstreamUrl; none without both. */
export const notifyUrlOf = (service: ServiceInfo): string | undefined =>
  service.notify?.url ?? service.downstreamUrl;

export const wants = (service: ServiceInfo, type: NotificationType): boolean =>
  notifyUrlOf(service) !== undefined && (service.notify?.events?.includes(type) ?? true);

/** `ntf_` + the first 22 characters of base64url(SHA-256 of `NOTIFY#{handoverId}#{type}#{to}`). */
export function notificationId(handoverId: string, type: string, recipient: string): string {
  const digest = createHash('sha256')
    .update(`NOTIFY#${handoverId}#${type}#${recipient}`, 'utf8')
    .digest('base64url');
  return `ntf_${digest.slice(0, 22)}`;
}

/** `readable` when SQS takes it as a group or deduplication id, else `h-{sha256(readable)}`. */
export const queueIdOf = (readable: string): string =>
  // A readable id always has a `#`, a hashed one never: the two forms cannot meet.
  QUEUE_ID.test(readable) ? readable : `h-${sha256Hex(readable)}`;

/**
 * The FIFO group of a notification: `{recipient}#{userId}`, so one Service hears about one user in
 * order; hashed when that would be no valid SQS group id (too long, or characters SQS refuses).
 */
export const notifyGroupId = (recipient: string, userId: string): string =>
  queueIdOf(`${recipient}#${userId}`);

/**
 * The FIFO group of an item: a notification's `{recipient}#{userId}`; an action's
 * `action#{userId}`, so a user's actions run in order and never wait behind a notification to a
 * slow receiver (that group may be in a backoff of hours).
 */
export const queueGroupOf = (item: Pick<NotificationItem, 'kind' | 'recipient' | 'userId'>) =>
  item.kind === 'action'
    ? queueIdOf(`action#${item.userId}`)
    : notifyGroupId(item.recipient, item.userId);

/**
 * The body a recipient gets. `metadata` only for the new owner of a completed change (null when
 * the record has none); for every other recipient the key is absent. Canonical JSON (RFC 8785),
 * so the bytes do not depend on the order a store kept the metadata's keys in.
 */
export function notificationBody(
  record: HandoverRecord,
  type: NotificationType,
  recipient: string,
  id: string,
): string {
  const body: Record<string, unknown> = {
    id,
    type,
    createdAt: record.createdAt,
    userId: record.userId,
    seq: record.seq,
    handoverId: record.handoverId,
    from: record.fromOwner,
    to: record.toOwner,
    reason: record.reason,
    source: record.source,
    requestedBy: record.requestedBy,
  };
  if (record.offer) body.offer = record.offer;
  const withMetadata = record.offer
    ? offerMetadataFor(record, recipient)
    : record.status === 'completed' && recipient === record.toOwner;
  if (withMetadata) body.metadata = record.metadata ?? null;
  return canonicalJson(body);
}

/**
 * The outbox items a record causes, for the Services `services` knows (configuration, no I/O).
 * `nowIso` is when they are written; `createdAt` is the record's, so every writer agrees.
 */
export function notificationsFor(
  record: HandoverRecord,
  services: Pick<ServiceCatalog, 'get'>,
  nowIso: string,
): NotificationItem[] {
  const audience = audienceOf(record);
  if (!audience) return [];
  const items: NotificationItem[] = [];
  for (const recipient of audience.recipients) {
    const service = services.get(recipient);
    if (!service || !wants(service, audience.type)) continue;
    const id = notificationId(record.handoverId, audience.type, recipient);
    items.push(
      pendingItem(record, nowIso, {
        id,
        kind: 'notification',
        type: audience.type,
        recipient,
        body: notificationBody(record, audience.type, recipient, id),
      }),
    );
  }
  return items;
}

/** The action that clears Parley's agent label after a hand-back to a bot. */
export const AGENT_UNSET = 'parley.agent_unset';

/**
 * The actions a record causes: `parley.agent_unset` as the new owner when a completed change that
 * was not observed (Parley made that one itself) moved the user to a configured `bot` Service.
 * Whatever the bot's notify settings: this is work for Parley, not a message to the bot.
 */
export function actionsFor(
  record: HandoverRecord,
  services: Pick<ServiceCatalog, 'get'>,
  nowIso: string,
): NotificationItem[] {
  if ((record as { kind?: unknown }).kind === 'offer') return [];
  if (record.status !== 'completed' || record.source === 'observed') return [];
  if (services.get(record.toOwner)?.role !== 'bot') return [];
  const id = notificationId(record.handoverId, AGENT_UNSET, record.toOwner);
  // Never sent anywhere: it says what the item is about, for whoever reads the outbox.
  const body = canonicalJson({
    id,
    type: AGENT_UNSET,
    userId: record.userId,
    seq: record.seq,
    handoverId: record.handoverId,
  });
  return [
    pendingItem(record, nowIso, {
      id,
      kind: 'action',
      type: AGENT_UNSET,
      recipient: record.toOwner,
      body,
    }),
  ];
}

/** Everything a record puts in the outbox: its notifications, then its actions. */
export const outboxItemsFor = (
  record: HandoverRecord,
  services: Pick<ServiceCatalog, 'get'>,
  nowIso: string,
): NotificationItem[] => [
  ...notificationsFor(record, services, nowIso),
  ...actionsFor(record, services, nowIso),
];

function pendingItem(
  record: HandoverRecord,
  nowIso: string,
  fields: Pick<NotificationItem, 'id' | 'kind' | 'type' | 'recipient' | 'body'>,
): NotificationItem {
  return {
    ...fields,
    userId: record.userId,
    seq: record.seq,
    handoverId: record.handoverId,
    status: 'pending',
    attempts: 0,
    lastStatus: null,
    lastError: null,
    createdAt: record.createdAt,
    updatedAt: nowIso,
    sentAt: null,
    version: 1,
  };
}
