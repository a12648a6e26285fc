// The schedule explorer over the domain (test/support/model-explorer.ts): fast-check's scheduler
// interleaves handovers, GET owner reads, queued callbacks, recovery, changes made at Parley
// outside us, full erasures and crashes over the store fakes and the model Parley, and the
// checker asserts the invariants after each run has come to rest. A failing run prints its shrunk counterexample: the
// invariant, the actors, the schedule as released and the history. The seed is fixed; the
// reliability suite runs the same explorer longer (test/reliability/explorer.test.ts).
import fc from 'fast-check';
import { observedRecord, advanceItem } from '../../functions/domain/handover/records';
import { AGENT, BOT } from '../support/fakes';
import {
  type Actor,
  actorsArbitrary,
  checkWorld,
  drive,
  explorerProperty,
  inOrderScheduler,
  report,
  runWorld,
  USER,
  type World,
} from '../support/model-explorer';

const SEED = Number(process.env.EXPLORER_SEED ?? 20261110);
const RUNS = Number(process.env.EXPLORER_RUNS ?? 300);
const FOCUSED_RUNS = 150;

type HandoverActor = Extract<Actor, { kind: 'handover' }>;

const handover = (
  by: 'Bot' | 'Agent',
  to: 'Bot' | 'Agent',
  faults: Partial<Pick<HandoverActor, 'put' | 'get' | 'crashAtWrite'>> = {},
): Actor => ({ kind: 'handover', by, to, put: [], get: [], crashAtWrite: null, ...faults });

const sweep = (
  faults: Partial<Pick<HandoverActor, 'put' | 'get' | 'crashAtWrite'>> = {},
): Actor => ({
  kind: 'sweep',
  put: [],
  get: [],
  crashAtWrite: null,
  ...faults,
});

/** The sources of every record stored for the user, erased or not (the journal's appends). */
const storedSources = (w: World): string[] =>
  w.journal.flatMap((e) =>
    e.kind === 'append' && e.outcome === 'appended' ? [e.record.source] : [],
  );

const focused = (actors: Actor[]) =>
  fc.assert(explorerProperty(fc.constant(actors)), { seed: SEED, numRuns: FOCUSED_RUNS });

describe('the schedule explorer', () => {
  it('keeps the invariants across interleavings of handovers, owner reads, callbacks, recovery, outside changes, erasures and crashes', async () => {
    await fc.assert(explorerProperty(actorsArbitrary(4, { erasure: true })), {
      seed: SEED,
      numRuns: RUNS,
    });
  });

  it('keeps the history true when a GET owner answer lands after a handover completed', async () => {
    await focused([{ kind: 'read', as: 'auditor', get: [] }, handover('Bot', 'Agent')]);
  });

  it('loses no message Parley delivers while a handover of its user is in flight', async () => {
    await focused([
      handover('Bot', 'Agent'),
      {
        kind: 'message',
        text: 'hello',
        answer: 'nothing',
        copies: 1,
        put: [],
        get: [],
        crashAtWrite: null,
      },
    ]);
  });

  it('records a PUT that lands late, while recovery settles its handover, as one completed record', async () => {
    await focused([
      handover('Bot', 'Agent', { put: ['late_hang'] }),
      { kind: 'recovery', via: 'reconcile', put: [], get: [] },
    ]);
  });

  it('ends a lease once against a message at its very instant: the message cancels it or follows it', async () => {
    const seen = { expired: 0, kept: 0 };
    await fc.assert(
      explorerProperty(
        fc.constant<Actor[]>([
          handover('Bot', 'Agent'),
          sweep(),
          { ...message, answer: 'reply' } as Actor,
          sweep({ put: ['applied_timeout'] }),
        ]),
        (w) => {
          const expired = w.history.userRecords(USER).some((r) => r.source === 'timeout');
          seen[expired ? 'expired' : 'kept'] += 1;
        },
      ),
      { seed: SEED, numRuns: FOCUSED_RUNS },
    );
    // Both outcomes were explored: the race is real in the model.
    expect(seen.expired).toBeGreaterThan(0);
    expect(seen.kept).toBeGreaterThan(0);
  });

  it('sends a message its own handover moved to no second Service after the lease sends the user back', async () => {
    // The rule hands the user to the Agent, who hears the message; the attempt dies before the
    // answer, the lease runs out meanwhile and the user is the Bot's again when it is retried.
    await focused([{ ...message, text: 'human' } as Actor, sweep()]);
  });

  it('loses nothing when a sweep dies halfway through an expiry', async () => {
    await focused([handover('Bot', 'Agent'), sweep({ crashAtWrite: 2 }), message]);
  });
});

