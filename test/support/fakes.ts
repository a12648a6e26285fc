// Small in-memory stand-ins for the domain's ports, for domain tests. They keep the contracts of
// functions/domain/ports.ts (conditional writes, expiry on read, newest-first pages) so a domain
// test exercises the same rules the DynamoDB adapters enforce; test/contracts runs one set of
// store cases against both, so the two cannot drift.
import {
  ParleyApiError,
  ParleyNetworkError,
  ParleyTimeoutError,
  UnknownServiceError,
  ValidationError,
} from '../../functions/domain/errors';
import type { HandoverDeps } from '../../functions/domain/handover/deps';
import type {
  CircuitStore,
  Clock,
  HistoryStore,
  IdGenerator,
  Log,
  MetricsSink,
  ParleyCall,
  ParleyClient,
  ParleyService,
  ReadOptions,
  ServiceCatalog,
  StateStore,
} from '../../functions/domain/ports';
import type {
  CircuitItem,
  DeliveryItem,
  HandoverRecord,
  IdempotencyItem,
  OwnerItem,
  Page,
  ServiceInfo,
} from '../../functions/domain/types';
import { shardOf } from '../../functions/domain/shards';

export const BOT = 'as272d6g2ds766fcdfgh';
export const AGENT = 'Jlk9e7cSf9g3FFsaqe39';

export const seedServices = (): ServiceInfo[] => [
  { identification: BOT, name: 'Bot Service', role: 'bot', default: true, rules: [] },
  { identification: AGENT, name: 'Agent Service', role: 'agent', default: false, rules: [] },
];

const clone = <T>(v: T): T => structuredClone(v);

// ---------------------------------------------------------------- clock and ids

export interface ManualClock extends Clock {
  set(ms: number): void;
  advance(ms: number): void;
}

export const manualClock = (start = Date.parse('2026-03-10T14:00:00.000Z')): ManualClock => {
  let t = start;
  return {
    now: () => t,
    set: (ms) => {
      t = ms;
    },
    advance: (ms) => {
      t += ms;
    },
  };
};

export const sequentialIds = (prefix = 'h'): IdGenerator => {
  let n = 0;
  return { next: () => `${prefix}${String(++n).padStart(4, '0')}` };
};

// ---------------------------------------------------------------- history

// As the DynamoDB stores do (the contract suite in test/contracts holds both to it): limits of
// 1..1000, cursors of the kind of query that made them, instants compared as times.
const checkLimit = (limit: number): void => {
  if (!Number.isInteger(limit) || limit < 1 || limit > 1000) {
    throw new ValidationError(
      'The page limit must be a whole number from 1 to 1000.',
      'invalid_limit',
    );
  }
};
const pageCursor = (kind: string, offset: number, total: number): string | undefined =>
  offset < total ? Buffer.from(JSON.stringify({ kind, offset })).toString('base64url') : undefined;
const pageOffset = (kind: string, cursor?: string): number => {
  if (cursor === undefined) return 0;
  let state: unknown;
  try {
    state = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    state = null;
  }
  const { kind: k, offset } = (state ?? {}) as { kind?: unknown; offset?: unknown };
  if (k !== kind || !Number.isInteger(offset) || (offset as number) < 0) {
    throw new ValidationError('The cursor is not valid.', 'invalid_cursor');
  }
  return offset as number;
};
const instantOf = (value: string, what: string): string => {
  const ms = Date.parse(value);
  if (Number.isNaN(ms)) {
    throw new ValidationError(`The ${what} time is not a valid ISO-8601 instant.`);
  }
  return new Date(ms).toISOString();
};

/** A read and the consistency it asked for (undefined: the default, consistent). */
export interface FakeRead {
  method: string;
  consistent: boolean | undefined;
}

export class FakeHistoryStore implements HistoryStore {
  readonly records = new Map<string, HandoverRecord>();
  readonly reads: FakeRead[] = [];
  appendCalls = 0;
  /** Throws from the next append, once (a crash after Parley, before the record). */
  failNextAppend: Error | null = null;

  private key(userId: string, seq: number) {
    return `${userId}#${String(seq).padStart(10, '0')}`;
  }

  async append(record: HandoverRecord): Promise<'appended' | 'exists'> {
    this.appendCalls++;
    if (this.failNextAppend) {
      const err = this.failNextAppend;
      this.failNextAppend = null;
      throw err;
    }
    const k = this.key(record.userId, record.seq);
    if (this.records.has(k)) return 'exists';
    this.records.set(k, clone(record));
    return 'appended';
  }

