// The interfaces the domain talks through. Adapters implement them (DynamoDB, the Parley fetch
// client, SQS, Secrets Manager); domain tests implement them with small in-memory fakes.
import type { AuditorsSecret, ServiceSecret } from '../schemas/config';
import type {
  CircuitItem,
  DeliveryItem,
  HandoverRecord,
  HistoryFilters,
  IdempotencyItem,
  NotificationItem,
  NotificationStatus,
  OwnerItem,
  Page,
  ServiceInfo,
} from './types';

// ---------------------------------------------------------------- Parley

export interface ParleyService {
  identification: string;
  name: string;
  default: boolean;
}

/** A successful Parley call: its data plus what to log and record. */
export interface ParleyCall<T> {
  data: T;
  status: number;
  /** The `X-Parley-API-Version` header, e.g. "20500". */
  apiVersion: string | null;
  durationMs: number;
  /** Messages of `warning` notifications on a SUCCESS. */
  warnings: string[];
}

/** Per-call options: what is left of the request's time for this call (all its attempts). */
export interface ParleyCallOptions {
  /** Caps the client's own budget for this call, in milliseconds. */
  budgetMs?: number;
}

/**
 * One Service's view of Parley's Service API. Failures throw the Parley errors of ./errors:
 * `outcome: 'rejected'` means the call certainly had no effect, `'unknown'` that it may have.
 */
export interface ParleyClient {
  readonly serviceIdentification: string;
  listServices(): Promise<ParleyCall<ParleyService[]>>;
  /** The owning Service's identification. */
  getOwner(userId: string, options?: ParleyCallOptions): Promise<ParleyCall<{ owner: string }>>;
  setOwner(
    userId: string,
    newOwner: string,
    metadata: Record<string, unknown>,
    options?: ParleyCallOptions,
  ): Promise<ParleyCall<Record<string, unknown>>>;
  sendMessage(userId: string, text: string): Promise<ParleyCall<Record<string, unknown>>>;
  unsetAgent(
    userId: string,
    options?: ParleyCallOptions,
  ): Promise<ParleyCall<Record<string, unknown>>>;
}

/** The client acting as a given Service (its own credentials). */
export type ParleyClients = (serviceIdentification: string) => ParleyClient;

// ---------------------------------------------------------------- Stores

/**
 * `consistent` (default true): a strongly consistent read, which sees every write acknowledged
 * before it. Callers that prove something with a read (verify) ask for it explicitly.
 */
export interface ReadOptions {
  consistent?: boolean;
}

export interface HistoryStore {
  /** Conditional put on the record's key: 'exists' when that seq is already written. */
  append(record: HandoverRecord): Promise<'appended' | 'exists'>;
  get(userId: string, seq: number, options?: ReadOptions): Promise<HandoverRecord | null>;
  /** A user's records, newest first by default. */
  listUser(
    userId: string,
    options: { limit: number; cursor?: string; order?: 'asc' | 'desc' } & ReadOptions,
  ): Promise<Page<HandoverRecord>>;
  /** The newest record of a user created at or before `instant` (ISO). */
  latestAtOrBefore(userId: string, instant: string): Promise<HandoverRecord | null>;
  /**
   * Records created in [from, to] (ISO), oldest first, across days (the day index), or by the
   * destination index when `filters.toOwner` is set. Other filters may make pages short.
   */
  listRange(options: {
    from: string;
    to: string;
    limit: number;
    cursor?: string;
    filters?: HistoryFilters;
  }): Promise<Page<HandoverRecord>>;
}

export interface StateStore {
  getOwner(userId: string, options?: ReadOptions): Promise<OwnerItem | null>;
  /**
   * The users that have an owner item, in no particular order (a paged scan, eventually
   * consistent: a user created meanwhile may be missed). A page may be short and still carry a
   * cursor when the scan reached its bound of items read.
   */
  listUsers(options: { limit: number; cursor?: string }): Promise<Page<{ userId: string }>>;
  /** Writes a first owner item; false when one exists. */
  createOwner(item: OwnerItem): Promise<boolean>;
  /**
   * Replaces the owner item if its stored version is `expectedVersion`; false otherwise.
   * `item.version` must be `expectedVersion + 1`. Maintains the sparse pending index from
   * `item.pending`.
   */
  compareAndSetOwner(item: OwnerItem, expectedVersion: number): Promise<boolean>;
  /**
   * The users a Service owns (as last known), through the sharded byOwner index: every shard is
   * read and the pages merged by userId. Eventually consistent.
   */
  listOwnedBy(
    serviceId: string,
    options: { limit: number; cursor?: string },
  ): Promise<Page<{ userId: string }>>;
  /**
   * One shard's owner items with a timer (the sparse byDue index) whose `dueSk` sorts before
   * `beforeDueSk` (lifecycle/due.ts dueSkBefore), oldest first; the cursor resumes that shard.
   * Eventually consistent: the sweep reads each item again before it acts.
   */
  listDue(
    shard: number,
    beforeDueSk: string,
    options: { limit: number; cursor?: string },
  ): Promise<Page<OwnerItem>>;
  /** Users whose pending marker was written before `markedBefore` (ISO), via the sparse index. */
  listStalePending(
    markedBefore: string,
    options: { limit: number; cursor?: string },
  ): Promise<Page<{ userId: string; markedAt: string }>>;

