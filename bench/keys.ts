// The key-distribution check: at a target rate, the writes that each event makes, keyed with the
// real key functions, are counted per partition (the base table and every index) per second, and
// the hottest partition is held against DynamoDB's per-partition write limit (1,000 write units a
// second). Pure and seeded: the same options give the same figures.
//
// The writes per event, from the code paths (a happy path; retries and recoveries write the same
// keys again):
// - handover (functions/domain/handover/perform.ts, complete.ts, records.ts):
//   1. an idempotency item `IDEM#{caller}#{key}` when the request has an Idempotency-Key
//      (idempotency.ts: state.putIdempotency);
//   2. the owner item CAS to its pending marker (perform.ts: compareAndSetOwner(marked)): it enters
//      byPendingSince, and its byOwner (and byDue) entry is rewritten;
//   3. the history record (records.ts appendOnce -> history.append): the table, the byTime local
//      index (same partition), byDay and byDestination;
//   4. the owner item CAS to the new owner (complete.ts: compareAndSetOwner(advanceItem(...))): it
//      leaves byPendingSince and moves from OWNER#{old} to OWNER#{new} in byOwner;
//   5. the outbox (docs LIFECYCLE "Notifications"; NotificationItem in domain/types.ts): per
//      notification one put (status pending, byNotificationStatus) and the sender's CAS to sent,
//      which moves it from NTF#pending to NTF#sent.
// - webhook (functions/handlers/inbound.ts, domain/processor/process-callback.ts, callback-run.ts):
//   the enqueue is an SQS send (no table write); the processor claims the delivery item
//   `CB#{deliveryId}` (claimDelivery: a put), names the Service before its first forward
//   (forward(): updateDelivery forwardedTo) and marks it done (finish(): updateDelivery). Delivery
//   items are in no index; the owner item is only read. Every forward's outcome goes to the
//   circuit breaker (processor/forwards.ts -> failover/breaker.ts recordForward), which writes
//   the item `CIRCUIT#{serviceId}` only for a failure (with the container's tally of successes),
//   for a success while the stored window is near the threshold, and on a change of state. The
//   model runs the breaker's own functions (tally.ts, circuit.ts, sightings.ts) over
//   `processorContainers` containers with forwards failing at `forwardFailureRate` (1% by
//   default: an assumption, not a measurement), and charges each add or compare-and-set it
//   makes. It also counts the item's consistent reads (1 read unit each: the item is far below
//   4 KB): a container reads it when its sight is older than `admissionCacheMs` or not closed,
//   and when a write needs a fresh base, so the busiest item takes about containers x 1000 /
//   admissionCacheMs reads a second (every container forwards to the bot within a window).
// How DynamoDB charges an index for a table write (its developer guide, "Provisioned throughput
// considerations for global secondary indexes"): an item entering an index is one put there, one
// leaving it one delete, an indexed key that changes a delete on the old entry and a put on the new
// one, and any other change of an indexed item one write; with KEYS_ONLY that last write is not
// made (no projected attribute changed), and INCLUDE is charged it here (the model does not know
// which attributes a write changes). Each write costs ceil(size / 1 KB) units, the size of what
// the index holds (the whole item for ALL); a table write the larger of the old and new item's.
// What each index projects comes from the table definitions (functions/contracts/tables.ts).
import { historyIndexKeys } from '../functions/adapters/history-store';
import { ownerIndexKeys } from '../functions/adapters/owner-index';
import { historyTable, stateTable } from '../functions/contracts/tables';
import { DEFAULT_ADMISSION_CACHE_MS } from '../functions/domain/failover/breaker';
import {
  admit,
  applyCounts,
  openingOf,
  record,
  windowCurrent,
} from '../functions/domain/failover/circuit';
import { DEFAULT_CIRCUIT } from '../functions/domain/failover/settings';
import { remember, reusable, type Sightings } from '../functions/domain/failover/sightings';
import {
  emptyTally,
  type Tally,
  takeCounts,
  tallyOutcome,
  writeDue,
} from '../functions/domain/failover/tally';
import { notificationId } from '../functions/domain/notify/build';
import { indexKeys, MAX_INDEX_SHARDS, shardOf } from '../functions/domain/shards';
import type { CircuitItem, PendingHandover } from '../functions/domain/types';

