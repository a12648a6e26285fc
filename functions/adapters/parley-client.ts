// The one thin fetch client for Parley's Service API, acting as one Service. It signs each request
// (parley-auth), parses the envelope with zod, classifies every failure into the Parley errors of
// the domain (rejected vs unknown outcome), and retries only what is safe: a request that never
// left, any call answered 429 (Parley did not apply it), reads on 5xx/timeouts/resets, and one
// retry with fresh credentials after a 401 `api_key_not_valid`. It never logs or puts into an error the Authorization value, the secret or a
// message text.
import type * as z from 'zod/mini';
import {
  ParleyApiError,
  type ParleyError,
  ParleyNetworkError,
  type ParleyOutcome,
  ParleyTimeoutError,
  parleyErrorCode,
} from '../domain/errors';
import {
  type Clock,
  type Log,
  type ParleyCall,
  type ParleyCallOptions,
  type ParleyClient,
  type ParleyService,
  silentLog,
} from '../domain/ports';
import {
  type ParleyEnvelope,
  parleyEnvelopeSchema,
  parleyObjectDataSchema,
  parleyOwnerDataSchema,
  parleyServicesDataSchema,
} from '../schemas/parley';
import { createAuthorizationCache, type ParleyCredentials } from './parley-auth';
import { type ParleyRoute, parleyEndpoints, parleyPath, parleyUrl } from './parley-paths';

/** Where the client gets a Service's credentials (e.g. the cached Secrets Manager value). */
export interface CredentialsSource {
  readonly serviceIdentification: string;
  get(): Promise<ParleyCredentials>;
  /** Drops a cached value so that the next `get` fetches it again (the secret may have rotated). */
  invalidate(): void;
}

/** One attempt, as reported to `onCall` (status null when no HTTP answer came). */
export interface ParleyCallInfo {
  method: string;
  path: string;
  status: number | null;
  durationMs: number;
}

export interface ParleyRetryOptions {
  /** Attempts of one call for transient failures (the 401 refresh comes on top). @default 3 */
  maxAttempts?: number;
  /** @default 100 */
  baseDelayMs?: number;
  /** Cap of one backoff delay (a longer `Retry-After` is still honoured). @default 2000 */
  maxDelayMs?: number;
}

export interface ParleyClientOptions {
  /** Versioned base URL, e.g. `https://api.parley.nu/serviceApi/v2.5`. */
  baseUrl: string;
  credentials: CredentialsSource;
  fetch?: typeof fetch;
  /** One attempt. @default 3000 */
  timeoutMs?: number;
  /** All attempts of one call, backoff included. @default 8000 */
  budgetMs?: number;
  retry?: ParleyRetryOptions;
  clock?: Clock;
  sleep?: (ms: number) => Promise<void>;
  /** In [0, 1); drives the backoff jitter. @default Math.random */
  random?: () => number;
  log?: Log;
  /** Called after every attempt (for metrics). */
  onCall?: (info: ParleyCallInfo) => void;
}

/** Error codes with which the connection certainly never reached Parley. */
const NOT_SENT_CODES = new Set([
  'ECONNREFUSED',
  'ENOTFOUND',
  'EAI_AGAIN',
  'ENETUNREACH',
  'EHOSTUNREACH',
  'EADDRNOTAVAIL',
  'UND_ERR_CONNECT_TIMEOUT',
]);

/** Only code-like notification messages are kept: they go into error messages and logs. */
const CODE_PATTERN = /^[A-Za-z0-9_.:-]{1,100}$/;

type Attempt<T> = { ok: true; call: ParleyCall<T> } | { ok: false; error: ParleyError };

