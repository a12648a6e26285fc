// Bearer-token authentication for the webhook and the API routes (the `Authenticator` port).
// API callers: every API token of every Service secret (each rotation entry) and every auditor's
// and operator's token of the auditors' secret is indexed by sha256(token); a presented token is hashed, looked up, and the
// digests confirmed with crypto.timingSafeEqual. The index is rebuilt when the secrets provider
// hands out new values (its cache refreshed); the provider is asked again at most once per ttlMs.
// The webhook names its Service in the path: a callback reads that one Service's callback tokens
// (a secret of their own, the only one the webhook function may read; digests kept per Service,
// refreshed the same way), never a Service's Parley credentials and never another Service.
import { createHash, timingSafeEqual } from 'node:crypto';
import { UnauthorizedError } from '../domain/errors';
import type { Clock } from '../domain/ports';
import type { Authenticator, Caller, SecretsProvider } from '../domain/ports';
import type { AuditorsSecret, ServiceSecret } from '../schemas/config';

export interface AuthenticatorOptions {
  secrets: SecretsProvider;
  /** The configured Services; a callback for any other id is refused like a wrong token. */
  serviceIds: string[];
  clock?: Clock;
  /** How long the index is used before the provider (which caches itself) is asked again. @default 30000 */
  ttlMs?: number;
}

type Grant =
  | { kind: 'api'; serviceId: string }
  | { kind: 'auditor'; name: string }
  | { kind: 'operator'; name: string };

interface IndexEntry {
  digest: Buffer;
  grants: Grant[];
}

interface Index {
  builtAt: number;
  byDigest: Map<string, IndexEntry>;
  /** The provider's values the index was built from; a new object means a refreshed secret. */
  sources: Map<string, unknown>;
  /** Secrets that could not be loaded, by service id (or 'auditors', 'operators'). */
  failures: Map<string, unknown>;
}

/** One Service's callback token digests, for the webhook (which names its Service). */
interface CallbackEntry {
  builtAt?: number;
  /** The provider's value the digests were made from; a new object means a refreshed secret. */
  source?: readonly string[];
  digests: Buffer[];
  /** Why the secret could not be loaded at builtAt. */
  failure?: { reason: unknown };
  loading?: Promise<CallbackEntry>;
}

const AUDITORS = '\u0000auditors';
const OPERATORS = '\u0000operators';
const MAX_TOKEN_LENGTH = 512;
const FAILURE_RETRY_MS = 5_000;
const systemClock: Clock = { now: () => Date.now() };
const sha256 = (value: string): Buffer => createHash('sha256').update(value, 'utf8').digest();

/** `Bearer <token>` (any case), or a bare token when `allowBare`; undefined when malformed. */
export function extractToken(
  authorization: string | undefined,
  allowBare: boolean,
): string | undefined {
  if (authorization === undefined) return undefined;
  const value = authorization.trim();
  const bearer = /^Bearer +(\S+)$/i.exec(value);
  const token = bearer ? bearer[1] : allowBare && /^\S+$/.test(value) ? value : undefined;
  if (token === undefined || token.length > MAX_TOKEN_LENGTH) return undefined;
  return token;
}