/** DynamoDB's write limit of one partition, write units per second. */
export const PARTITION_WRITE_LIMIT = 1000;
/** DynamoDB's read limit of one partition, read units per second (a consistent read is 1). */
export const PARTITION_READ_LIMIT = 3000;

/** Bytes of each item as the code builds it (bench/item-sizes.ts measures them). */
export interface ItemSizes {
  ownerAtRest: number;
  ownerMarked: number;
  record: number;
  idempotency: number;
  deliveryClaimed: number;
  deliveryDone: number;
  notificationPending: number;
  notificationSent: number;
  /** An outbox item as byNotificationStatus holds it (its keys and the listed attributes). */
  notificationListed: number;
  circuit: number;
}

/** The partition keys of the sharded indexes; the real ones by default, injectable for tests. */
export interface KeyFunctions {
  history(
    record: { handoverId: string; createdAt: string; toOwner: string },
    shards: number,
  ): { dayPk: string; toPk: string };
  owner(
    item: { userId: string; owner: string; pending: boolean; dueAt: string | null },
    shards: number,
  ): { pendingPk?: string; ownerPk: string; duePk?: string };
  notification(item: { id: string; status: string }, shards: number): { ntfPk: string };
}

/**
 * The keys the stores write: historyIndexKeys (history-store.ts), ownerIndexKeys (owner-index.ts)
 * and the outbox's ntfPk (notification-store.ts builds it from indexKeys and shardOf, as here).
 */
export const realKeys: KeyFunctions = {
  history: (record, shards) => historyIndexKeys(record, shards),
  owner: (item, shards) => {
    const keys = ownerIndexKeys(
      {
        userId: item.userId,
        owner: item.owner,
        pending: item.pending ? ({ markedAt: MARKED_AT } as PendingHandover) : null,
        dueAt: item.dueAt,
      },
      shards,
    );
    return {
      ownerPk: keys.ownerPk!,
      ...(keys.pendingPk ? { pendingPk: keys.pendingPk } : {}),
      ...(keys.duePk ? { duePk: keys.duePk } : {}),
    };
  },
  notification: (item, shards) => ({
    ntfPk: indexKeys.notificationStatus(item.status, shardOf(item.id, shards)),
  }),
};

/** Where a marker sorts does not move its partition; any instant will do for the key. */
const MARKED_AT = '2026-06-15T12:00:00.000Z';

/** The indexes counted; the table's own name stands for the table (and its local index). */
export const SCOPES = [
  'history',
  'history.byDay',
  'history.byDestination',
  'state',
  'state.byPendingSince',
  'state.byOwner',
  'state.byDue',
  'state.byNotificationStatus',
] as const;
export type Scope = (typeof SCOPES)[number];
export type ProjectionType = 'ALL' | 'KEYS_ONLY' | 'INCLUDE';

/** What each index scope projects, as the table definitions declare it. */
export const tableProjections = (): Partial<Record<Scope, ProjectionType>> => {
  const out: Partial<Record<Scope, ProjectionType>> = {};
  for (const [table, definition] of [
    ['history', historyTable],
    ['state', stateTable],
  ] as const) {
    for (const g of definition.globalIndexes) {
      const scope = `${table}.${g.name}` as Scope;
      if (SCOPES.includes(scope)) out[scope] = g.projection.type;
    }
  }
  return out;
};

/**
 * Processor containers forwarding at a webhook rate: about 0.125 s of a container per webhook
 * (docs/CAPACITY.md: 1,000 concurrent executions carry about 8,000 webhooks a second).
 */
export const containersFor = (webhooksPerSecond: number) =>
  Math.max(1, Math.ceil(webhooksPerSecond * 0.125));

