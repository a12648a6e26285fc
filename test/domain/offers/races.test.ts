// Accept, decline, cancel and the sweep's expiry racing for one offer, interleaved by fast-check's
// scheduler at every store call, with the clock passing the deadline at a scheduled moment too:
// exactly one of them ends the offer (one end record), every other one is refused with that end
// (409) or loses its claim, and the history, the owner item and Parley tell one story. The same
// run over a store whose compare-and-set ignores the version is caught: the check can fail.
import fc from 'fast-check';
import { verifyChain } from '../../../functions/domain/chain';
import { recoverPending } from '../../../functions/domain/handover/recover';
import { OfferRefusedError } from '../../../functions/domain/lifecycle/errors';
import {
  acceptOfferAnswer,
  cancelOfferAnswer,
  declineOfferAnswer,
} from '../../../functions/domain/offers/answer';
import { expireOfferDue } from '../../../functions/domain/offers/expire';
import type { OwnerItem } from '../../../functions/domain/types';
import { manualClock } from '../../support/fakes';
import { AGENT, BOT, botOffers, type OffersWorld, offersWorld, USER } from './world';

const SEED = 20261206;
const RUNS = 200;

type Actor = 'accept' | 'decline' | 'cancel' | 'expire';
const ACTORS: Actor[] = ['accept', 'decline', 'cancel', 'expire'];

interface Run {
  w: OffersWorld;
  offerId: string;
  /** Per actor: 'won', a refusal's code, or the sweep's outcome; and a sweep run at rest. */
  outcomes: Partial<Record<Actor | 'sweep at rest', string>>;
  /** The actors refused at or after the deadline (an open offer then answers offer_expired). */
  late: Set<Actor>;
}

/**
 * Every store read and write becomes a step the scheduler releases in an order of its choice.
 * Returns what puts the plain store back (for the world at rest).
 */
function interleave(w: OffersWorld, s: fc.Scheduler): () => void {
  const { state, history } = w;
  const plain = {
    getOwner: state.getOwner,
    compareAndSetOwner: state.compareAndSetOwner,
    append: history.append,
    listUser: history.listUser,
  };
  state.getOwner = s.scheduleFunction(plain.getOwner.bind(state));
  state.compareAndSetOwner = s.scheduleFunction(plain.compareAndSetOwner.bind(state));
  history.append = s.scheduleFunction(plain.append.bind(history));
  history.listUser = s.scheduleFunction(plain.listUser.bind(history));
  return () =>
    Object.assign(state, {
      getOwner: plain.getOwner,
      compareAndSetOwner: plain.compareAndSetOwner,
    }) && Object.assign(history, { append: plain.append, listUser: plain.listUser });
}

/** A store that forgets to compare the version (a deliberately broken CAS). */
function withoutCas(w: OffersWorld): void {
  w.state.compareAndSetOwner = async (item: OwnerItem) => {
    w.state.owners.set(item.userId, structuredClone(item));
    return true;
  };
}

async function race(s: fc.Scheduler, actors: Actor[], broken = false): Promise<Run> {
  const w = offersWorld();
  // Parley's time budget runs on a clock of its own: the deadline's jump must not use it up.
  w.deps.timer = manualClock();
  const { offer } = await botOffers(w, { offerTimeoutSeconds: 30 });
  const late = new Set<Actor>();
  const listed = w.state.owners.get(USER)!.version;
  if (broken) withoutCas(w);
  const settle = interleave(w, s);
  const deadline = s.schedule(Promise.resolve('deadline')).then(() => {
    w.clock.set(Date.parse(offer.expiresAt));
  });
  const outcome = async (actor: Actor): Promise<string> => {
    try {
      if (actor === 'accept') await acceptOfferAnswer(offer.offerId, AGENT, w.deps);
      if (actor === 'decline') await declineOfferAnswer(offer.offerId, AGENT, undefined, w.deps);
      if (actor === 'cancel') await cancelOfferAnswer(offer.offerId, BOT, w.deps);
      if (actor === 'expire') {
        // The sweep lists the item only once it is due, at the version it had then.
        await deadline;
        const acted = await expireOfferDue(USER, listed, w.deps);
        return acted === 'acted' ? 'won' : acted;
      }
      return 'won';
    } catch (err) {
      if (err instanceof OfferRefusedError) {
        if (w.clock.now() >= Date.parse(offer.expiresAt)) late.add(actor);
        return err.code;
      }
      return `error:${(err as Error).name}`;
    }
  };
  const results = await s.waitFor(Promise.all(actors.map(outcome)));
  // At rest: nothing is left in flight, and the next sweep expires an offer still open.
  settle();
  w.clock.advance(61_000);
  await recoverPending(USER, w.deps);
  const rest = w.state.owners.get(USER)!;
  const swept = rest.offer ? await expireOfferDue(USER, rest.version, w.deps) : 'not_due';
  return {
    w,
    offerId: offer.offerId,
    outcomes: {
      ...(Object.fromEntries(actors.map((a, i) => [a, results[i]!])) as Run['outcomes']),
      ...(swept === 'acted' ? { 'sweep at rest': 'won' } : {}),
    },
    late,
  };
}

