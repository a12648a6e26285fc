// The Parley simulator's public shapes: its seed, fault rules, log entries and the running handle.

/** One Parley Service as the simulator knows it. The shared secret signs its Authorization. */
export interface SimService {
  identification: string;
  name: string;
  sharedSecret: string;
  /** The account's default Service: new users start owned by it. */
  default?: boolean;
  /** Where the simulator POSTs the callbacks of users this Service owns. */
  callbackUrl?: string;
  /** Static headers added to each callback (e.g. an Authorization token). */
  callbackHeaders?: Record<string, string>;
}

export interface SimSeed {
  accountIdentification: string;
  services: SimService[];
  /** Initial owners: userId -> Service identification. Anyone else belongs to the default. */
  owners?: Record<string, string>;
}

/** A Service API route a fault can target ('*' is every route). */
export type FaultRoute = 'services' | 'getOwner' | 'putOwner' | 'messages' | 'agentUnset' | '*';

/**
 * A fault injected into matching Service API calls. Rates are probabilities in [0, 1], rolled
 * with the simulator's seeded generator in the order timeout, drop, 429, error, apply-then-fail;
 * the first that hits decides the call. Latency is added before anything else.
 */
export interface FaultRule {
  route: FaultRoute;
  /** Added delay: fixed, or uniform in [min, max]. */
  latencyMs?: number | [number, number];
  /** Answer an ERROR envelope with `errorStatus` without applying the call. */
  errorRate?: number;
  /** Status of errors and of apply-then-fail in 'status' mode. Default 500. */
  errorStatus?: number;
  /** Answer 429 with `Retry-After: retryAfterSeconds`. */
  rate429?: number;
  /** Default 1. */
  retryAfterSeconds?: number;
  /** Never answer: the socket is held until the client gives up or the simulator closes. */
  timeoutRate?: number;
  /** Destroy the socket without any response. */
  dropRate?: number;
  /** Apply the call (owner moved, message recorded), then fail the response. */
  applyThenFailRate?: number;
  /** 'status': answer `errorStatus` (5xx); 'drop': cut the connection. Default 'status'. */
  applyThenFailMode?: 'status' | 'drop';
  /** Only the next N matching calls; then the rule is spent. */
  times?: number;
}

/** The kind of fault that decided a call, as recorded in the log. */
export type FaultKind = 'timeout' | 'drop' | '429' | 'error' | 'applyThenFail';

/**
 * What the simulator saw and did. A request's `status` is 0 when it never answered (timeout or
 * drop faults); message text in bodies is replaced by a placeholder.
 */
export type SimLogEntry =
  | {
      kind: 'request';
      at: string;
      method: string;
      /** Relative to the base path, e.g. 'users/20/owner'. */
      path: string;
      /** The authenticated Service's identification, or null. */
      caller: string | null;
      body: unknown;
      status: number;
      /** The first notification's message of the answer (e.g. 'api_key_not_valid'). */
      code: string | null;
      fault?: string;
    }
  | {
      kind: 'callback';
      at: string;
      serviceId: string;
      userId: string;
      url: string;
      attempt: number;
      /** The receiver's HTTP status, or null on a network error or timeout. */
      status: number | null;
      body: unknown;
    };

export interface CallbackResult {
  delivered: boolean;
  attempts: number;
  serviceId: string;
}

export interface SimulatorOptions {
  /** Default 0 (any free port). */
  port?: number;
  /** Default 127.0.0.1. */
  host?: string;
  /** Default seedFixture(). */
  seed?: SimSeed;
  faults?: FaultRule[];
  /** Seeds the fault generator. Default 1. */
  randomSeed?: number;
  /** Default '/serviceApi/v2.5'. Other v2.x versions are answered too. */
  basePath?: string;
  /** The `X-Parley-API-Version` header. Default '20500'. */
  apiVersion?: string;
  /** Epoch milliseconds. Default Date.now. */
  now?: () => number;
  /** Delay between callback attempts. Default 200. */
  callbackRetryDelayMs?: number;
  /**
   * The id of the first message callback; later ones count up. Default: the clock in ms, so that
   * a restarted simulator never reuses an id (Parley's message ids are unique, and the service
   * dedupes deliveries by them).
   */
  firstMessageId?: number;
}

export interface ParleySimulator {
  /** e.g. http://127.0.0.1:40123 */
  url: string;
  /** url + basePath */
  baseUrl: string;
  seed: SimSeed;
  log(): SimLogEntry[];
  clearLog(): void;
  setFaults(rules: FaultRule[]): void;
  ownerOf(userId: string): string;
  /** A change made outside our service. Throws on an unknown service. */
  setOwner(userId: string, identification: string): void;
  setCallback(identification: string, url: string, headers?: Record<string, string>): void;
  /** The user writes: a message callback goes to the owner's callback URL. */
  sendUserMessage(userId: string, text: string): Promise<CallbackResult>;
  /** An event callback (e.g. 'startTyping') to the owner's callback URL. */
  sendUserEvent(userId: string, name: string, body?: unknown): Promise<CallbackResult>;
  /** What Services sent the user, oldest first. */
  messagesTo(userId: string): { from: string; text: string; at: string }[];
  close(): Promise<void>;
}