  /** The idempotency item, or null when absent or expired at `nowMs`. */
  getIdempotency(
    callerServiceId: string,
    key: string,
    nowMs: number,
  ): Promise<IdempotencyItem | null>;
  /** Stores it unless a live one exists; false when a live one exists. */
  putIdempotency(item: IdempotencyItem, nowMs: number): Promise<boolean>;
  /**
   * Replaces the key's item if it still names `previousHandoverId` (or is absent or expired at
   * `nowMs`); false when another item holds the key (a concurrent request replaced it first).
   */
  replaceIdempotency(
    item: IdempotencyItem,
    previousHandoverId: string,
    nowMs: number,
  ): Promise<boolean>;

  getDelivery(deliveryId: string, nowMs: number): Promise<DeliveryItem | null>;
  /**
   * Claims a delivery on the strength of `read`, what getDelivery answered the caller: succeeds
   * while the stored item is still as read, i.e. none or expired (read null), or still
   * `in_progress` with the lease, replyState and handoverId read, that lease ended before `nowMs`
   * (a stalled attempt loses to one that claimed since, even after that one released its lease).
   * An item expired at `nowMs` is always claimable. Otherwise returns the item there now.
   */
  claimDelivery(
    item: DeliveryItem,
    nowMs: number,
    read: DeliveryItem | null,
  ): Promise<{ claimed: true } | { claimed: false; existing: DeliveryItem }>;
  /**
   * Updates the given fields. With `lease` (the `leaseUntil` the caller claimed with), only while
   * the item still holds that lease: false when another attempt has claimed it since (fenced out).
   */
  updateDelivery(
    deliveryId: string,
    patch: Partial<
      Pick<
        DeliveryItem,
        | 'state'
        | 'disposition'
        | 'replyState'
        | 'handoverId'
        | 'leaseUntil'
        | 'expiresAt'
        | 'forwardedTo'
        | 'failures'
        | 'lastStatus'
        | 'failover'
      >
    >,
    lease?: number,
  ): Promise<boolean>;
}

/** Circuit items of the state table (functions/adapters/circuit-store.ts); no index. */
export interface CircuitStore {
  get(serviceId: string): Promise<CircuitItem | null>;
  /**
   * Writes it if the stored version is `expectedVersion` (0: none stored yet); false otherwise.
   * `item.version` must be `expectedVersion + 1`.
   */
  compareAndSet(item: CircuitItem, expectedVersion: number): Promise<boolean>;
  /**
   * Adds outcomes to the stored closed window that began at `windowStart`, version + 1, in one
   * write that concurrent writers cannot make fail: the item after, or null when no such window
   * is stored (none yet, another window, or not closed).
   */
  addCounts(
    serviceId: string,
    windowStart: number,
    counts: { requests: number; failures: number },
  ): Promise<CircuitItem | null>;
}

/**
 * An outbox item as the listing returns it: what the status index projects (tables.ts
 * NOTIFICATION_LISTED), never the body (the new owner's metadata) nor the CAS version. Read the
 * item with `get` to send or change it.
 */
export type NotificationSummary = Omit<NotificationItem, 'body' | 'version'>;

/** The outbox: notification items in the state table (functions/adapters/notification-store.ts). */
export interface NotificationStore {
  /** Writes it unless an item with its id exists; false when one exists (a retry of the writer). */
  put(item: NotificationItem): Promise<boolean>;
  get(id: string): Promise<NotificationItem | null>;
  /** Replaces it if its stored version is `expectedVersion` (`item.version` = that + 1). */
  compareAndSet(item: NotificationItem, expectedVersion: number): Promise<boolean>;
  /** Newest first; every filter optional. Filtered pages may be short and still carry a cursor. */
  list(options: {
    service?: string;
    status?: NotificationStatus;
    limit: number;
    cursor?: string;
  }): Promise<Page<NotificationSummary>>;
  /** Pending items written before `before` (ISO), oldest first: what the relay re-queues. */
  listPendingBefore(
    before: string,
    options: { limit: number; cursor?: string },
  ): Promise<Page<NotificationItem>>;
}

