// The sweep acting on the owner items (lifecycle/act.ts) over the store fakes, the fake Parley and
// the real handover sequence: a lease warned once, an expiry that is one `timeout` record and one
// PUT owner, `lease.expired` to both sides, the tie with activity decided by the version, items
// listed with nothing due leaving the index, an offer's expiry handed to the offers' use case. The
// clock is injected; the figures asserted are read from the history, the outbox and Parley's calls.
import { recordActivity } from '../../../functions/domain/lifecycle/activity';
import { type ActDeps, actOnDue, sweepPort } from '../../../functions/domain/lifecycle/act';
import { TimerClaimLostError } from '../../../functions/domain/lifecycle/errors';
import { leaseOfOwner } from '../../../functions/domain/lifecycle/owner-lease';
import { runSweep } from '../../../functions/domain/lifecycle/sweep';
import type { SweepPort } from '../../../functions/domain/lifecycle/ports';
import type { LeaseConfig } from '../../../functions/domain/lifecycle/types';
import { performHandover } from '../../../functions/domain/handover/perform';
import { emitNotifications } from '../../../functions/domain/notify/emit';
import { emitLeaseWarning } from '../../../functions/domain/notify/lease';
import type { NotificationItem, OwnerItem, ServiceInfo } from '../../../functions/domain/types';
import { AGENT, BOT, FakeNotificationStore, handoverWorld } from '../../support/fakes';
import { seedRequest } from '../handover/world';

const SECOND = 1000;
const T0 = Date.parse('2026-03-10T14:00:00.000Z');
const USER = '20';
const DESK_LEASE: LeaseConfig = {
  idleSeconds: 600,
  maxSeconds: 3600,
  warnBeforeSeconds: 60,
  onExpiry: 'default',
};

const services = (lease: LeaseConfig | null = DESK_LEASE): ServiceInfo[] => [
  {
    identification: BOT,
    name: 'Bot Service',
    role: 'bot',
    default: true,
    rules: [],
    downstreamUrl: 'https://bot.example/hooks',
  },
  {
    identification: AGENT,
    name: 'Agent Service',
    role: 'agent',
    default: false,
    rules: [],
    downstreamUrl: 'https://desk.example/inbox',
    lease,
  },
];

/** The handover world with the outbox, the sweep's deps and a sweep to run at the clock's now. */
const timerWorld = (svc = services()) => {
  const w = handoverWorld(svc);
  const outbox = new FakeNotificationStore();
  const emit = {
    notifications: outbox,
    queue: { send: async () => {} },
    services: w.deps.catalog,
    clock: w.clock,
    log: w.log,
  };
  w.deps.notify = async (record) => {
    await emitNotifications(record, emit);
  };
  const offerClaims: [string, number][] = [];
  const deps: ActDeps = {
    ...w.deps,
    warnLease: async (warning) => {
      await emitLeaseWarning(warning, emit);
    },
    expireOfferDue: async (userId, expectedVersion) => {
      offerClaims.push([userId, expectedVersion]);
      return 'acted';
    },
  };
  const sweep = (port: SweepPort = sweepPort(deps)) =>
    runSweep({
      port,
      leaseConfigOf: leaseOfOwner(w.deps.catalog),
      clock: w.clock,
      log: w.log,
      metrics: w.metrics,
      shards: w.state.shards,
    });
  const notifications = (): [string, string][] =>
    [...outbox.items.values()]
      .filter((i: NotificationItem) => i.kind === 'notification')
      .map((i) => [i.type, i.recipient]);
  const item = () => w.state.owners.get(USER)!;
  return { ...w, outbox, deps, sweep, notifications, offerClaims, item };
};

/** The seed user handed from the bot to the desk at T0: the desk's lease starts. */
const withTheDesk = async (t: ReturnType<typeof timerWorld>) => {
  await performHandover(seedRequest(), t.deps);
  t.outbox.items.clear();
};