  async get(userId: string, seq: number, options?: ReadOptions) {
    this.reads.push({ method: 'get', consistent: options?.consistent });
    return clone(this.records.get(this.key(userId, seq)) ?? null);
  }

  userRecords(userId: string): HandoverRecord[] {
    return [...this.records.values()]
      .filter((r) => r.userId === userId)
      .sort((a, b) => a.seq - b.seq);
  }

  all(): HandoverRecord[] {
    return [...this.records.values()].sort((a, b) => a.createdAt.localeCompare(b.createdAt));
  }

  async listUser(
    userId: string,
    options: { limit: number; cursor?: string; order?: 'asc' | 'desc' } & ReadOptions,
  ): Promise<Page<HandoverRecord>> {
    this.reads.push({ method: 'listUser', consistent: options.consistent });
    checkLimit(options.limit);
    const kind = `user:${options.order === 'asc' ? 'asc' : 'desc'}`;
    const all = this.userRecords(userId);
    if (options.order !== 'asc') all.reverse();
    const start = pageOffset(kind, options.cursor);
    const items = all.slice(start, start + options.limit);
    return {
      items: clone(items),
      cursor: pageCursor(kind, start + items.length, all.length),
      itemsRead: items.length,
    };
  }

  async latestAtOrBefore(userId: string, instant: string) {
    const at = instantOf(instant, 'instant');
    const found = this.userRecords(userId).filter((r) => r.createdAt <= at);
    return clone(found.at(-1) ?? null);
  }

  async listRange(options: {
    from: string;
    to: string;
    limit: number;
    cursor?: string;
    filters?: { toOwner?: string; reason?: string; status?: string; source?: string };
  }): Promise<Page<HandoverRecord>> {
    checkLimit(options.limit);
    const from = instantOf(options.from, 'from');
    const to = instantOf(options.to, 'to');
    const f = options.filters ?? {};
    const kind = f.toOwner === undefined ? 'range' : 'range-to';
    const start = pageOffset(kind, options.cursor);
    // Oldest first; records of one instant by handover id (the indexes sort on both).
    const all = this.all()
      .sort(
        (a, b) =>
          a.createdAt.localeCompare(b.createdAt) || a.handoverId.localeCompare(b.handoverId),
      )
      .filter(
        (r) =>
          r.createdAt >= from &&
          r.createdAt <= to &&
          (!f.toOwner || r.toOwner === f.toOwner) &&
          (!f.reason || r.reason === f.reason) &&
          (!f.status || r.status === f.status) &&
          (!f.source || r.source === f.source),
      );
    const items = all.slice(start, start + options.limit);
    return {
      items: clone(items),
      cursor: pageCursor(kind, start + items.length, all.length),
      itemsRead: items.length,
    };
  }
}

// ---------------------------------------------------------------- state

export class FakeStateStore implements StateStore {
  readonly owners = new Map<string, OwnerItem>();
  readonly reads: FakeRead[] = [];
  readonly idempotency = new Map<string, IdempotencyItem>();
  readonly deliveries = new Map<string, DeliveryItem>();
  casCalls = 0;
  /** Runs before the next compareAndSetOwner writes (to interleave a competing writer), once. */
  beforeNextCas: (() => void) | null = null;

  async getOwner(userId: string, options?: ReadOptions) {
    this.reads.push({ method: 'getOwner', consistent: options?.consistent });
    return clone(this.owners.get(userId) ?? null);
  }

  async listUsers(options: { limit: number; cursor?: string }) {
    const all = [...this.owners.keys()].sort().map((userId) => ({ userId }));
    const start = pageOffset('users', options.cursor);
    const items = all.slice(start, start + options.limit);
    return {
      items,
      cursor: pageCursor('users', start + items.length, all.length),
      itemsRead: items.length,
    };
  }

  async createOwner(item: OwnerItem) {
    if (this.owners.has(item.userId)) return false;
    this.owners.set(item.userId, clone(item));
    return true;
  }

