// What is due and when (issue 15): an owner item's dueAt is the earliest of its lease warning (not
// yet sent), its lease expiry and its offer's expiry; dueActions lists what is due at an instant,
// in the order the sweep acts (offer expiry, lease warning, lease expiry); the byDue sort key.
import fc from 'fast-check';
import {
  dueActions,
  dueAtOf,
  dueSk,
  dueSkBefore,
  stillDue,
} from '../../../functions/domain/lifecycle/due';
import { markWarned, startLease } from '../../../functions/domain/lifecycle/lease';
import { createOffer } from '../../../functions/domain/lifecycle/offer';
import type {
  LeaseConfig,
  LeaseState,
  LiveOffer,
  TimedItem,
} from '../../../functions/domain/lifecycle/types';
import { manualClock } from '../../support/fakes';

const SECOND = 1000;
const iso = (ms: number) => new Date(ms).toISOString();
const cfg: LeaseConfig = {
  idleSeconds: 600,
  maxSeconds: 604800,
  warnBeforeSeconds: 300,
  onExpiry: 'default',
};

const offerAt = (nowMs: number, timeoutSeconds: number): LiveOffer => {
  const made = createOffer({
    offerId: 'o1',
    by: 'desk',
    owner: 'desk',
    to: 'desk2',
    nowMs,
    offerTimeoutSeconds: timeoutSeconds,
    metadata: null,
    requestedBy: 'desk',
    current: null,
  });
  if (!made.ok) throw new Error('expected an offer');
  return made.offer;
};

const item = (lease: LeaseState | null, offer: LiveOffer | null): TimedItem => ({
  userId: 'u20',
  owner: 'desk',
  version: 7,
  lease,
  offer,
});

describe('dueAt', () => {
  it('is the lease warning while it has not been sent, then the expiry', () => {
    const clock = manualClock();
    const lease = startLease(clock.now(), cfg);

    expect(dueAtOf(lease, null, cfg)).toBe(iso(clock.now() + 300 * SECOND));
    expect(dueAtOf(markWarned(lease, clock.now() + 300 * SECOND), null, cfg)).toBe(lease.expiresAt);
  });

  it('is the offer expiry when that comes first', () => {
    const clock = manualClock();
    const lease = startLease(clock.now(), cfg);

    expect(dueAtOf(lease, offerAt(clock.now(), 120), cfg)).toBe(iso(clock.now() + 120 * SECOND));
  });

  it('is null with no timer, and ignores a lease its Service no longer configures', () => {
    const clock = manualClock();

    expect(dueAtOf(null, null, cfg)).toBeNull();
    expect(dueAtOf(startLease(clock.now(), cfg), null, null)).toBeNull();
  });

  it('skips the warning when warnBeforeSeconds is 0', () => {
    const clock = manualClock();
    const quiet = { ...cfg, warnBeforeSeconds: 0 };
    const lease = startLease(clock.now(), quiet);

    expect(dueAtOf(lease, null, quiet)).toBe(lease.expiresAt);
  });

  it('is the earliest timer due, and dueActions is empty before it and not after (property)', () => {
    const start = Date.parse('2026-03-10T14:00:00.000Z');
    fc.assert(
      fc.property(
        fc.option(fc.integer({ min: 5, max: 3600 }), { nil: null }),
        fc.boolean(),
        fc.boolean(),
        fc.integer({ min: 0, max: 700_000 }),
        (offerSeconds, hasLease, warned, warnedAfterMs) => {
          const lease = hasLease
            ? warned
              ? markWarned(startLease(start, cfg), start + warnedAfterMs)
              : startLease(start, cfg)
            : null;
          const offer = offerSeconds === null ? null : offerAt(start, offerSeconds);
          const dueAt = dueAtOf(lease, offer, cfg);
          if (dueAt === null) {
            expect(lease === null && offer === null).toBe(true);
            return;
          }
          const at = Date.parse(dueAt);
          expect(dueActions(item(lease, offer), at - 1, cfg)).toEqual([]);
          expect(dueActions(item(lease, offer), at, cfg).length).toBeGreaterThan(0);
        },
      ),
      { seed: 1504, numRuns: 300 },
    );
  });
});

describe('dueActions', () => {
  it('lists what is due in the order the sweep acts: offer expiry, lease warning', () => {
    const clock = manualClock();
    const lease = startLease(clock.now(), cfg);
    const offer = offerAt(clock.now(), 120);

    expect(dueActions(item(lease, offer), clock.now() + 400 * SECOND, cfg)).toEqual([
      { kind: 'offer_expiry', offerId: 'o1', dueAt: offer.expiresAt },
      { kind: 'lease_warning', dueAt: iso(clock.now() + 300 * SECOND) },
    ]);
  });

  it('leaves the warning out once the lease itself is due: the expiry says more', () => {
    const clock = manualClock();
    const lease = startLease(clock.now(), cfg);
    const offer = offerAt(clock.now(), 120);

    expect(dueActions(item(lease, offer), clock.now() + 600 * SECOND, cfg)).toEqual([
      { kind: 'offer_expiry', offerId: 'o1', dueAt: offer.expiresAt },
      { kind: 'lease_expiry', dueAt: lease.expiresAt },
    ]);
  });

  it('warns once: a warned lease has only its expiry left', () => {
    const clock = manualClock();
    const warned = markWarned(startLease(clock.now(), cfg), clock.now() + 300 * SECOND);

    expect(dueActions(item(warned, null), clock.now() + 400 * SECOND, cfg)).toEqual([]);
    expect(dueActions(item(warned, null), clock.now() + 600 * SECOND, cfg)).toEqual([
      { kind: 'lease_expiry', dueAt: warned.expiresAt },
    ]);
  });

  it('says whether an action listed earlier is still due on a fresh read', () => {
    const clock = manualClock();
    const lease = startLease(clock.now(), cfg);
    const expiry = { kind: 'lease_expiry', dueAt: lease.expiresAt } as const;
    const late = clock.now() + 600 * SECOND;

    expect(stillDue(item(lease, null), expiry, late, cfg)).toBe(true);
    expect(stillDue(item(lease, null), expiry, late - 1, cfg)).toBe(false);
    expect(
      stillDue(
        item(null, offerAt(clock.now(), 5)),
        { kind: 'offer_expiry', offerId: 'o9', dueAt: '' },
        late,
        cfg,
      ),
    ).toBe(false);
  });
});

describe('the byDue sort key', () => {
  it('is {dueAt}#{userId}, and the bound for now takes every user due at that very instant', () => {
    const now = '2026-03-10T14:00:00.000Z';
    const keys = ['a', 'zz', '\u{1F600}', 'ÿ'].map((u) => dueSk(now, u));
    const later = dueSk('2026-03-10T14:00:00.001Z', 'a');
    const bound = dueSkBefore(now);
    const utf8 = (s: string) => Buffer.from(s, 'utf8');

    // DynamoDB compares strings as UTF-8 bytes.
    for (const key of keys) expect(Buffer.compare(utf8(key), utf8(bound))).toBe(-1);
    expect(Buffer.compare(utf8(later), utf8(bound))).toBe(1);
    expect(keys[0]).toBe('2026-03-10T14:00:00.000Z#a');
  });

  it('refuses an instant that is not in the canonical ISO form (the keys would not sort)', () => {
    expect(() => dueSk('2026-03-10T14:00:00Z', 'a')).toThrow(RangeError);
    expect(() => dueSkBefore('2026-03-10T15:00:00.000+01:00')).toThrow(RangeError);
  });
});
