// A small in-memory owner-item store for the timer tests: the byDue index (sharded, sorted by
// dueSk), a compare-and-set on `version`, the sweep's port (claim, re-check, act) and the user
// message path that touches a lease. Every transition is logged with the version it was claimed
// from, so a test counts what happened rather than what it asked for. `gate` lets a scheduler
// interleave every read and write; `cas: false` is a deliberately broken store (no version check)
// that shows the model test can fail.
import {
  dueActions,
  dueAtOf,
  dueSk,
  dueSkBefore,
  stillDue,
} from '../../../functions/domain/lifecycle/due';
import {
  leaseExpiryPlan,
  markWarned,
  startLease,
  touchLease,
} from '../../../functions/domain/lifecycle/lease';
import {
  acceptOffer,
  cancelOffer,
  declineOffer,
  expireOffer,
} from '../../../functions/domain/lifecycle/offer';
import type {
  DueAction,
  DueEntry,
  LeaseConfig,
  OfferStatus,
  TimedItem,
} from '../../../functions/domain/lifecycle/types';
import type { SweepPort } from '../../../functions/domain/lifecycle/ports';
import { shardOf } from '../../../functions/domain/shards';
import type { Clock } from '../../../functions/domain/ports';

export const DEFAULT_SERVICE = 'bot';

export interface StoredItem extends TimedItem {
  dueAt: string | null;
}

export interface Transition {
  userId: string;
  fromVersion: number;
  kind: DueAction['kind'] | 'touch';
  /** The owner before the transition. */
  owner: string;
}

export interface TimeoutRecord {
  userId: string;
  fromOwner: string;
  toOwner: string;
  source: 'timeout' | 'offer';
  reason: string;
}

export interface TimerWorldOptions {
  shards: number;
  clock: Clock;
  cfgOf: (owner: string) => LeaseConfig | null;
  gate?: (label: string) => Promise<void>;
  cas?: boolean;
}

const clone = <T>(v: T): T => structuredClone(v);

export class TimerWorld {
  readonly items = new Map<string, StoredItem>();
  readonly transitions: Transition[] = [];
  readonly records: TimeoutRecord[] = [];
  /** How each offer ended, with the version the ending was claimed from. */
  readonly endings: { offerId: string; status: OfferStatus; fromVersion: number }[] = [];
  /** Calls the sweep made, in order. */
  readonly calls: { op: 'listDue' | 'act'; shard?: number; limit?: number; userId?: string }[] = [];

  constructor(private readonly opts: TimerWorldOptions) {}

  private resolve = (ref: string): string => (ref === 'default' ? DEFAULT_SERVICE : ref);

  /** The item with its dueAt derived the way every owner write derives it. */
  withDue(item: TimedItem): StoredItem {
    return {
      ...item,
      dueAt: dueAtOf(item.lease ?? null, item.offer ?? null, this.opts.cfgOf(item.owner)),
    };
  }

  /** Every offer put on an item, by id (what an ended offer's record would hold). */
  readonly offers = new Map<string, NonNullable<TimedItem['offer']>>();

  put(item: TimedItem): void {
    if (item.offer) this.offers.set(item.offer.offerId, clone(item.offer));
    this.items.set(item.userId, this.withDue(clone(item)));
  }

  async read(userId: string): Promise<StoredItem | null> {
    await this.opts.gate?.(`read ${userId}`);
    const item = this.items.get(userId);
    return item ? clone(item) : null;
  }

  async compareAndSet(next: StoredItem, expectedVersion: number): Promise<boolean> {
    await this.opts.gate?.(`cas ${next.userId}@${expectedVersion}`);
    const stored = this.items.get(next.userId);
    if (this.opts.cas !== false && stored?.version !== expectedVersion) return false;
    this.items.set(next.userId, clone(next));
    return true;
  }

  /** A handover the timers asked for: the new owner with a fresh lease (if it has one). */
  private handOver(item: StoredItem, to: string, now: number): StoredItem {
    const cfg = this.opts.cfgOf(to);
    return this.withDue({
      ...item,
      owner: to,
      version: item.version + 1,
      lease: cfg ? startLease(now, cfg) : null,
      offer: null,
    });
  }

  /** The sweep's claim and action, as the integration's act will do it. */
  async act(
    userId: string,
    expectedVersion: number,
    action: DueAction,
  ): Promise<'acted' | 'lost_race' | 'not_due'> {
    this.calls.push({ op: 'act', userId });
    const item = await this.read(userId);
    if (!item || item.version !== expectedVersion) return 'lost_race';
    const now = this.opts.clock.now();
    const cfg = this.opts.cfgOf(item.owner);
    if (action.kind !== 'reschedule' && !stillDue(item, action, now, cfg)) return 'not_due';
    let next: StoredItem;
    let record: TimeoutRecord | null = null;
    let ending: { offerId: string; status: OfferStatus } | null = null;
    if (action.kind === 'lease_expiry') {
      const plan = leaseExpiryPlan(item.owner, item.lease!, cfg!);
      next = this.handOver(item, this.resolve(plan.handover.newOwner), now);
      if (item.offer) ending = { offerId: item.offer.offerId, status: 'superseded' };
      record = {
        userId,
        fromOwner: item.owner,
        toOwner: next.owner,
        source: 'timeout',
        reason: plan.handover.reason,
      };
    } else if (action.kind === 'offer_expiry') {
      const out = expireOffer({ offer: item.offer!, status: 'pending' }, now);
      if (!out.ok) return 'not_due';
      ending = { offerId: item.offer!.offerId, status: 'expired' };
      next = out.handover
        ? this.handOver(item, this.resolve(out.handover.newOwner), now)
        : this.withDue({ ...item, version: item.version + 1, offer: null });
      if (out.handover) {
        record = {
          userId,
          fromOwner: item.owner,
          toOwner: next.owner,
          source: 'offer',
          reason: out.handover.reason,
        };
      }
    } else if (action.kind === 'lease_warning') {
      next = this.withDue({
        ...item,
        version: item.version + 1,
        lease: markWarned(item.lease!, now),
      });
    } else {
      next = this.withDue({ ...item, version: item.version + 1 });
    }
    if (!(await this.compareAndSet(next, expectedVersion))) return 'lost_race';
    this.transitions.push({
      userId,
      fromVersion: expectedVersion,
      kind: action.kind,
      owner: item.owner,
    });
    if (record) this.records.push(record);
    if (ending) this.endings.push({ ...ending, fromVersion: expectedVersion });
    return 'acted';
  }

