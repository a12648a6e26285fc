// The callback queue's message contract, shared by the SQS adapter, the local queue, the inbound
// webhook, the processor and the CDK queue (which all read this one declaration, so a message
// parks after the same number of receives everywhere): the raw callback body is the message body (never
// re-encoded: escaping would grow it), its metadata travels as String message attributes; the size
// SQS accepts (body and attributes together); and how a deferred message comes back (the delay and
// the receive budget that keep a handover in flight from parking a message in the DLQ).
import type { SQSRecord } from 'aws-lambda';
import type { QueuedCallback } from '../domain/ports';

/** SQS's largest message: body plus every attribute's name, type and value, in UTF-8 bytes. */
export const SQS_MAX_MESSAGE_BYTES = 262_144;

/**
 * Kept free for the attributes: the longest Service identification (100 UTF-16 units, at most 300
 * bytes), a delivery id (at most 128), an instant (24), names and types (63): 515 bytes at most.
 */
export const CALLBACK_ATTRIBUTES_RESERVE_BYTES = 1_024;

/** The webhook's body cap (255 KiB): a body this long still fits with its attributes. */
export const CALLBACK_BODY_MAX_BYTES = SQS_MAX_MESSAGE_BYTES - CALLBACK_ATTRIBUTES_RESERVE_BYTES;

const NAMES = ['serviceId', 'deliveryId', 'receivedAt'] as const;
const STRING = 'String';

/** Attribute name -> value; all attributes of a callback message are of type String. */
export type MessageAttributes = Record<string, string>;

/** What goes on the queue for a callback: the raw body and its metadata. */
export const callbackMessage = (
  callback: QueuedCallback,
): { body: string; attributes: MessageAttributes } => ({
  body: callback.body,
  attributes: {
    serviceId: callback.serviceId,
    deliveryId: callback.deliveryId,
    receivedAt: callback.receivedAt,
  },
});

/** A message's size as SQS counts it against SQS_MAX_MESSAGE_BYTES. */
export const messageSizeBytes = (body: string, attributes: MessageAttributes = {}): number => {
  let size = Buffer.byteLength(body, 'utf8');
  for (const [name, value] of Object.entries(attributes)) {
    size += Buffer.byteLength(name, 'utf8') + STRING.length + Buffer.byteLength(value, 'utf8');
  }
  return size;
};

const isText = (value: unknown): value is string => typeof value === 'string' && value !== '';

/**
 * The callback a queue record carries, or null when the record is unreadable. A record without
 * the attributes is a message queued by an earlier version (the callback wrapped as JSON in the
 * body): read the old way, so nothing in flight during a deploy is lost.
 */
export const callbackFromRecord = (
  record: Pick<SQSRecord, 'body' | 'messageAttributes'>,
): QueuedCallback | null => {
  const attributes = record.messageAttributes ?? {};
  const values = NAMES.map((name) => attributes[name]?.stringValue);
  if (values.every(isText)) {
    const [serviceId, deliveryId, receivedAt] = values as [string, string, string];
    return { serviceId, deliveryId, receivedAt, body: record.body };
  }
  // Some attributes but not all: not a shape any version wrote.
  if (NAMES.some((name) => attributes[name] !== undefined)) return null;
  let legacy: unknown;
  try {
    legacy = JSON.parse(record.body);
  } catch {
    return null;
  }
  if (typeof legacy !== 'object' || legacy === null) return null;
  const { serviceId, deliveryId, receivedAt, body } = legacy as Record<string, unknown>;
  if (!isText(serviceId) || !isText(deliveryId) || !isText(receivedAt)) return null;
  if (typeof body !== 'string') return null;
  return { serviceId, deliveryId, receivedAt, body };
};

// ---------------------------------------------------------------- deferred messages

/**
 * Receives before a callback moves to the dead-letter queue. A callback deferred while its user's
 * handover is in flight spends receives too: at most 7 for any staleAfter the timeout chain allows
 * (6 at the default 60 s; deferralSeconds below), which leaves at least 3 attempts to
 * ride out a Parley or downstream outage (each retry waits one visibility timeout) without keeping
 * a poison message, and its user's group, blocked for long.
 */
export const CALLBACK_MAX_RECEIVE_COUNT = 10;

/** The longest a deferred message waits before it is delivered again. */
export const DEFERRAL_MAX_SECONDS = 30;

/**
 * How long a deferred message stays invisible: what the domain asked for (rounded up to whole
 * seconds), at least 2^(receives - 1) seconds so that a long wait costs few receives, between
 * 1 and DEFERRAL_MAX_SECONDS.
 */
export const deferralSeconds = (retryAfterMs: number, receiveCount: number): number => {
  const asked = Number.isFinite(retryAfterMs) ? Math.ceil(retryAfterMs / 1000) : 1;
  const receives = Number.isFinite(receiveCount) ? Math.max(1, Math.floor(receiveCount)) : 1;
  const backoff = 2 ** Math.min(receives - 1, 10);
  return Math.min(DEFERRAL_MAX_SECONDS, Math.max(1, asked, backoff));
};

/**
 * The most receives deferrals can use while one handover is in flight for `inFlightSeconds`: the
 * receive that finds it settled (or stale, so recovered rather than waited for) comes after that.
 */
export const deferralReceives = (inFlightSeconds: number): number => {
  let waited = 0;
  let receives = 0;
  while (waited < inFlightSeconds) {
    receives += 1;
    waited += deferralSeconds(0, receives);
  }
  return receives;
};
