// The schedule explorer: fast-check's scheduler interleaves the domain's use cases (handovers, GET
// owner reads, queued callbacks, recovery, changes made at Parley outside us, crashes) over the
// in-memory stores of ./fakes and the model Parley of ./model-parley; after the run settles, a
// checker compares the history with what Parley actually applied.
//
// A run: every actor starts at a step of the scheduler and makes its Parley calls as steps; the
// store fakes answer at once, so the steps are the only points where actors interleave (drive()
// lets every actor reach its next step before the scheduler picks again). Then the world comes to
// rest: the clock passes staleAfter, reconcile runs, undelivered callbacks are delivered again and
// an auditor reads the owner (which heals the cache), a few rounds at most, with no faults.
// The timers' sweep is an actor too: the clock moves past the Agent's lease and a sweep runs
// (lifecycle/act.ts over the same stores and Parley), so an expiry meets handovers, messages (whose
// processing resets the lease) and recovery at every interleaving.
// The eraser is one as well: an operator's full erasure of the user, then the eraser's runs
// (erasure/apply.ts over ./fake-erasure-store), each of its reads and writes of the user's items a
// step, so every writer meets the fence at every point; a stalled writer (a handover whose append
// is held back until recovery has finished its marker) brings its copy of the record late.
import fc, { type Scheduler } from 'fast-check';
import { functionSpecs } from '../../functions/contracts/routes';
import { applyErasure } from '../../functions/domain/erasure/apply';
import { requestErasure } from '../../functions/domain/erasure/request';
import type { EraserDeps, ErasureStore } from '../../functions/domain/erasure/types';
import type { CallbackDeps } from '../../functions/domain/processor/deps';
import { DeliveryBusyError, DownstreamError } from '../../functions/domain/errors';
import { deliveryIdFor, parseCallback } from '../../functions/domain/delivery';
import { processCallback } from '../../functions/domain/processor/process-callback';
import { GENESIS_HASH, verifyChain } from '../../functions/domain/chain';
import { AppError, HandoverInProgressError } from '../../functions/domain/errors';
import { currentOwner, syncOwner } from '../../functions/domain/handover/owner';
import { withDeadline } from '../../functions/domain/deadline';
import type { HandoverDeps } from '../../functions/domain/handover/deps';
import { performHandover } from '../../functions/domain/handover/perform';
import { reconcile } from '../../functions/domain/handover/reconcile';
import { recoverPending } from '../../functions/domain/handover/recover';
import { sweepPort } from '../../functions/domain/lifecycle/act';
import { leaseOfOwner } from '../../functions/domain/lifecycle/owner-lease';
import { runSweep } from '../../functions/domain/lifecycle/sweep';
import type { LeaseConfig } from '../../functions/domain/lifecycle/types';
import type { Downstream, HistoryStore, StateStore } from '../../functions/domain/ports';
import { noMetrics } from '../../functions/domain/ports';
import type {
  DeliveryItem,
  HandoverRecord,
  OwnerItem,
  ServiceInfo,
} from '../../functions/domain/types';
import { callbackJson, messageCallback } from '../../local/parley-sim/callback-body';
import {
  AGENT,
  BOT,
  FakeHistoryStore,
  FakeStateStore,
  manualClock,
  recordingLog,
  sequentialIds,
  staticCatalog,
} from './fakes';
import { type ErasureStoreEvent, FakeErasureStore } from './fake-erasure-store';
import {
  GET_FAULTS,
  type GetFault,
  type Invocation,
  type AppliedChange,
  ModelParley,
  PUT_FAULTS,
  type PutFault,
} from './model-parley';

export const USER = '20';
export const STALE_AFTER_MS = 60_000;
/** Queue deliveries of one callback while the run goes on; the rest happen at rest. */
const RUN_DELIVERIES = 3;
const REST_ROUNDS = 5;
const BOT_URL = 'https://bot.example/hooks';
const DESK_URL = 'https://desk.example/inbox';

/**
 * How long a function that writes records may run (the longest timeout but the eraser's): a
 * stalled writer is gone after that, and its late append with it.
 */
export const WRITER_LIFETIME_MS =
  Math.max(
    ...Object.entries(functionSpecs)
      .filter(([name]) => name !== 'eraser')
      .map(([, spec]) => spec.timeoutSeconds),
  ) * 1000;
/** The eraser's hold after the newest record, as deployed: a writer's lifetime and a minute. */
export const WRITERS_DONE_MS = WRITER_LIFETIME_MS + 60_000;
/** Eraser runs while the other actors run; the rest happen at rest. */
const RUN_ERASER_RUNS = 6;
const REST_ERASER_RUNS = 4;
/** Loop steps (listings, scan pages) one eraser run has time for. */
const ERASER_STEPS_PER_RUN = 4;

/** The Agent's lease: a sweep actor moves the clock past it. */
export const AGENT_LEASE: LeaseConfig = {
  idleSeconds: 600,
  maxSeconds: 604_800,
  warnBeforeSeconds: 0,
  onExpiry: 'default',
};

export type ServiceName = 'Bot' | 'Agent';
const ID: Record<ServiceName, string> = { Bot: BOT, Agent: AGENT };
export const nameOf = (id: string): string =>
  id === BOT ? 'Bot' : id === AGENT ? 'Agent' : id.slice(0, 8);

const services = (): ServiceInfo[] => [
  {
    identification: BOT,
    name: 'Bot Service',
    role: 'bot',
    default: true,
    downstreamUrl: BOT_URL,
    rules: [{ match: '\\bhuman\\b', newOwner: AGENT, reason: 'user_requested_human' }],
  },
  {
    identification: AGENT,
    name: 'Agent Service',
    role: 'agent',
    default: false,
    downstreamUrl: DESK_URL,
    rules: [],
    lease: AGENT_LEASE,
  },
];

// ---------------------------------------------------------------- actors

interface Faults {
  put: PutFault[];
  get: GetFault[];
  /** The invocation dies before its Nth store write (null: it does not). */
  crashAtWrite: number | null;
}

export type Actor = (
  | ({ kind: 'handover'; by: ServiceName; to: ServiceName } & Faults)
  | ({ kind: 'read'; as: 'auditor' | ServiceName } & Pick<Faults, 'get'>)
  | ({
      kind: 'message';
      /** 'human' matches the Bot's rule (a handover to the Agent). */
      text: 'hello' | 'human';
      /** What the receiving Service's program answers to the forward. */
      answer: 'nothing' | 'handover' | 'reply';
      /** Parley delivers the callback this many times (a duplicate). */
      copies: 1 | 2;
    } & Faults)
  | { kind: 'outside'; to: ServiceName }
  | ({ kind: 'recovery'; via: 'reconcile' | 'recoverPending' } & Omit<Faults, 'crashAtWrite'>)
  | ({ kind: 'sweep' } & Faults)
  | { kind: 'garbage' }
  /** An operator's full erasure of the user, then the eraser's runs until it is done. */
  | ({ kind: 'erase' } & Pick<Faults, 'crashAtWrite'>)
  /** A handover whose append is held back until recovery has finished its marker. */
  | {
      kind: 'stalled';
      by: ServiceName;
      to: ServiceName;
      /** Steps of its own it waits after recovery before it resumes. */
      holdSteps: number;
    }
) & {
  /** Steps of its own the actor waits before it starts: where it falls among the others'. */
  startAfter?: number;
};

export const describeActor = (a: Actor): string =>
  (a.startAfter ? `after ${a.startAfter} step(s) of waiting, ` : '') + describeKind(a);

