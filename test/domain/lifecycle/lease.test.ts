// Leases (issue 15): the configuration's defaults and limits, a lease started by a handover, reset
// by the activity of either side, extended by the owner up to its hard cap, and the one formula
// expiresAt = min(max(max(lastUserAt, lastOwnerAt) + idleSeconds, extendedUntil), hardExpiresAt),
// all on an injected clock.
import fc from 'fast-check';
import {
  extendLease,
  LeaseConfigError,
  leaseExpiryPlan,
  markWarned,
  resolveLeaseConfig,
  startLease,
  touchLease,
} from '../../../functions/domain/lifecycle/lease';
import type { LeaseConfig, LeaseState } from '../../../functions/domain/lifecycle/types';
import { ValidationError } from '../../../functions/domain/errors';
import { manualClock } from '../../support/fakes';

const iso = (ms: number) => new Date(ms).toISOString();
const ms = (at: string) => Date.parse(at);
const SECOND = 1000;

const agentCfg = (over: Partial<LeaseConfig> = {}): LeaseConfig => ({
  ...resolveLeaseConfig('agent', false, undefined)!,
  ...over,
});

/** Reads the formula back from a lease: what expiresAt must be. */
const formula = (lease: LeaseState, cfg: LeaseConfig): number => {
  const idle = Math.max(ms(lease.lastUserAt), ms(lease.lastOwnerAt)) + cfg.idleSeconds * SECOND;
  const extended = lease.extendedUntil ? ms(lease.extendedUntil) : Number.NEGATIVE_INFINITY;
  return Math.min(Math.max(idle, extended), ms(lease.hardExpiresAt));
};

const configError = (thunk: () => unknown): { field: string; message: string } => {
  try {
    thunk();
  } catch (err) {
    if (err instanceof LeaseConfigError) return { field: err.field, message: err.message };
    throw err;
  }
  throw new Error('expected a LeaseConfigError');
};

describe('lease configuration', () => {
  it('gives agents a day of idle time, a week of hard cap and a warning 5 minutes before', () => {
    expect(resolveLeaseConfig('agent', false, undefined)).toEqual({
      idleSeconds: 86400,
      maxSeconds: 604800,
      warnBeforeSeconds: 300,
      onExpiry: 'default',
    });
  });

  it('gives the default Service no lease, even a configured one, and a bot none unless it asks', () => {
    expect(resolveLeaseConfig('agent', true, undefined)).toBeNull();
    expect(resolveLeaseConfig('bot', true, { idleSeconds: 600 })).toBeNull();
    expect(resolveLeaseConfig('bot', false, undefined)).toBeNull();
    expect(resolveLeaseConfig('bot', false, { idleSeconds: 600 })?.idleSeconds).toBe(600);
  });

  it('keeps the configured fields and fills the rest', () => {
    expect(
      resolveLeaseConfig('agent', false, { idleSeconds: 3600, onExpiry: 'Bot Service' }),
    ).toEqual({
      idleSeconds: 3600,
      maxSeconds: 604800,
      warnBeforeSeconds: 300,
      onExpiry: 'Bot Service',
    });
  });

  it('warns at half the idle time when the idle time is shorter than the default warning', () => {
    expect(resolveLeaseConfig('agent', false, { idleSeconds: 10 })?.warnBeforeSeconds).toBe(5);
    expect(resolveLeaseConfig('agent', false, { idleSeconds: 11 })?.warnBeforeSeconds).toBe(5);
  });

  it.each([
    [{ idleSeconds: 9 }, 'lease.idleSeconds', 'from 10'],
    [{ idleSeconds: 10.5 }, 'lease.idleSeconds', 'whole number'],
    [{ idleSeconds: '60' }, 'lease.idleSeconds', 'whole number'],
    [{ idleSeconds: null }, 'lease.idleSeconds', 'whole number'],
    [{ idleSeconds: 604801 }, 'lease.idleSeconds', 'maxSeconds (604800)'],
    [{ idleSeconds: 100, maxSeconds: 50 }, 'lease.idleSeconds', 'maxSeconds (50)'],
    [{ maxSeconds: 5 }, 'lease.maxSeconds', 'from 10'],
    [{ maxSeconds: 40_000_000 }, 'lease.maxSeconds', '31536000'],
    [{ idleSeconds: 60, warnBeforeSeconds: 60 }, 'lease.warnBeforeSeconds', 'below idleSeconds'],
    [{ warnBeforeSeconds: -1 }, 'lease.warnBeforeSeconds', 'from 0'],
    [{ onExpiry: '' }, 'lease.onExpiry', 'Service'],
    [{ onExpiry: 7 }, 'lease.onExpiry', 'Service'],
    [{ idle: 60 }, 'lease.idle', 'not a lease setting'],
  ])('refuses %j naming the field', (input, field, phrase) => {
    const refused = configError(() =>
      resolveLeaseConfig('agent', false, input as never, 'Agent Service'),
    );

    expect(refused.field).toBe(field);
    expect(refused.message).toContain(phrase);
    expect(refused.message).toContain('Agent Service');
  });

  it('lets warnBeforeSeconds be 0: no warning', () => {
    expect(resolveLeaseConfig('agent', false, { warnBeforeSeconds: 0 })?.warnBeforeSeconds).toBe(0);
  });
});