// ---------------------------------------------------------------- the eraser

const erase: Actor = { kind: 'erase', crashAtWrite: null };

/** Worlds in which `happened` held, and in which it did not: a focused property's coverage. */
const tallied = (happened: (w: World) => boolean) => {
  const seen = { yes: 0, no: 0 };
  const see = (w: World) => {
    seen[happened(w) ? 'yes' : 'no'] += 1;
  };
  return { seen, see };
};

const focusedWith = (
  actors: Actor[] | fc.Arbitrary<Actor[]>,
  prelude: Actor[],
  see: (w: World) => void,
) =>
  fc.assert(explorerProperty(Array.isArray(actors) ? fc.constant(actors) : actors, see, prelude), {
    seed: SEED,
    numRuns: FOCUSED_RUNS,
  });

/** How many records the world's erasures moved. */
const erasedCount = (w: World): number =>
  w.erasures.reduce((n, j) => n + (w.erasureStore.erased.get(j.erasureId ?? '')?.size ?? 0), 0);

/** The user's partition holds a new chain, begun after the erasure. */
const newChain = (w: World): boolean =>
  w.erasures.some((j) => j.done && !j.noop) && w.history.userRecords(USER).length > 0;

/** A step's trace says that `actor` was answered with `code`. */
const answered = (w: World, actor: string, code: string): boolean =>
  w.parley.trace.some((t) => t.includes(`${actor} throws`) && t.includes(code));

/** A record was written at a seq the eraser had emptied (a late copy, written). */
const lateCopyWritten = (w: World): boolean =>
  w.journal.some(
    (e, i) =>
      e.kind === 'append' &&
      e.outcome === 'appended' &&
      w.journal.slice(0, i).some((d) => d.kind === 'record_deleted' && d.seq === e.record.seq),
  );

/** The actors, with the second one starting 0-24 steps in: anywhere among the eraser's steps. */
const startingLater = (first: Actor, later: Actor): fc.Arbitrary<Actor[]> =>
  fc.integer({ min: 0, max: 24 }).map((startAfter) => [first, { ...later, startAfter }]);

describe('the schedule explorer with the eraser', () => {
  it('refuses a handover that meets the fence (409 erasure_in_progress), erases one made before it, and records one made after it in a new chain', async () => {
    const refused = tallied((w) => answered(w, 'A2', 'erasure_in_progress'));
    const erasedToo = tallied((w) => erasedCount(w) === 2);
    const after = tallied(newChain);
    await focusedWith(
      startingLater(erase, handover('Agent', 'Bot')),
      [handover('Bot', 'Agent')],
      (w) => {
        refused.see(w);
        erasedToo.see(w);
        after.see(w);
      },
    );
    // Each outcome of the race was explored.
    expect(refused.seen.yes).toBeGreaterThan(0);
    expect(erasedToo.seen.yes).toBeGreaterThan(0);
    expect(after.seen.yes).toBeGreaterThan(0);
  });

  it('keeps the first record of a seq when a stalled writer appends its copy after recovery and the eraser moved it', async () => {
    const late = tallied(lateCopyWritten);
    const dropped = tallied((w) =>
      w.log.lines.some((l) => l.message === 'erasure: a late copy of an erased seq dropped'),
    );
    // The writer resumes 1-6 steps after recovery: anywhere among the eraser's steps.
    const stalled = fc
      .integer({ min: 1, max: 6 })
      .map((holdSteps): Actor[] => [{ kind: 'stalled', by: 'Agent', to: 'Bot', holdSteps }, erase]);
    await focusedWith(stalled, [handover('Bot', 'Agent')], (w) => {
      late.see(w);
      dropped.see(w);
    });
    expect(late.seen.yes).toBeGreaterThan(0);
    expect(dropped.seen.yes).toBeGreaterThan(0);
  });

  it('sends a callback that meets the fence to the owner and refuses its handover, and erases or records anew the ones before and after', async () => {
    const refused = tallied((w) =>
      w.log.lines.some((l) => l.attributes?.code === 'erasure_in_progress'),
    );
    const erasedToo = tallied((w) => erasedCount(w) === 3);
    const after = tallied(newChain);
    await focusedWith(
      startingLater(erase, { ...message, text: 'human', answer: 'handover' } as Actor),
      [handover('Bot', 'Agent'), handover('Agent', 'Bot')],
      (w) => {
        refused.see(w);
        erasedToo.see(w);
        after.see(w);
      },
    );
    expect(refused.seen.yes).toBeGreaterThan(0);
    expect(erasedToo.seen.yes).toBeGreaterThan(0);
    expect(after.seen.yes).toBeGreaterThan(0);
  });

  it('erases the expiry the sweep recorded before the fence, and finds no timer on the fence or after it', async () => {
    const expired = tallied((w) => storedSources(w).includes('timeout'));
    await focusedWith(startingLater(erase, sweep()), [handover('Bot', 'Agent')], expired.see);
    expect(expired.seen.yes).toBeGreaterThan(0);
    expect(expired.seen.no).toBeGreaterThan(0);
  });
});