const describeKind = (a: Actor): string => {
  const faults = (f: Partial<Faults>) =>
    [
      f.put?.length ? `PUT faults [${f.put.join(', ')}]` : '',
      f.get?.length ? `GET faults [${f.get.join(', ')}]` : '',
      f.crashAtWrite ? `dies before store write #${f.crashAtWrite}` : '',
    ]
      .filter(Boolean)
      .map((s) => `, ${s}`)
      .join('');
  switch (a.kind) {
    case 'handover':
      return `handover ${a.by} -> ${a.to} requested by ${a.by}${faults(a)}`;
    case 'read':
      return `GET owner as ${a.as}${faults(a)}`;
    case 'message':
      return `message "${a.text}", downstream answers ${a.answer}${a.copies === 2 ? ', delivered twice' : ''}${faults(a)}`;
    case 'outside':
      return `change at Parley outside us to ${a.to}`;
    case 'recovery':
      return `clock past staleAfter, then ${a.via}${faults(a)}`;
    case 'sweep':
      return `clock past the Agent's lease, then the sweep${faults(a)}`;
    case 'garbage':
      return 'a callback body that is not JSON';
    case 'erase':
      return `full erasure of user ${USER}, then the eraser's runs${a.crashAtWrite ? `, its first run dies before store write #${a.crashAtWrite}` : ''}`;
    case 'stalled':
      return `handover ${a.by} -> ${a.to} requested by ${a.by}, its append held back until recovery finished its marker and ${a.holdSteps} step(s) more (a stalled writer)`;
  }
};

const service = fc.constantFrom<ServiceName>('Bot', 'Agent');
const putFaults = fc.array(fc.constantFrom(...PUT_FAULTS), { maxLength: 2 });
const getFaults = fc.array(fc.constantFrom(...GET_FAULTS), { maxLength: 2 });
const crashAtWrite = fc.oneof(
  { withCrossShrink: true },
  { arbitrary: fc.constant(null), weight: 5 },
  { arbitrary: fc.integer({ min: 1, max: 8 }), weight: 1 },
);

export const actorArbitraries = {
  handover: fc.record({
    kind: fc.constant('handover' as const),
    by: service,
    to: service,
    put: putFaults,
    get: getFaults,
    crashAtWrite,
  }),
  read: fc.record({
    kind: fc.constant('read' as const),
    as: fc.constantFrom<'auditor' | ServiceName>('auditor', 'Bot', 'Agent'),
    get: getFaults,
  }),
  message: fc.record({
    kind: fc.constant('message' as const),
    text: fc.constantFrom<'hello' | 'human'>('hello', 'human'),
    answer: fc.constantFrom<'nothing' | 'handover' | 'reply'>('nothing', 'handover', 'reply'),
    copies: fc.constantFrom<1 | 2>(1, 2),
    put: putFaults,
    get: getFaults,
    crashAtWrite,
  }),
  outside: fc.record({ kind: fc.constant('outside' as const), to: service }),
  recovery: fc.record({
    kind: fc.constant('recovery' as const),
    via: fc.constantFrom<'reconcile' | 'recoverPending'>('reconcile', 'recoverPending'),
    put: putFaults,
    get: getFaults,
  }),
  sweep: fc.record({
    kind: fc.constant('sweep' as const),
    put: putFaults,
    get: getFaults,
    crashAtWrite,
  }),
  garbage: fc.constant({ kind: 'garbage' as const }),
  // It starts a few steps in, so the user mostly has records by then (at once: often nothing).
  erase: fc.record({
    kind: fc.constant('erase' as const),
    crashAtWrite,
    startAfter: fc.integer({ min: 0, max: 12 }),
  }),
  stalled: fc.record({
    kind: fc.constant('stalled' as const),
    by: service,
    to: service,
    holdSteps: fc.integer({ min: 1, max: 6 }),
  }),
} satisfies Record<Actor['kind'], fc.Arbitrary<Actor>>;

/**
 * Any mix of actors, handovers and messages most often; with `erasure`, the eraser and stalled
 * writers too, at a low weight (without it the mix is the one before the eraser, run for run).
 */
export const actorsArbitrary = (
  maxActors: number,
  { erasure = false }: { erasure?: boolean } = {},
): fc.Arbitrary<Actor[]> =>
  fc.array(
    fc.oneof(
      { arbitrary: actorArbitraries.handover, weight: 4 },
      { arbitrary: actorArbitraries.message, weight: 3 },
      { arbitrary: actorArbitraries.read, weight: 2 },
      { arbitrary: actorArbitraries.outside, weight: 1 },
      { arbitrary: actorArbitraries.recovery, weight: 2 },
      { arbitrary: actorArbitraries.sweep, weight: 2 },
      { arbitrary: actorArbitraries.garbage, weight: 1 },
      ...(erasure
        ? [
            { arbitrary: actorArbitraries.erase, weight: 1 },
            { arbitrary: actorArbitraries.stalled, weight: 1 },
          ]
        : []),
    ),
    { minLength: 1, maxLength: maxActors },
  );

// ---------------------------------------------------------------- the world

/** One forward to a Service's program, with what was true when it was made. */
export interface Post {
  actor: string;
  deliveryId: string;
  service: string;
  /** Set when the forward says the message follows a handover it caused. */
  handoverId: string | null;
  marked: boolean;
  /** The trace line of the forward. */
  at: number;
  /** The owner the history named at that moment (the last completed record), if any. */
  recordedOwner: string | null;
  /**
   * A full erasure's fence stood then: the history could record no change made at Parley, so the
   * forward is held to Parley's log alone.
   */
  fenced: boolean;
}

export interface MessageRun {
  actor: string;
  body: string;
  bodyId: number | null;
  serviceId: string;
  deliveryId: string;
  routedAt: number;
  answer: 'nothing' | 'handover' | 'reply';
  garbage: boolean;
  lastError: string | null;
  /** Services this delivery asked to hand the user to (its rule, its program's answer). */
  asked: Set<string>;
}

interface Run {
  inv: Invocation;
  hd: HandoverDeps;
  cd: CallbackDeps;
}

/** What was done to the items of the user, in order: the checker's clock for the erasures. */
export type JournalEntry =
  | { kind: 'append'; record: HandoverRecord; outcome: 'appended' | 'exists' }
  | { kind: 'fence_set'; erasureId: string }
  | { kind: 'erasure_done'; erasureId: string }
  /** A processor attempt claimed a delivery of the user (its item written afresh). */
  | { kind: 'delivery_claimed'; deliveryId: string }
  | ErasureStoreEvent;

/** The state fake, noting every claim of a delivery of the user. */
class JournaledState extends FakeStateStore {
  constructor(private readonly journal: JournalEntry[]) {
    super();
  }

  override async claimDelivery(
    ...args: Parameters<FakeStateStore['claimDelivery']>
  ): ReturnType<FakeStateStore['claimDelivery']> {
    const outcome = await super.claimDelivery(...args);
    const [item] = args;
    if (outcome.claimed && item.userId === USER) {
      this.journal.push({ kind: 'delivery_claimed', deliveryId: item.deliveryId });
    }
    return outcome;
  }
}

/** The history fake, noting every append of the user's records (and whether it wrote). */
class JournaledHistory extends FakeHistoryStore {
  constructor(private readonly journal: JournalEntry[]) {
    super();
  }

  override async append(record: HandoverRecord): Promise<'appended' | 'exists'> {
    const outcome = await super.append(record);
    if (record.userId === USER) {
      this.journal.push({ kind: 'append', record: structuredClone(record), outcome });
    }
    return outcome;
  }
}

/** One erase actor's work: its erasure once registered, and how its runs stopped. */
export interface EraseJob {
  actor: string;
  erasureId: string | null;
  /** Done, or nothing was left to erase (`noop`). */
  done: boolean;
  noop: boolean;
  stops: string[];
}

/** The eraser's invocation died (before a store write): the next run resumes from the register. */
class EraserCrash extends Error {
  override readonly name = 'EraserCrash';
}