  /**
   * A user message processed for the owner: reset the owner's lease (CAS), reading again after a
   * lost race. Answers whom the message went to and whether it reset that owner's lease.
   */
  async userMessage(
    userId: string,
    at = this.opts.clock.now(),
    attempts = 3,
  ): Promise<{ owner: string; reset: boolean }> {
    for (let i = 0; i < attempts; i += 1) {
      const item = await this.read(userId);
      if (!item) throw new Error(`no owner item for ${userId}`);
      const cfg = this.opts.cfgOf(item.owner);
      if (!item.lease || !cfg) return { owner: item.owner, reset: false };
      const next = this.withDue({
        ...item,
        version: item.version + 1,
        lease: touchLease(item.lease, 'user', at, cfg),
      });
      if (await this.compareAndSet(next, item.version)) {
        this.transitions.push({
          userId,
          fromVersion: item.version,
          kind: 'touch',
          owner: item.owner,
        });
        return { owner: item.owner, reset: true };
      }
    }
    throw new Error('the message lost every race');
  }

  /**
   * POST /offers/{offerId}/accept | decline | cancel by `caller` at `at`: the offer as found (live
   * on the item, else as it ended), the transition, a CAS; after a lost race it reads again.
   * Answers the transition's status or the refusal's code.
   */
  async offerAnswer(
    userId: string,
    offerId: string,
    op: 'accept' | 'decline' | 'cancel',
    caller: string,
    at: number,
  ): Promise<string> {
    for (let i = 0; i < 3; i += 1) {
      const item = await this.read(userId);
      const ended = this.endings.filter((e) => e.offerId === offerId).at(-1);
      const offer = item?.offer?.offerId === offerId ? item.offer : null;
      if (!item || (!offer && !ended)) throw new Error(`no offer ${offerId}`);
      const state = offer
        ? { offer, status: 'pending' as const }
        : { offer: this.offers.get(offerId)!, status: ended!.status };
      const out =
        op === 'accept'
          ? acceptOffer(state, caller, at)
          : op === 'decline'
            ? declineOffer(state, caller, at)
            : cancelOffer(state, caller, at);
      if (!out.ok) return out.code;
      const next =
        out.status === 'accepted'
          ? this.handOver(item, out.handover.newOwner, at)
          : this.withDue({ ...item, version: item.version + 1, offer: null });
      if (await this.compareAndSet(next, item.version)) {
        this.endings.push({ offerId, status: out.status, fromVersion: item.version });
        if (out.status === 'accepted') {
          this.records.push({
            userId,
            fromOwner: item.owner,
            toOwner: next.owner,
            source: 'offer',
            reason: out.handover.reason,
          });
        }
        return out.status;
      }
    }
    throw new Error('the answer lost every race');
  }

  /** The byDue index: items with a timer, by shard, sorted by dueSk (the cursor: the last key). */
  async listDue(shard: number, nowIso: string, options: { limit: number; cursor?: string }) {
    await this.opts.gate?.(`listDue ${shard}`);
    this.calls.push({ op: 'listDue', shard, limit: options.limit });
    const bound = dueSkBefore(nowIso);
    const keyed = [...this.items.values()]
      .filter((i) => i.dueAt !== null && shardOf(i.userId, this.opts.shards) === shard)
      .map((i) => ({ key: dueSk(i.dueAt!, i.userId), item: i }))
      .filter(({ key }) => key < bound && (options.cursor === undefined || key > options.cursor))
      .sort((a, b) => (a.key < b.key ? -1 : 1));
    const page = keyed.slice(0, options.limit);
    const items: DueEntry[] = page.map(({ item }) => clone({ ...item, dueAt: item.dueAt! }));
    return {
      items,
      ...(keyed.length > page.length ? { cursor: page[page.length - 1]!.key } : {}),
    };
  }

  port(): SweepPort {
    return {
      listDue: (shard, nowIso, options) => this.listDue(shard, nowIso, options),
      act: (userId, expectedVersion, action) => this.act(userId, expectedVersion, action),
    };
  }

  /** Users with something due at `nowMs` according to the items themselves (not the index). */
  dueNow(nowMs: number): string[] {
    return [...this.items.values()]
      .filter((i) => dueActions(i, nowMs, this.opts.cfgOf(i.owner)).length > 0)
      .map((i) => i.userId)
      .sort();
  }
}
