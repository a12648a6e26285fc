// The loop guard (domain/failover/guard.ts), on an injected clock: the target's circuit, the
// Services that already failed the user today and the per-day limit, counted from the user's
// history (completed failover records of the current UTC day, newest first, one bounded page).
import {
  checkFailover,
  chooseFailoverTarget,
  failoversToday,
  GUARD_HISTORY_LIMIT,
} from '../../../functions/domain/failover/guard';
import { resolveFailover } from '../../../functions/domain/failover/settings';
import type { CircuitItem, HandoverRecord, ServiceInfo } from '../../../functions/domain/types';
import {
  FakeCircuitStore,
  FakeHistoryStore,
  manualClock,
  staticCatalog,
} from '../../support/fakes';

const BOT = 'bot';
const DESK = 'desk';
const NIGHT = 'night';

const service = (
  identification: string,
  role: 'bot' | 'agent',
  extra: Partial<ServiceInfo> = {},
): ServiceInfo => ({
  identification,
  name: `${identification} service`,
  role,
  default: false,
  rules: [],
  failover: resolveFailover(undefined, role),
  ...extra,
});

const bot = service(BOT, 'bot', { default: true });
const desk = service(DESK, 'agent');
/** A second desk that fails over to the first. */
const night = service(NIGHT, 'agent', { failover: resolveFailover({ target: DESK }, 'agent') });

let seq = 0;
const failoverRecord = (
  from: string,
  to: string,
  createdAt: string,
  extra: Partial<HandoverRecord> = {},
): HandoverRecord => {
  seq += 1;
  return {
    handoverId: `h${seq}`,
    userId: '20',
    seq,
    fromOwner: from,
    toOwner: to,
    reason: 'downstream_unavailable',
    metadata: { failures: 3, lastStatus: 500 },
    metadataDigest: 'd'.repeat(64),
    requestedBy: 'system:failover',
    source: 'failover',
    status: 'completed',
    parley: { status: 200, code: null, durationMs: 5 },
    createdAt,
    prevHash: '0'.repeat(64),
    hash: 'a'.repeat(64),
    ...extra,
  };
};

const openCircuit = (serviceId: string, at: number): CircuitItem => ({
  serviceId,
  state: 'open',
  windowStart: at,
  requests: 10,
  failures: 10,
  openedAt: at,
  probeAt: null,
  version: 10,
});

// 2026-03-10T14:00:00.000Z
const clock = manualClock();
const NOW = clock.now();

describe('failoversToday', () => {
  it('counts completed failover records of the current UTC day and the Services they left', () => {
    const records = [
      failoverRecord(DESK, BOT, '2026-03-10T13:00:00.000Z'),
      failoverRecord(NIGHT, DESK, '2026-03-10T00:00:00.000Z'),
      failoverRecord(DESK, BOT, '2026-03-09T23:59:59.999Z'),
      failoverRecord(DESK, BOT, '2026-03-10T12:00:00.000Z', { status: 'failed' }),
      failoverRecord(BOT, DESK, '2026-03-10T12:30:00.000Z', {
        source: 'downstream',
        requestedBy: BOT,
      }),
    ];

    const today = failoversToday(records, NOW);

    expect(today.count).toBe(2);
    expect([...today.failed].sort()).toEqual([DESK, NIGHT]);
  });
});