  async compareAndSetOwner(item: OwnerItem, expectedVersion: number) {
    this.casCalls++;
    if (item.version !== expectedVersion + 1) {
      throw new Error('An owner item write must advance the version by exactly one.');
    }
    const hook = this.beforeNextCas;
    this.beforeNextCas = null;
    hook?.();
    const current = this.owners.get(item.userId);
    if (!current || current.version !== expectedVersion || current.erasing) return false;
    this.owners.set(item.userId, clone(item));
    return true;
  }

  async listStalePending(markedBefore: string, options: { limit: number; cursor?: string }) {
    checkLimit(options.limit);
    const start = pageOffset('pending', options.cursor);
    const all = [...this.owners.values()]
      .filter((o) => o.pending && o.pending.markedAt < markedBefore)
      .sort((a, b) => a.pending!.markedAt.localeCompare(b.pending!.markedAt))
      .map((o) => ({ userId: o.userId, markedAt: o.pending!.markedAt }));
    const items = all.slice(start, start + options.limit);
    return {
      items,
      cursor: pageCursor('pending', start + items.length, all.length),
      itemsRead: items.length,
    };
  }

  /** Index shards, for listDue (the stage's indexShards). */
  shards = 8;

  /** byDue: one shard's items with a dueAt, by `{dueAt}#{userId}` below the bound, oldest first. */
  async listDue(shard: number, beforeDueSk: string, options: { limit: number; cursor?: string }) {
    checkLimit(options.limit);
    const kind = `due:${shard}`;
    const key = (o: OwnerItem) => `${new Date(Date.parse(o.dueAt!)).toISOString()}#${o.userId}`;
    const utf8 = (a: string, b: string) => Buffer.compare(Buffer.from(a), Buffer.from(b));
    const all = [...this.owners.values()]
      .filter((o) => typeof o.dueAt === 'string' && shardOf(o.userId, this.shards) === shard)
      .filter((o) => utf8(key(o), beforeDueSk) < 0)
      .sort((a, b) => utf8(key(a), key(b)));
    const start = pageOffset(kind, options.cursor);
    const items = all.slice(start, start + options.limit);
    return {
      items: clone(items),
      cursor: pageCursor(kind, start + items.length, all.length),
      itemsRead: items.length,
    };
  }

  /** No shards here: one sorted list, with the adapter's order, limits and cursor checks. */
  async listOwnedBy(serviceId: string, options: { limit: number; cursor?: string }) {
    checkLimit(options.limit);
    const kind = `owned:${serviceId}`;
    const all = [...this.owners.values()]
      .filter((o) => o.owner === serviceId)
      .map((o) => o.userId)
      .sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)))
      .map((userId) => ({ userId }));
    const start = pageOffset(kind, options.cursor);
    const items = all.slice(start, start + options.limit);
    return {
      items,
      cursor: pageCursor(kind, start + items.length, all.length),
      itemsRead: items.length,
    };
  }

  async getIdempotency(callerServiceId: string, key: string, nowMs: number) {
    const item = this.idempotency.get(`${callerServiceId}#${key}`);
    return item && item.expiresAt * 1000 > nowMs ? clone(item) : null;
  }

  async putIdempotency(item: IdempotencyItem, nowMs: number) {
    const k = `${item.callerServiceId}#${item.key}`;
    const existing = this.idempotency.get(k);
    if (existing && existing.expiresAt * 1000 > nowMs) return false;
    this.idempotency.set(k, clone(item));
    return true;
  }

  async replaceIdempotency(item: IdempotencyItem, previousHandoverId: string, nowMs: number) {
    const k = `${item.callerServiceId}#${item.key}`;
    const existing = this.idempotency.get(k);
    const free = !existing || existing.expiresAt * 1000 <= nowMs;
    if (!free && existing.handoverId !== previousHandoverId) return false;
    this.idempotency.set(k, clone(item));
    return true;
  }

  async getDelivery(deliveryId: string, nowMs: number) {
    const item = this.deliveries.get(deliveryId);
    return item && item.expiresAt * 1000 > nowMs ? clone(item) : null;
  }

  async claimDelivery(
    item: DeliveryItem,
    nowMs: number,
    read: DeliveryItem | null,
  ): Promise<{ claimed: true } | { claimed: false; existing: DeliveryItem }> {
    const existing = this.deliveries.get(item.deliveryId);
    const free =
      !existing ||
      existing.expiresAt * 1000 <= nowMs ||
      (read !== null &&
        existing.state === 'in_progress' &&
        existing.leaseUntil === read.leaseUntil &&
        existing.leaseUntil < nowMs &&
        existing.replyState === read.replyState &&
        existing.handoverId === read.handoverId);
    if (!free) return { claimed: false, existing: clone(existing) };
    this.deliveries.set(item.deliveryId, clone(item));
    return { claimed: true };
  }

  async updateDelivery(deliveryId: string, patch: Partial<DeliveryItem>, lease?: number) {
    const existing = this.deliveries.get(deliveryId);
    if (lease !== undefined && existing?.leaseUntil !== lease) return false;
    if (!existing) {
      throw new Error(`The delivery ${deliveryId} does not exist; it cannot be updated.`);
    }
    this.deliveries.set(deliveryId, { ...existing, ...clone(patch) });
    return true;
  }
}