describe('a lease', () => {
  it('starts with a handover: both sides active now, capped at maxSeconds from now', () => {
    const clock = manualClock();
    const cfg = agentCfg({ idleSeconds: 600 });

    const lease = startLease(clock.now(), cfg);

    expect(lease).toEqual({
      expiresAt: iso(clock.now() + 600 * SECOND),
      hardExpiresAt: iso(clock.now() + 604800 * SECOND),
      lastUserAt: iso(clock.now()),
      lastOwnerAt: iso(clock.now()),
    });
  });

  it('is reset by a user message and by a message of the owner, each on its own side', () => {
    const clock = manualClock();
    const cfg = agentCfg({ idleSeconds: 600 });
    const started = startLease(clock.now(), cfg);
    clock.advance(100 * SECOND);

    const afterUser = touchLease(started, 'user', clock.now(), cfg);
    clock.advance(50 * SECOND);
    const afterOwner = touchLease(afterUser, 'owner', clock.now(), cfg);

    expect(afterUser.lastUserAt).toBe(iso(clock.now() - 50 * SECOND));
    expect(afterUser.lastOwnerAt).toBe(started.lastOwnerAt);
    expect(afterUser.expiresAt).toBe(iso(clock.now() - 50 * SECOND + 600 * SECOND));
    expect(afterOwner.lastOwnerAt).toBe(iso(clock.now()));
    expect(afterOwner.expiresAt).toBe(iso(clock.now() + 600 * SECOND));
  });

  it('never moves an activity time back: a message stamped earlier than the last keeps it', () => {
    const clock = manualClock();
    const cfg = agentCfg({ idleSeconds: 600 });
    const lease = touchLease(startLease(clock.now(), cfg), 'user', clock.now() + 60 * SECOND, cfg);

    const late = touchLease(lease, 'user', clock.now() + 30 * SECOND, cfg);

    expect(late).toEqual(lease);
  });

  it('never runs past its hard cap, however active the user is', () => {
    const clock = manualClock();
    const cfg = agentCfg({ idleSeconds: 600, maxSeconds: 900 });
    const lease = startLease(clock.now(), cfg);
    clock.advance(800 * SECOND);

    const touched = touchLease(lease, 'user', clock.now(), cfg);

    expect(touched.expiresAt).toBe(lease.hardExpiresAt);
  });

  it('clears warnedAt when activity moves the warning point ahead again, and only then', () => {
    const clock = manualClock();
    const cfg = agentCfg({ idleSeconds: 600, warnBeforeSeconds: 300, maxSeconds: 1000 });
    const start = clock.now();
    const warned = markWarned(startLease(start, cfg), start + 300 * SECOND);

    const reset = touchLease(warned, 'user', start + 310 * SECOND, cfg);
    // The hard cap (1000 s) holds expiresAt: the warning point (700 s) stays behind 750 s.
    const capped = touchLease(warned, 'owner', start + 750 * SECOND, cfg);

    expect(warned.warnedAt).toBe(iso(start + 300 * SECOND));
    expect(reset.warnedAt).toBeUndefined();
    expect(capped.warnedAt).toBe(warned.warnedAt);
    expect(capped.expiresAt).toBe(iso(start + 1000 * SECOND));
  });

  it('keeps the formula through any sequence of touches and extensions (property)', () => {
    const step = fc.record({
      kind: fc.constantFrom('user', 'owner', 'extend'),
      afterMs: fc.integer({ min: -5_000, max: 400_000 }),
      extendSeconds: fc.integer({ min: 1, max: 2_000 }),
    });
    fc.assert(
      fc.property(
        fc.integer({ min: 10, max: 1_000 }),
        fc.integer({ min: 0, max: 4_000 }),
        fc.array(step, { maxLength: 30 }),
        (idleSeconds, extraMax, steps) => {
          const cfg = agentCfg({
            idleSeconds,
            maxSeconds: idleSeconds + extraMax,
            warnBeforeSeconds: Math.floor(idleSeconds / 2),
          });
          let now = Date.parse('2026-03-10T14:00:00.000Z');
          let lease = startLease(now, cfg);
          const hard = lease.hardExpiresAt;
          for (const s of steps) {
            now += s.afterMs;
            const before = lease;
            if (s.kind === 'extend') {
              const out = extendLease(lease, s.extendSeconds, now, cfg);
              if (out.ok) lease = out.lease;
              else expect(out.hardExpiresAt).toBe(hard);
            } else {
              lease = touchLease(lease, s.kind, now, cfg);
            }
            expect(lease.hardExpiresAt).toBe(hard);
            expect(ms(lease.expiresAt)).toBe(formula(lease, cfg));
            expect(ms(lease.expiresAt)).toBeLessThanOrEqual(ms(hard));
            // Activity never shortens a lease.
            expect(ms(lease.expiresAt)).toBeGreaterThanOrEqual(ms(before.expiresAt));
          }
        },
      ),
      { seed: 1510, numRuns: 300 },
    );
  });
});