describe('checkFailover', () => {
  const base = { targetCircuit: null, records: [], nowMs: NOW };

  it('hands a desk user to the target when its circuit is closed and nothing happened today', () => {
    const verdict = checkFailover({ ...base, owner: desk, target: bot });

    expect(verdict).toEqual({ ok: true, target: bot, failoversToday: 0 });
  });

  it('refuses a target whose circuit is open or half-open', () => {
    const open = openCircuit(BOT, NOW - 1_000);
    const halfOpen: CircuitItem = { ...open, state: 'half_open', probeAt: NOW };

    const verdicts = [open, halfOpen].map((targetCircuit) =>
      checkFailover({ ...base, owner: desk, target: bot, targetCircuit }),
    );

    expect(verdicts.map((v) => (v.ok ? 'ok' : v.reason))).toEqual([
      'target_circuit_open',
      'target_circuit_open',
    ]);
  });

  it('refuses a target that already failed the user today: no ping-pong between two desks', () => {
    // The night desk failed the user this morning (to the desk); now the desk fails them.
    const records = [failoverRecord(NIGHT, DESK, '2026-03-10T08:00:00.000Z')];
    const deskToNight = service(DESK, 'agent', {
      failover: resolveFailover({ target: NIGHT, maxPerUserPerDay: 5 }, 'agent'),
    });

    const verdict = checkFailover({ ...base, owner: deskToNight, target: night, records });

    expect(verdict).toEqual({
      ok: false,
      reason: 'target_failed_today',
      target: NIGHT,
      failoversToday: 1,
    });
  });

  it('lets the same target take the user again on the next UTC day', () => {
    const records = [failoverRecord(NIGHT, DESK, '2026-03-09T22:00:00.000Z')];
    const deskToNight = service(DESK, 'agent', {
      failover: resolveFailover({ target: NIGHT }, 'agent'),
    });

    const verdict = checkFailover({ ...base, owner: deskToNight, target: night, records });

    expect(verdict.ok).toBe(true);
  });

  it('refuses past maxPerUserPerDay failovers of the user today', () => {
    const records = [
      failoverRecord(NIGHT, DESK, '2026-03-10T09:00:00.000Z'),
      failoverRecord(DESK, BOT, '2026-03-10T10:00:00.000Z'),
    ];

    const verdict = checkFailover({ ...base, owner: desk, target: bot, records });

    expect(verdict).toMatchObject({ ok: false, reason: 'daily_limit', failoversToday: 2 });
  });

  it('refuses with no target, a target that is the owner, or failover off', () => {
    const selfTarget = service(DESK, 'agent', {
      failover: resolveFailover({ target: DESK }, 'agent'),
    });
    const off = service(DESK, 'agent', {
      failover: resolveFailover({ enabled: false }, 'agent'),
    });
    const defaultDesk = service(DESK, 'agent', { default: true });

    const reasons = [
      checkFailover({ ...base, owner: desk, target: null }),
      checkFailover({ ...base, owner: selfTarget, target: selfTarget }),
      checkFailover({ ...base, owner: off, target: bot }),
      checkFailover({ ...base, owner: defaultDesk, target: bot }),
      checkFailover({ ...base, owner: bot, target: desk }),
    ].map((v) => (v.ok ? 'ok' : v.reason));

    expect(reasons).toEqual(['no_target', 'target_is_owner', 'disabled', 'disabled', 'disabled']);
  });
});

describe('chooseFailoverTarget', () => {
  const world = () => {
    const history = new FakeHistoryStore();
    const circuits = new FakeCircuitStore();
    const deps = { catalog: staticCatalog([bot, desk, night]), history, circuits, clock };
    return { history, circuits, deps };
  };

  it('resolves "default" to the default Service and reads the user history in one bounded page', async () => {
    const t = world();
    const reads: unknown[] = [];
    const listUser = t.history.listUser.bind(t.history);
    t.history.listUser = (userId, options) => {
      reads.push({ userId, ...options });
      return listUser(userId, options);
    };

    const verdict = await chooseFailoverTarget('20', DESK, t.deps);

    expect(verdict).toEqual({ ok: true, target: bot, failoversToday: 0 });
    expect(reads).toEqual([{ userId: '20', limit: GUARD_HISTORY_LIMIT, order: 'desc' }]);
  });

  it("refuses when the target's circuit store item is open", async () => {
    const t = world();
    t.circuits.items.set(BOT, openCircuit(BOT, NOW - 5_000));

    const verdict = await chooseFailoverTarget('20', DESK, t.deps);

    expect(verdict).toMatchObject({ ok: false, reason: 'target_circuit_open', target: BOT });
  });

  it('counts the failovers written to the history today', async () => {
    const t = world();
    for (const r of [
      failoverRecord(NIGHT, DESK, '2026-03-10T09:00:00.000Z', { seq: 1 }),
      failoverRecord(DESK, BOT, '2026-03-10T10:00:00.000Z', { seq: 2 }),
    ]) {
      await t.history.append(r);
    }

    const verdict = await chooseFailoverTarget('20', DESK, t.deps);

    expect(verdict).toMatchObject({ ok: false, reason: 'daily_limit', failoversToday: 2 });
  });

  it('refuses a target the catalog does not know', async () => {
    const t = world();
    const lost = service(DESK, 'agent', {
      failover: resolveFailover({ target: 'Nobody Service' }, 'agent'),
    });
    t.deps.catalog = staticCatalog([bot, lost]);

    const verdict = await chooseFailoverTarget('20', DESK, t.deps);

    expect(verdict).toMatchObject({ ok: false, reason: 'no_target', target: null });
  });
});