// ---------------------------------------------------------------- Queue, downstream, catalog

export interface QueuedCallback {
  /** The receiving Service's identification. */
  serviceId: string;
  deliveryId: string;
  receivedAt: string;
  /** The callback body exactly as Parley sent it. */
  body: string;
}

export interface CallbackQueue {
  /**
   * FIFO: `groupId` keeps a user's callbacks in order; `dedupId` drops duplicates in a window.
   * `attributes` travel beside the body (SQS String message attributes).
   */
  send(message: {
    groupId: string;
    dedupId: string;
    body: string;
    attributes?: Record<string, string>;
  }): Promise<void>;
  /**
   * Consumer side: a received message (by its receipt handle) is delivered again after `seconds`
   * instead of after the visibility timeout. Without it a deferred message waits the whole timeout.
   */
  changeVisibility?(receiptHandle: string, seconds: number): Promise<void>;
}

/** One dead-letter queue's depth: messages waiting (`visible`) and received, not deleted. */
export interface QueueDepth {
  /** `callbacks` or `notify`: the queue whose dead letters these are. */
  name: string;
  visible: number;
  inFlight: number;
}

/** The dead-letter queues' depths (the console's overview). */
export interface QueueDepths {
  depths(): Promise<QueueDepth[]>;
}

export interface DownstreamResponse {
  status: number;
  /** Raw body text. */
  body: string;
}

/** Posts a signed forward to a Service's program (bot engine, agent desk). */
export interface Downstream {
  post(
    url: string,
    body: string,
    headers: Record<string, string>,
    timeoutMs: number,
  ): Promise<DownstreamResponse>;
}

/** The Services of this deployment: configuration merged with Parley's list (cached). */
export interface ServiceCatalog {
  list(): Promise<ServiceInfo[]>;
  /** Identification, name (case-insensitive) or "default"; throws UnknownServiceError. */
  resolve(ref: string): Promise<ServiceInfo>;
  /** A configured service by identification, without I/O. */
  get(identification: string): ServiceInfo | undefined;
}

// ---------------------------------------------------------------- Platform

export interface Clock {
  /** Epoch milliseconds. */
  now(): number;
}

export interface IdGenerator {
  next(): string;
}

export type LogAttributes = Record<string, unknown>;

/** Structured logging. Never pass a token, a secret or message text. */
export interface Log {
  debug(message: string, attributes?: LogAttributes): void;
  info(message: string, attributes?: LogAttributes): void;
  warn(message: string, attributes?: LogAttributes): void;
  error(message: string, attributes?: LogAttributes): void;
}

export interface MetricsSink {
  count(name: string, value?: number, dimensions?: Record<string, string>): void;
  milliseconds(name: string, value: number, dimensions?: Record<string, string>): void;
  /** A level, e.g. OldestPendingAgeSeconds. */
  gauge(
    name: string,
    value: number,
    unit: 'Seconds' | 'Count',
    dimensions?: Record<string, string>,
  ): void;
}

/** Who is calling an API route. An operator may do all an auditor may, and act. */
export type Caller =
  | { kind: 'service'; serviceId: string }
  | { kind: 'auditor'; name: string }
  | { kind: 'operator'; name: string };

export interface Authenticator {
  /** Parley's callback header for a service; throws UnauthorizedError (also for unknown ids). */
  callback(serviceId: string, authorization: string | undefined): Promise<void>;
  /** A Service's apiToken, an auditor's or an operator's token; throws UnauthorizedError. */
  caller(authorization: string | undefined): Promise<Caller>;
}

export interface SecretsProvider {
  /** A Service's secret values (cached for the TTL). */
  service(serviceId: string): Promise<ServiceSecret>;
  /** A Service's callback tokens (rotation list), kept in a secret of their own. */
  callbackTokens(serviceId: string): Promise<string[]>;
  auditors(): Promise<AuditorsSecret['auditors']>;
  /** The operators, from the same secret as the auditors (one fetch serves both). */
  operators(): Promise<AuditorsSecret['operators']>;
  /** Drops a cached value (after Parley's 401 api_key_not_valid), or all of them. */
  invalidate(serviceId?: string): void;
}

export const silentLog: Log = { debug() {}, info() {}, warn() {}, error() {} };
export const noMetrics: MetricsSink = { count() {}, milliseconds() {}, gauge() {} };
