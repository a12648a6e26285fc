// A model of Parley for the schedule explorer (test/domain/explorer.test.ts). It implements the
// ParleyClients port in memory, and every call is made of steps that fast-check's scheduler
// releases: a GET owner reads at one step and its answer lands at a later one; a PUT owner applies
// at one step (or late, or never) and its answer (a success, a refusal, a timeout, or nothing at
// all) lands at another. Between steps the other actors run, so the explorer sees a read go stale
// or a PUT land after its caller gave up on it.
//
// Time: invocations carry their start; once the injected clock is past start + the function
// timeout, an answer for that invocation is never heard (the invocation is gone, as in Lambda).
// The model keeps its own log of every change of owner it applied, with who made it and whether it
// came through this service or from outside, to compare with the history afterwards.
import type { Scheduler } from 'fast-check';
import { ParleyApiError, ParleyTimeoutError } from '../../functions/domain/errors';
import type {
  Clock,
  ParleyCall,
  ParleyClient,
  ParleyClients,
  ParleyService,
} from '../../functions/domain/ports';

/**
 * What happens to one PUT owner. `applied_*`: Parley applies it when it arrives; `late_*`: it
 * applies at a later step of its own (dropped if the owner changed in between: Parley has no
 * conditional PUT, so nothing could protect a user handed on and back from a PUT that slept through
 * both); `lost_*`: never applied. `*_timeout`: the caller gets an `unknown` timeout; `*_hang`: it
 * gets nothing (a crash: the invocation never resumes).
 */
export type PutFault =
  | 'ok'
  | 'applied_timeout'
  | 'lost_timeout'
  | 'late_timeout'
  | 'applied_hang'
  | 'late_hang'
  | 'lost_hang';

/** What happens to one GET owner: answered, timed out after reading, or never answered. */
export type GetFault = 'ok' | 'timeout' | 'hang';

export const PUT_FAULTS: readonly PutFault[] = [
  'ok',
  'applied_timeout',
  'lost_timeout',
  'late_timeout',
  'applied_hang',
  'late_hang',
  'lost_hang',
];
export const GET_FAULTS: readonly GetFault[] = ['ok', 'timeout', 'hang'];

/** One change of owner the model applied. `at` indexes the trace line of the step that did it. */
export interface AppliedChange {
  at: number;
  userId: string;
  from: string;
  to: string;
  /** The Service whose credentials made the PUT, or 'outside'. */
  by: string;
  via: 'us' | 'outside';
  /** The actor (and invocation) that made it. */
  actor: string;
}

/** One run of a function (a request, a queue delivery, a schedule tick), as Parley's caller. */
export interface Invocation {
  /** Names it in the trace, e.g. "A2" or "A3#2" (the second queue delivery of actor A3). */
  name: string;
  startedAtMs: number;
  /** Consumed one per PUT owner / GET owner this invocation makes; empty: 'ok'. */
  putFaults: PutFault[];
  getFaults: GetFault[];
}

const never = <T>(): Promise<T> => new Promise<T>(() => {});

export class ModelParley {
  readonly owners = new Map<string, string>();
  readonly log: AppliedChange[] = [];
  /** The steps in the order the scheduler released them, with what each did. */
  readonly trace: string[] = [];

  constructor(
    private readonly scheduler: Scheduler,
    private readonly clock: Clock,
    readonly services: ParleyService[],
    /** Short names for the trace (identification -> "Bot"). */
    readonly nameOf: (identification: string) => string,
    private readonly functionTimeoutMs = 15_000,
  ) {}

  get defaultService(): string {
    return (this.services.find((s) => s.default) ?? this.services[0]!).identification;
  }

  ownerOf(userId: string): string {
    return this.owners.get(userId) ?? this.defaultService;
  }

  /** The changes applied to a user so far. */
  changesOf(userId: string): AppliedChange[] {
    return this.log.filter((c) => c.userId === userId);
  }

  /** A step of the schedule: resolves when the scheduler releases it; the trace names it then. */
  step(label: string): Promise<void> {
    return this.scheduler.schedule(Promise.resolve(label), label).then(() => {
      this.trace.push(label);
    });
  }

  /** Adds what happened to the trace line of the step being run (or a line of its own). */
  note(text: string, ownLine = false): void {
    if (ownLine || this.trace.length === 0) this.trace.push(text);
    else this.trace[this.trace.length - 1] += `: ${text}`;
  }

  /** A change made at Parley by someone else (an agent desk used directly, an operator). */
  async outsideChange(userId: string, to: string, actor: string): Promise<void> {
    await this.step(`${actor} changes the owner at Parley to ${this.nameOf(to)} (outside us)`);
    this.apply(userId, to, 'outside', 'outside', actor);
  }

  /** Parley routes a user's message: it goes to whoever owns the user at this step. */
  async route(userId: string, actor: string): Promise<string> {
    await this.step(`${actor} Parley routes a message of user ${userId}`);
    const owner = this.ownerOf(userId);
    this.note(`to ${this.nameOf(owner)}`);
    return owner;
  }

  /** The client of one invocation: its faults and its deadline. */
  clientsFor(inv: Invocation): ParleyClients {
    return (as) => this.client(inv, as);
  }