export interface KeyCheckOptions {
  handoversPerSecond: number;
  webhooksPerSecond: number;
  users: number;
  /** Simulated seconds; the figure is the busiest second. */
  seconds: number;
  shards: number;
  sizes: ItemSizes;
  /** Outbox items per handover (the builder makes one per recipient). @default 3 */
  notificationsPerHandover?: number;
  /**
   * How forwards write their Service's circuit item: 'tally' as the breaker does now (failures,
   * near-threshold successes, changes of state), 'perForward' as it did before (a CAS on every
   * forward), 'none'. @default 'tally'
   */
  circuitWrites?: 'tally' | 'perForward' | 'none';
  /** Share of forwards that fail (an assumption). @default 0.01 */
  forwardFailureRate?: number;
  /** Processor containers, each with its own tally. @default containersFor(webhooksPerSecond) */
  processorContainers?: number;
  /**
   * How long a container reuses its sight of a closed circuit (0: a read per forward, as before;
   * 'perForward' writes read on every forward too). @default DEFAULT_ADMISSION_CACHE_MS
   */
  admissionCacheMs?: number;
  /** Share of handovers with an Idempotency-Key. @default 1 */
  idempotencyShare?: number;
  /** Share of webhooks forwarded to a downstream (one more delivery write). @default 1 */
  forwardShare?: number;
  /** Agent desks besides the bot; their share of escalations falls as 1/k. @default 10 */
  desks?: number;
  keys?: KeyFunctions;
  /**
   * What indexes project, over the table definitions' (tableProjections). KEYS_ONLY: an entry is
   * its keys, and a table write that changes no key of the index writes nothing there.
   */
  projections?: Partial<Record<Scope, ProjectionType>>;
  seed?: number;
  limit?: number;
}

export interface PartitionLoad {
  scope: Scope;
  partition: string;
  /** Write units in the busiest second. */
  unitsPerSecond: number;
  writesPerSecond: number;
}

export interface KeyCheckResult {
  shards: number;
  limit: number;
  /** The hottest partition of each scope that saw writes. */
  byScope: Partial<Record<Scope, PartitionLoad>>;
  hottest: PartitionLoad;
  within: boolean;
  /** Everything written, counted from the writes: units and writes per second, and events. */
  totals: { units: number; writes: number; handovers: number; webhooks: number };
  /** Write units per second of each scope, all partitions (DynamoDB's table and index quotas). */
  unitsByScope: Partial<Record<Scope, number>>;
  /**
   * Forwards that failed, circuit item writes and reads, per second, counted from the model's
   * runs; the item read most in the busiest second.
   */
  circuit: {
    failures: number;
    writes: number;
    reads: number;
    hottestReads: { partition: string; readsPerSecond: number } | null;
  };
}

interface Entry {
  pk: string;
  sk: string;
}

/** One item as an index sees it: its size, and its key in each scope it is in. */
interface Image {
  bytes: number;
  entries: Partial<Record<Scope, Entry>>;
  /** What an INCLUDE index holds of it (bytes); the whole item when absent. */
  projected?: Partial<Record<Scope, number>>;
}

const unitsOf = (bytes: number) => Math.max(1, Math.ceil(bytes / 1024));

/** A small seeded generator (mulberry32): the same run every time. */
const random = (seed: number) => {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
};

const pad20 = (s: string) => s.padEnd(20, '0');

/**
 * Simulates `seconds` of traffic and returns the hottest partition of each scope. Every count
 * comes from a write the model makes; nothing is assumed per partition.
 */