export function createAuthenticator(options: AuthenticatorOptions): Authenticator {
  const { secrets } = options;
  const serviceIds = [...new Set(options.serviceIds)];
  const known = new Set(serviceIds);
  const clock = options.clock ?? systemClock;
  const ttlMs = options.ttlMs ?? 30_000;
  let index: Index | null = null;
  let building: Promise<Index> | null = null;
  const callbackDigests = new Map<string, CallbackEntry>();

  const build = async (previous: Index | null): Promise<Index> => {
    const loaded = await Promise.allSettled<ServiceSecret | AuditorsSecret['auditors']>([
      ...serviceIds.map((id) => secrets.service(id)),
      secrets.auditors(),
      secrets.operators(),
    ]);
    const keys = [...serviceIds, AUDITORS, OPERATORS];
    const sources = new Map<string, unknown>();
    const failures = new Map<string, unknown>();
    loaded.forEach((result, i) => {
      if (result.status === 'fulfilled') sources.set(keys[i]!, result.value);
      else failures.set(keys[i]!, result.reason);
    });
    const unchanged =
      previous !== null &&
      failures.size === 0 &&
      previous.failures.size === 0 &&
      keys.every((key) => previous.sources.get(key) === sources.get(key));
    if (unchanged) return { ...previous, builtAt: clock.now() };

    const byDigest = new Map<string, IndexEntry>();
    const add = (token: string, grant: Grant): void => {
      const digest = sha256(token);
      const key = digest.toString('hex');
      const entry = byDigest.get(key) ?? { digest, grants: [] };
      entry.grants.push(grant);
      byDigest.set(key, entry);
    };
    for (const serviceId of serviceIds) {
      const secret = sources.get(serviceId) as ServiceSecret | undefined;
      for (const token of secret?.apiTokens ?? []) add(token, { kind: 'api', serviceId });
    }
    const auditors = (sources.get(AUDITORS) as AuditorsSecret['auditors'] | undefined) ?? [];
    for (const auditor of auditors) add(auditor.token, { kind: 'auditor', name: auditor.name });
    const operators = (sources.get(OPERATORS) as AuditorsSecret['operators'] | undefined) ?? [];
    for (const op of operators) add(op.token, { kind: 'operator', name: op.name });
    return { builtAt: clock.now(), byDigest, sources, failures };
  };

  const current = async (): Promise<Index> => {
    // After a failed load, ask again sooner, but never on every request (one fetch per request
    // for a broken secret would hammer Secrets Manager).
    const maxAge = index?.failures.size ? Math.min(ttlMs, FAILURE_RETRY_MS) : ttlMs;
    if (index && clock.now() - index.builtAt < maxAge) return index;
    if (!building) {
      building = build(index).then(
        (built) => {
          index = built;
          building = null;
          return built;
        },
        (err: unknown) => {
          building = null;
          throw err;
        },
      );
    }
    return building;
  };

  /** The grants of a token whose digest is indexed, confirmed in constant time. */
  const grantsOf = (idx: Index, token: string): Grant[] => {
    const digest = sha256(token);
    const entry = idx.byDigest.get(digest.toString('hex'));
    if (!entry || entry.digest.length !== digest.length) return [];
    return timingSafeEqual(entry.digest, digest) ? entry.grants : [];
  };

  /** A secret that failed to load could have held the token: fail loudly rather than 401. */
  const rethrowFailure = (idx: Index, keys: string[]): void => {
    for (const key of keys) {
      if (idx.failures.has(key)) throw idx.failures.get(key);
    }
  };

  /** One Service's callback digests: from its callback tokens alone, re-read like the index is. */
  const callbackEntry = async (serviceId: string): Promise<CallbackEntry> => {
    const entry = callbackDigests.get(serviceId) ?? { digests: [] };
    const maxAge = entry.failure ? Math.min(ttlMs, FAILURE_RETRY_MS) : ttlMs;
    if (entry.builtAt !== undefined && clock.now() - entry.builtAt < maxAge) return entry;
    if (!entry.loading) {
      const loading = secrets.callbackTokens(serviceId).then(
        (tokens): CallbackEntry => ({
          builtAt: clock.now(),
          source: tokens,
          digests: tokens === entry.source ? entry.digests : tokens.map((t) => sha256(t)),
        }),
        (reason: unknown): CallbackEntry => ({
          builtAt: clock.now(),
          digests: [],
          failure: { reason },
        }),
      );
      entry.loading = loading.then((built) => {
        callbackDigests.set(serviceId, built);
        return built;
      });
      callbackDigests.set(serviceId, entry);
    }
    return entry.loading;
  };

  return {
    async callback(serviceId, authorization) {
      if (!known.has(serviceId)) throw new UnauthorizedError();
      const token = extractToken(authorization, true);
      if (token === undefined) throw new UnauthorizedError();
      const entry = await callbackEntry(serviceId);
      const digest = sha256(token);
      // Compare with every token of the rotation list, in constant time each.
      let ok = false;
      for (const expected of entry.digests) {
        if (expected.length === digest.length && timingSafeEqual(expected, digest)) ok = true;
      }
      if (ok) return;
      // A secret that failed to load could have held the token: fail loudly rather than 401.
      if (entry.failure) throw entry.failure.reason;
      throw new UnauthorizedError();
    },

    async caller(authorization): Promise<Caller> {
      const token = extractToken(authorization, false);
      if (token === undefined) throw new UnauthorizedError();
      const idx = await current();
      const callers: Caller[] = [];
      for (const grant of grantsOf(idx, token)) {
        if (grant.kind === 'api') callers.push({ kind: 'service', serviceId: grant.serviceId });
        else callers.push({ kind: grant.kind, name: grant.name });
      }
      // One token, one caller: a token configured for two callers identifies neither (the
      // auditors' secret refuses one listed as auditor and operator at load already).
      if (callers.length === 1) return callers[0]!;
      if (callers.length === 0) rethrowFailure(idx, [...serviceIds, AUDITORS, OPERATORS]);
      throw new UnauthorizedError();
    },
  };
}