// ---------------------------------------------------------------- circuits (failover)

/** Circuit items by Service, with the adapter's CAS on version (0: none stored yet). */
export class FakeCircuitStore implements CircuitStore {
  readonly items = new Map<string, CircuitItem>();
  /** Writes that lost their compare-and-set, for tests of contention. */
  conflicts = 0;

  async get(serviceId: string) {
    const item = this.items.get(serviceId);
    return item ? clone(item) : null;
  }

  async compareAndSet(item: CircuitItem, expectedVersion: number) {
    if (item.version !== expectedVersion + 1) {
      throw new Error('A circuit item write must advance the version by exactly one.');
    }
    if ((this.items.get(item.serviceId)?.version ?? 0) !== expectedVersion) {
      this.conflicts += 1;
      return false;
    }
    this.items.set(item.serviceId, clone(item));
    return true;
  }

  async addCounts(
    serviceId: string,
    windowStart: number,
    counts: { requests: number; failures: number },
  ) {
    const item = this.items.get(serviceId);
    if (item?.state !== 'closed' || item.windowStart !== windowStart) return null;
    item.requests += counts.requests;
    item.failures += counts.failures;
    item.version += 1;
    return clone(item);
  }
}

// ---------------------------------------------------------------- Parley

export type FakeFault =
  | 'reject_500' // Parley answers 500, nothing applied
  | 'apply_then_500' // applied, then the caller sees a 500
  | 'apply_then_timeout' // applied, then the caller times out
  | 'timeout' // nothing applied, caller times out
  | 'refused' // the request never left
  | 'reject_403'; // a definite refusal

export interface ParleyCallRecord {
  as: string;
  method: 'listServices' | 'getOwner' | 'setOwner' | 'sendMessage' | 'unsetAgent';
  userId?: string;
  newOwner?: string;
  metadata?: Record<string, unknown>;
  text?: string;
}

/** A Parley of the seed's services, with its owner table and scripted faults, in memory. */
export class FakeParley {
  readonly owners = new Map<string, string>();
  readonly calls: ParleyCallRecord[] = [];
  private readonly faults: { method: ParleyCallRecord['method']; fault: FakeFault }[] = [];
  /** Runs inside the next setOwner, before it is applied (e.g. to simulate a crash). */
  onSetOwner: (() => void) | null = null;

  constructor(readonly services: ParleyService[] = seedServices()) {}

  get defaultService(): string {
    return (this.services.find((s) => s.default) ?? this.services[0]!).identification;
  }

  ownerOf(userId: string): string {
    return this.owners.get(userId) ?? this.defaultService;
  }

  /** Queue a fault for the next call of `method`. */
  failNext(method: ParleyCallRecord['method'], fault: FakeFault): void {
    this.faults.push({ method, fault });
  }

  callsOf(method: ParleyCallRecord['method']): ParleyCallRecord[] {
    return this.calls.filter((c) => c.method === method);
  }

  private takeFault(method: ParleyCallRecord['method']): FakeFault | undefined {
    const i = this.faults.findIndex((f) => f.method === method);
    return i >= 0 ? this.faults.splice(i, 1)[0]!.fault : undefined;
  }

  private ok<T>(data: T): ParleyCall<T> {
    return { data, status: 200, apiVersion: '20500', durationMs: 5, warnings: [] };
  }

