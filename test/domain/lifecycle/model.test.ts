// Timers against activity, under fast-check's scheduler (every read, write and index query of the
// in-memory store is a step it orders): a sweep's lease expiry against a user message that lands at
// the same instant, and an offer's expiry against its accept and its cancel. The CAS on `version`
// decides: exactly one transition per claim, never both. The same property over a store without
// the version check must fail, which shows the checker can catch a double transition.
import fc from 'fast-check';
import { startLease } from '../../../functions/domain/lifecycle/lease';
import { createOffer } from '../../../functions/domain/lifecycle/offer';
import { runSweep } from '../../../functions/domain/lifecycle/sweep';
import type { LeaseConfig } from '../../../functions/domain/lifecycle/types';
import { manualClock, recordingLog, recordingMetrics } from '../../support/fakes';
import { drive } from '../../support/model-explorer';
import { DEFAULT_SERVICE, TimerWorld } from './world';

const SEED = 1515;
const RUNS = 200;
const DESK = 'desk';
const DESK2 = 'desk2';
const USER = 'u20';
const VERSION = 5;
const lease: LeaseConfig = {
  idleSeconds: 600,
  maxSeconds: 604800,
  warnBeforeSeconds: 0,
  onExpiry: 'default',
};
const cfgOf = (owner: string) => (owner === DESK || owner === DESK2 ? lease : null);

const sweepOnce = (w: TimerWorld, clock: { now(): number }) =>
  runSweep({
    port: w.port(),
    leaseConfigOf: cfgOf,
    clock,
    log: recordingLog(),
    metrics: recordingMetrics(),
    shards: 1,
  });

/** The sweep against a user message; what the checker needs afterwards. */
const leaseRace = async (s: fc.Scheduler, messageOffsetMs: number, cas: boolean) => {
  const clock = manualClock();
  const w = new TimerWorld({
    shards: 1,
    clock,
    cfgOf,
    cas,
    gate: (label) => s.schedule(Promise.resolve(label), label).then(() => undefined),
  });
  // The lease runs out exactly now: the sweep is due, and the message lands at the same instant
  // (offset 0) or a little before or after it.
  const started = clock.now() - lease.idleSeconds * 1000;
  w.put({ userId: USER, owner: DESK, version: VERSION, lease: startLease(started, lease) });
  const sweep = sweepOnce(w, clock);
  const message = w.userMessage(USER, clock.now() + messageOffsetMs);
  await drive(s);
  return { w, summary: await sweep, message: await message };
};

/** Every failed invariant, as sentences; empty when the run holds. */
const leaseViolations = ({ w, summary, message }: Awaited<ReturnType<typeof leaseRace>>) => {
  const problems: string[] = [];
  const fromClaim = w.transitions.filter((t) => t.fromVersion === VERSION);
  const expiries = w.transitions.filter((t) => t.kind === 'lease_expiry');
  if (fromClaim.length !== 1)
    problems.push(`${fromClaim.length} transitions from version ${VERSION}`);
  if (expiries.length > 1) problems.push(`${expiries.length} expiries`);
  if (w.records.length !== expiries.length) problems.push('an expiry without its record');
  const expired = w.records.length === 1;
  if (expired && message.reset && message.owner === DESK) {
    problems.push("both the expiry and a reset of the desk's lease");
  }
  if (expired && message.owner !== DEFAULT_SERVICE) problems.push('the message did not follow');
  if (!expired && !message.reset) problems.push('neither the expiry nor the reset');
  const owner = w.items.get(USER)!.owner;
  if (owner !== (w.records.at(-1)?.toOwner ?? DESK)) problems.push('owner item and history differ');
  if (summary.acted !== expiries.length) problems.push('the summary miscounts the actions');
  if (summary.acted + summary.lostRace + summary.notDue !== summary.due) {
    problems.push('the summary does not add up');
  }
  return problems;
};

const leaseProperty = (cas: boolean) =>
  fc.asyncProperty(fc.scheduler(), fc.constantFrom(0, 0, -1, 1, -250, 250), async (s, offset) => {
    const problems = leaseViolations(await leaseRace(s, offset, cas));
    if (problems.length > 0) throw new Error(`${problems.join('; ')}\n${s.report()}`);
  });

