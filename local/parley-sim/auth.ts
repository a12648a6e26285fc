// The simulator's check of a Service API Authorization value, written independently of the
// client: base64("serviceId|accountId|validUntil|hex HMAC-SHA512(secret, serviceId+accountId+validUntil)").
import { createHmac, timingSafeEqual } from 'node:crypto';
import type { SimService } from './types';

export type AuthResult =
  | { ok: true; serviceId: string }
  | {
      ok: false;
      reason:
        | 'missing'
        | 'malformed'
        | 'unknown_service'
        | 'wrong_account'
        | 'expired'
        | 'bad_hash';
    };

const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;
const HEX_SHA512 = /^[0-9a-fA-F]{128}$/;
const DIGITS = /^\d{1,12}$/;

/**
 * Verifies `header` against the known services of `accountId` at `nowMs`. The reason is for the
 * simulator's own decisions; callers only ever see `api_key_not_valid`.
 */
export function verifyAuthorization(
  header: string | undefined,
  services: ReadonlyMap<string, SimService>,
  accountId: string,
  nowMs: number,
): AuthResult {
  if (!header) return { ok: false, reason: 'missing' };
  const value = header.trim();
  if (!BASE64.test(value) || value.length % 4 !== 0) return { ok: false, reason: 'malformed' };
  const parts = Buffer.from(value, 'base64').toString('utf8').split('|');
  if (parts.length !== 4) return { ok: false, reason: 'malformed' };
  const [serviceId, account, validUntil, hash] = parts as [string, string, string, string];
  if (!DIGITS.test(validUntil) || !HEX_SHA512.test(hash)) return { ok: false, reason: 'malformed' };

  const service = services.get(serviceId);
  if (!service) return { ok: false, reason: 'unknown_service' };
  if (account !== accountId) return { ok: false, reason: 'wrong_account' };
  if (Number(validUntil) * 1000 < nowMs) return { ok: false, reason: 'expired' };

  const expected = createHmac('sha512', service.sharedSecret)
    .update(serviceId + account + validUntil)
    .digest();
  const given = Buffer.from(hash, 'hex');
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
    return { ok: false, reason: 'bad_hash' };
  }
  return { ok: true, serviceId };
}
