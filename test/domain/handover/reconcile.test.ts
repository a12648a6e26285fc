import { verifyChain } from '../../../functions/domain/chain';
import type { HandoverInput } from '../../../functions/domain/handover/deps';
import { performHandover } from '../../../functions/domain/handover/perform';
import { reconcile } from '../../../functions/domain/handover/reconcile';
import { AGENT, BOT, handoverWorld } from '../../support/fakes';

type World = ReturnType<typeof handoverWorld>;

const toAgent = (userId: string): HandoverInput => ({
  userId,
  newOwner: AGENT,
  metadata: { reason: 'question_too_complex' },
  requestedBy: BOT,
  source: 'api',
});

/** A handover of `userId` that dies right after writing its pending marker. */
const crashAfterMarker = async (w: World, userId: string) => {
  w.parley.onSetOwner = () => {
    throw new Error('process died before the PUT');
  };
  await expect(performHandover(toAgent(userId), w.deps)).rejects.toThrow('process died');
};

const gauges = (w: World) =>
  w.metrics.points.filter((p) => p.kind === 'gauge').map((p) => [p.name, p.value]);

describe('reconcile', () => {
  it('recovers every crash point with exactly one record that matches Parley', async () => {
    const w = handoverWorld();
    await crashAfterMarker(w, 'a'); // before the PUT
    w.clock.advance(1000);
    w.history.failNextAppend = new Error('process died before the record');
    await expect(performHandover(toAgent('b'), w.deps)).rejects.toThrow('before the record');
    w.clock.advance(1000);
    w.parley.onSetOwner = () => {
      w.state.beforeNextCas = () => {
        throw new Error('process died before the final CAS');
      };
    };
    await expect(performHandover(toAgent('c'), w.deps)).rejects.toThrow('final CAS');
    w.clock.advance(120_000);

    const result = await reconcile(w.deps);

    expect(result).toEqual({ examined: 3, recovered: 3, failed: [], oldestPendingAgeSeconds: 0 });
    for (const userId of ['a', 'b', 'c']) {
      const records = w.history.userRecords(userId);
      expect(records.map((r) => [r.toOwner, r.status])).toEqual([[AGENT, 'completed']]);
      expect(w.parley.ownerOf(userId)).toBe(AGENT);
      expect(w.state.owners.get(userId)).toMatchObject({ owner: AGENT, pending: null, lastSeq: 1 });
      expect(verifyChain(userId, records).ok).toBe(true);
    }
    expect(gauges(w)).toEqual([['OldestPendingAgeSeconds', 0]]);
  });

  it('leaves markers younger than staleAfter alone', async () => {
    const w = handoverWorld();
    await crashAfterMarker(w, 'a');
    w.clock.advance(30_000);

    const result = await reconcile(w.deps);

    expect(result).toEqual({ examined: 0, recovered: 0, failed: [], oldestPendingAgeSeconds: 0 });
    expect(w.state.owners.get('a')?.pending).not.toBeNull();
  });

  it('recovers one named user only, and only when its marker is stale', async () => {
    const w = handoverWorld();
    await crashAfterMarker(w, 'a');
    await crashAfterMarker(w, 'b');
    w.clock.advance(61_000);
    await crashAfterMarker(w, 'c'); // fresh

    const one = await reconcile(w.deps, { userId: 'b' });
    const fresh = await reconcile(w.deps, { userId: 'c' });

    expect(one).toEqual({ examined: 1, recovered: 1, failed: [], oldestPendingAgeSeconds: 0 });
    expect(fresh).toEqual({ examined: 0, recovered: 0, failed: [], oldestPendingAgeSeconds: 0 });
    expect(w.state.owners.get('a')?.pending).not.toBeNull();
    expect(w.state.owners.get('b')?.pending).toBeNull();
    expect(w.state.owners.get('c')?.pending).not.toBeNull();
  });

  it('collects a failing user with its code, carries on, and reports its age', async () => {
    const w = handoverWorld();
    await crashAfterMarker(w, 'a');
    w.clock.advance(1000);
    await crashAfterMarker(w, 'b');
    w.clock.advance(90_000);
    w.parley.failNext('getOwner', 'timeout'); // a's recovery cannot learn Parley's owner

    const result = await reconcile(w.deps);

    expect(result).toEqual({
      examined: 2,
      recovered: 1,
      failed: [{ userId: 'a', code: 'parley_timeout' }],
      oldestPendingAgeSeconds: 91,
    });
    expect(w.history.userRecords('a')).toEqual([]);
    expect(w.history.userRecords('b')).toHaveLength(1);
    expect(gauges(w)).toEqual([['OldestPendingAgeSeconds', 91]]);
  });

  it('stops at the limit, oldest markers first', async () => {
    const w = handoverWorld();
    for (const userId of ['a', 'b', 'c']) {
      await crashAfterMarker(w, userId);
      w.clock.advance(1000);
    }
    w.clock.advance(60_000);

    const result = await reconcile(w.deps, { limit: 2 });

    expect(result).toEqual({ examined: 2, recovered: 2, failed: [], oldestPendingAgeSeconds: 0 });
    expect(['a', 'b', 'c'].map((u) => w.state.owners.get(u)?.pending === null)).toEqual([
      true,
      true,
      false,
    ]);
  });
});