describe('extending a lease', () => {
  it('moves expiresAt on by extendSeconds from the current expiry', () => {
    const clock = manualClock();
    const cfg = agentCfg({ idleSeconds: 600 });
    const lease = startLease(clock.now(), cfg);
    clock.advance(60 * SECOND);

    const out = extendLease(lease, 3600, clock.now(), cfg);

    expect(out).toEqual({
      ok: true,
      lease: {
        ...lease,
        expiresAt: iso(ms(lease.expiresAt) + 3600 * SECOND),
        extendedUntil: iso(ms(lease.expiresAt) + 3600 * SECOND),
      },
    });
  });

  it('counts from now when the lease ran out and the sweep has not come yet', () => {
    const clock = manualClock();
    const cfg = agentCfg({ idleSeconds: 600 });
    const lease = startLease(clock.now(), cfg);
    clock.advance(700 * SECOND);

    const out = extendLease(lease, 60, clock.now(), cfg);

    expect(out.ok && out.lease.expiresAt).toBe(iso(clock.now() + 60 * SECOND));
  });

  it('refuses to go past the hard cap: lease_limit_exceeded, the lease unchanged', () => {
    const clock = manualClock();
    const cfg = agentCfg({ idleSeconds: 600, maxSeconds: 3600 });
    const lease = startLease(clock.now(), cfg);

    const atCap = extendLease(lease, 3000, clock.now(), cfg);
    const past = extendLease(lease, 3001, clock.now(), cfg);

    expect(atCap.ok && atCap.lease.expiresAt).toBe(lease.hardExpiresAt);
    expect(past).toEqual({
      ok: false,
      code: 'lease_limit_exceeded',
      hardExpiresAt: lease.hardExpiresAt,
    });
  });

  it('keeps an extension through a later touch: the owner asked for that long', () => {
    const clock = manualClock();
    const cfg = agentCfg({ idleSeconds: 600 });
    const out = extendLease(startLease(clock.now(), cfg), 7200, clock.now(), cfg);
    clock.advance(60 * SECOND);

    const touched = touchLease(out.ok ? out.lease : (null as never), 'user', clock.now(), cfg);

    expect(touched.expiresAt).toBe(iso(clock.now() - 60 * SECOND + 7800 * SECOND));
  });

  it('clears the warning when the extension moves the warning point ahead', () => {
    const clock = manualClock();
    const cfg = agentCfg({ idleSeconds: 600, warnBeforeSeconds: 300 });
    const warned = markWarned(startLease(clock.now(), cfg), clock.now() + 400 * SECOND);
    clock.advance(400 * SECOND);

    const out = extendLease(warned, 600, clock.now(), cfg);

    expect(out.ok && out.lease.warnedAt).toBeUndefined();
  });

  it('answers lease_limit_exceeded, not a bad request, to more than maxSeconds at once', () => {
    const clock = manualClock();
    const cfg = agentCfg();
    const lease = startLease(clock.now(), cfg);

    expect(extendLease(lease, 604801, clock.now(), cfg)).toMatchObject({
      ok: false,
      code: 'lease_limit_exceeded',
    });
  });

  it.each([0, -5, 1.5, Number.NaN, 31536001])(
    'refuses extendSeconds %p with a clear error',
    (bad) => {
      const clock = manualClock();
      const cfg = agentCfg();
      const lease = startLease(clock.now(), cfg);

      expect(() => extendLease(lease, bad, clock.now(), cfg)).toThrow(ValidationError);
      expect(() => extendLease(lease, bad, clock.now(), cfg)).toThrow(
        'extendSeconds must be a whole number from 1 to 31536000',
      );
    },
  );
});

describe('a lease that expires', () => {
  it('sends the user to onExpiry as a timeout, asked by system:lease, with the idle facts', () => {
    const clock = manualClock();
    const cfg = agentCfg({ idleSeconds: 600, onExpiry: 'Bot Service' });
    const lease = touchLease(startLease(clock.now(), cfg), 'user', clock.now() + 5_000, cfg);

    const plan = leaseExpiryPlan('desk', lease, cfg);

    expect(plan).toEqual({
      handover: {
        newOwner: 'Bot Service',
        actingService: 'desk',
        source: 'timeout',
        reason: 'lease_expired',
        requestedBy: 'system:lease',
        metadata: {
          idleSeconds: 600,
          lastUserAt: lease.lastUserAt,
          lastOwnerAt: lease.lastOwnerAt,
        },
      },
      events: [{ type: 'lease.expired', recipients: ['desk', 'Bot Service'] }],
    });
  });
});