export const checkKeyDistribution = (options: KeyCheckOptions): KeyCheckResult => {
  const keys = options.keys ?? realKeys;
  const shards = options.shards;
  const limit = options.limit ?? PARTITION_WRITE_LIMIT;
  const sizes = options.sizes;
  const perHandover = options.notificationsPerHandover ?? 3;
  const idemShare = options.idempotencyShare ?? 1;
  const forwardShare = options.forwardShare ?? 1;
  const projections = { ...tableProjections(), ...options.projections };
  const circuitWrites = options.circuitWrites ?? 'tally';
  const failureRate = options.forwardFailureRate ?? 0.01;
  const rand = random(options.seed ?? 12);
  const bot = pad20('bot');
  const desks = Array.from({ length: options.desks ?? 10 }, (_, k) => pad20(`desk${k + 1}x`));
  const weights = desks.map((_, k) => 1 / (k + 1));
  const weightSum = weights.reduce((a, b) => a + b, 0);
  const pickDesk = (except?: string): string => {
    for (;;) {
      let r = rand() * weightSum;
      for (const [k, w] of weights.entries()) {
        r -= w;
        if (r <= 0) {
          if (desks[k] !== except) return desks[k]!;
          break;
        }
      }
    }
  };
  const hex = () =>
    Math.floor(rand() * 2 ** 32)
      .toString(16)
      .padStart(8, '0');
  const uuid = () =>
    `${hex()}-${hex().slice(0, 4)}-4${hex().slice(0, 3)}-a${hex().slice(0, 3)}-${hex()}${hex().slice(0, 4)}`;

  // units and writes per `${second}|${scope}|${pk}`
  const units = new Map<string, number>();
  const writes = new Map<string, number>();
  const totals = { units: 0, writes: 0, handovers: 0, webhooks: 0 };
  const scopeUnits: Partial<Record<Scope, number>> = {};
  let second = 0;
  const charge = (scope: Scope, pk: string, bytes: number) => {
    const key = `${second}|${scope}|${pk}`;
    const u = unitsOf(bytes);
    scopeUnits[scope] = (scopeUnits[scope] ?? 0) + u;
    units.set(key, (units.get(key) ?? 0) + u);
    writes.set(key, (writes.get(key) ?? 0) + 1);
    totals.units += u;
    totals.writes += 1;
  };

  /** One table write from `before` to `after` (either may be absent), with its index writes. */
  const write = (table: 'history' | 'state', before: Image | null, after: Image | null) => {
    const base = (after ?? before)!.entries[table]!;
    charge(table, base.pk, Math.max(before?.bytes ?? 0, after?.bytes ?? 0));
    for (const scope of SCOPES) {
      if (scope === table || !scope.startsWith(`${table}.`)) continue;
      const old = before?.entries[scope];
      const now = after?.entries[scope];
      if (!old && !now) continue;
      const projection = projections[scope] ?? 'ALL';
      const keysOnly = projection === 'KEYS_ONLY';
      const size = (image: Image, entry: Entry) =>
        keysOnly
          ? entry.pk.length + entry.sk.length + base.pk.length + 24
          : projection === 'INCLUDE'
            ? (image.projected?.[scope] ?? image.bytes)
            : image.bytes;
      if (old && now && old.pk === now.pk && old.sk === now.sk) {
        if (!keysOnly) charge(scope, now.pk, size(after!, now));
        continue;
      }
      if (old) charge(scope, old.pk, size(before!, old));
      if (now) charge(scope, now.pk, size(after!, now));
    }
  };

  // Who owns whom: 70% of the users rest with the bot, the rest with the desks; a handover of a
  // bot's user escalates to a desk, a desk's user mostly goes back to the bot.
  const owners = new Map<number, string>();
  const ownerOf = (user: number) => {
    let o = owners.get(user);
    if (o === undefined) {
      o = rand() < 0.7 ? bot : pickDesk();
      owners.set(user, o);
    }
    return o;
  };
  const ownerImage = (userId: string, owner: string, pending: string | null, bytes: number) => {
    const k = keys.owner({ userId, owner, pending: pending !== null, dueAt: null }, shards);
    const entries: Image['entries'] = {
      state: { pk: `USER#${userId}`, sk: '' },
      'state.byOwner': { pk: k.ownerPk, sk: userId },
    };
    if (k.pendingPk !== undefined && pending !== null)
      entries['state.byPendingSince'] = { pk: k.pendingPk, sk: pending };
    if (k.duePk !== undefined) entries['state.byDue'] = { pk: k.duePk, sk: userId };
    return { bytes, entries };
  };

  const handover = (at: string) => {
    totals.handovers += 1;
    const user = Math.floor(rand() * options.users);
    const userId = `user-${user}`;
    const from = ownerOf(user);
    const to = from === bot ? pickDesk() : rand() < 0.8 ? bot : pickDesk(from);
    const handoverId = uuid();
    if (rand() < idemShare) {
      write('state', null, {
        bytes: sizes.idempotency,
        entries: { state: { pk: `IDEM#${from}#${uuid()}`, sk: '' } },
      });
    }
    const rest = ownerImage(userId, from, null, sizes.ownerAtRest);
    const marked = ownerImage(userId, from, at, sizes.ownerMarked);
    write('state', rest, marked);
    const hk = keys.history({ handoverId, createdAt: at, toOwner: to }, shards);
    const timeSk = `${at}#${handoverId}`;
    write('history', null, {
      bytes: sizes.record,
      entries: {
        history: { pk: `USER#${userId}`, sk: 'SEQ' },
        'history.byDay': { pk: hk.dayPk, sk: timeSk },
        'history.byDestination': { pk: hk.toPk, sk: timeSk },
      },
    });
    // byTime, the local index: a second write on the record's own partition.
    charge('history', `USER#${userId}`, sizes.record);
    write('state', marked, ownerImage(userId, to, null, sizes.ownerAtRest));
    owners.set(user, to);
    // One item per recipient (the old owner, the new one, a requester that is neither).
    const recipients = [from, to, 'requester'];
    for (let n = 0; n < perHandover; n += 1) {
      const id = notificationId(handoverId, 'handover.completed', recipients[n % 3]!);
      const image = (status: 'pending' | 'sent', bytes: number): Image => ({
        bytes,
        projected: { 'state.byNotificationStatus': sizes.notificationListed },
        entries: {
          state: { pk: `NOTIFY#${id}`, sk: '' },
          'state.byNotificationStatus': {
            pk: keys.notification({ id, status }, shards).ntfPk,
            sk: `${at}#${id}`,
          },
        },
      });
      const pending = image('pending', sizes.notificationPending);
      write('state', null, pending);
      write('state', pending, image('sent', sizes.notificationSent));
    }
  };

  // The circuits: one item per Service; per container and Service a tally and a sight (what its
  // last read or write showed); the breaker's own functions deciding what is read and written.
  // Every add or compare-and-set is one write of the item, every read one consistent read.
  const circuitItems = new Map<string, CircuitItem | null>();
  const stored = (owner: string) => circuitItems.get(owner) ?? null;
  const containers = Array.from(
    { length: options.processorContainers ?? containersFor(options.webhooksPerSecond) },
    () => ({ tallies: new Map<string, Tally>(), sightings: new Map() as Sightings }),
  );
  const cacheMs = options.admissionCacheMs ?? DEFAULT_ADMISSION_CACHE_MS;
  const circuit = { failures: 0, writes: 0, reads: 0 };
  /** Reads per `${second}|${pk}`. */
  const circuitReads = new Map<string, number>();
  /** While warming up, the circuits run but nothing is charged. */
  let warming = false;
  const circuitWrite = (owner: string) => {
    if (warming) return;
    circuit.writes += 1;
    const image: Image = {
      bytes: sizes.circuit,
      entries: { state: { pk: `CIRCUIT#${owner}`, sk: '' } },
    };
    write('state', image, image);
  };
  /** A consistent read of the stored item, kept as the container's sight. */
  const circuitRead = (owner: string, sightings: Sightings, nowMs: number) => {
    const item = stored(owner);
    remember(sightings, owner, item, nowMs);
    if (warming) return item;
    circuit.reads += 1;
    const key = `${second}|CIRCUIT#${owner}`;
    circuitReads.set(key, (circuitReads.get(key) ?? 0) + 1);
    return item;
  };
  /** A write that succeeded: stored, and kept as the writing container's sight. */
  const circuitStore = (owner: string, item: CircuitItem, sightings: Sightings, nowMs: number) => {
    circuitItems.set(owner, item);
    remember(sightings, owner, item, nowMs);
  };
  const settings = DEFAULT_CIRCUIT;
  /** breaker.ts writeCounts: an add on a current window, else a compare-and-set on a fresh base. */
  const writeCounts = (
    owner: string,
    counts: { requests: number; failures: number },
    base: CircuitItem | null,
    reused: boolean,
    sightings: Sightings,
    nowMs: number,
  ) => {
    let item = base;
    const addable = item?.state === 'closed' && windowCurrent(item, settings, nowMs);
    if (reused && !addable) item = circuitRead(owner, sightings, nowMs);
    for (let attempt = 0; attempt < 3; attempt += 1) {
      if (item && item.state !== 'closed') return;
      const now = stored(owner);
      if (item && windowCurrent(item, settings, nowMs)) {
        circuitWrite(owner); // the add, conditioned on the window and the closed state
        if (now?.state === 'closed' && now.windowStart === item.windowStart) {
          const added = {
            ...now,
            requests: now.requests + counts.requests,
            failures: now.failures + counts.failures,
            version: now.version + 1,
          };
          circuitStore(owner, added, sightings, nowMs);
          const opened = openingOf(added, settings, nowMs);
          if (opened) {
            circuitWrite(owner);
            circuitStore(owner, opened, sightings, nowMs);
          }
          return;
        }
      } else {
        const next = applyCounts(item, owner, counts, settings, nowMs).next;
        if (!next) return;
        circuitWrite(owner); // the compare-and-set
        if ((now?.version ?? 0) === (item?.version ?? 0)) {
          circuitStore(owner, next, sightings, nowMs);
          return;
        }
      }
      item = circuitRead(owner, sightings, nowMs);
    }
  };
  const forwardOutcome = (owner: string, nowMs: number) => {
    const failed = rand() < failureRate;
    const container = containers[Math.floor(rand() * containers.length)]!;
    const { sightings } = container;
    if (circuitWrites === 'perForward') {
      // Before: a read and a compare-and-set on every forward.
      const read = circuitRead(owner, sightings, nowMs);
      if (admit(read, settings, nowMs).admission.kind === 'hold') return;
      if (failed && !warming) circuit.failures += 1;
      circuitWrite(owner);
      return;
    }
    const kept = reusable(sightings, owner, settings, nowMs, cacheMs);
    const read = kept ? kept.item : circuitRead(owner, sightings, nowMs);
    const { admission, next } = admit(read, settings, nowMs);
    if (admission.kind === 'hold') return;
    if (failed && !warming) circuit.failures += 1;
    if (circuitWrites === 'none') return;
    if (admission.kind === 'probe' && next) {
      circuitWrite(owner); // the probe's claim
      circuitStore(owner, next, sightings, nowMs);
      const after = record(next, owner, failed ? 'failure' : 'success', settings, nowMs, nowMs);
      circuitWrite(owner);
      if (after.next) circuitStore(owner, after.next, sightings, nowMs);
      return;
    }
    let tally = container.tallies.get(owner);
    if (!tally) {
      tally = emptyTally();
      container.tallies.set(owner, tally);
    }
    tallyOutcome(tally, failed, settings, nowMs);
    if (!writeDue(read, failed, settings, nowMs)) return;
    const counts = takeCounts(tally, settings, nowMs);
    if (!counts) return;
    writeCounts(owner, counts, read, kept !== null, sightings, nowMs);
  };

  // Parley sends a user's callbacks to the owner's Service, which gets the forward.
  const webhook = (nowMs: number) => {
    totals.webhooks += 1;
    const owner = ownerOf(Math.floor(rand() * options.users));
    const pk = `CB#${owner}#message#${uuid()}`;
    const claimed: Image = { bytes: sizes.deliveryClaimed, entries: { state: { pk, sk: '' } } };
    write('state', null, claimed);
    if (rand() < forwardShare) {
      write('state', claimed, claimed);
      forwardOutcome(owner, nowMs);
    }
    write('state', claimed, { bytes: sizes.deliveryDone, entries: { state: { pk, sk: '' } } });
  };

  const start = Date.parse('2026-06-15T12:00:00.000Z');
  // The processors have run a window before the counted seconds: their tallies and the circuit
  // items are as a running system's, not all empty at once. Containers started at different
  // times: each read every item (none stored yet) at a forward of its own, which succeeded, at
  // instants spread over a cache period, so their sights do not all expire at once.
  if (circuitWrites === 'tally' && options.webhooksPerSecond > 0) {
    warming = true;
    const warmMs = DEFAULT_CIRCUIT.windowSeconds * 1000;
    for (const { sightings, tallies } of containers) {
      for (const owner of [bot, ...desks]) {
        const at = start - warmMs - Math.floor(rand() * cacheMs);
        remember(sightings, owner, null, at);
        const tally = emptyTally();
        tallyOutcome(tally, false, DEFAULT_CIRCUIT, at);
        tallies.set(owner, tally);
      }
    }
    for (let i = 0; i < (options.webhooksPerSecond * warmMs) / 1000; i += 1) {
      const owner = ownerOf(Math.floor(rand() * options.users));
      forwardOutcome(owner, start - warmMs + Math.floor((i * 1000) / options.webhooksPerSecond));
    }
    warming = false;
  }
  for (second = 0; second < options.seconds; second += 1) {
    // Events of one second in arrival order, handovers spread among the webhooks.
    const total = options.handoversPerSecond + options.webhooksPerSecond;
    let h = 0;
    for (let i = 0; i < total; i += 1) {
      const ms = start + second * 1000 + Math.floor((i / total) * 1000);
      if (h < options.handoversPerSecond && (i * options.handoversPerSecond) / total >= h) {
        h += 1;
        handover(new Date(ms).toISOString());
      } else {
        webhook(ms);
      }
    }
  }

  const byScope: Partial<Record<Scope, PartitionLoad>> = {};
  for (const [key, u] of units) {
    const [, scope, pk] = key.split('|') as [string, Scope, string];
    const best = byScope[scope];
    if (!best || u > best.unitsPerSecond) {
      byScope[scope] = {
        scope,
        partition: pk,
        unitsPerSecond: u,
        writesPerSecond: writes.get(key)!,
      };
    }
  }
  const hottest = Object.values(byScope).reduce((a, b) =>
    b.unitsPerSecond > a.unitsPerSecond ? b : a,
  );
  const per = (n: number) => n / options.seconds;
  let hottestReads: KeyCheckResult['circuit']['hottestReads'] = null;
  for (const [key, n] of circuitReads) {
    const partition = key.slice(key.indexOf('|') + 1);
    if (!hottestReads || n > hottestReads.readsPerSecond) {
      hottestReads = { partition, readsPerSecond: n };
    }
  }
  return {
    shards,
    limit,
    byScope,
    hottest,
    within: hottest.unitsPerSecond <= limit,
    totals: {
      units: per(totals.units),
      writes: per(totals.writes),
      handovers: per(totals.handovers),
      webhooks: per(totals.webhooks),
    },
    unitsByScope: Object.fromEntries(
      Object.entries(scopeUnits).map(([scope, u]) => [scope, per(u)]),
    ) as Partial<Record<Scope, number>>,
    circuit: {
      failures: per(circuit.failures),
      writes: per(circuit.writes),
      reads: per(circuit.reads),
      hottestReads,
    },
  };
};

