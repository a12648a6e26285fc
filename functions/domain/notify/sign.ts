// The headers of a notification (DESIGN.md "Notifications"): the forward scheme
// (X-Handover-Timestamp, X-Handover-Delivery = the notification id, X-Handover-Signature v1=hex)
// and Standard Webhooks (webhook-id, webhook-timestamp, webhook-signature `v1,{base64}` of
// HMAC-SHA256 over `{id}.{timestamp}.{body}`), both keyed with the Service's signingSecret as
// UTF-8 bytes, so a receiver can check either with what it already has or with a stock library
// (verifyStandardWebhook here is such a check, for receivers written in TypeScript).
import { createHmac, timingSafeEqual } from 'node:crypto';
import { signForward } from '../signature';

/** Standard Webhooks' `v1,{base64 HMAC-SHA256(key, "{id}.{ts}.{body}")}`; key = UTF-8 of secret. */
export function standardWebhookSignature(
  secret: string,
  id: string,
  timestampSeconds: number,
  body: string,
): string {
  const mac = createHmac('sha256', Buffer.from(secret, 'utf8'))
    .update(`${id}.${timestampSeconds}.${body}`, 'utf8')
    .digest('base64');
  return `v1,${mac}`;
}

/** The secret in the form Standard Webhooks libraries take: `whsec_` + base64 of its UTF-8. */
export const standardWebhookSecret = (secret: string): string =>
  `whsec_${Buffer.from(secret, 'utf8').toString('base64')}`;

/**
 * Every header of one attempt. Without a signing secret the Service gets its notifications
 * unsigned, as it gets its forwards; the ids and the timestamp are sent all the same.
 */
export function notificationHeaders(
  secret: string | undefined,
  id: string,
  timestampSeconds: number,
  body: string,
): Record<string, string> {
  const ts = String(timestampSeconds);
  const headers: Record<string, string> = {
    'Content-Type': 'application/json',
    'X-Handover-Timestamp': ts,
    'X-Handover-Delivery': id,
    'webhook-id': id,
    'webhook-timestamp': ts,
  };
  if (secret) {
    headers['X-Handover-Signature'] = signForward(secret, timestampSeconds, body);
    headers['webhook-signature'] = standardWebhookSignature(secret, id, timestampSeconds, body);
  }
  return headers;
}

/**
 * A receiver's check of the Standard Webhooks headers: true when `signature` (one or more
 * space-separated `v1,{base64}`) holds the HMAC of `{id}.{timestamp}.{body}` under `secret` and
 * the timestamp is within `toleranceSeconds` of `nowSeconds`. Compared in constant time.
 */
export function verifyStandardWebhook(
  secret: string,
  headers: { id?: string; timestamp?: string; signature?: string },
  body: string,
  nowSeconds: number,
  toleranceSeconds = 300,
): boolean {
  const { id, timestamp, signature } = headers;
  if (!secret || !id || !signature || !timestamp || !/^\d{1,12}$/.test(timestamp)) return false;
  const ts = Number(timestamp);
  if (Math.abs(nowSeconds - ts) > toleranceSeconds) return false;
  const expected = Buffer.from(
    standardWebhookSignature(secret, id, ts, body).slice('v1,'.length),
    'base64',
  );
  let matched = false;
  for (const part of signature.split(' ')) {
    if (!part.startsWith('v1,')) continue;
    const given = Buffer.from(part.slice('v1,'.length), 'base64');
    // Every candidate is compared, so the time taken does not reveal which one matched.
    if (given.length === expected.length && timingSafeEqual(given, expected)) matched = true;
  }
  return matched;
}
