// The Authorization value of Parley's Service API and a small cache that reuses it until shortly
// before it expires. Formula (PARLEY.md): base64 of
// `serviceIdentification|accountIdentification|validUntil|verifyHash`, where verifyHash is the hex
// HMAC-SHA512, keyed by the shared secret, of the three values concatenated.
import { createHmac } from 'node:crypto';
import type { Clock } from '../domain/ports';

/** The three values that let a Service call Parley. The secret never leaves this process. */
export interface ParleyCredentials {
  serviceIdentification: string;
  accountIdentification: string;
  sharedServiceAccountSecret: string;
}

/** The `Authorization` header value (no `Bearer` prefix) valid until `validUntilSeconds` (unix). */
export function parleyAuthorization(creds: ParleyCredentials, validUntilSeconds: number): string {
  const validUntil = String(Math.floor(validUntilSeconds));
  const verifyHash = createHmac('sha512', creds.sharedServiceAccountSecret)
    .update(creds.serviceIdentification + creds.accountIdentification + validUntil)
    .digest('hex');
  const plain = [creds.serviceIdentification, creds.accountIdentification, validUntil, verifyHash];
  return Buffer.from(plain.join('|'), 'utf8').toString('base64');
}

export interface AuthorizationCacheOptions {
  clock: Clock;
  /** How far ahead validUntil is set. @default 300 */
  lifetimeSeconds?: number;
  /** A cached value is made again this long before it expires. @default 30 */
  renewBeforeSeconds?: number;
}

export interface AuthorizationCache {
  /** The cached value for these credentials, made again when near expiry or when they changed. */
  get(creds: ParleyCredentials): string;
  /** Forgets the cached value (after Parley refused it). */
  clear(): void;
}

export function createAuthorizationCache(options: AuthorizationCacheOptions): AuthorizationCache {
  const lifetime = options.lifetimeSeconds ?? 300;
  const renewBefore = options.renewBeforeSeconds ?? 30;
  if (!(lifetime > renewBefore && renewBefore >= 0)) {
    throw new RangeError('lifetimeSeconds must exceed renewBeforeSeconds');
  }
  let cached: { creds: ParleyCredentials; value: string; renewAtMs: number } | null = null;

  const sameCredentials = (a: ParleyCredentials, b: ParleyCredentials): boolean =>
    a.serviceIdentification === b.serviceIdentification &&
    a.accountIdentification === b.accountIdentification &&
    a.sharedServiceAccountSecret === b.sharedServiceAccountSecret;

  return {
    get(creds) {
      const nowMs = options.clock.now();
      if (cached && nowMs < cached.renewAtMs && sameCredentials(cached.creds, creds)) {
        return cached.value;
      }
      const validUntil = Math.floor(nowMs / 1000) + lifetime;
      cached = {
        creds: { ...creds },
        value: parleyAuthorization(creds, validUntil),
        renewAtMs: (validUntil - renewBefore) * 1000,
      };
      return cached.value;
    },
    clear() {
      cached = null;
    },
  };
}