export function createParleyClient(options: ParleyClientOptions): ParleyClient {
  new URL(options.baseUrl); // fails fast on a malformed base URL
  const fetchFn = options.fetch ?? globalThis.fetch;
  const clock = options.clock ?? { now: () => Date.now() };
  const sleep = options.sleep ?? defaultSleep;
  const random = options.random ?? Math.random;
  const log = options.log ?? silentLog;
  const timeoutMs = options.timeoutMs ?? 3_000;
  const budgetMs = options.budgetMs ?? 8_000;
  const maxAttempts = Math.max(1, Math.floor(options.retry?.maxAttempts ?? 3));
  const baseDelayMs = options.retry?.baseDelayMs ?? 100;
  const maxDelayMs = options.retry?.maxDelayMs ?? 2_000;
  const authorization = createAuthorizationCache({ clock });
  const { credentials } = options;

  async function call<T>(
    route: ParleyRoute,
    userId: string | undefined,
    body: unknown,
    dataSchema: z.ZodMiniType<T>,
    callOptions?: ParleyCallOptions,
  ): Promise<ParleyCall<T>> {
    const endpoint = parleyEndpoints[route];
    const path = parleyPath(route, { userId });
    const request = {
      route,
      method: endpoint.method,
      path,
      url: parleyUrl(options.baseUrl, path),
      payload: body === undefined ? undefined : JSON.stringify(body),
      read: endpoint.read,
      startedAt: clock.now(),
    };
    // The request's own deadline may leave this call less than the client's budget.
    const callBudgetMs = Math.max(1, Math.min(budgetMs, callOptions?.budgetMs ?? budgetMs));
    const deadline = request.startedAt + callBudgetMs;
    let attempt = 0;
    let refreshed = false;
    for (;;) {
      attempt += 1;
      const creds = await credentials.get();
      const remainingMs = Math.max(1, deadline - clock.now());
      const result = await attemptOnce(
        request,
        authorization.get(creds),
        Math.min(timeoutMs, remainingMs),
        dataSchema,
        attempt,
      );
      if (result.ok) return result.call;
      const error = result.error;

      if (isKeyNotValid(error) && !refreshed && clock.now() < deadline) {
        refreshed = true;
        credentials.invalidate();
        authorization.clear();
        continue;
      }
      if (!isRetryable(error, request.read)) throw error;
      const transientAttempts = attempt - (refreshed ? 1 : 0);
      if (transientAttempts >= maxAttempts) throw error;
      const cap = Math.min(maxDelayMs, baseDelayMs * 2 ** (transientAttempts - 1));
      const jitter = Math.floor(random() * cap);
      const retryAfterMs = error instanceof ParleyApiError ? error.retryAfterMs : undefined;
      const delayMs = retryAfterMs === undefined ? jitter : Math.max(jitter, retryAfterMs);
      if (clock.now() + delayMs >= deadline) throw error;
      if (delayMs > 0) await sleep(delayMs);
    }
  }

  async function attemptOnce<T>(
    request: {
      method: string;
      path: string;
      url: string;
      payload: string | undefined;
      read: boolean;
      startedAt: number;
    },
    authorizationValue: string,
    attemptTimeoutMs: number,
    dataSchema: z.ZodMiniType<T>,
    attempt: number,
  ): Promise<Attempt<T>> {
    const { method, path } = request;
    const headers: Record<string, string> = {
      Authorization: authorizationValue,
      Accept: 'application/json',
    };
    if (request.payload !== undefined) headers['Content-Type'] = 'application/json';

    const controller = new AbortController();
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      controller.abort();
    }, attemptTimeoutMs);
    const attemptStart = clock.now();
    let status: number | null = null;
    let apiVersion: string | null = null;
    let result: Attempt<T>;
    try {
      const response = await fetchFn(request.url, {
        method,
        headers,
        body: request.payload,
        signal: controller.signal,
        redirect: 'manual',
      });
      status = response.status;
      apiVersion = response.headers.get('x-parley-api-version');
      const retryAfterMs = parseRetryAfter(response.headers.get('retry-after'), clock.now());
      const text = await response.text();
      result = interpret(text, status, apiVersion, retryAfterMs);
    } catch (err) {
      result = { ok: false, error: transportError(err, timedOut || controller.signal.aborted) };
    } finally {
      clearTimeout(timer);
    }

    const durationMs = clock.now() - attemptStart;
    log.info('parley call', {
      method,
      path,
      status,
      durationMs,
      apiVersion,
      attempt,
      ...(result.ok ? {} : { error: parleyErrorCode(result.error) }),
    });
    try {
      options.onCall?.({ method, path, status, durationMs });
    } catch {
      // a failing metrics hook must not change the call's outcome
    }
    return result;

    function interpret(
      text: string,
      httpStatus: number,
      version: string | null,
      retryAfterMs: number | undefined,
    ): Attempt<T> {
      const elapsed = () => clock.now() - request.startedAt;
      const envelope = parseEnvelope(text);
      const is2xx = httpStatus >= 200 && httpStatus < 300;
      // A 2xx we cannot read: for a write it may have been applied.
      const unreadable: ParleyOutcome = request.read ? 'rejected' : 'unknown';
      const apiError = (code: string | null, outcome?: ParleyOutcome) =>
        new ParleyApiError(
          httpStatus,
          code,
          method,
          path,
          version,
          elapsed(),
          retryAfterMs,
          outcome,
        );

      if (!is2xx) return { ok: false, error: apiError(envelope ? errorCode(envelope) : null) };
      if (!envelope) return { ok: false, error: apiError(null, unreadable) };
      const envelopeStatus = envelope.status?.toUpperCase();
      if (envelopeStatus === 'ERROR') return { ok: false, error: apiError(errorCode(envelope)) };
      if (envelopeStatus !== 'SUCCESS') {
        return { ok: false, error: apiError(errorCode(envelope), unreadable) };
      }
      const data = dataSchema.safeParse(envelope.data);
      if (!data.success) return { ok: false, error: apiError(null, unreadable) };
      return {
        ok: true,
        call: {
          data: data.data,
          status: httpStatus,
          apiVersion: version,
          durationMs: elapsed(),
          warnings: warningsOf(envelope),
        },
      };
    }

    function transportError(err: unknown, aborted: boolean): ParleyError {
      const elapsed = clock.now() - request.startedAt;
      if (aborted) return new ParleyTimeoutError(method, path, elapsed);
      // Headers already arrived: the request certainly reached Parley.
      const sent = status !== null || !neverConnected(err);
      return new ParleyNetworkError(sent, method, path, elapsed);
    }
  }

  return {
    serviceIdentification: credentials.serviceIdentification,
    async listServices(): Promise<ParleyCall<ParleyService[]>> {
      return call('services', undefined, undefined, parleyServicesDataSchema);
    },
    async getOwner(userId, callOptions) {
      return call('getOwner', userId, undefined, parleyOwnerDataSchema, callOptions);
    },
    async setOwner(userId, newOwner, metadata, callOptions) {
      return call('putOwner', userId, { newOwner, metadata }, parleyObjectDataSchema, callOptions);
    },
    async sendMessage(userId, text) {
      return call('messages', userId, { message: text }, parleyObjectDataSchema);
    },
    async unsetAgent(userId, callOptions) {
      return call('agentUnset', userId, undefined, parleyObjectDataSchema, callOptions);
    },
  };
}

function defaultSleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function parseEnvelope(text: string): ParleyEnvelope | null {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return null;
  }
  const parsed = parleyEnvelopeSchema.safeParse(json);
  return parsed.success ? parsed.data : null;
}

function notificationsOf(envelope: ParleyEnvelope, type: string): string[] {
  const messages: string[] = [];
  for (const n of envelope.notifications ?? []) {
    if (n?.type?.toLowerCase() === type && typeof n.message === 'string') messages.push(n.message);
  }
  return messages;
}

/** The first `error` notification's message, when it looks like a code. */
function errorCode(envelope: ParleyEnvelope): string | null {
  const first = notificationsOf(envelope, 'error')[0];
  return first !== undefined && CODE_PATTERN.test(first) ? first : null;
}

function warningsOf(envelope: ParleyEnvelope): string[] {
  return notificationsOf(envelope, 'warning');
}

/** `Retry-After` as delay seconds or an HTTP date, in milliseconds from `nowMs`. */
export function parseRetryAfter(value: string | null, nowMs: number): number | undefined {
  if (value === null) return undefined;
  const trimmed = value.trim();
  if (/^\d+$/.test(trimmed)) return Number(trimmed) * 1000;
  const at = Date.parse(trimmed);
  return Number.isNaN(at) ? undefined : Math.max(0, at - nowMs);
}

function isKeyNotValid(error: ParleyError): boolean {
  return (
    error instanceof ParleyApiError &&
    error.status === 401 &&
    error.parleyCode === 'api_key_not_valid'
  );
}

/**
 * A request that never left and a 429 (Parley refused it unapplied) are retried for any method,
 * within the same attempts, backoff, Retry-After and budget as a read. Any other failure of a
 * write may have been applied: never retried blind (the domain settles it with a read).
 */
function isRetryable(error: ParleyError, read: boolean): boolean {
  if (error instanceof ParleyNetworkError && !error.sent) return true;
  if (error instanceof ParleyApiError && error.status === 429) return true;
  if (!read) return false;
  if (error instanceof ParleyTimeoutError || error instanceof ParleyNetworkError) return true;
  return (
    error instanceof ParleyApiError &&
    (error.status >= 500 || error.status === 429 || error.status === 408)
  );
}

/** True when every error code in the failure's cause chain says the connection was never made. */
function neverConnected(err: unknown): boolean {
  const codes: string[] = [];
  const seen = new Set<unknown>();
  const visit = (e: unknown): void => {
    if (e === null || typeof e !== 'object' || seen.has(e)) return;
    seen.add(e);
    const { code, cause, errors } = e as { code?: unknown; cause?: unknown; errors?: unknown };
    if (typeof code === 'string') codes.push(code);
    visit(cause);
    if (Array.isArray(errors)) for (const inner of errors) visit(inner);
  };
  visit(err);
  return codes.length > 0 && codes.every((code) => NOT_SENT_CODES.has(code));
}
