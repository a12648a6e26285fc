// Completing a handover from its marker (handover/complete.ts): one record per handover when
// another record takes its seq, when a late original invocation meets its recoverer, and when an
// attempt of unknown outcome lands late.
import { GENESIS_HASH } from '../../../functions/domain/chain';
import {
  HandoverInProgressError,
  OwnerChangedError,
  ParleyTimeoutError,
} from '../../../functions/domain/errors';
import { performHandover } from '../../../functions/domain/handover/perform';
import { recoverPending } from '../../../functions/domain/handover/recover';
import { refreshOwner } from '../../../functions/domain/handover/owner';
import { observedRecord } from '../../../functions/domain/handover/records';
import { completePending } from '../../../functions/domain/handover/complete';
import { AGENT, BOT, handoverWorld } from '../../support/fakes';
import { crashAfterMarker, expectConsistent, seedRequest } from './world';

/** Errors thrown by an awaited call, for explicit assertions on their fields. */
const caught = async (run: () => Promise<unknown>): Promise<unknown> => {
  try {
    await run();
  } catch (err) {
    return err;
  }
  throw new Error('expected the call to throw');
};

describe('performHandover when another record takes its seq', () => {
  it('answers 409 owner_changed and never returns the other record as its own', async () => {
    const w = handoverWorld();
    await refreshOwner('20', BOT, w.deps);
    // An observer appends its record at seq 1 between the handover's PUT and its append.
    const append = w.history.append.bind(w.history);
    w.history.append = async (record) => {
      if (record.source === 'api') {
        await append(
          observedRecord(
            { userId: '20', seq: 0, hash: GENESIS_HASH, createdAt: null },
            BOT,
            AGENT,
            'observer-1',
            w.clock.now(),
          ),
        );
      }
      return append(record);
    };

    const err = await caught(() => performHandover(seedRequest(), w.deps));

    expect(err).toBeInstanceOf(OwnerChangedError);
    expect((err as OwnerChangedError).httpStatus).toBe(409);
    expect(w.history.userRecords('20').map((r) => r.handoverId)).toEqual(['observer-1']);
    expect(w.state.owners.get('20')).toMatchObject({
      owner: AGENT,
      pending: null,
      lastSeq: 1,
      lastHandoverId: 'observer-1',
    });
  });
});

describe('a record of another handover at the draft’s seq', () => {
  it('is a conflict for the recovered handover, never its outcome, and frees the user', async () => {
    const w = handoverWorld();
    crashAfterMarker(w);
    await expect(performHandover(seedRequest(), w.deps)).rejects.toThrow();
    // An observer recorded a change at the seq the stalled handover owns.
    const theirs = observedRecord(
      { userId: '20', seq: 0, hash: GENESIS_HASH, createdAt: null },
      BOT,
      AGENT,
      'observer-1',
      w.clock.now(),
    );
    await w.history.append(theirs);
    w.parley.owners.set('20', AGENT);
    const marked = (await w.state.getOwner('20'))!;

    const completion = await completePending(marked, w.deps, 'get', theirs);

    expect(completion.error).toBeInstanceOf(OwnerChangedError);
    expect((completion.error as OwnerChangedError).details).toEqual({ currentOwner: AGENT });
    expect(w.history.userRecords('20')).toEqual([theirs]);
    expect(w.state.owners.get('20')).toMatchObject({
      owner: AGENT,
      pending: null,
      lastHandoverId: 'observer-1',
    });
    expect(w.parley.callsOf('unsetAgent')).toEqual([]);
  });
});

describe('completing a hand-back to the bot', () => {
  it('makes one Parley call in the request, PUT owner, and no agent/unset', async () => {
    const w = handoverWorld();
    await performHandover(seedRequest(), w.deps);
    const before = w.parley.calls.length;

    const back = await performHandover(
      seedRequest({ newOwner: BOT, requestedBy: AGENT, metadata: undefined }),
      w.deps,
    );

    expect(back).toMatchObject({ changed: true, owner: { identification: BOT } });
    expect(w.parley.calls.slice(before)).toEqual([
      { as: AGENT, method: 'setOwner', userId: '20', newOwner: BOT, metadata: {} },
    ]);
    expectConsistent(w, BOT);
  });

  it('hands the record to the outbox writer once, which is where the agent/unset comes from', async () => {
    const w = handoverWorld();
    const told: [number, string][] = [];
    w.deps.notify = async (record) => void told.push([record.seq, record.toOwner]);
    await performHandover(seedRequest(), w.deps);

    await performHandover(seedRequest({ newOwner: BOT, requestedBy: AGENT }), w.deps);

    expect(told).toEqual([
      [1, AGENT],
      [2, BOT],
    ]);
    expect(w.parley.callsOf('unsetAgent')).toEqual([]);
  });
});