describe('the sweep acting on leases', () => {
  it('warns the owner once before the lease runs out, then hands the user back once', async () => {
    const t = timerWorld();
    await withTheDesk(t);
    expect(t.item().dueAt).toBe(new Date(T0 + 540 * SECOND).toISOString());

    t.clock.set(T0 + 540 * SECOND);
    const warned = await t.sweep();
    const again = await t.sweep();

    expect(t.notifications()).toEqual([['lease.expiring', AGENT]]);
    expect(t.item().lease?.warnedAt).toBe(new Date(T0 + 540 * SECOND).toISOString());
    expect(t.item().dueAt).toBe(new Date(T0 + 600 * SECOND).toISOString());
    expect([warned.acted, again.due]).toEqual([1, 0]);

    t.clock.set(T0 + 600 * SECOND);
    const expired = await t.sweep();
    const after = await t.sweep();

    const records = t.history.userRecords(USER);
    expect(records.map((r) => [r.seq, r.source, r.fromOwner, r.toOwner])).toEqual([
      [1, 'api', BOT, AGENT],
      [2, 'timeout', AGENT, BOT],
    ]);
    expect(records[1]).toMatchObject({
      status: 'completed',
      reason: 'lease_expired',
      requestedBy: 'system:lease',
      metadata: {
        reason: 'lease_expired',
        idleSeconds: 600,
        lastUserAt: new Date(T0).toISOString(),
        lastOwnerAt: new Date(T0).toISOString(),
      },
    });
    // One PUT owner, made with the desk's credentials; the bot holds no lease: no timer left.
    expect(t.parley.callsOf('setOwner').map((c) => [c.as, c.newOwner])).toEqual([
      [BOT, AGENT],
      [AGENT, BOT],
    ]);
    expect(t.parley.ownerOf(USER)).toBe(BOT);
    expect(t.item()).toMatchObject({ owner: BOT, pending: null, lastSeq: 2 });
    expect(t.item().lease).toBeUndefined();
    expect(t.item().dueAt).toBeUndefined();
    expect(t.notifications()).toEqual([
      ['lease.expiring', AGENT],
      ['lease.expired', AGENT],
      ['lease.expired', BOT],
    ]);
    expect([expired.acted, after.due]).toEqual([1, 0]);
  });

  it('writes the warning with the lease’s body: who, when it runs out, where the user goes', async () => {
    const t = timerWorld();
    await withTheDesk(t);
    t.clock.set(T0 + 545 * SECOND);

    await t.sweep();

    const [warning] = [...t.outbox.items.values()];
    expect(JSON.parse(warning!.body)).toEqual({
      id: warning!.id,
      type: 'lease.expiring',
      // When the warning fell due, not when the sweep came: every writer builds the same item.
      createdAt: new Date(T0 + 540 * SECOND).toISOString(),
      userId: USER,
      seq: 1,
      handoverId: `lease:${USER}:${new Date(T0 + 600 * SECOND).toISOString()}`,
      from: AGENT,
      to: BOT,
      reason: 'lease_expiring',
      source: 'timeout',
      requestedBy: 'system:lease',
      lease: {
        expiresAt: new Date(T0 + 600 * SECOND).toISOString(),
        hardExpiresAt: new Date(T0 + 3600 * SECOND).toISOString(),
        lastUserAt: new Date(T0).toISOString(),
        lastOwnerAt: new Date(T0).toISOString(),
      },
    });
  });

  it('warns again after a failed outbox write instead of losing the warning', async () => {
    const t = timerWorld();
    await withTheDesk(t);
    t.clock.set(T0 + 540 * SECOND);
    const put = t.outbox.put.bind(t.outbox);
    let failures = 1;
    t.outbox.put = async (item) => {
      if (failures-- > 0) throw new Error('outbox unavailable');
      return put(item);
    };

    const first = await t.sweep();
    const second = await t.sweep();

    expect([first.failed, first.acted, second.acted]).toEqual([1, 0, 1]);
    expect(t.notifications()).toEqual([['lease.expiring', AGENT]]);
    expect(t.item().lease?.warnedAt).toBeDefined();
  });

  it('gives a lease moved by activity a warning of its own', async () => {
    const t = timerWorld();
    await withTheDesk(t);
    t.clock.set(T0 + 540 * SECOND);
    await t.sweep();
    // The user writes: the lease runs 600 s from now, the warning point is ahead again.
    expect(await recordActivity(USER, AGENT, 'user', t.deps)).toBe('reset');
    expect(t.item().lease?.warnedAt).toBeUndefined();

    t.clock.set(T0 + 1080 * SECOND);
    await t.sweep();

    expect(t.notifications()).toEqual([
      ['lease.expiring', AGENT],
      ['lease.expiring', AGENT],
    ]);
    expect(new Set([...t.outbox.items.values()].map((i) => i.handoverId)).size).toBe(2);
  });

  it('writes warnedAt without a notification when the owner takes no lease.expiring', async () => {
    const svc = services();
    svc[1]!.notify = { events: ['handover.completed'] };
    const t = timerWorld(svc);
    await withTheDesk(t);
    t.clock.set(T0 + 540 * SECOND);

    const run = await t.sweep();

    expect(run.acted).toBe(1);
    expect(t.notifications()).toEqual([]);
    expect(t.item().lease?.warnedAt).toBeDefined();
  });
});

