// POST /users/{userId}/lease's use case (lifecycle/extend.ts) over the store fakes: the owner's lease
// runs extendSeconds past its expiry up to the hard cap; the refusals in the order a caller meets
// them; a race with activity read again, never lost. The clock is injected.
import {
  HandoverInProgressError,
  NotFoundError,
  NotOwnerError,
  ValidationError,
} from '../../../functions/domain/errors';
import { LeaseLimitExceededError } from '../../../functions/domain/lifecycle/errors';
import { extendOwnerLease, type ExtendDeps } from '../../../functions/domain/lifecycle/extend';
import { startLease } from '../../../functions/domain/lifecycle/lease';
import { withDueAt } from '../../../functions/domain/lifecycle/owner-lease';
import type { LeaseConfig } from '../../../functions/domain/lifecycle/types';
import type { OwnerItem, ServiceInfo } from '../../../functions/domain/types';
import {
  AGENT,
  BOT,
  FakeStateStore,
  manualClock,
  recordingLog,
  staticCatalog,
} from '../../support/fakes';

const SECOND = 1000;
const T0 = Date.parse('2026-03-10T14:00:00.000Z');
const at = (seconds: number) => new Date(T0 + seconds * SECOND).toISOString();
const USER = '20';
const LEASE: LeaseConfig = {
  idleSeconds: 600,
  maxSeconds: 3600,
  warnBeforeSeconds: 60,
  onExpiry: 'default',
};

const services = (lease: LeaseConfig | null = LEASE): ServiceInfo[] => [
  { identification: BOT, name: 'Bot Service', role: 'bot', default: true, rules: [] },
  { identification: AGENT, name: 'Agent Service', role: 'agent', default: false, rules: [], lease },
];

const deskItem = (over: Partial<OwnerItem> = {}): OwnerItem =>
  withDueAt(
    {
      userId: USER,
      owner: AGENT,
      version: 4,
      since: at(0),
      lastSeq: 1,
      lastHash: 'a'.repeat(64),
      lastCreatedAt: at(0),
      lastHandoverId: 'h0001',
      pending: null,
      refreshedAt: at(0),
      lease: startLease(T0, LEASE),
      ...over,
    },
    LEASE,
  );

const world = (item: OwnerItem | null = deskItem(), svc = services()) => {
  const state = new FakeStateStore();
  if (item) state.owners.set(item.userId, item);
  const clock = manualClock(T0);
  const deps: ExtendDeps = {
    state,
    catalog: staticCatalog(svc),
    clock,
    log: recordingLog(),
    staleAfterMs: 60_000,
  };
  return { state, clock, deps };
};

const extend = (w: ReturnType<typeof world>, extendSeconds: number, serviceId = AGENT) =>
  extendOwnerLease({ userId: USER, serviceId, extendSeconds }, w.deps);

describe('extendOwnerLease', () => {
  it('runs the lease extendSeconds past its expiry, with dueAt at the new warning point', async () => {
    const w = world();
    w.clock.set(T0 + 100 * SECOND);

    const answer = await extend(w, 900);

    expect(answer).toEqual({ expiresAt: at(1500), hardExpiresAt: at(3600) });
    expect(w.state.owners.get(USER)).toMatchObject({
      version: 5,
      lease: { expiresAt: at(1500), extendedUntil: at(1500) },
      dueAt: at(1440),
    });
  });

  it('runs an expired lease the sweep has not come for yet extendSeconds past now', async () => {
    const w = world();
    w.clock.set(T0 + 700 * SECOND);

    expect(await extend(w, 60)).toEqual({ expiresAt: at(760), hardExpiresAt: at(3600) });
  });

  it('refuses an extension past the hard cap with 422 and changes nothing', async () => {
    const w = world();

    const refused = extend(w, 3001);

    await expect(refused).rejects.toBeInstanceOf(LeaseLimitExceededError);
    await expect(refused).rejects.toMatchObject({
      httpStatus: 422,
      code: 'lease_limit_exceeded',
      details: { hardExpiresAt: at(3600) },
    });
    expect(w.state.owners.get(USER)).toEqual(deskItem());
    expect(await extend(w, 3000)).toEqual({ expiresAt: at(3600), hardExpiresAt: at(3600) });
  });

  it('refuses a Service that does not own the user with 403 not_owner, naming the owner', async () => {
    const refused = extend(world(), 60, BOT);

    await expect(refused).rejects.toBeInstanceOf(NotOwnerError);
    await expect(refused).rejects.toMatchObject({ details: { currentOwner: AGENT } });
  });

  it('answers 404 for a user with no owner item, a lease-less item, or a Service that holds none now', async () => {
    const none = world(null);
    const { lease: _, dueAt: __, ...bare } = deskItem();
    const leaseless = world(bare);
    const switchedOff = world(deskItem(), services(null));

    for (const w of [none, leaseless, switchedOff]) {
      await expect(extend(w, 60)).rejects.toBeInstanceOf(NotFoundError);
    }
    await expect(extend(none, 60)).rejects.toMatchObject({ httpStatus: 404, code: 'not_found' });
  });

  it('answers 409 while a handover of the user is in flight, and takes a stale marker as none', async () => {
    const marked = deskItem({
      pending: {
        draft: {
          handoverId: 'h0002',
          userId: USER,
          seq: 2,
          fromOwner: AGENT,
          toOwner: BOT,
          reason: null,
          metadata: null,
          metadataDigest: 'd'.repeat(64),
          requestedBy: 'system:lease',
          source: 'timeout',
          createdAt: at(10),
          prevHash: 'a'.repeat(64),
        },
        markedAt: at(10),
        actingService: AGENT,
      },
    });
    const w = world(marked);
    w.clock.set(T0 + 20 * SECOND);

    await expect(extend(w, 60)).rejects.toBeInstanceOf(HandoverInProgressError);
    w.clock.set(T0 + 80 * SECOND);
    await expect(extend(w, 60)).resolves.toEqual({ expiresAt: at(660), hardExpiresAt: at(3600) });
  });

  it('reads again after losing to activity, and extends the lease as activity left it', async () => {
    const w = world();
    w.clock.set(T0 + 300 * SECOND);
    w.state.beforeNextCas = () => {
      const item = w.state.owners.get(USER)!;
      w.state.owners.set(USER, {
        ...item,
        version: item.version + 1,
        lease: { ...item.lease!, lastUserAt: at(300), expiresAt: at(900) },
      });
    };

    const answer = await extend(w, 60);

    expect(answer.expiresAt).toBe(at(960));
    expect(w.state.casCalls).toBe(2);
  });

  it('refuses a bad user id before reading, and a bad extendSeconds without writing', async () => {
    const w = world();
    await expect(
      extendOwnerLease({ userId: ' 20', serviceId: AGENT, extendSeconds: 60 }, w.deps),
    ).rejects.toBeInstanceOf(ValidationError);
    expect(w.state.reads).toEqual([]);
    await expect(extend(w, 1.5)).rejects.toBeInstanceOf(ValidationError);
    expect(w.state.casCalls).toBe(0);
  });
});