  private async run<T>(
    record: ParleyCallRecord,
    path: string,
    method: string,
    apply: () => T,
  ): Promise<ParleyCall<T>> {
    this.calls.push(record);
    const fault = this.takeFault(record.method);
    switch (fault) {
      case 'refused':
        throw new ParleyNetworkError(false, method, path, 1);
      case 'timeout':
        throw new ParleyTimeoutError(method, path, 3000);
      case 'reject_500':
        throw new ParleyApiError(500, null, method, path, '20500', 5);
      case 'reject_403':
        throw new ParleyApiError(403, 'forbidden', method, path, '20500', 5);
      case 'apply_then_500':
        apply();
        throw new ParleyApiError(500, null, method, path, '20500', 5);
      case 'apply_then_timeout':
        apply();
        throw new ParleyTimeoutError(method, path, 3000);
      default:
        return this.ok(apply());
    }
  }

  client(as: string): ParleyClient {
    return {
      serviceIdentification: as,
      listServices: () =>
        this.run({ as, method: 'listServices' }, 'services', 'GET', () => clone(this.services)),
      getOwner: (userId) =>
        this.run({ as, method: 'getOwner', userId }, `users/${userId}/owner`, 'GET', () => ({
          owner: this.ownerOf(userId),
        })),
      setOwner: (userId, newOwner, metadata) => {
        const path = `users/${userId}/owner`;
        const hook = this.onSetOwner;
        this.onSetOwner = null;
        hook?.();
        if (this.ownerOf(userId) !== as) {
          this.calls.push({ as, method: 'setOwner', userId, newOwner, metadata });
          return Promise.reject(
            new ParleyApiError(403, 'service_is_not_owner', 'PUT', path, '20500', 5),
          );
        }
        if (!this.services.some((s) => s.identification === newOwner)) {
          this.calls.push({ as, method: 'setOwner', userId, newOwner, metadata });
          return Promise.reject(
            new ParleyApiError(400, 'unknown_service', 'PUT', path, '20500', 5),
          );
        }
        return this.run({ as, method: 'setOwner', userId, newOwner, metadata }, path, 'PUT', () => {
          this.owners.set(userId, newOwner);
          return {};
        });
      },
      sendMessage: (userId, text) => {
        const path = `users/${userId}/messages`;
        if (this.ownerOf(userId) !== as) {
          this.calls.push({ as, method: 'sendMessage', userId, text });
          return Promise.reject(
            new ParleyApiError(403, 'service_is_not_owner', 'POST', path, '20500', 5),
          );
        }
        return this.run({ as, method: 'sendMessage', userId, text }, path, 'POST', () => ({}));
      },
      unsetAgent: (userId) =>
        this.run(
          { as, method: 'unsetAgent', userId },
          `users/${userId}/agent/unset`,
          'PUT',
          () => ({}),
        ),
    };
  }

  clients = (serviceId: string): ParleyClient => this.client(serviceId);
}

// ---------------------------------------------------------------- catalog

/** A catalog over a fixed list of services (no Parley call). */
export const staticCatalog = (services: ServiceInfo[] = seedServices()): ServiceCatalog => ({
  list: async () => clone(services),
  get: (id) => services.find((s) => s.identification === id),
  resolve: async (ref) => {
    const found =
      ref === 'default'
        ? services.find((s) => s.default)
        : (services.find((s) => s.identification === ref) ??
          services.find((s) => s.name.toLowerCase() === ref.toLowerCase()));
    if (!found) throw new UnknownServiceError(ref);
    return clone(found);
  },
});

// ---------------------------------------------------------------- handover world (added)

export interface RecordedLine {
  level: 'debug' | 'info' | 'warn' | 'error';
  message: string;
  attributes?: Record<string, unknown>;
}

