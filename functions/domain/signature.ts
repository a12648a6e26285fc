// The downstream signature (DESIGN.md "Downstream signature"): every forward carries
// `X-Handover-Signature: v1=hex(HMAC-SHA256(signingSecret, "{ts}.{raw body}"))`. Receivers check
// it with verifyForwardSignature and reject timestamps outside the tolerance window. hostOf is the
// one way a downstream URL appears in an error or a log.
import { createHmac, timingSafeEqual } from 'node:crypto';

/** The host of a URL: all of it an error or a log may name (a path or a query may carry a key). */
export const hostOf = (url: string): string => {
  try {
    return new URL(url).host || 'unknown-host';
  } catch {
    return 'invalid-url';
  }
};

const VERSION = 'v1=';

const hmacHex = (secret: string, timestampSeconds: number, body: string): string =>
  createHmac('sha256', secret).update(`${timestampSeconds}.${body}`).digest('hex');

/** `v1=` + hex HMAC-SHA256 over `{timestampSeconds}.{body}` (the exact body string sent). */
export function signForward(secret: string, timestampSeconds: number, body: string): string {
  return VERSION + hmacHex(secret, timestampSeconds, body);
}

/**
 * True when `header` holds a `v1=` signature of `{timestampSeconds}.{body}` under `secret` and the
 * timestamp is within `toleranceSeconds` of `nowSeconds` (either side). The header may list several
 * signatures separated by commas (a sender rotating its secret). Compared in constant time.
 */
export function verifyForwardSignature(
  secret: string,
  header: string | undefined | null,
  timestampSeconds: number,
  body: string,
  nowSeconds: number,
  toleranceSeconds = 300,
): boolean {
  if (!header || !secret) return false;
  if (!Number.isSafeInteger(timestampSeconds) || !Number.isFinite(nowSeconds)) return false;
  if (Math.abs(nowSeconds - timestampSeconds) > toleranceSeconds) return false;
  const expected = Buffer.from(hmacHex(secret, timestampSeconds, body), 'hex');
  let matched = false;
  for (const part of header.split(',')) {
    const candidate = part.trim();
    if (!candidate.startsWith(VERSION)) continue;
    const hex = candidate.slice(VERSION.length);
    if (!/^[0-9a-fA-F]{64}$/.test(hex)) continue;
    // Every candidate is compared, so the time taken does not reveal which one matched.
    if (timingSafeEqual(Buffer.from(hex, 'hex'), expected)) matched = true;
  }
  return matched;
}
