// Secret values behind the `SecretsProvider` port: per Service a Secrets Manager secret (Parley
// credentials, API tokens, signing secret) and a callback-token secret (all the webhook reads), and
// one for the auditors; parsed with the zod schemas of schemas/config and cached in memory per
// secret for a TTL (at most one fetch per secret per TTL; concurrent callers share one fetch).
// When a refresh fails, the last good value is served for a bounded time (a Secrets Manager blip
// must not fail every route), with a warning and a metric each time; an invalidation after
// Parley's 401 refetches at most once per secret per interval. A static provider serves the local
// runtime's services file. Errors name the secret and the failing field, never a value.
import { GetSecretValueCommand, type SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import type * as z from 'zod/mini';
import type { Clock, Log, MetricsSink, SecretsProvider } from '../domain/ports';
import { noMetrics, silentLog } from '../domain/ports';
import {
  type AuditorsSecret,
  auditorsSecretSchema,
  type CombinedServiceSecret,
  callbackTokensSecretSchema,
  type ServiceSecret,
  serviceSecretSchema,
} from '../schemas/config';
import type { ParleyCredentials } from './parley-auth';

/** A secret is missing, unreadable or wrong. The message names the secret, never its value. */
export class SecretError extends Error {
  constructor(
    message: string,
    /** The secret's ARN, or the service id it belongs to. */
    readonly secret: string,
  ) {
    super(message);
    this.name = 'SecretError';
  }
}

const systemClock: Clock = { now: () => Date.now() };
// Cache keys: a prefix per kind, so no service id can collide with another kind's key.
const SERVICE = 'service:';
const CALLBACK = 'callback-tokens:';
const AUDITORS = 'auditors';
const printable = (s: string): string => s.replace(/[^\x20-\x7e]/g, '?').slice(0, 100);

/** "callbackTokens[0]: tokens must be at least 16 characters" (zod keeps no input in issues). */
const describeIssues = (issues: readonly z.core.$ZodIssue[]): string =>
  issues
    .slice(0, 3)
    .map((issue) => {
      const path = issue.path.map((p) => (typeof p === 'number' ? `[${p}]` : `.${String(p)}`));
      const field = path.join('').replace(/^\./, '') || '(root)';
      return `${field}: ${issue.message}`;
    })
    .join('; ');

const accountMismatch = (label: string, secret: string): SecretError =>
  new SecretError(
    `${label} names a different Parley account than this deployment's; ` +
      'one deployment serves one Parley account.',
    secret,
  );

export interface SecretsManagerProviderOptions {
  /** The client, or a function that makes it on the first fetch (nothing is built before). */
  client: SecretsManagerClient | (() => SecretsManagerClient);
  /** Service identification -> secret ARN (or name). */
  serviceSecretArns: Record<string, string>;
  /** Service identification -> callback-token secret ARN (or name). @default {} */
  callbackTokenSecretArns?: Record<string, string>;
  auditorsSecretArn: string;
  /** @default 300000 (5 minutes) */
  ttlMs?: number;
  /** How long past its TTL the last good value is served while refreshes fail. @default 3600000 */
  staleGraceMs?: number;
  /** After a failed refresh, the wait before the next one (the last good value meanwhile). @default 5000 */
  failureRetryMs?: number;
  /** An invalidate() within this time of a secret's last fetch is ignored. @default 30000 */
  refetchMinIntervalMs?: number;
  clock?: Clock;
  log?: Log;
  metrics?: MetricsSink;
  /** The stage's Parley account: a service secret naming another one is refused. */
  expectedAccount?: string;
}

type SecretKind = 'service' | 'callback-tokens' | 'auditors';

interface CacheEntry<T> {
  /** The last good value and when it was fetched. */
  value?: T;
  fetchedAt?: number;
  /** Read again at the next call (an invalidate()). */
  stale?: boolean;
  /** Bumped by invalidate(): a fetch started before it does not clear `stale`. */
  generation: number;
  /** After a failed refresh: no new fetch before this instant. */
  retryAt?: number;
  inFlight?: Promise<T>;
}

export function createSecretsManagerProvider(
  options: SecretsManagerProviderOptions,
): SecretsProvider {
  const { auditorsSecretArn, expectedAccount } = options;
  let client = typeof options.client === 'function' ? undefined : options.client;
  const makeClient = options.client;
  const arns = new Map(Object.entries(options.serviceSecretArns));
  const callbackArns = new Map(Object.entries(options.callbackTokenSecretArns ?? {}));
  const ttlMs = options.ttlMs ?? 300_000;
  const graceMs = options.staleGraceMs ?? 3_600_000;
  const failureRetryMs = options.failureRetryMs ?? 5_000;
  const refetchMinIntervalMs = options.refetchMinIntervalMs ?? 30_000;
  const clock = options.clock ?? systemClock;
  const log = options.log ?? silentLog;
  const metrics = options.metrics ?? noMetrics;
  const cache = new Map<string, CacheEntry<unknown>>();

  const fetchJson = async (arn: string, label: string): Promise<unknown> => {
    let text: string | undefined;
    try {
      client ??= (makeClient as () => SecretsManagerClient)();
      const out = await client.send(new GetSecretValueCommand({ SecretId: arn }));
      text = out.SecretString;
    } catch (err) {
      const name = err instanceof Error ? err.name : 'Error';
      const what =
        name === 'ResourceNotFoundException'
          ? 'was not found'
          : name === 'AccessDeniedException'
            ? 'may not be read by this function'
            : `could not be read (${printable(name)})`;
      throw new SecretError(`${label} (${arn}) ${what}.`, arn);
    }
    if (text === undefined || text === '') {
      throw new SecretError(`${label} (${arn}) has no string value.`, arn);
    }
    try {
      return JSON.parse(text);
    } catch {
      // The parser's message quotes the text: never pass it on.
      throw new SecretError(`${label} (${arn}) is not valid JSON.`, arn);
    }
  };

  const parse = <S extends z.ZodMiniType>(schema: S, raw: unknown, label: string, arn: string) => {
    const result = schema.safeParse(raw);
    if (!result.success) {
      throw new SecretError(
        `${label} (${arn}) is malformed: ${describeIssues(result.error.issues)}.`,
        arn,
      );
    }
    return result.data as z.output<S>;
  };

  /** The last good value may stand in for a failed refresh until this long past its TTL. */
  const usable = (entry: CacheEntry<unknown>, at: number): boolean =>
    entry.fetchedAt !== undefined && at - entry.fetchedAt < ttlMs + graceMs;

  /**
   * The cached value, or one fetch shared by every caller until it settles; when that fetch fails,
   * the last good value while it is usable.
   */
  const cached = <T>(
    key: string,
    secret: { arn: string; kind: SecretKind },
    load: () => Promise<T>,
  ): Promise<T> => {
    const entry = (cache.get(key) ?? { generation: 0 }) as CacheEntry<T>;
    const now = clock.now();
    if (entry.fetchedAt !== undefined && !entry.stale && now - entry.fetchedAt < ttlMs) {
      return Promise.resolve(entry.value as T);
    }
    if (entry.retryAt !== undefined && now < entry.retryAt && usable(entry, now)) {
      return Promise.resolve(entry.value as T);
    }
    if (entry.inFlight) return entry.inFlight;
    const generation = entry.generation;
    const inFlight = load().then(
      (value) => {
        entry.inFlight = undefined;
        entry.value = value;
        entry.fetchedAt = clock.now();
        entry.stale = entry.generation !== generation;
        entry.retryAt = undefined;
        return value;
      },
      (err: unknown) => {
        entry.inFlight = undefined;
        const at = clock.now();
        if (!usable(entry, at)) throw err;
        entry.retryAt = at + failureRetryMs;
        metrics.count('SecretRefreshFailed', 1, { secret: secret.kind });
        log.warn('secret refresh failed; serving the last good value', {
          secret: secret.arn,
          staleForSeconds: Math.max(0, Math.floor((at - (entry.fetchedAt ?? at) - ttlMs) / 1000)),
          reason: err instanceof SecretError ? err.message : 'unknown error',
        });
        return entry.value as T;
      },
    );
    entry.inFlight = inFlight;
    cache.set(key, entry as CacheEntry<unknown>);
    return inFlight;
  };

  /** Marks a secret for a refetch, unless it was fetched less than refetchMinIntervalMs ago. */
  const invalidateKey = (key: string): void => {
    const entry = cache.get(key);
    if (!entry) return;
    const now = clock.now();
    if (entry.fetchedAt !== undefined && now - entry.fetchedAt < refetchMinIntervalMs) {
      log.debug('secret refetch skipped: fetched moments ago', {
        fetchedSecondsAgo: Math.floor((now - entry.fetchedAt) / 1000),
      });
      return;
    }
    entry.stale = true;
    entry.retryAt = undefined;
    entry.generation += 1;
  };

  /** The auditors' secret: auditors and operators, one cached fetch for both. */
  const auditorsSecret = (): Promise<AuditorsSecret> => {
    const label = 'The auditors secret';
    return cached(AUDITORS, { arn: auditorsSecretArn, kind: 'auditors' }, async () =>
      parse(
        auditorsSecretSchema,
        await fetchJson(auditorsSecretArn, label),
        label,
        auditorsSecretArn,
      ),
    );
  };

  return {
    service(serviceId) {
      const arn = arns.get(serviceId);
      if (arn === undefined) {
        return Promise.reject(
          new SecretError(
            `No secret is configured for service "${printable(serviceId)}".`,
            serviceId,
          ),
        );
      }
      const label = `The secret of service "${printable(serviceId)}"`;
      return cached(SERVICE + serviceId, { arn, kind: 'service' }, async () => {
        const secret = parse(serviceSecretSchema, await fetchJson(arn, label), label, arn);
        if (expectedAccount !== undefined && secret.accountIdentification !== expectedAccount) {
          throw accountMismatch(`${label} (${arn})`, arn);
        }
        return secret;
      });
    },
    callbackTokens(serviceId) {
      const arn = callbackArns.get(serviceId);
      if (arn === undefined) {
        return Promise.reject(
          new SecretError(
            `No callback-token secret is configured for service "${printable(serviceId)}".`,
            serviceId,
          ),
        );
      }
      const label = `The callback-token secret of service "${printable(serviceId)}"`;
      return cached(CALLBACK + serviceId, { arn, kind: 'callback-tokens' }, async () =>
        parse(callbackTokensSecretSchema, await fetchJson(arn, label), label, arn),
      );
    },
    async auditors() {
      return (await auditorsSecret()).auditors;
    },
    async operators() {
      return (await auditorsSecret()).operators;
    },
    invalidate(serviceId) {
      if (serviceId === undefined) {
        for (const key of cache.keys()) invalidateKey(key);
      } else {
        invalidateKey(SERVICE + serviceId);
      }
    },
  };
}

export interface StaticSecretsProviderOptions {
  /** Service identification -> both of its secrets' values in one object (the local services file). */
  services: Record<string, CombinedServiceSecret>;
  auditors: AuditorsSecret['auditors'];
  /** @default [] */
  operators?: AuditorsSecret['operators'];
  /** The stage's Parley account: construction fails when a service names another one. */
  expectedAccount?: string;
}

/** Secrets held in memory (local runs); `invalidate` has nothing to drop. */
export function createStaticSecretsProvider(
  options: StaticSecretsProviderOptions,
): SecretsProvider {
  const services = new Map<string, ServiceSecret>();
  const callbackTokens = new Map<string, string[]>();
  for (const [id, { callbackTokens: tokens, ...secret }] of Object.entries(options.services)) {
    if (
      options.expectedAccount !== undefined &&
      secret.accountIdentification !== options.expectedAccount
    ) {
      throw accountMismatch(`The secret of service "${printable(id)}"`, id);
    }
    services.set(id, secret);
    callbackTokens.set(id, [...tokens]);
  }
  // The same check as the secret's: a token listed both as an auditor and as an operator is refused.
  const people = auditorsSecretSchema.safeParse({
    auditors: options.auditors,
    operators: options.operators ?? [],
  });
  if (!people.success) {
    const problem = describeIssues(people.error.issues);
    throw new SecretError(`The auditors and operators are malformed: ${problem}.`, 'auditors');
  }
  const { auditors, operators } = people.data;
  const unknown = (serviceId: string) =>
    new SecretError(`No secret is configured for service "${printable(serviceId)}".`, serviceId);
  return {
    async service(serviceId) {
      const secret = services.get(serviceId);
      if (!secret) throw unknown(serviceId);
      return secret;
    },
    async callbackTokens(serviceId) {
      const tokens = callbackTokens.get(serviceId);
      if (!tokens) throw unknown(serviceId);
      return tokens;
    },
    async auditors() {
      return auditors;
    },
    async operators() {
      return operators;
    },
    invalidate() {},
  };
}

/** What the Parley client takes: one Service's credentials, read through the provider's cache. */
export interface ParleyCredentialsSource {
  readonly serviceIdentification: string;
  get(): Promise<ParleyCredentials>;
  /** After Parley's 401 api_key_not_valid: the next get() reads the secret again. */
  invalidate(): void;
}

export function parleyCredentialsSource(
  secrets: SecretsProvider,
  serviceId: string,
): ParleyCredentialsSource {
  return {
    serviceIdentification: serviceId,
    async get() {
      const secret = await secrets.service(serviceId);
      return {
        serviceIdentification: serviceId,
        accountIdentification: secret.accountIdentification,
        sharedServiceAccountSecret: secret.sharedServiceAccountSecret,
      };
    },
    invalidate() {
      secrets.invalidate(serviceId);
    },
  };
}