  private client(inv: Invocation, as: string): ParleyClient {
    return {
      serviceIdentification: as,
      listServices: async () => this.ok(structuredClone(this.services)),
      getOwner: (userId) => this.getOwner(inv, as, userId),
      setOwner: (userId, newOwner) => this.setOwner(inv, as, userId, newOwner),
      sendMessage: (userId) =>
        this.land(inv, `${inv.name} sendMessage as ${this.nameOf(as)}`, () => {
          if (this.ownerOf(userId) !== as) throw this.notOwner('POST', `users/${userId}/messages`);
          return this.ok({});
        }),
      unsetAgent: () =>
        this.land(inv, `${inv.name} agent/unset as ${this.nameOf(as)}`, () => this.ok({})),
    };
  }

  private async getOwner(
    inv: Invocation,
    as: string,
    userId: string,
  ): Promise<ParleyCall<{ owner: string }>> {
    const fault = inv.getFaults.shift() ?? 'ok';
    await this.step(`${inv.name} GET owner as ${this.nameOf(as)} reaches Parley`);
    const owner = this.ownerOf(userId);
    this.note(`reads ${this.nameOf(owner)}`);
    if (fault === 'hang') {
      this.note(`${inv.name} never hears the answer (crash)`, true);
      return never();
    }
    return this.land(inv, `${inv.name} GET owner answer lands`, () => {
      if (fault === 'timeout') throw new ParleyTimeoutError('GET', `users/${userId}/owner`, 3000);
      this.note(this.nameOf(owner));
      return this.ok({ owner });
    });
  }

  private async setOwner(
    inv: Invocation,
    as: string,
    userId: string,
    newOwner: string,
  ): Promise<ParleyCall<Record<string, unknown>>> {
    const fault = inv.putFaults.shift() ?? 'ok';
    const path = `users/${userId}/owner`;
    const what = `PUT owner ${this.nameOf(as)} -> ${this.nameOf(newOwner)}`;
    await this.step(`${inv.name} ${what} reaches Parley [${fault}]`);
    const changesBefore = this.changesOf(userId).length;
    let refusal: ParleyApiError | null = null;
    if (fault === 'ok' || fault.startsWith('applied_')) {
      refusal = this.put(userId, as, newOwner, inv.name, path);
    } else if (fault.startsWith('late_')) {
      this.note('not applied yet');
      void this.step(`${inv.name} ${what} applies late at Parley`).then(() => {
        if (this.changesOf(userId).length !== changesBefore) {
          this.note('dropped (the owner changed meanwhile)');
          return;
        }
        this.put(userId, as, newOwner, inv.name, path);
      });
    } else {
      this.note('never applied');
    }
    if (fault.endsWith('_hang')) {
      this.note(`${inv.name} never hears the answer (crash)`, true);
      return never();
    }
    return this.land(inv, `${inv.name} ${what} answer lands`, () => {
      if (fault !== 'ok') {
        this.note('timeout');
        throw new ParleyTimeoutError('PUT', path, 3000);
      }
      if (refusal) {
        this.note(`HTTP ${refusal.status} ${refusal.parleyCode}`);
        throw refusal;
      }
      this.note('200');
      return this.ok({});
    });
  }

  /** Parley's own rules for PUT owner: only the owner may hand over, to a known Service. */
  private put(
    userId: string,
    as: string,
    newOwner: string,
    actor: string,
    path: string,
  ): ParleyApiError | null {
    if (this.ownerOf(userId) !== as) {
      this.note(`refused: ${this.nameOf(as)} is not the owner`);
      return this.notOwner('PUT', path);
    }
    if (!this.services.some((s) => s.identification === newOwner)) {
      this.note('refused: unknown service');
      return new ParleyApiError(400, 'unknown_service', 'PUT', path, '20500', 5);
    }
    this.apply(userId, newOwner, as, 'us', actor);
    return null;
  }

  private apply(
    userId: string,
    to: string,
    by: string,
    via: AppliedChange['via'],
    actor: string,
  ): void {
    const from = this.ownerOf(userId);
    if (from === to) {
      this.note(`no change (${this.nameOf(to)} owns the user already)`);
      return;
    }
    this.owners.set(userId, to);
    this.log.push({ at: this.trace.length - 1, userId, from, to, by, via, actor });
    this.note(`applied ${this.nameOf(from)} -> ${this.nameOf(to)}`);
  }

  /** An answer (of Parley, or of a program): heard only while the invocation is still alive. */
  async land<T>(inv: Invocation, label: string, answer: () => T): Promise<T> {
    await this.step(label);
    if (this.clock.now() > inv.startedAtMs + this.functionTimeoutMs) {
      this.note(`not heard: ${inv.name} is past its function timeout`);
      return never();
    }
    return answer();
  }

  private notOwner(method: string, path: string): ParleyApiError {
    return new ParleyApiError(403, 'service_is_not_owner', method, path, '20500', 5);
  }

  private ok<T>(data: T): ParleyCall<T> {
    return { data, status: 200, apiVersion: '20500', durationMs: 5, warnings: [] };
  }
}
