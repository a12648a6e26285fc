// The circuit breaker as pure functions (domain/failover/circuit.ts), on an injected clock:
// closed -> open when the window holds minRequests and its failure rate is above failureRate;
// open -> half-open after openSeconds with one probe; the probe's outcome closes or reopens it.
import {
  admit,
  applyCounts,
  closedCircuit,
  isHealthy,
  openingOf,
  record,
} from '../../../functions/domain/failover/circuit';
import type { ForwardOutcome } from '../../../functions/domain/failover/classify';
import { DEFAULT_CIRCUIT } from '../../../functions/domain/failover/settings';
import type { CircuitItem } from '../../../functions/domain/types';
import { manualClock } from '../../support/fakes';

const DESK = 'desk';
const settings = { ...DEFAULT_CIRCUIT }; // 60 s window, 10 requests, rate 0.5, open 120 s

/** Feeds outcomes one by one, each at the clock's time; the item after the last. */
const feed = (
  item: CircuitItem | null,
  outcomes: ForwardOutcome[],
  now: () => number,
): { item: CircuitItem | null; opened: number } => {
  let current = item;
  let opened = 0;
  for (const outcome of outcomes) {
    const { next, transition } = record(current, DESK, outcome, settings, now());
    if (transition === 'opened') opened += 1;
    if (next) current = next;
  }
  return { item: current, opened };
};

const failures = (n: number): ForwardOutcome[] => Array(n).fill('failure');
const successes = (n: number): ForwardOutcome[] => Array(n).fill('success');

/** An open circuit, opened at the clock's time. */
const opened = (now: () => number) => feed(null, failures(10), now).item!;

describe('circuit: closed', () => {
  it('stays closed below minRequests, however many of them failed', () => {
    const clock = manualClock();

    const { item, opened: opens } = feed(null, failures(9), clock.now);

    expect([item?.state, item?.requests, item?.failures, opens]).toEqual(['closed', 9, 9, 0]);
    expect(admit(item, settings, clock.now()).admission).toEqual({ kind: 'pass' });
  });

  it('opens at minRequests when more than failureRate of the window failed', () => {
    const clock = manualClock();

    const { item, opened: opens } = feed(null, [...successes(4), ...failures(6)], clock.now);

    expect(item).toMatchObject({ state: 'open', openedAt: clock.now(), requests: 10, failures: 6 });
    expect(opens).toBe(1);
  });

  it('stays closed at exactly failureRate: the rate must be exceeded', () => {
    const clock = manualClock();

    const { item } = feed(null, [...successes(5), ...failures(5)], clock.now);

    expect([item?.state, item?.requests, item?.failures]).toEqual(['closed', 10, 5]);
  });

  it('counts a misconfigured desk as a failure and a refused message as a request that did not fail', () => {
    const clock = manualClock();

    const misconfigured = feed(null, Array(10).fill('misconfiguration'), clock.now).item;
    const refused = feed(null, Array(10).fill('refused'), clock.now).item;

    expect(misconfigured?.state).toBe('open');
    expect([refused?.state, refused?.requests, refused?.failures]).toEqual(['closed', 10, 0]);
  });

  it('starts a fresh window after windowSeconds: old failures no longer count', () => {
    const clock = manualClock();
    const early = feed(null, failures(9), clock.now).item;
    clock.advance(60_000);

    const { item } = feed(early, failures(1), clock.now);

    expect(item).toMatchObject({
      state: 'closed',
      requests: 1,
      failures: 1,
      windowStart: clock.now(),
    });
  });

  it('keeps counting within the window up to its last millisecond', () => {
    const clock = manualClock();
    const early = feed(null, failures(9), clock.now).item;
    clock.advance(59_999);

    const { item } = feed(early, failures(1), clock.now);

    expect(item?.state).toBe('open');
  });
});

