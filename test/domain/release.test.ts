// Bulk release on the fakes: the real handover use case, a listing of the Service's users as the
// byOwner index gives it (live, or a stale snapshot as a lagging index can), and an injected
// timer, so the limit, the time budget, Parley's refusals and unknown outcomes can be staged.
import { ValidationError } from '../../functions/domain/errors';
import type { HandoverInput } from '../../functions/domain/handover/deps';
import { performHandover } from '../../functions/domain/handover/perform';
import type { StateStore } from '../../functions/domain/ports';
import { type ReleaseDeps, type ReleaseRun, releaseService } from '../../functions/domain/release';
import {
  AGENT,
  BOT,
  handoverWorld,
  manualClock,
  recordingLog,
  recordingMetrics,
  sequentialIds,
} from '../support/fakes';

type World = ReturnType<typeof handoverWorld>;
type Listing = StateStore['listOwnedBy'];

/** The byOwner listing over the fake owner items, ordered by user id, resumable after a user. */
const liveListing =
  (world: World): Listing =>
  async (serviceId, { limit, cursor }) => {
    const owned = [...world.state.owners.values()]
      .filter((item) => item.owner === serviceId)
      .map((item) => item.userId)
      .sort();
    const after = cursor === undefined ? undefined : Buffer.from(cursor, 'base64url').toString();
    const rest = after === undefined ? owned : owned.filter((u) => u > after);
    const items = rest.slice(0, limit).map((userId) => ({ userId }));
    const more = rest.length > limit;
    return {
      items,
      ...(more ? { cursor: Buffer.from(items.at(-1)!.userId).toString('base64url') } : {}),
    };
  };

/** The listing as it was when taken: what a lagging index still shows after users moved. */
const snapshotOf = (world: World): Listing => {
  const frozen = structuredClone([...world.state.owners.values()]);
  return liveListing({ state: { owners: new Map(frozen.map((i) => [i.userId, i])) } } as World);
};

/** A world whose agent owns `users`, each handed over from the bot through the use case. */
const agentOwns = async (users: string[]): Promise<World> => {
  const world = handoverWorld();
  for (const userId of users) {
    await performHandover({ userId, newOwner: AGENT, requestedBy: BOT, source: 'api' }, world.deps);
  }
  return world;
};

const releaseDepsOf = (
  world: World,
  options: { listing?: Listing; perHandoverMs?: number; budgetMs?: number } = {},
) => {
  const timer = manualClock(0);
  const calls: HandoverInput[] = [];
  const deps: ReleaseDeps = {
    state: { listOwnedBy: options.listing ?? liveListing(world) },
    catalog: world.deps.catalog,
    handover: async (input) => {
      calls.push(input);
      timer.advance(options.perHandoverMs ?? 100);
      return performHandover(input, world.deps);
    },
    ids: sequentialIds('release-'),
    timer,
    log: recordingLog(),
    metrics: recordingMetrics(),
    budgetMs: options.budgetMs ?? 58_000,
    handoverReserveMs: 15_000,
  };
  return { deps, timer, calls };
};

const users = (n: number) => Array.from({ length: n }, (_, i) => `u${String(i).padStart(3, '0')}`);

/** The operator records of the history, per user. */
const operatorRecords = (world: World) =>
  world.history.all().filter((r) => r.source === 'operator');

const input = { service: AGENT, operator: 'anna', reason: 'desk closed for the night' };