/** The eraser's writes, where a crash may strike first. */
const ERASER_WRITES = new Set([
  'createOwner',
  'compareAndSetOwner',
  'putErasure',
  'compareAndSetErasure',
  'compareAndSetOpen',
  'putErasedRecord',
  'deleteRecord',
  'putTombstone',
  'deleteOwner',
  'deleteStateItem',
  'addSubjectErasure',
]);

const never = <T>(): Promise<T> => new Promise<T>(() => {});
const HISTORY_WRITES = new Set(['append']);
const STATE_WRITES = new Set([
  'createOwner',
  'compareAndSetOwner',
  'putIdempotency',
  'replaceIdempotency',
  'claimDelivery',
  'updateDelivery',
]);

/** Lets every actor run up to its next step (only microtasks between steps: no I/O here). */
const quiesce = () => new Promise<void>((resolve) => setImmediate(resolve));

/** Releases the scheduler's steps one at a time until none is left. */
export async function drive(s: Scheduler, maxSteps = 5_000): Promise<void> {
  await quiesce();
  for (let steps = 0; s.count() > 0; steps++) {
    if (steps === maxSteps) throw new Error(`The schedule did not end within ${maxSteps} steps.`);
    await s.waitNext(1);
    await quiesce();
  }
}

const isDeclared = (err: unknown): boolean =>
  err instanceof AppError ||
  err instanceof DownstreamError ||
  err instanceof DeliveryBusyError ||
  (err instanceof Error && err.name === 'DeliveryDeferredError');

export class World {
  readonly clock = manualClock();
  readonly journal: JournalEntry[] = [];
  readonly history: FakeHistoryStore = new JournaledHistory(this.journal);
  readonly state: FakeStateStore = new JournaledState(this.journal);
  readonly erasureStore = new FakeErasureStore(this.history, this.state, (event) => {
    this.journal.push(event);
    if (event.kind === 'delivery_deleted')
      this.erasedDeliveries.set(event.item.deliveryId, event.item);
  });
  readonly erasures: EraseJob[] = [];
  /** Actors run alone before the others start (runWorld). */
  readonly prelude: Actor[] = [];
  /**
   * Whether the other actors' owner item writes are steps of their own (runWorld sets it when an
   * eraser runs): a writer that read the item before the fence may then write after it, as the
   * two round trips to DynamoDB allow.
   */
  ownerWritesStep = false;
  /** Delivery items the eraser removed, as they stood: a message's outcome outlives its item. */
  private readonly erasedDeliveries = new Map<string, DeliveryItem>();
  private readonly erasureIds = sequentialIds('e');
  private eraserRunning = false;
  readonly catalog = staticCatalog(services());
  readonly ids = sequentialIds();
  readonly log = recordingLog();
  readonly parley: ModelParley;
  readonly posts: Post[] = [];
  readonly messages: MessageRun[] = [];
  /** Errors no use case declares (a bug even when the invariants hold). */
  readonly unexpected: string[] = [];
  private nextBodyId = 1000;

  constructor(readonly scheduler: Scheduler) {
    this.parley = new ModelParley(
      scheduler,
      this.clock,
      services().map(({ identification, name, default: d }) => ({
        identification,
        name,
        default: d,
      })),
      nameOf,
    );
  }

  note(text: string): void {
    this.parley.note(text, true);
  }

  /**
   * The dependencies of one invocation: its Parley faults, its crash point, its deadline, and
   * with `stallSteps` its first append held back (a stalled writer: stalling()).
   */
  run(name: string, faults: Partial<Faults> & { stallSteps?: number } = {}): Run {
    const inv: Invocation = {
      name,
      startedAtMs: this.clock.now(),
      putFaults: faults.put ?? [],
      getFaults: faults.get ?? [],
    };
    let writes = 0;
    const dies = (method: string) => {
      writes++;
      if (faults.crashAtWrite !== writes) return false;
      this.note(`${name} dies before ${method}`);
      return true;
    };
    const crashable = <T extends object>(target: T, methods: Set<string>): T =>
      new Proxy(target, {
        get: (t, p, r) => {
          const value = Reflect.get(t, p, r);
          if (typeof value !== 'function') return value;
          return (...args: unknown[]) =>
            methods.has(String(p)) && dies(String(p)) ? never() : value.apply(t, args);
        },
      });
    const history = crashable<HistoryStore>(this.history, HISTORY_WRITES);
    const state = crashable<StateStore>(this.state, STATE_WRITES);
    const hd: HandoverDeps = {
      parley: this.parley.clientsFor(inv),
      history: faults.stallSteps ? this.stalling(history, inv, faults.stallSteps) : history,
      state: this.ownerWritesStep ? this.steppingOwnerWrites(state, name) : state,
      catalog: this.catalog,
      clock: this.clock,
      ids: this.ids,
      log: this.log,
      metrics: noMetrics,
      staleAfterMs: STALE_AFTER_MS,
    };
    const cd: CallbackDeps = {
      state: hd.state,
      catalog: this.catalog,
      parley: hd.parley,
      downstream: this.downstream(inv),
      clock: this.clock,
      log: this.log,
      metrics: noMetrics,
      signingSecret: async () => undefined,
      handover: (input) => performHandover(input, hd),
      refreshOwner: (userId, asService) => syncOwner(userId, asService, withDeadline(hd)),
      recoverPending: (userId) => recoverPending(userId, hd),
      staleAfterMs: STALE_AFTER_MS,
      downstreamTimeoutMs: 5_000,
    };
    return { inv, hd, cd };
  }

  /** Each owner item write waits for a step of its own: it may land after the item changed. */
  private steppingOwnerWrites(state: StateStore, name: string): StateStore {
    return new Proxy(state, {
      get: (t, p, r) => {
        const value = Reflect.get(t, p, r);
        if (p !== 'compareAndSetOwner' && p !== 'createOwner') return value;
        return async (...args: unknown[]) => {
          await this.parley.step(`${name} writes the owner item`);
          const written = (await value.apply(t, args)) as boolean;
          this.parley.note(written ? 'written' : 'refused');
          return written;
        };
      },
    });
  }

  /**
   * Holds the first append back past staleAfter: recovery takes the marker and finishes it (an
   * invocation of its own), then the writer resumes at a step the scheduler picks, and appends
   * its copy unless it is past its lifetime by then.
   */
  private stalling(history: HistoryStore, inv: Invocation, holdSteps: number): HistoryStore {
    let held = false;
    return new Proxy(history, {
      get: (t, p, r) => {
        if (p !== 'append') return Reflect.get(t, p, r);
        return async (record: HandoverRecord) => {
          if (!held) {
            held = true;
            this.note(`${inv.name} stalls before it appends #${record.seq}`);
            await this.recovery(
              { kind: 'recovery', via: 'recoverPending', put: [], get: [] },
              `${inv.name}-recovery`,
            ).catch(() => {});
            for (let n = 1; n < holdSteps; n++) await this.parley.step(`${inv.name} still stalled`);
            await this.parley.step(`${inv.name} resumes and appends #${record.seq}`);
            if (this.clock.now() > inv.startedAtMs + WRITER_LIFETIME_MS) {
              this.parley.note(`not done: ${inv.name} is past its lifetime`);
              return never();
            }
            const outcome = await t.append(record);
            this.parley.note(
              outcome === 'appended' ? 'written' : 'the seq holds a record: not written',
            );
            return outcome;
          }
          return t.append(record);
        };
      },
    });
  }

  /** A delivery's item, or what it said when the eraser removed it. */
  deliveryOf(m: MessageRun): DeliveryItem | null {
    return (
      this.state.deliveries.get(m.deliveryId) ?? this.erasedDeliveries.get(m.deliveryId) ?? null
    );
  }

