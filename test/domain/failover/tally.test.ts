// A container's unwritten outcomes (domain/failover/tally.ts): what is written when, what is
// forgotten, and that counts a write could not place come back in order.
import { closedCircuit } from '../../../functions/domain/failover/circuit';
import { DEFAULT_CIRCUIT } from '../../../functions/domain/failover/settings';
import {
  emptyTally,
  restoreCounts,
  takeCounts,
  tallyOutcome,
  writeDue,
} from '../../../functions/domain/failover/tally';
import type { CircuitItem } from '../../../functions/domain/types';
import { manualClock } from '../../support/fakes';

const settings = { ...DEFAULT_CIRCUIT }; // 60 s window, rate 0.5

const stored = (now: number, requests: number, failures: number): CircuitItem => ({
  ...closedCircuit('desk', now),
  requests,
  failures,
  version: 1,
});

describe('tally', () => {
  it('writes a failure at once, and a success only while the stored window is near the threshold', () => {
    const now = manualClock().now();
    const strict = { ...settings, failureRate: 0.05 };

    expect([
      writeDue(null, true, settings, now),
      writeDue(null, false, settings, now),
      writeDue(stored(now, 100, 25), false, settings, now),
      writeDue(stored(now, 100, 26), false, settings, now),
      writeDue(stored(now - 60_000, 100, 90), false, settings, now),
      writeDue({ ...stored(now, 100, 90), state: 'open' }, false, settings, now),
      // A low threshold: one more failure would cross it, though no failure is stored yet.
      writeDue(stored(now, 9, 0), false, strict, now),
      writeDue(stored(now, 19, 0), false, strict, now),
      // A fresh window after a probe closed the circuit: nothing counted yet.
      writeDue(stored(now, 0, 0), false, settings, now),
    ]).toEqual([true, false, false, true, false, false, true, false, true]);
  });

  it('takes the last window’s outcomes and forgets older ones', () => {
    const clock = manualClock();
    const tally = emptyTally();
    for (let i = 0; i < 5; i++) tallyOutcome(tally, false, settings, clock.now());
    clock.advance(50_000);
    tallyOutcome(tally, true, settings, clock.now());
    const early = clock.now();
    clock.advance(30_000);
    tallyOutcome(tally, false, settings, clock.now());

    const counts = takeCounts(tally, settings, clock.now());

    // The five successes are 80 s old: gone. The failure (30 s) and the last success remain.
    expect([counts?.requests, counts?.failures]).toEqual([2, 1]);
    // Known to the quarter window it fell in.
    expect(early - counts!.since).toBeGreaterThanOrEqual(0);
    expect(early - counts!.since).toBeLessThan(15_000);
    expect(takeCounts(tally, settings, clock.now())).toBeNull();
  });

  it('puts back counts it could not write, before the outcomes that came since', () => {
    const clock = manualClock();
    const tally = emptyTally();
    tallyOutcome(tally, true, settings, clock.now());
    const taken = takeCounts(tally, settings, clock.now())!;
    clock.advance(20_000);
    tallyOutcome(tally, false, settings, clock.now());

    restoreCounts(tally, taken, settings);

    expect(tally.slices.map((s) => [s.requests, s.failures])).toEqual([
      [1, 1],
      [1, 0],
    ]);
    expect(takeCounts(tally, settings, clock.now())).toEqual({
      requests: 2,
      failures: 1,
      since: taken.since,
    });
  });
});
