// The headers of a notification (DESIGN.md "Notifications"): the forward scheme
// (X-Handover-Timestamp, X-Handover-Delivery = the notification id, X-Handover-Signature v1=hex)
// and Standard Webhooks (webhook-id, webhook-timestamp, webhook-signature `v1,{base64}` of
// HMAC-SHA256 over `{id}.{timestamp}.{body}`), both keyed with the Service's signingSecret as
// UTF-8 bytes, so a receiver can check either with what it already has or with a stock library.
import { createHmac } from 'node:crypto';
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