describe('the tie between the sweep and activity', () => {
  /** A port whose claim runs `between` after the listing and before the claim. */
  const interleaved = (t: ReturnType<typeof timerWorld>, between: () => Promise<unknown>) => {
    const port = sweepPort(t.deps);
    return {
      ...port,
      act: async (userId: string, version: number, action: Parameters<SweepPort['act']>[2]) => {
        await between();
        return port.act(userId, version, action);
      },
    };
  };

  it('lets a user message after the listing cancel the expiry: no record, no PUT owner', async () => {
    const t = timerWorld();
    await withTheDesk(t);
    t.clock.set(T0 + 600 * SECOND);
    const outcomes: string[] = [];

    const run = await t.sweep(
      interleaved(t, async () => {
        outcomes.push(await recordActivity(USER, AGENT, 'user', t.deps));
      }),
    );

    expect(outcomes).toEqual(['reset']);
    expect(run).toMatchObject({ due: 1, acted: 0, lostRace: 1 });
    expect(t.history.userRecords(USER)).toHaveLength(1);
    expect(t.parley.callsOf('setOwner')).toHaveLength(1);
    expect(t.item()).toMatchObject({ owner: AGENT, pending: null });
    expect(t.item().lease?.expiresAt).toBe(new Date(T0 + 1200 * SECOND).toISOString());
  });

  it('lets an expiry marked first win: the message lands after it and resets nothing', async () => {
    const t = timerWorld();
    await withTheDesk(t);
    t.clock.set(T0 + 600 * SECOND);
    let message: Promise<string> | null = null;
    // The user's message is processed while the expiry's PUT owner is in flight.
    t.parley.onSetOwner = () => {
      message = recordActivity(USER, AGENT, 'user', t.deps);
    };

    const run = await t.sweep();

    expect(await message).toBe('moved');
    expect(run).toMatchObject({ due: 1, acted: 1, lostRace: 0 });
    expect(t.history.userRecords(USER).map((r) => r.source)).toEqual(['api', 'timeout']);
    expect(t.item()).toMatchObject({ owner: BOT, pending: null });
  });

  it('refuses the expiry’s handover when the version moved, whatever the marker would say', async () => {
    const t = timerWorld();
    await withTheDesk(t);
    t.clock.set(T0 + 600 * SECOND);
    const listed = t.item().version;
    await recordActivity(USER, AGENT, 'owner', t.deps);

    const refused = performHandover(
      {
        ...seedRequest({ newOwner: 'default', requestedBy: AGENT, metadata: undefined }),
        source: 'timeout',
        actor: 'system:lease',
        expectedVersion: listed,
      },
      t.deps,
    );

    await expect(refused).rejects.toBeInstanceOf(TimerClaimLostError);
    await expect(refused).rejects.toMatchObject({ httpStatus: 409, code: 'owner_changed' });
    expect(t.history.userRecords(USER)).toHaveLength(1);
  });

  it('writes exactly one expiry record when two sweeps claim the same item at once', async () => {
    const t = timerWorld();
    await withTheDesk(t);
    t.clock.set(T0 + 600 * SECOND);

    const runs = await Promise.all([t.sweep(), t.sweep()]);

    expect(t.history.userRecords(USER).map((r) => r.source)).toEqual(['api', 'timeout']);
    expect(t.parley.callsOf('setOwner')).toHaveLength(2);
    // Each run listed the item and claimed it: one acted, the other lost the race.
    expect(runs.map((r) => [r.due, r.acted + r.lostRace])).toEqual([
      [1, 1],
      [1, 1],
    ]);
    expect(runs.reduce((n, r) => n + r.acted, 0)).toBe(1);
  });
});