/** The invariants of a run; an empty list when it holds. */
function violations({ w, offerId, outcomes, late }: Run): string[] {
  const out: string[] = [];
  const records = w.history.userRecords(USER);
  const ends = records.filter((r) => r.offer?.offerId === offerId && r.offer.event !== 'created');
  if (ends.length !== 1) out.push(`${ends.length} end records`);
  const winners = Object.entries(outcomes).filter(([, o]) => o === 'won');
  if (winners.length !== 1) out.push(`${winners.length} winners`);
  const end = ends[0]?.offer?.event;
  for (const [actor, o] of Object.entries(outcomes)) {
    if (o === 'won' || o === 'lost_race' || o === 'not_due') continue;
    // Refused by the end that won, or, read while still open past its deadline, as expired.
    const expiredThen = o === 'offer_expired' && late.has(actor as Actor);
    if (o !== `offer_${end}` && !expiredThen) {
      out.push(`${actor} answered ${o} for an offer ${end}`);
    }
  }
  const item = w.state.owners.get(USER)!;
  const parleyOwner = w.parley.ownerOf(USER);
  if (item.owner !== parleyOwner) out.push(`item says ${item.owner}, Parley ${parleyOwner}`);
  if ((parleyOwner === AGENT) !== (end === 'accepted'))
    out.push(`owner ${parleyOwner} after ${end}`);
  if (item.pending || item.offer) out.push('the item still holds a marker or the offer');
  if (!verifyChain(USER, records).ok) out.push('the chain is broken');
  if (item.lastSeq !== records.length) out.push('the item does not name the newest record');
  return out;
}

describe('answers and the expiry racing for one offer', () => {
  it('end the offer exactly once, whatever the interleaving', async () => {
    await fc.assert(
      fc.asyncProperty(fc.scheduler(), fc.subarray(ACTORS, { minLength: 2 }), async (s, actors) => {
        const run = await race(s, actors);
        expect(violations(run)).toEqual([]);
      }),
      { seed: SEED, numRuns: RUNS },
    );
  });

  it('accept against expiry: one CAS decides, and the loser learns who won', async () => {
    const seen = new Set<string>();
    await fc.assert(
      fc.asyncProperty(fc.scheduler(), async (s) => {
        const run = await race(s, ['accept', 'expire']);
        expect(violations(run)).toEqual([]);
        seen.add(`${run.outcomes.accept}/${run.outcomes.expire}`);
      }),
      { seed: SEED, numRuns: RUNS },
    );
    // Both orders happened: the accept won some runs and the expiry others.
    expect([...seen].sort()).toEqual(
      expect.arrayContaining(['offer_expired/won', 'won/lost_race']),
    );
  });

  it('is caught out over a store whose compare-and-set ignores the version', async () => {
    const result = await fc.check(
      fc.asyncProperty(fc.scheduler(), async (s) => {
        expect(violations(await race(s, ['accept', 'cancel'], true))).toEqual([]);
      }),
      { seed: SEED, numRuns: RUNS },
    );
    expect(result.failed).toBe(true);
    // Both answers pass their CAS; the history's conditional append stops the second record, so
    // the loser fails instead of hearing the winner's end.
    expect(String(result.errorInstance)).toMatch(/answered error|end records|winners/);
  });
});
