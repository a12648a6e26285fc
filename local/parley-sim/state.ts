// What the simulator holds: the seed's services (with the callback URLs registered since), each
// user's owner, what Services sent users, its log, the Service API calls in flight, and the timers
// of its latency, which close() cuts short.
import type { SimCall, SimLogEntry, SimSeed, SimService } from './types';

/** The log keeps no message text: a string becomes its length. */
export const redactText = (text: unknown): unknown =>
  typeof text === 'string' ? `[message text, ${text.length} chars]` : text;

export interface SimState {
  readonly seed: SimSeed;
  readonly services: ReadonlyMap<string, SimService>;
  /** The account's default Service: users nobody else owns belong to it. */
  readonly defaultId: string;
  /** Service API calls started and not yet answered. */
  readonly calls: Set<SimCall>;
  readonly closed: boolean;
  now(): number;
  iso(): string;
  ownerOf(userId: string): string;
  /** A change made through the Service API (PUT owner), logged as applied at `at`. */
  changeOwner(userId: string, to: string, by: string, at: string, requestId?: string): void;
  /** A change made outside the Service API. Throws on an unknown service. */
  setOwner(userId: string, identification: string): void;
  setCallback(identification: string, url: string, headers?: Record<string, string>): void;
  recordMessage(userId: string, from: string, text: string, at: string): void;
  messagesTo(userId: string): { from: string; text: string; at: string }[];
  record(entry: SimLogEntry): void;
  /** The log itself (not a copy), oldest first. */
  entries(): readonly SimLogEntry[];
  clearLog(): void;
  /** Resolves after `ms`, or at once when the simulator closes. */
  sleep(ms: number): Promise<void>;
  /** Marks the simulator closed and ends every sleep. */
  close(): void;
}

export const createSimState = (seed: SimSeed, now: () => number): SimState => {
  const services = new Map<string, SimService>(seed.services.map((s) => [s.identification, s]));
  const defaultId = (seed.services.find((s) => s.default === true) ?? seed.services[0]!)
    .identification;
  const owners = new Map<string, string>(Object.entries(seed.owners ?? {}));
  const inbox = new Map<string, { from: string; text: string; at: string }[]>();
  let entries: SimLogEntry[] = [];
  const sleepers = new Map<NodeJS.Timeout, () => void>();
  let closed = false;

  const iso = () => new Date(now()).toISOString();
  const ownerOf = (userId: string) => owners.get(userId) ?? defaultId;

  return {
    seed,
    services,
    defaultId,
    calls: new Set<SimCall>(),
    get closed() {
      return closed;
    },
    now,
    iso,
    ownerOf,
    changeOwner(userId, to, by, at, requestId) {
      const from = ownerOf(userId);
      owners.set(userId, to);
      entries.push({
        kind: 'change',
        at,
        userId,
        from,
        to,
        by,
        ...(requestId ? { requestId } : {}),
      });
    },
    setOwner(userId, identification) {
      if (!services.has(identification)) {
        throw new Error('The simulator knows no service with that identification.');
      }
      const from = ownerOf(userId);
      owners.set(userId, identification);
      // Logged so that a test can compare the changes made outside the Service API with what the
      // service recorded as `observed`.
      entries.push({ kind: 'owner-set', at: iso(), userId, from, owner: identification });
    },
    setCallback(identification, url, headers) {
      const service = services.get(identification);
      if (!service) throw new Error('The simulator knows no service with that identification.');
      service.callbackUrl = url;
      service.callbackHeaders = headers ? { ...headers } : {};
    },
    recordMessage(userId, from, text, at) {
      const list = inbox.get(userId) ?? [];
      list.push({ from, text, at });
      inbox.set(userId, list);
    },
    messagesTo: (userId) => (inbox.get(userId) ?? []).map((m) => ({ ...m })),
    record(entry) {
      entries.push(entry);
    },
    entries: () => entries,
    clearLog() {
      entries = [];
    },
    sleep: (ms) =>
      new Promise<void>((resolve) => {
        if (closed || ms <= 0) {
          resolve();
          return;
        }
        const timer = setTimeout(() => {
          sleepers.delete(timer);
          resolve();
        }, ms);
        sleepers.set(timer, resolve);
      }),
    close() {
      closed = true;
      for (const [timer, resolve] of sleepers) {
        clearTimeout(timer);
        resolve();
      }
      sleepers.clear();
    },
  };
};
