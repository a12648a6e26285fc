// The schedule explorer over the domain (test/support/model-explorer.ts): fast-check's scheduler
// interleaves handovers, GET owner reads, queued callbacks, recovery, changes made at Parley
// outside us and crashes over the store fakes and the model Parley, and the checker asserts the
// invariants after each run has come to rest. A failing run prints its shrunk counterexample: the
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

const focused = (actors: Actor[]) =>
  fc.assert(explorerProperty(fc.constant(actors)), { seed: SEED, numRuns: FOCUSED_RUNS });

describe('the schedule explorer', () => {
  it('keeps the invariants across interleavings of handovers, owner reads, callbacks, recovery, outside changes and crashes', async () => {
    await fc.assert(explorerProperty(actorsArbitrary(4)), { seed: SEED, numRuns: RUNS });
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

// ---------------------------------------------------------------- the checker can fail

/** One plain run, steps released in the order they were scheduled. */
const plainRun = (actors: Actor[]): Promise<World> => runWorld(inOrderScheduler(), actors);

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