describe('releaseService', () => {
  it('hands every user of the Service to the default, one operator record each', async () => {
    const world = await agentOwns(users(30));
    const { deps } = releaseDepsOf(world);

    const out = await releaseService(input, deps);

    expect(out).toEqual({ serviceId: AGENT, dryRun: false, moved: 30, skipped: 0, failed: [] });
    const records = operatorRecords(world);
    expect(records.map((r) => r.userId).sort()).toEqual(users(30));
    expect(new Set(records.map((r) => `${r.fromOwner}>${r.toOwner}`))).toEqual(
      new Set([`${AGENT}>${BOT}`]),
    );
    expect(new Set(records.map((r) => `${r.requestedBy}|${r.reason}|${r.status}`))).toEqual(
      new Set(['operator:anna|desk closed for the night|completed']),
    );
    expect(users(30).map((u) => world.parley.ownerOf(u))).toEqual(users(30).map(() => BOT));
  });

  it('refuses to release the default Service, by name or identification (422)', async () => {
    const world = await agentOwns(['u1']);
    const { deps, calls } = releaseDepsOf(world);

    for (const service of ['Bot Service', BOT, 'default']) {
      await expect(releaseService({ ...input, service }, deps)).rejects.toMatchObject({
        httpStatus: 422,
        code: 'cannot_release_default',
      });
    }
    expect(calls).toEqual([]);
  });

  it('counts in a dry run, naming the first 20 users, and moves no one', async () => {
    const world = await agentOwns(users(25));
    const { deps, calls } = releaseDepsOf(world);
    const recordsBefore = world.history.all().length;

    const out = await releaseService({ ...input, dryRun: true }, deps);

    expect(out).toEqual({
      serviceId: AGENT,
      dryRun: true,
      count: 25,
      complete: true,
      firstUsers: users(20),
    });
    expect([calls.length, world.history.all().length]).toEqual([0, recordsBefore]);
  });

  it('says a dry run count is a lower bound when it ran out of time', async () => {
    const world = await agentOwns(users(250));
    const { deps, timer } = releaseDepsOf(world, { budgetMs: 1_000 });
    const listing = deps.state.listOwnedBy;
    deps.state = {
      listOwnedBy: async (serviceId, options) => {
        timer.advance(600);
        return listing(serviceId, options);
      },
    };

    const out = await releaseService({ ...input, dryRun: true }, deps);

    expect(out).toMatchObject({ count: 200, complete: false });
  });

  it('stops at the limit with a cursor, and the resumed calls move the rest, each user once', async () => {
    const world = await agentOwns(users(60));
    const { deps } = releaseDepsOf(world);
    const answers: ReleaseRun[] = [];

    let cursor: string | undefined;
    do {
      const out = (await releaseService({ ...input, limit: 7, cursor }, deps)) as ReleaseRun;
      answers.push(out);
      cursor = out.cursor;
    } while (cursor);

    expect(answers.map((a) => a.moved)).toEqual([7, 7, 7, 7, 7, 7, 7, 7, 4]);
    const moved = operatorRecords(world).map((r) => r.userId);
    expect(moved.sort()).toEqual(users(60));
  });

  it('starts a user only while a whole handover still fits the time, then answers a cursor', async () => {
    const world = await agentOwns(users(40));
    // 58 s for the call, 15 s kept for one handover, 2 s per handover: users start up to 43 s.
    const { deps } = releaseDepsOf(world, { perHandoverMs: 2_000 });

    const first = (await releaseService(input, deps)) as ReleaseRun;
    const second = (await releaseService({ ...input, cursor: first.cursor }, deps)) as ReleaseRun;

    expect([first.moved, first.cursor !== undefined]).toEqual([22, true]);
    expect([second.moved, second.cursor]).toEqual([18, undefined]);
    expect(operatorRecords(world)).toHaveLength(40);
  });

  it('makes no second record when a call is retried and a lagging index still lists the moved users', async () => {
    const world = await agentOwns(users(10));
    const stale = snapshotOf(world);
    const first = releaseDepsOf(world, { listing: stale });
    await releaseService({ ...input, releaseKey: 'release-key-1' }, first.deps);
    const retry = releaseDepsOf(world, { listing: stale });

    const out = (await releaseService(
      { ...input, releaseKey: 'release-key-1' },
      retry.deps,
    )) as ReleaseRun;

    expect(operatorRecords(world)).toHaveLength(10);
    // The same release replays its answers: the retry reports what the first call did.
    expect(out).toMatchObject({ moved: 10, skipped: 0, failed: [] });
    expect(retry.calls).toHaveLength(10);
  });

  it('skips a user the Service no longer owns though the index still lists it, recording nothing', async () => {
    const world = await agentOwns(users(3));
    const stale = snapshotOf(world);
    await performHandover(
      { userId: 'u001', newOwner: BOT, requestedBy: AGENT, source: 'api' },
      world.deps,
    );
    const { deps } = releaseDepsOf(world, { listing: stale });

    const out = await releaseService(input, deps);

    expect(out).toMatchObject({ moved: 2, skipped: 1, failed: [] });
    expect(operatorRecords(world).map((r) => r.userId)).toEqual(['u000', 'u002']);
  });

  it('skips a user Parley moved away from the Service behind the cache, the attempt recorded as failed', async () => {
    const world = await agentOwns(users(2));
    world.parley.owners.set('u000', BOT); // a change made at Parley, not through this service
    const { deps } = releaseDepsOf(world);

    const out = await releaseService(input, deps);

    expect(out).toMatchObject({ moved: 1, skipped: 1, failed: [] });
    const u000 = world.history.userRecords('u000').map((r) => `${r.source} ${r.status}`);
    expect(u000).toEqual(['api completed', 'operator failed', 'observed completed']);
  });

  it('reports a refused handover with its code and does not try it again when the call resumes', async () => {
    const world = await agentOwns(users(4));
    world.parley.failNext('setOwner', 'reject_403');
    const { deps } = releaseDepsOf(world);

    const first = (await releaseService({ ...input, limit: 2 }, deps)) as ReleaseRun;
    const second = (await releaseService({ ...input, cursor: first.cursor }, deps)) as ReleaseRun;

    expect(first).toMatchObject({ moved: 1, failed: [{ userId: 'u000', code: 'parley_error' }] });
    expect(second).toMatchObject({ moved: 2, skipped: 0, failed: [] });
    expect(second.cursor).toBeUndefined();
    const u000 = world.history.userRecords('u000').filter((r) => r.source === 'operator');
    expect(u000.map((r) => r.status)).toEqual(['failed']);
  });

  it('ends the call at an unknown Parley outcome, and the resumed call settles that user by its key', async () => {
    const world = await agentOwns(users(3));
    for (let i = 0; i < 3; i++) world.parley.failNext('setOwner', 'timeout');
    const { deps } = releaseDepsOf(world);

    const first = (await releaseService(input, deps)) as ReleaseRun;
    world.clock.advance(61_000); // the marker left behind turns stale: the retry recovers it
    const second = (await releaseService({ ...input, cursor: first.cursor }, deps)) as ReleaseRun;

    expect(first).toMatchObject({ moved: 0, failed: [{ userId: 'u000', code: 'parley_timeout' }] });
    expect(first.cursor).toBeDefined();
    expect(second).toMatchObject({ moved: 3, failed: [] });
    expect(operatorRecords(world).map((r) => `${r.userId} ${r.status}`)).toEqual([
      'u000 completed',
      'u001 completed',
      'u002 completed',
    ]);
  });

  it('refuses a cursor it did not give, or one of another Service, with 400 invalid_cursor', async () => {
    const world = await agentOwns(users(3));
    const { deps } = releaseDepsOf(world);
    const given = (await releaseService({ ...input, limit: 1 }, deps)) as ReleaseRun;

    const codes = [];
    for (const cursor of [
      'not-a-cursor',
      forged(given.cursor!, { v: 2 }),
      forged(given.cursor!, { s: BOT }),
    ]) {
      const err = await releaseService({ ...input, cursor }, deps).catch((e: unknown) => e);
      codes.push(err instanceof ValidationError ? err.code : String(err));
    }

    expect(codes).toEqual(['invalid_cursor', 'invalid_cursor', 'invalid_cursor']);
  });
});

/** `cursor` with some of its fields changed. */
const forged = (cursor: string, change: Record<string, unknown>): string => {
  const position = JSON.parse(Buffer.from(cursor, 'base64url').toString());
  return Buffer.from(JSON.stringify({ ...position, ...change })).toString('base64url');
};