describe('a late original invocation', () => {
  it('does not PUT again once a recoverer took its marker and the user was handed on', async () => {
    const w = handoverWorld();
    const compareAndSet = w.state.compareAndSetOwner.bind(w.state);
    let slept = false;
    const sleepy = {
      ...w.deps,
      state: Object.assign(Object.create(w.state), {
        compareAndSetOwner: async (item: Parameters<typeof compareAndSet>[0], version: number) => {
          const won = await compareAndSet(item, version);
          if (won && item.pending && !slept) {
            slept = true;
            // The invocation stalls after its marker; meanwhile recovery finishes the handover
            // and the agent hands the user back.
            w.clock.advance(61_000);
            expect(await recoverPending('20', w.deps)).toBe('recovered');
            await performHandover(
              { userId: '20', newOwner: BOT, requestedBy: AGENT, source: 'api' },
              w.deps,
            );
          }
          return won;
        },
      }),
    };

    await expect(performHandover(seedRequest(), sleepy)).rejects.toThrow(HandoverInProgressError);

    expect(w.parley.calls.filter((c) => c.method === 'setOwner')).toHaveLength(2);
    expect(w.history.userRecords('20').map((r) => [r.toOwner, r.status])).toEqual([
      [AGENT, 'completed'],
      [BOT, 'completed'],
    ]);
    expectConsistent(w, BOT);
  });
});

/**
 * The first PUT owner times out without effect; right after the settling GET (which still shows
 * the Bot) that PUT lands late at Parley, so the retried PUT is refused as not the owner.
 */
const lateLanding = (afterLanding?: (w: ReturnType<typeof handoverWorld>) => void) => {
  const w = handoverWorld();
  w.parley.failNext('setOwner', 'timeout');
  let landed = false;
  const deps = {
    ...w.deps,
    parley: (id: string) => {
      const client = w.parley.clients(id);
      return {
        ...client,
        getOwner: async (userId: string) => {
          const read = await client.getOwner(userId);
          if (!landed && w.parley.callsOf('setOwner').length === 1) {
            landed = true;
            w.parley.owners.set('20', AGENT);
            afterLanding?.(w);
          }
          return read;
        },
      };
    },
  };
  return { w, deps };
};

describe('an unknown outcome that lands late', () => {
  it('completes the handover when the retried PUT is refused because the target owns the user', async () => {
    const { w, deps } = lateLanding();

    const result = await performHandover(seedRequest(), deps);

    expect(result).toMatchObject({ changed: true, owner: { identification: AGENT } });
    expect(w.history.userRecords('20').map((r) => [r.source, r.status, r.parley?.code])).toEqual([
      ['api', 'completed', 'timeout'],
    ]);
    expectConsistent(w, AGENT);
  });

  it('leaves the marker when the retried PUT is refused and Parley cannot say who owns the user', async () => {
    // The look after the refusal fails too.
    const { w, deps } = lateLanding((world) => world.parley.failNext('getOwner', 'reject_500'));

    const err = await performHandover(seedRequest(), deps).catch((e: unknown) => e);
    const marker = (await w.state.getOwner('20'))?.pending;
    w.clock.advance(61_000);
    const recovered = await recoverPending('20', deps);

    expect(err).toBeInstanceOf(ParleyTimeoutError);
    expect(marker?.draft.toOwner).toBe(AGENT);
    expect(recovered).toBe('recovered');
    expect(w.history.userRecords('20').map((r) => [r.source, r.status, r.toOwner])).toEqual([
      ['api', 'completed', AGENT],
    ]);
    expectConsistent(w, AGENT);
  });
});
