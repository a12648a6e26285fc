// The checkpoint job on fakes (history, state) and the real store code over a bucket in memory:
// which heads a checkpoint holds, the bounds, and that no retry, crash or second run leaves a gap
// or forks the chain. Every figure checked is read back from the bucket.
import { linkFault } from '../../../functions/domain/checkpoints/coverage';
import {
  type Checkpoint,
  checkpointFault,
  checkpointHash,
  FIRST_PREVIOUS_HASH,
} from '../../../functions/domain/checkpoints/document';
import { makeCheckpoints } from '../../../functions/domain/checkpoints/job';
import { CheckpointConflictError } from '../../../functions/domain/errors';
import { checkpointWorld, FIXED_PUBLIC_KEY, historyOf, refOf } from './world';

type World = ReturnType<typeof checkpointWorld>;

/** Every stored checkpoint, oldest first, each checked on its own and against the one before. */
const chainOf = async (w: World): Promise<Checkpoint[]> => {
  const ids: string[] = [];
  let cursor: string | undefined;
  do {
    const page = await w.store.list({ limit: 2, cursor });
    ids.push(...page.items);
    cursor = page.cursor;
  } while (cursor);
  const chain: Checkpoint[] = [];
  for (const id of ids.reverse()) {
    const stored = (await w.store.get(id))!;
    expect({ id, fault: checkpointFault(stored, FIXED_PUBLIC_KEY) }).toEqual({ id, fault: null });
    const previous = chain.at(-1);
    if (previous)
      expect({ id, link: linkFault(previous, stored.checkpoint) }).toEqual({ id, link: null });
    else expect(stored.checkpoint.previousCheckpointHash).toBe(FIRST_PREVIOUS_HASH);
    chain.push(stored.checkpoint);
  }
  return chain;
};

/** The users of these tests by subjectRef: a head names its user so. */
const USERS = ['u-a', 'u-b', 'u1', 'u2', 'u3', 'u4', 'u5'];
const userOf = (subjectRef: string) => USERS.find((u) => refOf(u) === subjectRef) ?? subjectRef;

/** `userId@seq` of every head, checkpoint by checkpoint, in the checkpoint's (subjectRef) order. */
const headsOf = (chain: Checkpoint[]) =>
  chain.map((c) => c.heads.map((h) => `${userOf(h.subjectRef)}@${h.lastSeq}`));
/**
 * Heads sort by subjectRef: under the fixed subject key u-a (11…) < u-b (7d…), and u2 (7d…) < u4
 * (9b…) < u3 (b9…) < u1 (bb…) < u5 (d7…).
 */
const IN_REF_ORDER = ['u2@1', 'u4@1', 'u3@1', 'u1@1', 'u5@1'];

const run = (w: World) => makeCheckpoints(w.deps, { by: 'test' });