/**
 * The smallest of the candidate shard counts at which each scope's hottest partition is within
 * the limit, or null when none is (up to MAX_INDEX_SHARDS). Scopes whose keys carry no shard
 * settle at 1 or never.
 */
export const SHARD_CANDIDATES = [1, 2, 4, 8, 12, 16, 24, 32, 48, MAX_INDEX_SHARDS];

export const shardsNeeded = (
  options: KeyCheckOptions,
  candidates: number[] = SHARD_CANDIDATES,
): Partial<Record<Scope, number | null>> => {
  const needed: Partial<Record<Scope, number | null>> = {};
  const open = new Set<Scope>(SCOPES);
  for (const n of candidates) {
    const result = checkKeyDistribution({ ...options, shards: n });
    for (const scope of [...open]) {
      const load = result.byScope[scope];
      if (!load) {
        open.delete(scope);
        continue;
      }
      if (load.unitsPerSecond <= result.limit) {
        needed[scope] = n;
        open.delete(scope);
      }
    }
    if (open.size === 0) break;
  }
  for (const scope of open) needed[scope] = null;
  return needed;
};

/**
 * A deployment sized for the target: the shard count each index needs, the largest of them (K,
 * null when some index needs more than the stage allows), and the check at K and at the most
 * shards the stage allows.
 */