describe('what else the sweep finds', () => {
  it('takes an item listed with nothing due out of the index (its Service dropped the lease)', async () => {
    const t = timerWorld();
    await withTheDesk(t);
    // The desk's lease is switched off since: the stored timer no longer means anything.
    (t.deps.catalog.get(AGENT) as ServiceInfo).lease = null;
    t.clock.set(T0 + 600 * SECOND);

    const run = await t.sweep();
    const listed = [];
    for (let shard = 0; shard < t.state.shards; shard++) {
      listed.push(...(await t.state.listDue(shard, '9999', { limit: 10 })).items);
    }

    expect(run).toMatchObject({ due: 1, rescheduled: 1, acted: 0 });
    expect(t.item().dueAt).toBeUndefined();
    expect(t.history.userRecords(USER)).toHaveLength(1);
    expect(listed).toEqual([]);
  });

  it('hands an offer’s expiry to the offers’ use case, claimed on the listed version', async () => {
    const t = timerWorld(services(null));
    await withTheDesk(t);
    const item = t.item();
    const offered: OwnerItem = {
      ...item,
      version: item.version + 1,
      offer: {
        offerId: 'ofr_1',
        from: AGENT,
        to: BOT,
        createdAt: new Date(T0).toISOString(),
        expiresAt: new Date(T0 + 120 * SECOND).toISOString(),
        onTimeout: 'keep',
        metadata: null,
        requestedBy: AGENT,
      },
      dueAt: new Date(T0 + 120 * SECOND).toISOString(),
    };
    await t.state.compareAndSetOwner(offered, item.version);
    t.clock.set(T0 + 121 * SECOND);

    const run = await t.sweep();

    expect(t.offerClaims).toEqual([[USER, offered.version]]);
    expect(run).toMatchObject({ due: 1, acted: 1 });
  });

  it('leaves an item with a handover in flight to that handover', async () => {
    const t = timerWorld();
    await withTheDesk(t);
    const item = t.item();
    const marked: OwnerItem = {
      ...item,
      version: item.version + 1,
      pending: {
        draft: { ...t.history.userRecords(USER)[0]!, seq: 2 },
        markedAt: new Date(T0 + 599 * SECOND).toISOString(),
        actingService: AGENT,
      },
    };
    await t.state.compareAndSetOwner(marked, item.version);
    t.clock.set(T0 + 600 * SECOND);

    expect(await actOnDue(USER, marked.version, { kind: 'lease_expiry', dueAt: '' }, t.deps)).toBe(
      'lost_race',
    );
    expect(t.parley.callsOf('setOwner')).toHaveLength(1);
  });

  it('answers not_due when a fresh read shows the lease was reset after the listing', async () => {
    const t = timerWorld();
    await withTheDesk(t);
    t.clock.set(T0 + 590 * SECOND);
    const listed = t.item().version;

    // Claimed on the listed version at a time when nothing is due yet (a listing made on a
    // later clock than this claim's).
    const outcome = await actOnDue(USER, listed, { kind: 'lease_expiry', dueAt: '' }, t.deps);

    expect(outcome).toBe('not_due');
    expect(t.history.userRecords(USER)).toHaveLength(1);
  });
});