// ---------------------------------------------------------------- the checker can fail

/** One plain run, steps released in the order they were scheduled. */
const plainRun = (actors: Actor[], prelude: Actor[] = []): Promise<World> =>
  runWorld(inOrderScheduler(), actors, prelude);

/** A plain erasure of a user with `handovers` records, steps in order. */
const erasedWorld = async (handovers: Actor[] = [handover('Bot', 'Agent')]) => {
  const w = await plainRun([erase], handovers);
  const erasureId = w.erasures[0]!.erasureId!;
  return {
    w,
    erasureId,
    partition: w.erasureStore.erased.get(erasureId)!,
    tombstone: w.erasureStore.tombstones.get(erasureId)!,
  };
};

const detailsOf = (w: World, invariant: number) =>
  checkWorld(w)
    .filter((v) => v.invariant === invariant)
    .map((v) => v.detail);

const invariantsOf = (w: World) => [...new Set(checkWorld(w).map((v) => v.invariant))];

const message: Actor = {
  kind: 'message',
  text: 'hello',
  answer: 'nothing',
  copies: 1,
  put: [],
  get: [],
  crashAtWrite: null,
};

describe('the checker', () => {
  it('finds nothing wrong with a handover, a read and a message run one after another', async () => {
    const w = await plainRun([
      handover('Bot', 'Agent'),
      { kind: 'read', as: 'Bot', get: [] },
      message,
    ]);

    expect(checkWorld(w)).toEqual([]);
    expect(w.history.userRecords(USER).map((r) => [r.source, r.status, r.toOwner])).toEqual([
      ['api', 'completed', AGENT],
    ]);
    expect(w.posts.map((p) => p.service)).toEqual([AGENT]);
  });

  it('reports a change Parley applied through us that has no record (1)', async () => {
    const w = await plainRun([handover('Bot', 'Agent')]);
    w.parley.log.push({
      at: 0,
      userId: USER,
      from: AGENT,
      to: BOT,
      by: AGENT,
      via: 'us',
      actor: 'planted',
    });

    expect(invariantsOf(w)).toEqual([1]);
  });

  it('reports an observed record that no outside change explains (2)', async () => {
    const w = await plainRun([handover('Bot', 'Agent')]);
    const item = w.state.owners.get(USER)!;
    const fabricated = observedRecord(
      { userId: USER, seq: item.lastSeq, hash: item.lastHash, createdAt: item.lastCreatedAt },
      AGENT,
      BOT,
      'planted',
      w.clock.now(),
    );
    await w.history.append(fabricated);
    w.state.owners.set(USER, advanceItem(item, [fabricated], w.clock.now()));
    w.parley.owners.set(USER, BOT);

    expect(invariantsOf(w)).toEqual([2]);
  });

  it('reports a cache that disagrees with Parley at rest (3)', async () => {
    const w = await plainRun([handover('Bot', 'Agent')]);
    w.parley.owners.set(USER, BOT);

    expect(invariantsOf(w)).toEqual([3]);
  });

  it('reports a message that reached no one, went to the old owner, or to a stranger (4)', async () => {
    const lost = await plainRun([message]);
    lost.posts.length = 0;
    const late = await plainRun([handover('Bot', 'Agent'), message]);
    late.posts[0] = { ...late.posts[0]!, service: BOT };
    const stranger = await plainRun([message]);
    stranger.posts[0] = { ...stranger.posts[0]!, service: AGENT };

    expect(checkWorld(lost).map((v) => v.detail)).toEqual([
      "A1's message reached no one (disposition forwarded)",
    ]);
    expect(checkWorld(late).map((v) => v.detail)).toEqual([
      "A2's message went to Bot after the history recorded Agent as the owner",
    ]);
    expect(checkWorld(stranger).map((v) => v.detail)).toEqual([
      "A1's message went to Agent, who did not own the user between its routing and the forward",
    ]);
  });

  it('reports a record edited after it was written (5)', async () => {
    const w = await plainRun([handover('Bot', 'Agent')]);
    const [key, record] = [...w.history.records][0]!;
    w.history.records.set(key, { ...record, reason: 'edited' });

    expect(invariantsOf(w)).toEqual([5]);
  });

  it('reports a lease that ended twice, or a lease the owner does not hold (6)', async () => {
    // The sweep starts once the handover has come to rest.
    const twice = await plainRun([handover('Bot', 'Agent')]);
    twice.start(sweep(), 'A2');
    await drive(twice.scheduler);
    const [, expiry] = twice.history.userRecords(USER);
    expect(expiry?.source).toBe('timeout');
    twice.history.records.set('planted', { ...expiry!, seq: 99 });
    const kept = await plainRun([handover('Bot', 'Agent')]);
    const item = kept.state.owners.get(USER)!;
    kept.state.owners.set(USER, { ...item, lease: null });

    expect(
      checkWorld(twice)
        .filter((v) => v.invariant === 6)
        .map((v) => v.detail),
    ).toEqual([
      `the lease Agent ${expiry!.metadata?.lastUserAt} ${expiry!.metadata?.lastOwnerAt} ended 2 times`,
    ]);
    expect(invariantsOf(kept)).toEqual([6]);
  });

  it('finds nothing wrong with an erasure run alone, and prints what it erased', async () => {
    const actors = [erase];
    const { w, erasureId, partition } = await erasedWorld();

    expect(checkWorld(w)).toEqual([]);
    expect([...partition.values()].map((r) => [r.seq, r.source, r.toOwner])).toEqual([
      [1, 'api', AGENT],
    ]);
    expect(w.history.userRecords(USER)).toEqual([]);
    expect(report(w, actors, [])).toContain(
      `Erasure of A1: ${erasureId}, done; erased [#1 api completed Bot -> Agent (h0001)]`,
    );
  });

  it('reports an erased seq that keeps a later copy, not the record first stored there (7)', async () => {
    const { w, erasureId, partition, tombstone } = await erasedWorld();
    const later = { ...partition.get(1)!, status: 'failed' as const, hash: 'e'.repeat(64) };
    partition.set(1, later);
    w.erasureStore.tombstones.set(erasureId, { ...tombstone, lastHash: later.hash });

    expect(checkWorld(w).map((v) => v.detail)).toEqual([
      `erasure ${erasureId}: #1 keeps a later copy (h0001, failed), not the record first stored there (h0001, completed)`,
    ]);
  });

  it('reports an erased chain with a gap, or a tombstone that does not match it (7)', async () => {
    const gap = await erasedWorld([handover('Bot', 'Agent'), handover('Agent', 'Bot')]);
    gap.partition.delete(1);
    const miscounted = await erasedWorld();
    miscounted.w.erasureStore.tombstones.set(miscounted.erasureId, {
      ...miscounted.tombstone,
      count: 2,
    });

    expect(detailsOf(gap.w, 7)).toEqual([
      `erasure ${gap.erasureId}: the erased chain breaks: #2 stands where #1 belongs`,
      `erasure ${gap.erasureId}: the tombstone (count 2, #1..#2) does not match its 1 erased records`,
      `erasure ${gap.erasureId}: #1 (h0001) was stored and is not in the erased chain`,
    ]);
    expect(detailsOf(miscounted.w, 7)).toEqual([
      `erasure ${miscounted.erasureId}: the tombstone (count 2, #1..#1) does not match its 1 erased records`,
    ]);
  });

  it('reports a record of the erased chain left in the user’s partition, and an erasure that never finished (7)', async () => {
    const left = await erasedWorld();
    const first = left.w.journal.find((e) => e.kind === 'append')!;
    if (first.kind !== 'append') throw new Error('no append journaled');
    left.w.history.records.set('left behind', first.record);
    const unfinished = await erasedWorld();
    unfinished.w.erasures[0]!.done = false;

    expect(detailsOf(left.w, 7)).toEqual([
      `#1 (h0001) is in the user's partition, stored before erasure ${left.erasureId}'s fence went`,
    ]);
    expect(detailsOf(unfinished.w, 7)).toEqual([
      `A1's erasure ${unfinished.erasureId} did not finish at rest (stops: waiting_for_writers)`,
    ]);
  });

  it('reports a delivery item the state scan could have found left with the user id (7)', async () => {
    const w = await plainRun([erase], [handover('Bot', 'Agent'), message]);
    const [deleted] = w.journal.flatMap((e) => (e.kind === 'delivery_deleted' ? [e.item] : []));
    w.state.deliveries.set(deleted!.deliveryId, deleted!);

    expect(detailsOf(w, 7)).toEqual([
      `the delivery ${deleted!.deliveryId.slice(0, 12)} (done) is left with the user id, claimed before erasure ${w.erasures[0]!.erasureId}'s last state scan`,
    ]);
  });

  it('reports an error no use case declares (0)', async () => {
    const w = await plainRun([handover('Bot', 'Agent')]);
    w.unexpected.push('A1: TypeError: planted');

    expect(invariantsOf(w)).toEqual([0]);
  });

  it('prints a counterexample with the invariant, the actors, the schedule and the history', async () => {
    const actors = [handover('Bot', 'Agent')];
    const w = await plainRun(actors);
    w.parley.owners.set(USER, BOT);

    const text = report(w, actors, checkWorld(w));

    expect(text.split('\n').slice(0, 4)).toEqual([
      'Invariant(s) broken: (3) at rest the owner cache equals Parley and no pending marker remains',
      '  (3) the cache names Agent, Parley Bot',
      'Actors:',
      '  A1: handover Bot -> Agent requested by Bot',
    ]);
    expect(text).toContain('A1 PUT owner Bot -> Agent reaches Parley [ok]: applied Bot -> Agent');
    expect(text).toContain('  Bot -> Agent through us as Bot (A1, step ');
    expect(text).toContain('  #1 api completed Bot -> Agent (h0001)');
  });
});