export const shardsForTarget = (options: KeyCheckOptions) => {
  const needed = shardsNeeded(options);
  const values = Object.values(needed);
  const k = values.includes(null)
    ? null
    : Math.max(1, ...values.filter((n): n is number => typeof n === 'number'));
  return {
    needed,
    k,
    atK: checkKeyDistribution({ ...options, shards: k ?? MAX_INDEX_SHARDS }),
    atMax: checkKeyDistribution({ ...options, shards: MAX_INDEX_SHARDS }),
  };
};

/**
 * Write units one event costs across the table and its indexes, from the same model: a handover
 * (no Idempotency-Key, no outbox), one outbox item (its put and its CAS to sent), or a webhook
 * forwarded once (the delivery item's claim, forwardedTo and done, and the circuit's writes at
 * the model's failure rate).
 */
export const unitsPerEvent = (
  sizes: ItemSizes,
  kind: 'handover' | 'notification' | 'webhook',
): number => {
  const base = { users: 1_000_000, seconds: 1, shards: 8, sizes, idempotencyShare: 0 };
  const events = 1000;
  const handovers = (notificationsPerHandover: number) =>
    checkKeyDistribution({
      ...base,
      handoversPerSecond: events,
      webhooksPerSecond: 0,
      notificationsPerHandover,
    }).totals.units / events;
  if (kind === 'handover') return handovers(0);
  if (kind === 'notification') return handovers(1) - handovers(0);
  return (
    checkKeyDistribution({
      ...base,
      handoversPerSecond: 0,
      webhooksPerSecond: events,
      forwardShare: 1,
    }).totals.units / events
  );
};
