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

/** A delay of `fixedMs` plus a uniform draw in [0, jitterMs] from the seeded generator. */
export interface Delay {
  fixedMs?: number;
  jitterMs?: number;
}

/**
 * Latency of matching Service API calls, in two places: `request` before the call is decided and
 * applied (the call waits in a queue), `response` after it was applied and before the answer
 * leaves (a GET owner reads early and answers late; a PUT owner applies, then answers late, maybe
 * after the client gave up). Delays of every matching rule add up.
 */
export interface LatencyRule {
  route: FaultRoute;
  request?: Delay;
  response?: Delay;
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
      /** The caller's `X-Request-Id` header, when it sent one (to match a call to its entry). */
      requestId?: string;
      /** When the call was applied (or read), before any response latency; absent if it never was. */
      appliedAt?: string;
    }
  | {
      /**
       * An owner change applied through the Service API (PUT owner), logged when it is applied:
       * before any response latency, and whether or not the caller ever gets the answer.
       */
      kind: 'change';
      at: string;
      userId: string;
      from: string;
      to: string;
      /** The Service that made the call. */
      by: string;
      requestId?: string;
    }
  | {
      kind: 'callback';
      at: string;
      /** When the simulator chose the recipient: the user's owner at that instant. */
      routedAt: string;
      serviceId: string;
      userId: string;
      url: string;
      attempt: number;
      /** The receiver's HTTP status, or null on a network error or timeout. */
      status: number | null;
      body: unknown;
    }
  | {
      /** An owner set outside the Service API (`setOwner` or the control API). */
      kind: 'owner-set';
      at: string;
      userId: string;
      /** The owner before the change. */
      from: string;
      owner: string;
    };

/** A Service API call the simulator has started and not yet answered (or cut). */
export interface SimCall {
  method: string;
  path: string;
  requestId?: string;
  startedAt: string;
  /** Set once the call was applied (or read); it is then waiting out its response latency. */
  appliedAt?: string;
}

export interface CallbackResult {
  delivered: boolean;
  attempts: number;
  serviceId: string;
  /** Why it was not delivered, in one sentence (absent when it was). */
  reason?: string;
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
  latency?: LatencyRule[];
  /** Seeds the latency generator (apart from the faults', so latency never shifts them). Default 1. */
  latencySeed?: number;
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
  /** Replaces the latency rules (the generator keeps its sequence). */
  setLatency(rules: LatencyRule[]): void;
  /** The latency rules in effect. */
  latency(): LatencyRule[];
  /**
   * Calls started and not yet answered, oldest first; a call held open by a `timeout` fault is not
   * among them (it will never apply). Empty means nothing received so far can still change state.
   */
  inFlight(): SimCall[];
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