/** A Log that keeps its lines, to assert on what was (and was not) logged. */
export const recordingLog = (): Log & { lines: RecordedLine[] } => {
  const lines: RecordedLine[] = [];
  const at =
    (level: RecordedLine['level']) => (message: string, attributes?: Record<string, unknown>) => {
      lines.push({ level, message, ...(attributes ? { attributes: clone(attributes) } : {}) });
    };
  return { lines, debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
};

export interface RecordedMetric {
  kind: 'count' | 'milliseconds' | 'gauge';
  name: string;
  value: number;
  dimensions?: Record<string, string>;
}

/** A MetricsSink that keeps what it was given. */
export const recordingMetrics = (): MetricsSink & {
  points: RecordedMetric[];
  total(name: string, dimensions?: Record<string, string>): number;
} => {
  const points: RecordedMetric[] = [];
  const put = (kind: RecordedMetric['kind'], name: string, value: number, dims?: object) => {
    points.push({ kind, name, value, ...(dims ? { dimensions: { ...dims } } : {}) });
  };
  return {
    points,
    count: (name, value = 1, dimensions) => put('count', name, value, dimensions),
    milliseconds: (name, value, dimensions) => put('milliseconds', name, value, dimensions),
    gauge: (name, value, _unit, dimensions) => put('gauge', name, value, dimensions),
    total: (name, dimensions) =>
      points
        .filter(
          (p) =>
            p.name === name &&
            Object.entries(dimensions ?? {}).every(([k, v]) => p.dimensions?.[k] === v),
        )
        .reduce((sum, p) => sum + p.value, 0),
  };
};

/** Everything a domain handover test needs, wired to the fakes above (staleAfter 60 s). */
export const handoverWorld = (services: ServiceInfo[] = seedServices()) => {
  const parley = new FakeParley(
    services.map((s) => ({ identification: s.identification, name: s.name, default: s.default })),
  );
  const history = new FakeHistoryStore();
  const state = new FakeStateStore();
  const clock = manualClock();
  const log = recordingLog();
  const metrics = recordingMetrics();
  const deps: HandoverDeps = {
    parley: parley.clients,
    history,
    state,
    catalog: staticCatalog(services),
    clock,
    ids: sequentialIds(),
    log,
    metrics,
    staleAfterMs: 60_000,
  };
  return { parley, history, state, clock, log, metrics, deps };
};

// ---------------------------------------------------------------- outbox (notifications)

type NotificationItemT = import('../../functions/domain/types').NotificationItem;
type NotificationStatusT = import('../../functions/domain/types').NotificationStatus;
type NotificationStoreT = import('../../functions/domain/ports').NotificationStore;

/** The outbox in memory, with the adapter's contract (test/adapters/notification-store.test.ts). */
export class FakeNotificationStore implements NotificationStoreT {
  readonly items = new Map<string, NotificationItemT>();
  /** Runs once before the next compareAndSet (a test interleaves a writer there). */
  beforeNextCas: (() => void) | null = null;

  async put(item: NotificationItemT) {
    if (this.items.has(item.id)) return false;
    this.items.set(item.id, clone(item));
    return true;
  }

  async get(id: string) {
    const item = this.items.get(id);
    return item ? clone(item) : null;
  }

  async compareAndSet(item: NotificationItemT, expectedVersion: number) {
    if (item.version !== expectedVersion + 1) {
      throw new Error('A notification write must advance the version by exactly one.');
    }
    const hook = this.beforeNextCas;
    this.beforeNextCas = null;
    hook?.();
    if (this.items.get(item.id)?.version !== expectedVersion) return false;
    this.items.set(item.id, clone(item));
    return true;
  }

  /** By `{createdAt}#{id}`, as the index sorts. */
  private sorted(): NotificationItemT[] {
    const key = (i: NotificationItemT) => `${instantOf(i.createdAt, 'createdAt')}#${i.id}`;
    return [...this.items.values()].sort((a, b) => (key(a) < key(b) ? -1 : 1));
  }

  async list(options: {
    service?: string;
    status?: NotificationStatusT;
    limit: number;
    cursor?: string;
  }): Promise<Page<import('../../functions/domain/ports').NotificationSummary>> {
    checkLimit(options.limit);
    const all = this.sorted()
      .reverse()
      .filter(
        (i) =>
          (options.status === undefined || i.status === options.status) &&
          (options.service === undefined || i.recipient === options.service),
      );
    const offset = pageOffset('notifications', options.cursor);
    const end = offset + options.limit;
    const cursor = pageCursor('notifications', end, all.length);
    // As the index holds them: no body, no version.
    const items = all.slice(offset, end).map(({ body: _b, version: _v, ...listed }) => listed);
    return { items, ...(cursor ? { cursor } : {}) };
  }

  async listPendingBefore(before: string, options: { limit: number; cursor?: string }) {
    checkLimit(options.limit);
    const bound = instantOf(before, 'before');
    const all = this.sorted().filter(
      (i) => i.status === 'pending' && instantOf(i.createdAt, 'createdAt') < bound,
    );
    const offset = pageOffset('notifications-pending', options.cursor);
    const end = offset + options.limit;
    const cursor = pageCursor('notifications-pending', end, all.length);
    return { items: all.slice(offset, end).map(clone), ...(cursor ? { cursor } : {}) };
  }
}