describe('a lease expiry against a user message at the same instant', () => {
  it('lets exactly one win per claim: the expiry (the message follows it) or the reset', async () => {
    const outcomes = new Set<string>();
    await fc.assert(
      fc.asyncProperty(fc.scheduler(), fc.constantFrom(0, -1, 1), async (s, offset) => {
        const run = await leaseRace(s, offset, true);
        const problems = leaseViolations(run);
        if (problems.length > 0) throw new Error(`${problems.join('; ')}\n${s.report()}`);
        outcomes.add(run.w.records.length === 1 ? 'expired' : 'reset');
      }),
      { seed: SEED, numRuns: RUNS },
    );

    // Both sides won some interleavings: the property was not vacuous.
    expect([...outcomes].sort()).toEqual(['expired', 'reset']);
  });

  it('is caught by the checker on a store without the version check', async () => {
    const out = await fc.check(leaseProperty(false), { seed: SEED, numRuns: RUNS });

    expect(out.failed).toBe(true);
    expect(String(out.errorInstance)).toContain('transitions from version');
  });
});

describe('an offer expiry against its accept and its cancel', () => {
  const offerRace = async (s: fc.Scheduler, onTimeout: string) => {
    const clock = manualClock();
    const w = new TimerWorld({
      shards: 1,
      clock,
      cfgOf,
      gate: (label) => s.schedule(Promise.resolve(label), label).then(() => undefined),
    });
    const made = createOffer({
      offerId: 'o1',
      by: DESK,
      owner: DESK,
      to: DESK2,
      nowMs: clock.now() - 30_000,
      offerTimeoutSeconds: 30,
      onTimeout,
      metadata: null,
      requestedBy: DESK,
      current: null,
    });
    if (!made.ok) throw new Error('expected an offer');
    w.put({
      userId: USER,
      owner: DESK,
      version: VERSION,
      lease: startLease(clock.now(), lease),
      offer: made.offer,
    });
    // The sweep's clock says the offer has run out; the callers' clocks a millisecond before it.
    const justBefore = clock.now() - 1;
    const sweep = sweepOnce(w, clock);
    const accept = w.offerAnswer(USER, 'o1', 'accept', DESK2, justBefore);
    const cancel = w.offerAnswer(USER, 'o1', 'cancel', DESK, justBefore);
    await drive(s);
    return { w, summary: await sweep, accept: await accept, cancel: await cancel };
  };

  it.each(['keep', 'default'])(
    'ends the offer once (onTimeout %s); the losers hear how it ended',
    async (onTimeout) => {
      const winners = new Set<string>();
      await fc.assert(
        fc.asyncProperty(fc.scheduler(), async (s) => {
          const { w, accept, cancel } = await offerRace(s, onTimeout);
          const ends = w.endings.filter((e) => e.offerId === 'o1');
          const problems: string[] = [];
          if (ends.length !== 1) problems.push(`${ends.length} endings`);
          const end = ends[0]?.status;
          // The winner answers its status; a loser reads again and answers the offer's end.
          const expected = (mine: string) => (end === mine ? mine : `offer_${end}`);
          if (accept !== expected('accepted')) problems.push(`accept answered ${accept}`);
          if (cancel !== expected('cancelled')) problems.push(`cancel answered ${cancel}`);
          const owner = w.items.get(USER)!.owner;
          const wanted =
            end === 'accepted'
              ? DESK2
              : end === 'expired' && onTimeout === 'default'
                ? DEFAULT_SERVICE
                : DESK;
          if (owner !== wanted) problems.push(`owner ${owner} after ${end}`);
          if (w.records.length !== (owner === DESK ? 0 : 1))
            problems.push('records and owner differ');
          if (problems.length > 0) throw new Error(`${problems.join('; ')}\n${s.report()}`);
          winners.add(end!);
        }),
        { seed: SEED, numRuns: RUNS },
      );

      expect([...winners].sort()).toEqual(['accepted', 'cancelled', 'expired']);
    },
  );
});
