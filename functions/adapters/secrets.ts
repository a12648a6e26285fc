// Secret values behind the `SecretsProvider` port: one Secrets Manager secret per Service and one
// for the auditors, parsed with the zod schemas of schemas/config and cached in memory per secret
// for a TTL (at most one fetch per secret per TTL; concurrent callers share one fetch). A static
// provider serves the local runtime's services file. Errors name the secret and the failing field,
// never a value.
import { GetSecretValueCommand, type SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import type * as z from 'zod/mini';
import type { Clock } from '../domain/ports';
import type { SecretsProvider } from '../domain/ports';
import {
  type AuditorsSecret,
  auditorsSecretSchema,
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
  auditorsSecretArn: string;
  /** @default 300000 (5 minutes) */
  ttlMs?: number;
  clock?: Clock;
  /** The stage's Parley account: a service secret naming another one is refused. */
  expectedAccount?: string;
}

interface CacheEntry<T> {
  value?: T;
  fetchedAt?: number;
  inFlight?: Promise<T>;
}

export function createSecretsManagerProvider(
  options: SecretsManagerProviderOptions,
): SecretsProvider {
  const { auditorsSecretArn, expectedAccount } = options;
  let client = typeof options.client === 'function' ? undefined : options.client;
  const makeClient = options.client;
  const arns = new Map(Object.entries(options.serviceSecretArns));
  const ttlMs = options.ttlMs ?? 300_000;
  const clock = options.clock ?? systemClock;
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

  /** The cached value, or one fetch shared by every caller until it settles. */
  const cached = <T>(key: string, load: () => Promise<T>): Promise<T> => {
    const entry = (cache.get(key) ?? {}) as CacheEntry<T>;
    if (entry.fetchedAt !== undefined && clock.now() - entry.fetchedAt < ttlMs) {
      return Promise.resolve(entry.value as T);
    }
    if (entry.inFlight) return entry.inFlight;
    const fresh: CacheEntry<T> = { value: entry.value, fetchedAt: entry.fetchedAt };
    const inFlight = load().then(
      (value) => {
        // An invalidate() while fetching replaced the entry: keep the value from being cached.
        if (cache.get(key) === fresh) cache.set(key, { value, fetchedAt: clock.now() });
        return value;
      },
      (err: unknown) => {
        if (cache.get(key) === fresh) cache.delete(key);
        throw err;
      },
    );
    fresh.inFlight = inFlight;
    cache.set(key, fresh);
    return inFlight;
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
      return cached(serviceId, async () => {
        const secret = parse(serviceSecretSchema, await fetchJson(arn, label), label, arn);
        if (expectedAccount !== undefined && secret.accountIdentification !== expectedAccount) {
          throw accountMismatch(`${label} (${arn})`, arn);
        }
        return secret;
      });
    },
    async auditors() {
      const label = 'The auditors secret';
      const secret = await cached(AUDITORS, async () =>
        parse(
          auditorsSecretSchema,
          await fetchJson(auditorsSecretArn, label),
          label,
          auditorsSecretArn,
        ),
      );
      return secret.auditors;
    },
    invalidate(serviceId) {
      if (serviceId === undefined) cache.clear();
      else cache.delete(serviceId);
    },
  };
}

export interface StaticSecretsProviderOptions {
  /** Service identification -> its secret values (the local services file). */
  services: Record<string, ServiceSecret>;
  auditors: AuditorsSecret['auditors'];
  /** The stage's Parley account: construction fails when a service names another one. */
  expectedAccount?: string;
}

/** Secrets held in memory (local runs); `invalidate` has nothing to drop. */
export function createStaticSecretsProvider(
  options: StaticSecretsProviderOptions,
): SecretsProvider {
  const services = new Map(Object.entries(options.services));
  if (options.expectedAccount !== undefined) {
    for (const [id, secret] of services) {
      if (secret.accountIdentification !== options.expectedAccount) {
        throw accountMismatch(`The secret of service "${printable(id)}"`, id);
      }
    }
  }
  const auditors = [...options.auditors];
  return {
    async service(serviceId) {
      const secret = services.get(serviceId);
      if (!secret) {
        throw new SecretError(
          `No secret is configured for service "${printable(serviceId)}".`,
          serviceId,
        );
      }
      return secret;
    },
    async auditors() {
      return auditors;
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
