// recoverPending (handover/recover.ts): a stale marker completed from its draft, exactly once.
import { ParleyTimeoutError } from '../../../functions/domain/errors';
import { performHandover } from '../../../functions/domain/handover/perform';
import { recoverPending } from '../../../functions/domain/handover/recover';
import { refreshOwner } from '../../../functions/domain/handover/owner';
import type { HistoryStore } from '../../../functions/domain/ports';
import type { HandoverRecord } from '../../../functions/domain/types';
import { AGENT, BOT, handoverWorld } from '../../support/fakes';
import { crashAfterMarker, expectConsistent, seedRequest } from './world';

describe('recoverPending', () => {
  it('answers none when no handover is pending', async () => {
    const w = handoverWorld();
    await refreshOwner('20', BOT, w.deps);

    expect(await recoverPending('20', w.deps)).toBe('none');
  });

  it('leaves a fresh marker alone unless forced', async () => {
    const w = handoverWorld();
    crashAfterMarker(w);
    await expect(performHandover(seedRequest(), w.deps)).rejects.toThrow();
    w.clock.advance(59_000);

    const unforced = await recoverPending('20', w.deps);
    const forced = await recoverPending('20', w.deps, { force: true });

    expect([unforced, forced]).toEqual(['busy', 'recovered']);
    expect(w.history.userRecords('20')).toHaveLength(1);
    expectConsistent(w, AGENT);
  });

  it('completes a handover that crashed after its marker, before the PUT', async () => {
    const w = handoverWorld();
    crashAfterMarker(w);
    await expect(performHandover(seedRequest(), w.deps)).rejects.toThrow('process died');
    expect(w.parley.ownerOf('20')).toBe(BOT);
    w.clock.advance(61_000);

    const outcome = await recoverPending('20', w.deps);

    expect(outcome).toBe('recovered');
    const records = w.history.userRecords('20');
    expect(records.map((r) => [r.handoverId, r.status, r.createdAt, r.reason])).toEqual([
      ['h0001', 'completed', '2026-03-10T14:00:00.000Z', 'question_too_complex'],
    ]);
    // Recovery asked Parley first (still the Bot), then made the PUT as the Bot.
    expect(w.parley.calls.slice(-2).map((c) => [c.as, c.method])).toEqual([
      [BOT, 'getOwner'],
      [BOT, 'setOwner'],
    ]);
    expectConsistent(w, AGENT);
  });

  it('completes a handover that crashed after Parley applied it, without a second PUT', async () => {
    const w = handoverWorld();
    w.history.failNextAppend = new Error('process died before the record');
    await expect(performHandover(seedRequest(), w.deps)).rejects.toThrow('before the record');
    w.clock.advance(61_000);

    await recoverPending('20', w.deps);

    expect(w.parley.callsOf('setOwner')).toHaveLength(1);
    expect(w.history.userRecords('20').map((r) => [r.status, r.parley])).toEqual([
      ['completed', { status: null, code: 'settled_by_get_owner', durationMs: 5 }],
    ]);
    expectConsistent(w, AGENT);
  });

  it('finishes the owner item from the record when the crash came after the record', async () => {
    const w = handoverWorld();
    w.parley.onSetOwner = () => {
      w.state.beforeNextCas = () => {
        throw new Error('process died before the final CAS');
      };
    };
    await expect(performHandover(seedRequest(), w.deps)).rejects.toThrow('final CAS');
    const written = w.history.userRecords('20');
    w.clock.advance(61_000);
    const callsBefore = w.parley.calls.length;

    await recoverPending('20', w.deps);

    expect(w.history.userRecords('20')).toEqual(written);
    expect(w.parley.calls.length).toBe(callsBefore);
    expectConsistent(w, AGENT);
  });

  it('leaves the marker when the settling GET fails, then recovery completes it', async () => {
    const w = handoverWorld();
    await refreshOwner('20', BOT, w.deps);
    w.parley.failNext('setOwner', 'apply_then_timeout');
    w.parley.failNext('getOwner', 'timeout');

    const err = await performHandover(seedRequest(), w.deps).catch((e: unknown) => e);

    expect(err).toBeInstanceOf(ParleyTimeoutError);
    expect((err as ParleyTimeoutError).httpStatus).toBe(504);
    expect(w.history.userRecords('20')).toEqual([]);
    expect(w.state.owners.get('20')?.pending?.draft.handoverId).toBe('h0001');

    w.clock.advance(61_000);
    expect(await recoverPending('20', w.deps)).toBe('recovered');

    expect(w.parley.callsOf('setOwner')).toHaveLength(1);
    expect(w.history.userRecords('20').map((r) => [r.handoverId, r.status])).toEqual([
      ['h0001', 'completed'],
    ]);
    expectConsistent(w, AGENT);
  });

  it('serializes recoverers: a marker just claimed by one is busy for the next', async () => {
    const w = handoverWorld();
    crashAfterMarker(w);
    await expect(performHandover(seedRequest(), w.deps)).rejects.toThrow();
    w.clock.advance(61_000);
    w.parley.failNext('getOwner', 'timeout');

    await expect(recoverPending('20', w.deps)).rejects.toThrow(ParleyTimeoutError);
    const second = await recoverPending('20', w.deps);

    expect(second).toBe('busy');
    expect(w.state.owners.get('20')?.pending?.markedAt).toBe('2026-03-10T14:01:01.000Z');
    expect(w.history.userRecords('20')).toEqual([]);
  });

  it('records failed then observed when Parley shows a third owner at recovery', async () => {
    const third = 'Thrd0000000000000003';
    const w = handoverWorld([
      { identification: BOT, name: 'Bot Service', role: 'bot', default: true, rules: [] },
      { identification: AGENT, name: 'Agent Service', role: 'agent', default: false, rules: [] },
      { identification: third, name: 'Third Service', role: 'agent', default: false, rules: [] },
    ]);
    crashAfterMarker(w);
    await expect(performHandover(seedRequest(), w.deps)).rejects.toThrow();
    w.parley.owners.set('20', third);
    w.clock.advance(61_000);

    await recoverPending('20', w.deps);

    const records = w.history.userRecords('20');
    expect(records.map((r) => [r.seq, r.source, r.status, r.fromOwner, r.toOwner])).toEqual([
      [1, 'api', 'failed', BOT, AGENT],
      [2, 'observed', 'completed', BOT, third],
    ]);
    expect(w.parley.callsOf('setOwner')).toEqual([]); // the crash came before it; recovery made none
    expectConsistent(w, third);
  });

  it('keeps a zombie from writing a second record or the owner item after recovery', async () => {
    const w = handoverWorld();
    // The zombie's history pauses before its append until released.
    let release!: () => void;
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    let reached!: () => void;
    const atGate = new Promise<void>((resolve) => {
      reached = resolve;
    });
    const slowHistory: HistoryStore = {
      append: async (record: HandoverRecord) => {
        reached();
        await gate;
        return w.history.append(record);
      },
      get: (u, s) => w.history.get(u, s),
      listUser: (u, o) => w.history.listUser(u, o),
      latestAtOrBefore: (u, i) => w.history.latestAtOrBefore(u, i),
      listRange: (o) => w.history.listRange(o),
    };
    const zombie = performHandover(seedRequest(), { ...w.deps, history: slowHistory });
    await atGate; // the zombie made its PUT and stalls before recording
    w.clock.advance(61_000);
    await recoverPending('20', w.deps);
    const afterRecovery = structuredClone(w.state.owners.get('20'));

    release();
    const zombieResult = await zombie;

    const records = w.history.userRecords('20');
    expect(records).toHaveLength(1);
    expect(records[0]!.parley).toEqual({
      status: null,
      code: 'settled_by_get_owner',
      durationMs: 5,
    });
    expect(zombieResult).toEqual({
      changed: true,
      owner: { identification: AGENT, name: 'Agent Service', default: false },
      handover: records[0],
    });
    expect(w.state.owners.get('20')).toEqual(afterRecovery);
    expect(w.parley.callsOf('setOwner')).toHaveLength(1);
    expectConsistent(w, AGENT);
  });

  it('hands a recovered hand-back to the bot to the outbox writer, making no agent/unset itself', async () => {
    const w = handoverWorld();
    await performHandover(seedRequest(), w.deps);
    crashAfterMarker(w);
    await expect(
      performHandover({ ...seedRequest(), newOwner: BOT, requestedBy: AGENT }, w.deps),
    ).rejects.toThrow();
    w.clock.advance(61_000);

    const told: [number, string][] = [];
    w.deps.notify = async (record) => void told.push([record.seq, record.toOwner]);

    await recoverPending('20', w.deps);

    expect(told).toEqual([[2, BOT]]);
    expect(w.parley.callsOf('unsetAgent')).toEqual([]);
    expectConsistent(w, BOT);
  });
});