  /**
   * The eraser's deps for one invocation (an operator's request, an eraser run): every read and
   * write of an item another use case touches is a step; with `crashAtWrite` it dies before that
   * write (the register keeps its progress, and the next run resumes).
   */
  private eraserDeps(name: string, crashAtWrite: number | null): EraserDeps {
    const step = (what: string) => this.parley.step(`${name} eraser ${what}`);
    let writes = 0;
    const mayDie = (method: string) => {
      if (!ERASER_WRITES.has(method)) return;
      writes++;
      if (crashAtWrite !== writes) return;
      this.note(`${name} dies before ${method}`);
      throw new EraserCrash(`${name} died before ${method}`);
    };
    const fenced = (item: OwnerItem, written: boolean) => {
      if (written && item.erasing) {
        this.journal.push({ kind: 'fence_set', erasureId: item.erasing.erasureId });
      }
      this.parley.note(written ? (item.erasing ? 'the fence stands' : 'written') : 'refused');
      return written;
    };
    const state: EraserDeps['state'] = {
      getOwner: async (userId, options) => {
        await step('reads the owner item');
        return this.state.getOwner(userId, options);
      },
      compareAndSetOwner: async (item, expectedVersion) => {
        await step(`writes the owner item at version ${expectedVersion}`);
        mayDie('compareAndSetOwner');
        return fenced(item, await this.state.compareAndSetOwner(item, expectedVersion));
      },
      createOwner: async (item) => {
        await step('creates the owner item');
        mayDie('createOwner');
        return fenced(item, await this.state.createOwner(item));
      },
    };
    const gated: Partial<Record<keyof ErasureStore, (...args: never[]) => string | null>> = {
      deleteRecord: (_userId: string, seq: number) => `deletes record #${seq}`,
      deleteOwner: () => 'deletes the owner item',
      scanUserItems: () => 'scans the state table for the user',
      // The outbox ids are computed; the model keeps no outbox, so those deletes touch nothing.
      deleteStateItem: (pk: string) =>
        pk.startsWith('NOTIFY#') ? null : `deletes ${pk.split('#')[0]} item`,
    };
    const store = new Proxy<ErasureStore>(this.erasureStore, {
      get: (t, p, r) => {
        const value = Reflect.get(t, p, r);
        if (typeof value !== 'function') return value;
        const method = String(p) as keyof ErasureStore;
        return async (...args: unknown[]) => {
          const label = gated[method]?.(...(args as never[])) ?? null;
          if (label) await step(label);
          mayDie(method);
          return value.apply(t, args);
        };
      },
    });
    return {
      history: {
        listUser: async (userId, options) => {
          await step('lists the records');
          const page = await this.history.listUser(userId, options);
          this.parley.note(`[${page.items.map((r) => `#${r.seq}`).join(', ')}]`);
          return page;
        },
        listRange: async () => {
          throw new Error('A full erasure lists no range.');
        },
      },
      state,
      notifications: {
        // No outbox in this model.
        get: async () => null,
        compareAndSet: async () => false,
      },
      store,
      clock: this.clock,
      ids: this.erasureIds,
      log: this.log,
      metrics: noMetrics,
      writersDoneMs: WRITERS_DONE_MS,
      key: { key: async () => new Uint8Array(32).fill(7) },
      budgetMs: 60_000,
      // A page of the state scan per item: a scan spans steps, and runs (ERASER_STEPS_PER_RUN).
      scanPageItems: 1,
      retention: { metadataDays: 90, since: '2026-01-01T00:00:00.000Z' },
    };
  }

  /** A Service's program: records the forward when it is made; its answer lands at a step. */
  private downstream(inv: Invocation): Downstream {
    return {
      post: async (url, body, headers) => {
        const forward = JSON.parse(body) as {
          handover?: { handoverId: string | null };
          callback?: { body?: { id?: number } };
        };
        const to = url === BOT_URL ? BOT : AGENT;
        const message = this.messages.find((m) => m.bodyId === forward.callback?.body?.id);
        const deliveryId = headers['X-Handover-Delivery'] ?? '';
        this.note(
          `${inv.name} forwards ${message?.actor ?? '?'}'s message to ${nameOf(to)}` +
            (forward.handover ? ' (after its handover)' : ''),
        );
        const last = this.history
          .userRecords(USER)
          .filter((r) => r.status === 'completed')
          .at(-1);
        this.posts.push({
          actor: message?.actor ?? '?',
          deliveryId,
          service: to,
          handoverId: forward.handover?.handoverId ?? null,
          marked: forward.handover !== undefined,
          at: this.parley.trace.length - 1,
          recordedOwner: last?.toOwner ?? null,
          fenced: this.state.owners.get(USER)?.erasing !== undefined,
        });
        const answer = forward.handover ? 'nothing' : (message?.answer ?? 'nothing');
        const other = to === BOT ? AGENT : BOT;
        if (answer === 'handover') message?.asked.add(other);
        const reply =
          answer === 'handover'
            ? { handover: { newOwner: other } }
            : answer === 'reply'
              ? { reply: 'on it' }
              : {};
        return this.parley.land(inv, `${inv.name} ${nameOf(to)}'s program answers`, () => ({
          status: 200,
          body: JSON.stringify(reply),
        }));
      },
    };
  }

  /** Runs a use case, noting its answer; a declared error is an answer too. */
  async act<T>(name: string, work: () => Promise<T>, describe: (v: T) => string): Promise<void> {
    try {
      const value = await work();
      this.note(`${name} returns ${describe(value)}`);
    } catch (err) {
      const e = err as Error;
      const code = err instanceof AppError ? ` ${err.code}` : '';
      this.note(`${name} throws ${e.name}${code}`);
      if (!isDeclared(err)) this.unexpected.push(`${name}: ${e.name}: ${e.message}`);
      throw err;
    }
  }

  // ---------------------------------------------------------------- actors

  start(actor: Actor, name: string): void {
    const running = (async () => {
      for (let n = 1; n <= (actor.startAfter ?? 0); n++) {
        await this.parley.step(`${name} waits (${n}/${actor.startAfter})`);
      }
      return this.perform(actor, name);
    })();
    // Its errors were noted by act(); an actor's promise may also never settle (a crash).
    running.catch(() => {});
  }

  private perform(actor: Actor, name: string): Promise<unknown> {
    switch (actor.kind) {
      case 'handover':
        return this.handover(actor, name);
      case 'read':
        return this.read(actor, name);
      case 'message':
        return this.message(actor, name);
      case 'garbage':
        return this.garbage(name);
      case 'outside':
        return this.parley.outsideChange(USER, ID[actor.to], name);
      case 'recovery':
        return this.recovery(actor, name);
      case 'sweep':
        return this.sweep(actor, name);
      case 'erase':
        return this.erase(actor, name);
      case 'stalled':
        return this.stalled(actor, name);
    }
  }

  private async stalled(a: Extract<Actor, { kind: 'stalled' }>, name: string): Promise<void> {
    await this.parley.step(`${name} starts: ${describeActor(a)}`);
    const { hd } = this.run(name, { stallSteps: a.holdSteps });
    await this.act(
      name,
      () =>
        performHandover(
          { userId: USER, newOwner: ID[a.to], requestedBy: ID[a.by], source: 'api' },
          hd,
        ),
      (r) => `changed ${r.changed}, owner ${nameOf(r.owner.identification)}`,
    );
  }

  /** The operator asks, then the eraser runs (a few times here, the rest at rest). */
  private async erase(a: Extract<Actor, { kind: 'erase' }>, name: string): Promise<void> {
    await this.parley.step(`${name} starts: ${describeActor(a)}`);
    const job: EraseJob = { actor: name, erasureId: null, done: false, noop: false, stops: [] };
    this.erasures.push(job);
    for (let n = 1; n <= RUN_ERASER_RUNS && !job.done; n++) {
      if (n > 1) await this.parley.step(`${name}#${n} the eraser runs again`);
      await this.eraseOnce(job, `${name}#${n}`, n === 1 ? a.crashAtWrite : null);
    }
  }

  /**
   * One invocation: the operator's request while none was accepted (a handover in flight answers
   * 409: asked again next time), then one eraser run on the erasure. `waiting_for_writers` moves
   * the clock past writersDoneMs, as the minutes until a later run would.
   */
  async eraseOnce(job: EraseJob, name: string, crashAtWrite: number | null): Promise<void> {
    const deps = this.eraserDeps(name, crashAtWrite);
    try {
      if (job.erasureId === null) {
        const answer = await requestErasure(
          {
            userId: USER,
            level: 'full',
            reason: 'user_request',
            legalBasis: 'gdpr_art_17',
            operator: 'explorer',
          },
          deps,
        );
        if (!('erasureId' in answer.body) || answer.body.erasureId === null) {
          this.note(`${name} erasure: nothing to erase`);
          job.done = job.noop = true;
          return;
        }
        job.erasureId = answer.body.erasureId;
        this.note(`${name} erasure ${job.erasureId} registered (${answer.body.status})`);
      }
      // The work list's lease (erasure/run.ts): one eraser run at a time; another is skipped.
      if (this.eraserRunning) {
        this.note(`${name} eraser skipped: another run holds the work list`);
        return;
      }
      const item = await this.erasureStore.getErasure(job.erasureId);
      if (!item) throw new Error(`The erasure ${job.erasureId} is not in the register.`);
      this.eraserRunning = true;
      // A run's time: so many steps of its loops, then it stops out of time and the next resumes.
      let steps = 0;
      const clock = { hasTime: () => ++steps <= ERASER_STEPS_PER_RUN };
      const { stop } = await applyErasure(item, deps, clock).finally(() => {
        this.eraserRunning = false;
      });
      if (stop === null) {
        job.done = true;
        if (
          !this.journal.some((e) => e.kind === 'erasure_done' && e.erasureId === item.erasureId)
        ) {
          this.journal.push({ kind: 'erasure_done', erasureId: item.erasureId });
        }
        this.note(`${name} erasure ${item.erasureId} done`);
        return;
      }
      job.stops.push(stop);
      this.note(`${name} eraser stops: ${stop}`);
      if (stop === 'waiting_for_writers') {
        this.clock.advance(WRITERS_DONE_MS + 1_000);
        this.parley.note('the clock moves past writersDoneMs');
      }
    } catch (err) {
      if (err instanceof EraserCrash) return;
      if (err instanceof HandoverInProgressError) {
        this.note(`${name} erasure refused: a handover is in flight`);
        return;
      }
      const e = err as Error;
      this.note(`${name} throws ${e.name}`);
      this.unexpected.push(`${name}: ${e.name}: ${e.message}`);
    }
  }

  private async handover(a: Extract<Actor, { kind: 'handover' }>, name: string): Promise<void> {
    await this.parley.step(`${name} starts: ${describeActor(a)}`);
    const { hd } = this.run(name, {
      put: [...a.put],
      get: [...a.get],
      crashAtWrite: a.crashAtWrite,
    });
    await this.act(
      name,
      () =>
        performHandover(
          { userId: USER, newOwner: ID[a.to], requestedBy: ID[a.by], source: 'api' },
          hd,
        ),
      (r) => `changed ${r.changed}, owner ${nameOf(r.owner.identification)}`,
    );
  }

  private async read(a: Extract<Actor, { kind: 'read' }>, name: string): Promise<void> {
    await this.parley.step(`${name} starts: ${describeActor(a)}`);
    const { hd } = this.run(name, { get: [...a.get] });
    const reader =
      a.as === 'auditor'
        ? ({ kind: 'auditor' } as const)
        : ({ kind: 'service', serviceId: ID[a.as] } as const);
    await this.act(
      name,
      () => currentOwner(USER, reader, hd),
      (r) => `owner ${nameOf(r.owner.identification)}`,
    );
  }

  private async recovery(a: Extract<Actor, { kind: 'recovery' }>, name: string): Promise<void> {
    await this.parley.step(`${name} starts: ${describeActor(a)}`);
    this.clock.advance(STALE_AFTER_MS + 1_000);
    const { hd } = this.run(name, { put: [...a.put], get: [...a.get] });
    if (a.via === 'reconcile') {
      await this.act(
        name,
        () => reconcile(hd),
        (r) => `recovered ${r.recovered}, failed ${r.failed.length}`,
      );
    } else {
      await this.act(
        name,
        () => recoverPending(USER, hd),
        (r) => r,
      );
    }
  }

  /** The clock past the Agent's lease, then one sweep run over this invocation's deps. */
  private async sweep(a: Extract<Actor, { kind: 'sweep' }>, name: string): Promise<void> {
    await this.parley.step(`${name} starts: ${describeActor(a)}`);
    this.clock.advance(AGENT_LEASE.idleSeconds * 1000 + 1_000);
    const { hd } = this.run(name, {
      put: [...a.put],
      get: [...a.get],
      crashAtWrite: a.crashAtWrite,
    });
    const port = sweepPort({
      ...hd,
      // No outbox in this model: the warning's write is the owner item's.
      warnLease: async () => {},
      expireOfferDue: async () => 'not_due',
    });
    await this.act(
      name,
      () =>
        runSweep({
          port,
          leaseConfigOf: leaseOfOwner(this.catalog),
          clock: this.clock,
          log: this.log,
          metrics: noMetrics,
          shards: this.state.shards,
        }),
      (r) => `acted ${r.acted}, lost ${r.lostRace}, failed ${r.failed}`,
    );
  }

  private async message(a: Extract<Actor, { kind: 'message' }>, name: string): Promise<void> {
    const serviceId = await this.parley.route(USER, name);
    const bodyId = this.nextBodyId++;
    const body = callbackJson(
      messageCallback({
        userId: USER,
        id: bodyId,
        text: a.text === 'human' ? 'a human please' : 'hello',
        time: 1536739259,
      }),
    );
    const run: MessageRun = {
      actor: name,
      body,
      bodyId,
      serviceId,
      deliveryId: deliveryIdFor(serviceId, body, parseCallback(body)),
      routedAt: this.parley.trace.length - 1,
      answer: a.answer,
      garbage: false,
      lastError: null,
      asked: new Set(a.text === 'human' && serviceId === BOT ? [AGENT] : []),
    };
    this.messages.push(run);
    const faults: Faults = { put: [...a.put], get: [...a.get], crashAtWrite: a.crashAtWrite };
    const copies = Array.from({ length: a.copies }, (_, i) =>
      this.deliverDuringRun(run, a.copies === 1 ? name : `${name}${'ab'[i]}`, faults, i === 0),
    );
    await Promise.all(copies);
  }

  private async garbage(name: string): Promise<void> {
    await this.parley.step(`${name} starts: ${describeActor({ kind: 'garbage' })}`);
    const body = 'not json {';
    const run: MessageRun = {
      actor: name,
      body,
      bodyId: null,
      serviceId: BOT,
      deliveryId: deliveryIdFor(BOT, body, parseCallback(body)),
      routedAt: this.parley.trace.length - 1,
      answer: 'nothing',
      garbage: true,
      lastError: null,
      asked: new Set(),
    };
    this.messages.push(run);
    await this.deliverDuringRun(run, name, { put: [], get: [], crashAtWrite: null }, false);
  }

  /** The queue's deliveries of one copy while the run goes on (the first may crash). */
  private async deliverDuringRun(
    m: MessageRun,
    name: string,
    faults: Faults,
    mayCrash: boolean,
  ): Promise<void> {
    for (let n = 1; n <= RUN_DELIVERIES; n++) {
      await this.parley.step(`${name}#${n} the queue delivers the callback`);
      const run = this.run(`${name}#${n}`, {
        put: faults.put,
        get: faults.get,
        crashAtWrite: mayCrash && n === 1 ? faults.crashAtWrite : null,
      });
      if (await this.process(m, run)) return;
    }
  }

  /** One processor attempt; true when the delivery is done. */
  async process(m: MessageRun, run: Run): Promise<boolean> {
    try {
      await this.act(
        run.inv.name,
        () =>
          processCallback(
            {
              serviceId: m.serviceId,
              deliveryId: m.deliveryId,
              receivedAt: '2026-03-10T14:00:00.000Z',
              body: m.body,
            },
            run.cd,
          ),
        (o) => (o.duplicate ? `duplicate (${o.disposition})` : o.disposition),
      );
      return true;
    } catch (err) {
      m.lastError = (err as Error).name;
      return false;
    }
  }

  // ---------------------------------------------------------------- rest

  /** Runs one use case alone to its end; false when it never ends. */
  private async alone(work: Promise<unknown>): Promise<boolean> {
    let ended = false;
    work.then(
      () => {
        ended = true;
      },
      () => {
        ended = true;
      },
    );
    await drive(this.scheduler);
    return ended;
  }

  /** No faults, the clock past staleAfter: reconcile, deliver what is left, read the owner. */
  async settle(): Promise<void> {
    for (let round = 1; round <= REST_ROUNDS; round++) {
      this.clock.advance(STALE_AFTER_MS + 1_000);
      this.note(`-- at rest, round ${round}: the clock moves past staleAfter`);
      const tasks: [string, (run: Run) => Promise<unknown>][] = [
        [
          `R${round} reconcile`,
          (r) =>
            this.act(
              r.inv.name,
              () => reconcile(r.hd),
              () => 'done',
            ),
        ],
      ];
      for (const m of this.messages) {
        if (!this.delivered(m)) {
          tasks.push([`R${round} ${m.actor} again`, (r) => this.process(m, r)]);
        }
      }
      for (const job of this.erasures) {
        if (job.done) continue;
        tasks.push([
          `R${round} ${job.actor} eraser`,
          async (r) => {
            for (let n = 1; n <= REST_ERASER_RUNS && !job.done; n++) {
              await this.eraseOnce(job, `${r.inv.name}#${n}`, null);
            }
          },
        ]);
      }
      tasks.push([
        `R${round} auditor`,
        (r) =>
          this.act(
            r.inv.name,
            () => currentOwner(USER, { kind: 'auditor' }, r.hd),
            (o) => `owner ${nameOf(o.owner.identification)}`,
          ),
      ]);
      for (const [name, work] of tasks) {
        if (!(await this.alone(work(this.run(name))))) {
          this.unexpected.push(`${name}: never finished with no faults at rest`);
        }
      }
      const item = this.state.owners.get(USER);
      const settled = this.messages.every((m) => this.delivered(m));
      if (!item?.pending && settled && this.erasures.every((j) => j.done)) return;
    }
  }

  delivered(m: MessageRun): boolean {
    return this.deliveryOf(m)?.state === 'done';
  }
}

/**
 * One run: the prelude's actors one after another (a history to start from), then the actors
 * interleaved as the scheduler decides, then the world at rest.
 */
export async function runWorld(
  s: Scheduler,
  actors: Actor[],
  prelude: Actor[] = [],
): Promise<World> {
  const world = new World(s);
  world.ownerWritesStep = actors.some((a) => a.kind === 'erase');
  for (const [i, actor] of prelude.entries()) {
    world.prelude.push(actor);
    world.start(actor, `P${i + 1}`);
    await drive(s);
  }
  actors.forEach((actor, i) => {
    world.start(actor, `A${i + 1}`);
  });
  await drive(s);
  await world.settle();
  return world;
}

// ---------------------------------------------------------------- the checker

export type Invariant = 0 | 1 | 2 | 3 | 4 | 5 | 6 | 7;

export const INVARIANTS: Record<Invariant, string> = {
  0: 'no use case throws an error it does not declare',
  1: 'one completed record per change Parley applied through us, in order',
  2: '`observed` records only for changes nobody made through us',
  3: 'at rest the owner cache equals Parley and no pending marker remains',
  4: 'every authentic message reaches exactly one Service (or is quarantined with its reason)',
  5: "each user's hash chain verifies",
  6: 'a lease ends at most once (one `timeout` record per lease), and at rest the owner item holds a lease exactly when its owner has one',
  7: "a full erasure finishes, keeps the first record stored at each seq in a whole erased chain (from #1, linked, its tombstone matching) and leaves in the user's partition only a new chain begun after its fence went, and of the user's deliveries only those claimed after its state scan's last pass",
};

export interface Violation {
  invariant: Invariant;
  detail: string;
}

const pair = (from: string | null, to: string) =>
  `${from ? nameOf(from) : 'none'} -> ${nameOf(to)}`;

/** A completed record whose outcome a GET owner settled (the PUT's own answer was not heard). */
const settledByRead = (r: HandoverRecord): boolean => r.parley?.code != null;

/**
 * Pairs our completed records (in seq order) with the changes Parley applied (in order): each
 * record with a change of the same from and to, made through us (or, for a record settled by a
 * read, from outside); every change made through us paired. The changes' indexes, or null.
 */
function matchOurs(records: HandoverRecord[], changes: AppliedChange[]): number[] | null {
  const from = (i: number, j: number): number[] | null => {
    if (i === records.length) return changes.slice(j).some((c) => c.via === 'us') ? null : [];
    const r = records[i]!;
    for (let k = j; k < changes.length; k++) {
      const c = changes[k]!;
      if (c.from === r.fromOwner && c.to === r.toOwner && (c.via === 'us' || settledByRead(r))) {
        const rest = from(i + 1, k + 1);
        if (rest) return [k, ...rest];
      }
      if (c.via === 'us') return null; // a change of ours left without its record
    }
    return null;
  };
  return from(0, 0);
}

/**
 * The changes without the round trips no client can see: a change of ours (a PUT whose answer
 * never came, or that landed late) undone at once from outside (the owner set back). Parley has no
 * conditional PUT and no change feed, so the user is where it was and nothing tells the two
 * changes apart from none; recovery then finds the caller still owning the user.
 */
function withoutRoundTrips(changes: AppliedChange[]): AppliedChange[] {
  const out: AppliedChange[] = [];
  for (const c of changes) {
    const last = out.at(-1);
    if (last?.via === 'us' && c.via === 'outside' && last.from === c.to && last.to === c.from) {
      out.pop();
      continue;
    }
    out.push(c);
  }
  return out;
}

/** When no pairing exists: the changes made through us, as the bounds between observed ones. */
const oursByVia = (changes: AppliedChange[]): number[] =>
  changes.flatMap((c, i) => (c.via === 'us' ? [i] : []));

/** Where a completed erasure's fence went (else where it was seen done): a journal index. */
const fenceGone = (w: World, erasureId: string): number => {
  let at = -1;
  w.journal.forEach((e, i) => {
    if (e.kind === 'owner_deleted' && e.item.erasing?.erasureId === erasureId) at = i;
  });
  return at >= 0
    ? at
    : w.journal.findIndex((e) => e.kind === 'erasure_done' && e.erasureId === erasureId);
};

/** Where a chain first breaks: its seqs from #1 and each link, from the genesis hash. */
const chainBreak = (chain: { seq: number; prevHash: string; hash: string }[]): string | null => {
  let prev = GENESIS_HASH;
  for (const [i, r] of chain.entries()) {
    if (r.seq !== i + 1) return `#${r.seq} stands where #${i + 1} belongs`;
    if (r.prevHash !== prev) return `#${r.seq} does not link to the record before it`;
    prev = r.hash;
  }
  return null;
};

/**
 * (7) The user's records split by the full erasures that completed, each at the moment its fence
 * went: what was first stored at each seq before then must be its erased chain, whole, and after
 * the last one the user's partition holds only a chain begun afresh. Output: the history as
 * stored (each erased chain's records as first written, then the user's partition), which (1),
 * (2) and (6) read in place of the partition alone.
 */
function storedHistory(w: World, broken: (i: Invariant, detail: string) => void): HandoverRecord[] {
  const live = w.history.userRecords(USER);
  for (const job of w.erasures) {
    if (job.done) continue;
    broken(
      7,
      `${job.actor}'s erasure ${job.erasureId ?? '(never registered)'} did not finish at rest (stops: ${job.stops.join(', ') || 'none'})`,
    );
  }
  const ids = [...new Set(w.erasures.flatMap((j) => (j.done && j.erasureId ? [j.erasureId] : [])))];
  const ends = ids
    .map((erasureId) => ({ erasureId, at: fenceGone(w, erasureId) }))
    .sort((a, b) => a.at - b.at);
  const stored: HandoverRecord[] = [];
  let from = 0;
  for (const { erasureId, at } of ends) {
    const first = new Map<number, HandoverRecord>();
    for (const e of w.journal.slice(from, at + 1)) {
      if (e.kind === 'append' && e.outcome === 'appended' && !first.has(e.record.seq)) {
        first.set(e.record.seq, e.record);
      }
    }
    const partition = w.erasureStore.erased.get(erasureId) ?? new Map();
    const erased = [...partition.values()].sort((a, b) => a.seq - b.seq);
    const problem = chainBreak(erased);
    if (problem) broken(7, `erasure ${erasureId}: the erased chain breaks: ${problem}`);
    const tombstone = w.erasureStore.tombstones.get(erasureId);
    const last = erased.at(-1);
    if (!tombstone) broken(7, `erasure ${erasureId} left no tombstone`);
    else if (
      tombstone.count !== erased.length ||
      tombstone.firstSeq !== (last ? 1 : 0) ||
      tombstone.lastSeq !== (last?.seq ?? 0) ||
      tombstone.lastHash !== (last?.hash ?? GENESIS_HASH)
    ) {
      broken(
        7,
        `erasure ${erasureId}: the tombstone (count ${tombstone.count}, #${tombstone.firstSeq}..#${tombstone.lastSeq}) does not match its ${erased.length} erased records`,
      );
    }
    for (const [seq, record] of [...first].sort(([a], [b]) => a - b)) {
      const kept = partition.get(seq);
      if (!kept) {
        broken(
          7,
          `erasure ${erasureId}: #${seq} (${record.handoverId}) was stored and is not in the erased chain`,
        );
      } else if (kept.hash !== record.hash) {
        broken(
          7,
          `erasure ${erasureId}: #${seq} keeps a later copy (${kept.handoverId}, ${kept.status}), not the record first stored there (${record.handoverId}, ${record.status})`,
        );
      }
      stored.push(record);
    }
    for (const r of erased) {
      if (!first.has(r.seq)) {
        broken(
          7,
          `erasure ${erasureId}: erased #${r.seq} (${r.handoverId}) was never stored for the user before its fence went`,
        );
      }
    }
    from = at + 1;
  }
  if (ends.length > 0) {
    const after = new Set(
      w.journal
        .slice(from)
        .flatMap((e) => (e.kind === 'append' && e.outcome === 'appended' ? [e.record.hash] : [])),
    );
    const gone = ends.at(-1)!.erasureId;
    for (const r of live) {
      if (!after.has(r.hash)) {
        broken(
          7,
          `#${r.seq} (${r.handoverId}) is in the user's partition, stored before erasure ${gone}'s fence went`,
        );
      }
    }
    const problem = chainBreak(live);
    if (problem)
      broken(7, `after erasure ${gone} the user's partition is no new chain: ${problem}`);
    // A delivery claimed after the state scan's last pass is a message processed during the
    // erasure (the queue held it, out of the erasure's reach): new data, like a new chain. One
    // claimed before that pass was there to be found, and must be gone.
    const goneAt = ends.at(-1)!.at;
    let lastPass = -1;
    w.journal.forEach((e, i) => {
      if (e.kind === 'user_items_scanned' && i < goneAt) lastPass = i;
    });
    for (const d of w.state.deliveries.values()) {
      if (d.userId !== USER) continue;
      let claimed = -1;
      w.journal.forEach((e, i) => {
        if (e.kind === 'delivery_claimed' && e.deliveryId === d.deliveryId) claimed = i;
      });
      if (claimed < lastPass) {
        broken(
          7,
          `the delivery ${d.deliveryId.slice(0, 12)} (${d.state}) is left with the user id, claimed before erasure ${gone}'s last state scan`,
        );
      }
    }
  }
  return [...stored, ...live];
}

/** The invariants, after the world came to rest. */
export function checkWorld(w: World): Violation[] {
  const out: Violation[] = [];
  const broken = (invariant: Invariant, detail: string) => out.push({ invariant, detail });
  const records = storedHistory(w, broken);
  const changes = w.parley.changesOf(USER);

  for (const u of w.unexpected) broken(0, u);

  // (1) Each change Parley applied through us has its completed record, in order. A record
  // whose PUT outcome was unknown and settled by reading the owner (a `parley.code` on a
  // completed record) cannot tell our PUT from an outside change to the same owner: it may stand
  // for either.
  const ours = records.filter((r) => r.status === 'completed' && r.source !== 'observed');
  // A round trip the history did see (an observed record) pairs as it is; one nobody could see
  // pairs without it.
  const matched = matchOurs(ours, changes) ?? matchOurs(ours, withoutRoundTrips(changes));
  if (!matched) {
    broken(
      1,
      `Parley applied through us [${changes
        .filter((c) => c.via === 'us')
        .map((c) => pair(c.from, c.to))
        .join(', ')}]; the history has completed records [${ours
        .map((r) => pair(r.fromOwner, r.toOwner))
        .join(', ')}]`,
    );
  }

  // (2) Between two of our records, no more observed records than changes Parley saw from
  // outside between the two changes those records stand for (at least one for any).
  const bounds = matched ?? oursByVia(changes);
  const outsideBetween = (gap: number): number => {
    const from = gap === 0 ? 0 : bounds[gap - 1]! + 1;
    const to = gap < bounds.length ? bounds[gap]! : changes.length;
    return changes.slice(from, to).filter((c) => c.via === 'outside').length;
  };
  const observedBetween = new Map<number, HandoverRecord[]>();
  let oursSeen = 0;
  for (const r of records) {
    if (r.status !== 'completed') continue;
    if (r.source !== 'observed') oursSeen++;
    else observedBetween.set(oursSeen, [...(observedBetween.get(oursSeen) ?? []), r]);
  }
  for (const [gap, observed] of observedBetween) {
    const outside = outsideBetween(gap);
    if (observed.length > outside) {
      broken(
        2,
        `observed ${observed.map((r) => `#${r.seq} ${pair(r.fromOwner, r.toOwner)}`).join(', ')} ` +
          `after our record #${gap}, where Parley saw ${outside} change(s) made outside us`,
      );
    }
  }

  // (3) The cache at rest.
  const item = w.state.owners.get(USER);
  const parleyOwner = w.parley.ownerOf(USER);
  if (!item) broken(3, 'no owner item at rest');
  else {
    if (item.owner !== parleyOwner) {
      broken(3, `the cache names ${nameOf(item.owner)}, Parley ${nameOf(parleyOwner)}`);
    }
    if (item.pending) {
      broken(3, `a pending marker remains (${item.pending.draft.handoverId})`);
    }
  }

  // (4) Every message: one Service, never the old owner after a recorded handover (while a fence
  // stands no change can be recorded: Parley's log alone holds the forward then).
  for (const m of w.messages) {
    const delivery = w.deliveryOf(m);
    const posts = w.posts.filter((p) => p.deliveryId === m.deliveryId);
    if (m.garbage) {
      const reason = w.log.lines.find(
        (l) => l.message === 'callback quarantined' && l.attributes?.deliveryId === m.deliveryId,
      )?.attributes?.reason;
      if (delivery?.disposition !== 'quarantined' || !reason || posts.length > 0) {
        broken(4, `${m.actor}'s garbage was not quarantined with a reason`);
      }
      continue;
    }
    if (delivery?.state !== 'done') {
      broken(4, `${m.actor}'s message never settled (last error ${m.lastError ?? 'none'})`);
      continue;
    }
    if (posts.length === 0) {
      broken(4, `${m.actor}'s message reached no one (disposition ${delivery.disposition})`);
      continue;
    }
    // A second Service hears the message only after a handover this delivery asked for (made by
    // it, or found done already).
    const first = posts[0]!.service;
    for (const p of posts) {
      if (p.service === first) continue;
      const madeByIt = p.handoverId !== null && p.handoverId === delivery.handoverId;
      if (!p.marked || !(madeByIt || m.asked.has(p.service))) {
        broken(4, `${m.actor}'s message went to ${nameOf(first)} and to ${nameOf(p.service)}`);
      }
    }
    // A repeat to a Service that already heard the message (a retry after an attempt died past
    // its forward sends it there again, with the same delivery id) is judged by its first post.
    const heard = new Set<string>();
    for (const p of posts) {
      if (heard.has(p.service)) continue;
      heard.add(p.service);
      if (!p.fenced && p.recordedOwner !== null && p.recordedOwner !== p.service) {
        broken(
          4,
          `${m.actor}'s message went to ${nameOf(p.service)} after the history recorded ${nameOf(p.recordedOwner)} as the owner`,
        );
      }
      const owners = new Set([
        m.serviceId,
        ...changes.filter((c) => c.at > m.routedAt && c.at <= p.at).map((c) => c.to),
      ]);
      if (!owners.has(p.service)) {
        broken(
          4,
          `${m.actor}'s message went to ${nameOf(p.service)}, who did not own the user between its routing and the forward`,
        );
      }
    }
  }

  // (6) Leases: a lease is named by its owner and activity times (the expiry's metadata), so two
  // timeout records naming the same lease mean two claims acted on it.
  const expiries = new Map<string, number>();
  for (const r of records) {
    if (r.source !== 'timeout' || r.status !== 'completed') continue;
    const m = r.metadata ?? {};
    const lease = `${nameOf(r.fromOwner ?? '')} ${String(m.lastUserAt)} ${String(m.lastOwnerAt)}`;
    expiries.set(lease, (expiries.get(lease) ?? 0) + 1);
  }
  for (const [lease, count] of expiries) {
    if (count > 1) broken(6, `the lease ${lease} ended ${count} times`);
  }
  if (item && !item.pending && (item.lease != null) !== (item.owner === AGENT)) {
    broken(
      6,
      `at rest ${nameOf(item.owner)} owns the user and the item ${item.lease ? 'holds' : 'holds no'} lease`,
    );
  }

  // (5) The chain in the user's partition, against the owner item's head.
  const chain = verifyChain(
    USER,
    w.history.userRecords(USER),
    item ? { lastSeq: item.lastSeq, lastHash: item.lastHash } : undefined,
  );
  if (!chain.ok) {
    broken(5, `chain broken at #${chain.firstBroken.seq}: ${chain.firstBroken.problem}`);
  }
  return out;
}

// ---------------------------------------------------------------- the report

const recordLine = (r: HandoverRecord): string =>
  `#${r.seq} ${r.source} ${r.status} ${pair(r.fromOwner, r.toOwner)} (${r.handoverId}` +
  `${r.parley?.code ? `, ${r.parley.code}` : ''})`;

/** A counterexample as a person reads it: what broke, the actors, the schedule, the outcome. */
export function report(w: World, actors: Actor[], violations: Violation[]): string {
  const invariants = [...new Set(violations.map((v) => v.invariant))];
  const item = w.state.owners.get(USER);
  const lines = [
    `Invariant(s) broken: ${invariants.map((i) => `(${i}) ${INVARIANTS[i]}`).join('; ')}`,
    ...violations.map((v) => `  (${v.invariant}) ${v.detail}`),
    ...(w.prelude.length > 0 ? ['Before them, one at a time:'] : []),
    ...w.prelude.map((a, i) => `  P${i + 1}: ${describeActor(a)}`),
    'Actors:',
    ...actors.map((a, i) => `  A${i + 1}: ${describeActor(a)}`),
    'Schedule (steps as released, then the world at rest):',
    ...w.parley.trace.map((t, i) => `  ${String(i + 1).padStart(3)}. ${t}`),
    'Parley applied:',
    ...(w.parley.changesOf(USER).length === 0
      ? ['  nothing']
      : w.parley
          .changesOf(USER)
          .map(
            (c) =>
              `  ${pair(c.from, c.to)} ${c.via === 'us' ? `through us as ${nameOf(c.by)}` : 'outside us'} (${c.actor}, step ${c.at + 1})`,
          )),
    `History of user ${USER}:`,
    ...(w.history.userRecords(USER).length === 0
      ? ['  empty']
      : w.history.userRecords(USER).map((r) => `  ${recordLine(r)}`)),
    `Owner item: ${item ? `${nameOf(item.owner)}, lastSeq ${item.lastSeq}, pending ${item.pending?.draft.handoverId ?? 'none'}${item.erasing ? `, fenced by ${item.erasing.erasureId}` : ''}` : 'none'}; Parley: ${nameOf(w.parley.ownerOf(USER))}`,
    ...w.erasures.map(
      (j) =>
        `Erasure of ${j.actor}: ${j.erasureId ?? 'not registered'}, ${j.noop ? 'nothing to erase' : j.done ? 'done' : 'not done'}; erased [${[
          ...(w.erasureStore.erased.get(j.erasureId ?? '')?.values() ?? []),
        ]
          .sort((a, b) => a.seq - b.seq)
          .map(
            (r) =>
              `#${r.seq} ${r.source} ${r.status} ${pair(r.fromOwner, r.toOwner)} (${r.handoverId})`,
          )
          .join(', ')}]`,
    ),
  ];
  return lines.join('\n');
}

/** The explorer as a property: any failing run throws its report. `seen` sees every world. */
export const explorerProperty = (
  actors: fc.Arbitrary<Actor[]>,
  seen?: (world: World) => void,
  prelude: Actor[] = [],
) =>
  fc.asyncProperty(fc.scheduler(), actors, async (s, list) => {
    const world = await runWorld(s, list, prelude);
    seen?.(world);
    const violations = checkWorld(world);
    if (violations.length > 0) throw new Error(report(world, list, violations));
  });

/**
 * A scheduler that releases steps in the order they were scheduled: one fixed, plain
 * interleaving (for tests of the checker itself).
 */
export const inOrderScheduler = (): Scheduler => {
  const waiting: (() => void)[] = [];
  const scheduler = {
    schedule: <T>(task: Promise<T>) =>
      new Promise<T>((resolve, reject) => {
        waiting.push(() => {
          task.then(resolve, reject);
        });
      }),
    count: () => waiting.length,
    waitNext: async (count: number) => {
      for (let i = 0; i < count; i++) waiting.shift()?.();
    },
  };
  return scheduler as unknown as Scheduler;
};