describe('the checkpoint job', () => {
  it('starts the chain at its first run, even with no record, and then writes nothing until a history changes', async () => {
    const w = checkpointWorld();
    const first = await run(w);
    expect(first.created.map((c) => [c.checkpointId, c.treeSize, c.coveredUntil])).toEqual([
      ['000000000001', 0, '2026-03-10T12:30:00.000Z'],
    ]);
    expect(first.created[0]!.rootHash).toBe(
      'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855',
    );
    w.clock.advance(15 * 60_000);
    expect((await run(w)).created).toEqual([]);
    expect(headsOf(await chainOf(w))).toEqual([[]]);
  });

  it("holds each changed user's newest record as its head, sorted, signed and noted per user", async () => {
    const w = checkpointWorld();
    await w.add(historyOf('u-b', 3));
    await w.add(historyOf('u-a', 2));
    const result = await run(w);
    const chain = await chainOf(w);
    expect(headsOf(chain)).toEqual([['u-a@2', 'u-b@3']]);
    expect(chain[0]!.heads[1]).toEqual({
      subjectRef: refOf('u-b'),
      lastSeq: 3,
      lastHash: w.history.userRecords('u-b')[2]!.hash,
    });
    expect(chain[0]).toMatchObject({
      checkpointId: '000000000001',
      createdAt: '2026-03-10T12:30:00.000Z',
      coveredUntil: '2026-03-10T12:30:00.000Z',
      treeSize: 2,
    });
    expect(result.created.map((c) => c.checkpointId)).toEqual(['000000000001']);
    expect((await w.store.listForUser(refOf('u-a'), { limit: 10 })).items).toEqual([
      '000000000001',
    ]);
    expect((await w.store.listForUser(refOf('nobody'), { limit: 10 })).items).toEqual([]);
    // The notes are named by subjectRef, never by the user id.
    expect((await w.store.listForUser('u-a', { limit: 10 })).items).toEqual([]);
    expect(w.metrics.total('CheckpointWritten')).toBe(1);
    expect(w.log.lines.find((l) => l.message === 'checkpoint run')?.attributes).toEqual({
      by: 'test',
      created: 1,
      heads: 2,
      complete: true,
      latest: '000000000001',
    });
  });

  it('writes nothing when no history changed since, and only the changed heads after a change', async () => {
    const w = checkpointWorld();
    await w.add(historyOf('u-a', 2));
    await w.add(historyOf('u-b', 1));
    await run(w);
    w.clock.advance(15 * 60_000);
    expect((await run(w)).created).toEqual([]);
    const a = w.history.userRecords('u-a');
    await w.add(
      historyOf('u-a', 1, { firstSeq: 3, prevHash: a[1]!.hash, startMs: w.clock.now() - 1000 }),
    );
    w.clock.advance(60_000);
    await run(w);
    const chain = await chainOf(w);
    expect(headsOf(chain)).toEqual([['u-a@2', 'u-b@1'], ['u-a@3']]);
    expect(chain[1]!.previousCheckpointHash).toBe(checkpointHash(chain[0]!));
  });

  it('spreads more heads than one checkpoint holds over several, chained; only the last moves coveredUntil', async () => {
    const w = checkpointWorld({ maxHeads: 2 });
    for (const u of ['u1', 'u2', 'u3', 'u4', 'u5']) await w.add(historyOf(u, 1));
    const result = await run(w);
    const chain = await chainOf(w);
    expect(headsOf(chain)).toEqual([IN_REF_ORDER.slice(0, 2), IN_REF_ORDER.slice(2, 4), ['u5@1']]);
    expect(chain.map((c) => c.coveredUntil)).toEqual([null, null, '2026-03-10T12:30:00.000Z']);
    expect(result.complete).toBe(true);
  });

  it('stops at its bound of checkpoints a run, and the next runs add the rest without repeating a head', async () => {
    const w = checkpointWorld({ maxHeads: 2, perRun: 1 });
    for (const u of ['u1', 'u2', 'u3', 'u4', 'u5']) await w.add(historyOf(u, 1));
    const runs = [];
    for (let i = 0; i < 4; i++) {
      runs.push(await run(w));
      w.clock.advance(60_000);
    }
    expect(runs.map((r) => [r.created.length, r.complete])).toEqual([
      [1, false],
      [1, false],
      [1, true],
      [0, true],
    ]);
    const heads = headsOf(await chainOf(w)).flat();
    expect(heads.sort()).toEqual(['u1@1', 'u2@1', 'u3@1', 'u4@1', 'u5@1']);
  });

  it('leaves no gap and no fork when it dies after storing a checkpoint, before the next', async () => {
    const w = checkpointWorld({ maxHeads: 2 });
    for (const u of ['u1', 'u2', 'u3', 'u4', 'u5']) await w.add(historyOf(u, 1));
    // Dies right after the first checkpoint is stored, before the second is built.
    let stored = 0;
    const put = w.store.put;
    w.deps.store = {
      ...w.store,
      put: async (...args) => {
        const outcome = await put(...args);
        if (++stored === 1) throw new Error('the container died');
        return outcome;
      },
    };
    await expect(run(w)).rejects.toThrow('the container died');
    w.deps.store = w.store;
    expect(headsOf(await chainOf(w))).toEqual([IN_REF_ORDER.slice(0, 2)]);
    w.clock.advance(60_000);
    await run(w);
    const chain = await chainOf(w);
    expect(headsOf(chain)).toEqual([IN_REF_ORDER.slice(0, 2), IN_REF_ORDER.slice(2, 4), ['u5@1']]);
    expect(chain.at(-1)!.coveredUntil).toBe('2026-03-10T12:31:00.000Z');
  });

  it("starts again when another run takes its place in the chain, and repeats none of that run's heads", async () => {
    const w = checkpointWorld();
    await w.add(historyOf('u-a', 1));
    await w.add(historyOf('u-b', 1));
    // Another run stores the first checkpoint while this one is between its notes and its put.
    w.bucket.beforeCreate = {
      prefix: 'checkpoints/',
      run: async () => {
        await makeCheckpoints({ ...w.deps }, { by: 'other' });
      },
    };
    const mine = await run(w);
    expect(mine.created).toEqual([]);
    expect(headsOf(await chainOf(w))).toEqual([['u-a@1', 'u-b@1']]);
    expect(w.log.lines.filter((l) => l.message.startsWith('checkpoint place taken'))).toHaveLength(
      1,
    );
  });

  it('answers 409 after three runs that each lost their place', async () => {
    const w = checkpointWorld();
    await w.add(historyOf('u-a', 1));
    const stolen = { ...w.store, put: async () => 'exists' as const };
    await expect(makeCheckpoints({ ...w.deps, store: stolen }, { by: 'test' })).rejects.toThrow(
      CheckpointConflictError,
    );
    expect(w.log.lines.filter((l) => l.message.startsWith('checkpoint place taken'))).toHaveLength(
      2,
    );
  });

  it('catches a record stored after the previous checkpoint although created before it (a late recovery)', async () => {
    const w = checkpointWorld();
    await w.add(historyOf('u-a', 1));
    await run(w);
    // Created two minutes before that checkpoint, stored only now.
    const a1 = w.history.userRecords('u-a')[0]!;
    const late = historyOf('u-a', 1, {
      firstSeq: 2,
      prevHash: a1.hash,
      startMs: w.clock.now() - 120_000,
    });
    await w.add(late);
    w.clock.advance(15 * 60_000);
    await run(w);
    expect(headsOf(await chainOf(w))).toEqual([['u-a@1'], ['u-a@2']]);
  });

  it('never dates a checkpoint before the previous one, whatever the clock says', async () => {
    const w = checkpointWorld();
    await w.add(historyOf('u-a', 1));
    await run(w);
    w.clock.set(Date.parse('2026-03-10T12:20:00.000Z'));
    await w.add(historyOf('u-b', 1, { startMs: Date.parse('2026-03-10T12:25:00.000Z') }));
    await run(w);
    const chain = await chainOf(w);
    expect(chain.map((c) => c.createdAt)).toEqual([
      '2026-03-10T12:30:00.000Z',
      '2026-03-10T12:30:00.000Z',
    ]);
  });
});
