// The Idempotency-Key of a handover (handover/idempotency.ts): replays, reuse, released keys.
import {
  HandoverInProgressError,
  IdempotencyKeyReusedError,
  ParleyApiError,
} from '../../../functions/domain/errors';
import { performHandover } from '../../../functions/domain/handover/perform';
import { AGENT, BOT, handoverWorld } from '../../support/fakes';
import { seedRequest } from './world';

const agentView = { identification: AGENT, name: 'Agent Service', default: false };

/** Errors thrown by an awaited call, for explicit assertions on their fields. */
const caught = async (run: () => Promise<unknown>): Promise<unknown> => {
  try {
    await run();
  } catch (err) {
    return err;
  }
  throw new Error('expected the call to throw');
};

describe('performHandover with an Idempotency-Key', () => {
  it('answers a repeat with the same body the same way, without a second Parley call', async () => {
    const w = handoverWorld();
    const first = await performHandover(seedRequest({ idempotencyKey: 'k1' }), w.deps);
    const callsAfterFirst = w.parley.calls.length;
    w.clock.advance(10_000);

    const again = await performHandover(seedRequest({ idempotencyKey: 'k1' }), w.deps);

    expect(again).toEqual(first);
    expect(w.parley.calls.length).toBe(callsAfterFirst);
    expect(w.history.userRecords('20')).toHaveLength(1);
  });

  it('answers a repeat even after later handovers of the same user', async () => {
    const w = handoverWorld();
    const first = await performHandover(seedRequest({ idempotencyKey: 'k1' }), w.deps);
    await performHandover(seedRequest({ newOwner: BOT, requestedBy: AGENT }), w.deps);

    const again = await performHandover(seedRequest({ idempotencyKey: 'k1' }), w.deps);

    expect(again).toEqual(first);
    expect(w.history.userRecords('20')).toHaveLength(2);
  });

  it('refuses the same key with another body with 422', async () => {
    const w = handoverWorld();
    await performHandover(seedRequest({ idempotencyKey: 'k1' }), w.deps);

    const err = await caught(() =>
      performHandover(seedRequest({ idempotencyKey: 'k1', metadata: { reason: 'other' } }), w.deps),
    );

    expect(err).toBeInstanceOf(IdempotencyKeyReusedError);
    expect((err as IdempotencyKeyReusedError).httpStatus).toBe(422);
  });

  it('keeps keys apart per calling service', async () => {
    const w = handoverWorld();
    await performHandover(seedRequest({ idempotencyKey: 'k1' }), w.deps);

    const result = await performHandover(
      seedRequest({ idempotencyKey: 'k1', newOwner: BOT, requestedBy: AGENT, metadata: undefined }),
      w.deps,
    );

    expect(result.changed).toBe(true);
    expect(w.history.userRecords('20')).toHaveLength(2);
  });

  it('answers 409 to a repeat while the first is pending, and resumes it once stale', async () => {
    const w = handoverWorld();
    w.parley.onSetOwner = () => {
      throw new Error('crash after the marker');
    };
    await expect(performHandover(seedRequest({ idempotencyKey: 'k1' }), w.deps)).rejects.toThrow();
    w.clock.advance(1000);

    const busy = await caught(() => performHandover(seedRequest({ idempotencyKey: 'k1' }), w.deps));
    w.clock.advance(60_000);
    const resumed = await performHandover(seedRequest({ idempotencyKey: 'k1' }), w.deps);

    expect(busy).toBeInstanceOf(HandoverInProgressError);
    expect((busy as HandoverInProgressError).retryAfterSeconds).toBe(59);
    const records = w.history.userRecords('20');
    expect(records.map((r) => [r.handoverId, r.status])).toEqual([['h0001', 'completed']]);
    expect(resumed).toEqual({ changed: true, owner: agentView, handover: records[0] });
  });

  it('reuses the stored handoverId when the first request stopped before its marker', async () => {
    const w = handoverWorld();
    // The first request stores its key, then fails reading Parley (before any marker).
    w.parley.failNext('getOwner', 'refused');
    await expect(performHandover(seedRequest({ idempotencyKey: 'k1' }), w.deps)).rejects.toThrow();

    const result = await performHandover(seedRequest({ idempotencyKey: 'k1' }), w.deps);

    expect(result.handover?.handoverId).toBe('h0001');
    expect(w.history.userRecords('20')).toHaveLength(1);
  });

  it.each([
    ['an API request', 'api', 'k1'],
    ['a downstream-requested handover retried from the queue', 'downstream', 'cb:delivery-1'],
  ] as const)(
    'lets a retry of a failed handover make a new attempt under a fresh handoverId (%s)',
    async (_case, source, key) => {
      const w = handoverWorld();
      w.parley.failNext('setOwner', 'reject_403');
      await expect(
        performHandover(seedRequest({ idempotencyKey: key, source }), w.deps),
      ).rejects.toThrow(ParleyApiError);

      const retry = await performHandover(seedRequest({ idempotencyKey: key, source }), w.deps);
      const again = await performHandover(seedRequest({ idempotencyKey: key, source }), w.deps);

      const records = w.history.userRecords('20');
      expect(records.map((r) => [r.handoverId, r.status])).toEqual([
        ['h0001', 'failed'],
        ['h0002', 'completed'],
      ]);
      expect(retry).toEqual({ changed: true, owner: agentView, handover: records[1] });
      expect(again).toEqual(retry);
      expect(w.parley.callsOf('setOwner')).toHaveLength(2);
      expect(w.state.idempotency.get(`${BOT}#${key}`)?.handoverId).toBe('h0002');
    },
  );

  it('makes a new attempt when a stale handover of the key is recovered as failed', async () => {
    const w = handoverWorld();
    w.parley.onSetOwner = () => {
      throw new Error('crash after the marker');
    };
    await expect(performHandover(seedRequest({ idempotencyKey: 'k1' }), w.deps)).rejects.toThrow();
    w.clock.advance(61_000);
    // Recovery's PUT is refused: the first attempt ends failed.
    w.parley.failNext('setOwner', 'reject_403');

    const retry = await performHandover(seedRequest({ idempotencyKey: 'k1' }), w.deps);

    const records = w.history.userRecords('20');
    expect(records.map((r) => [r.handoverId, r.status])).toEqual([
      ['h0001', 'failed'],
      ['h0002', 'completed'],
    ]);
    expect(retry).toEqual({ changed: true, owner: agentView, handover: records[1] });
  });

  it('follows the winner when a concurrent retry releases the failed key first', async () => {
    const w = handoverWorld();
    w.parley.failNext('setOwner', 'reject_403');
    await expect(performHandover(seedRequest({ idempotencyKey: 'k1' }), w.deps)).rejects.toThrow();
    const replace = w.state.replaceIdempotency.bind(w.state);
    let raced = false;
    w.state.replaceIdempotency = async (item, previous, nowMs) => {
      if (!raced) {
        raced = true;
        // The other retry replaced the key first (and has not marked the user yet).
        await replace({ ...item, handoverId: 'rival' }, previous, nowMs);
      }
      return replace(item, previous, nowMs);
    };

    const result = await performHandover(seedRequest({ idempotencyKey: 'k1' }), w.deps);

    expect(result.handover?.handoverId).toBe('rival');
    expect(w.history.userRecords('20').map((r) => [r.handoverId, r.status])).toEqual([
      ['h0001', 'failed'],
      ['rival', 'completed'],
    ]);
    expect(w.state.idempotency.get(`${BOT}#k1`)?.handoverId).toBe('rival');
  });
});