describe('circuit: open and half-open', () => {
  it('holds every forward for openSeconds, then lets one probe through', () => {
    const clock = manualClock();
    const open = opened(clock.now);
    clock.advance(119_999);
    const held = admit(open, settings, clock.now());
    clock.advance(1);

    const probe = admit(open, settings, clock.now());

    expect(held).toEqual({ admission: { kind: 'hold' } });
    expect(probe.admission).toEqual({ kind: 'probe', probeAt: clock.now() });
    expect(probe.next).toMatchObject({
      state: 'half_open',
      probeAt: clock.now(),
      version: open.version + 1,
    });
    // While the probe is out, every other forward is held.
    expect(admit(probe.next!, settings, clock.now() + 5_000).admission).toEqual({ kind: 'hold' });
  });

  it('closes with a fresh window when the probe succeeds', () => {
    const clock = manualClock();
    const open = opened(clock.now);
    clock.advance(120_000);
    const { admission, next } = admit(open, settings, clock.now());
    const probeAt = admission.kind === 'probe' ? admission.probeAt : null;
    clock.advance(4_000);

    const result = record(next!, DESK, 'success', settings, clock.now(), probeAt);

    expect(result.transition).toBe('closed');
    expect(result.next).toMatchObject({
      state: 'closed',
      requests: 0,
      failures: 0,
      windowStart: clock.now(),
      openedAt: null,
      probeAt: null,
      version: next!.version + 1,
    });
  });

  it('opens again for another openSeconds when the probe fails', () => {
    const clock = manualClock();
    const open = opened(clock.now);
    clock.advance(120_000);
    const { admission, next } = admit(open, settings, clock.now());
    const probeAt = admission.kind === 'probe' ? admission.probeAt : null;
    clock.advance(2_000);

    const result = record(next!, DESK, 'failure', settings, clock.now(), probeAt);

    expect(result.transition).toBe('opened');
    expect(result.next).toMatchObject({ state: 'open', openedAt: clock.now(), probeAt: null });
    expect(admit(result.next, settings, clock.now() + 119_999).admission).toEqual({
      kind: 'hold',
    });
    expect(admit(result.next, settings, clock.now() + 120_000).admission.kind).toBe('probe');
  });

  it('lets another probe through when one never reported within openSeconds', () => {
    const clock = manualClock();
    const open = opened(clock.now);
    clock.advance(120_000);
    const first = admit(open, settings, clock.now()).next!;
    clock.advance(120_000);

    const second = admit(first, settings, clock.now());

    expect(second.admission).toEqual({ kind: 'probe', probeAt: clock.now() });
  });

  it('changes nothing on the outcome of a forward that was not the probe', () => {
    const clock = manualClock();
    const open = opened(clock.now);
    clock.advance(120_000);
    const halfOpen = admit(open, settings, clock.now()).next!;

    const late = [
      record(open, DESK, 'success', settings, clock.now()),
      record(halfOpen, DESK, 'success', settings, clock.now()),
      record(halfOpen, DESK, 'failure', settings, clock.now(), clock.now() - 1),
    ];

    expect(late).toEqual([
      { next: null, transition: null },
      { next: null, transition: null },
      { next: null, transition: null },
    ]);
  });

  it('calls only a closed circuit (or none) a healthy target', () => {
    const clock = manualClock();
    const open = opened(clock.now);
    clock.advance(120_000);
    const halfOpen = admit(open, settings, clock.now()).next!;

    expect([
      isHealthy(null),
      isHealthy(closedCircuit(DESK, clock.now())),
      isHealthy(open),
      isHealthy(halfOpen),
    ]).toEqual([true, true, false, false]);
  });
});

describe('circuit: counts written together', () => {
  it('adds a container’s counts to the window and opens on their sum', () => {
    const clock = manualClock();
    const stored = feed(null, [...successes(3), ...failures(2)], clock.now).item;

    const below = applyCounts(stored, DESK, { requests: 4, failures: 2 }, settings, clock.now());
    const over = applyCounts(stored, DESK, { requests: 5, failures: 4 }, settings, clock.now());

    expect([below.transition, below.next?.requests, below.next?.failures]).toEqual([null, 9, 4]);
    expect([over.transition, over.next?.requests, over.next?.failures]).toEqual(['opened', 10, 6]);
  });

  it('starts a fresh window with the counts when the stored one has ended', () => {
    const clock = manualClock();
    const stored = feed(null, failures(9), clock.now).item;
    clock.advance(60_000);

    const { next } = applyCounts(stored, DESK, { requests: 3, failures: 1 }, settings, clock.now());

    expect(next).toMatchObject({ windowStart: clock.now(), requests: 3, failures: 1 });
  });

  it('opens a stored window found over the threshold after an add, never an ended or open one', () => {
    const clock = manualClock();
    const over: CircuitItem = { ...closedCircuit(DESK, clock.now()), requests: 10, failures: 6 };
    const open = opened(clock.now);

    const now = openingOf(over, settings, clock.now());
    const ended = openingOf(over, settings, clock.now() + 60_000);

    expect(now).toMatchObject({ state: 'open', openedAt: clock.now(), version: over.version + 1 });
    expect([ended, openingOf(open, settings, clock.now())]).toEqual([null, null]);
  });
});