// ---------------------------------------------------------------- defects found with the eraser

describe('the schedule explorer with the eraser: defects it found', () => {
  it('answers a GET owner whose owner item the eraser deletes meanwhile (the fence dropped)', async () => {
    await focusedWith(
      [erase, { kind: 'read', as: 'Bot', get: [], startAfter: 3 }],
      [{ kind: 'read', as: 'auditor', get: [] }],
      () => {},
    );
  });

  it('sends a retried message to no second Service when the state scan meets its delivery', async () => {
    await focusedWith(
      [erase, { ...message, crashAtWrite: 3 } as Actor, { kind: 'outside', to: 'Agent' }],
      [handover('Bot', 'Agent'), handover('Agent', 'Bot')],
      () => {},
    );
  });

  it('forwards a callback that meets the fence to the owner Parley names, not the one the fence keeps', async () => {
    await focusedWith(
      [erase, { kind: 'outside', to: 'Bot' }, { ...message, startAfter: 5 } as Actor],
      [handover('Bot', 'Agent')],
      () => {},
    );
  });

  it('keeps a delivery claimed after the state scan’s last pass as new data, and leaves none claimed before it', async () => {
    // The checker (7) holds every delivery item left at rest to a claim after the last pass.
    const newData = tallied((w) => [...w.state.deliveries.values()].some((d) => d.userId === USER));
    await focusedWith(
      fc
        .integer({ min: 0, max: 24 })
        .map((startAfter): Actor[] => [{ ...message, startAfter } as Actor, erase]),
      [handover('Bot', 'Agent')],
      newData.see,
    );
    expect(newData.seen.yes).toBeGreaterThan(0);
    expect(newData.seen.no).toBeGreaterThan(0);
  });

  it('honours the fence when a change at Parley meets a GET owner during the erasure', async () => {
    await focusedWith(
      startingLater(erase, { kind: 'read', as: 'auditor', get: [] }).map((list) => [
        list[0]!,
        { kind: 'outside', to: 'Agent' } as Actor,
        list[1]!,
      ]),
      [handover('Bot', 'Agent'), handover('Agent', 'Bot')],
      () => {},
    );
  });
});
