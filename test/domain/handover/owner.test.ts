import {
  finalizeRecord,
  GENESIS_HASH,
  metadataDigest,
  saltedMetadataDigest,
} from '../../../functions/domain/chain';
import { ParleyTimeoutError, ValidationError } from '../../../functions/domain/errors';
import {
  currentOwner,
  ownerAt,
  refreshOwner,
  toOwnerView,
} from '../../../functions/domain/handover/owner';
import type { HandoverDeps, HandoverInput } from '../../../functions/domain/handover/deps';
import { performHandover } from '../../../functions/domain/handover/perform';
import { observedRecord } from '../../../functions/domain/handover/records';
import { syncOwner } from '../../../functions/domain/handover/owner';
import { recoverPending } from '../../../functions/domain/handover/recover';
import type { HandoverRecord, OwnerItem } from '../../../functions/domain/types';
import { AGENT, BOT, FakeHistoryStore, handoverWorld, staticCatalog } from '../../support/fakes';

const toAgent: HandoverInput = {
  userId: '20',
  newOwner: AGENT,
  metadata: { reason: 'question_too_complex' },
  requestedBy: BOT,
  source: 'api',
};
const toBot: HandoverInput = { userId: '20', newOwner: BOT, requestedBy: AGENT, source: 'api' };

/** A record after `prev` (or the first), one minute later: Bot -> Agent first, then Agent -> `to`. */
const chained = (
  prev: HandoverRecord | null,
  to: string,
  status: HandoverRecord['status'],
): HandoverRecord =>
  finalizeRecord(
    {
      handoverId: `r${(prev?.seq ?? 0) + 1}`,
      userId: '20',
      seq: (prev?.seq ?? 0) + 1,
      fromOwner: prev ? AGENT : BOT,
      toOwner: to,
      reason: null,
      metadata: null,
      metadataDigest: metadataDigest(null),
      requestedBy: prev ? AGENT : BOT,
      source: 'api',
      createdAt: new Date(
        Date.parse('2026-03-10T14:00:00.000Z') + (prev?.seq ?? 0) * 60_000,
      ).toISOString(),
      prevHash: prev?.hash ?? GENESIS_HASH,
    },
    status,
    null,
  );

const botView = { identification: BOT, name: 'Bot Service', default: true };
const agentView = { identification: AGENT, name: 'Agent Service', default: false };

describe('toOwnerView', () => {
  it('names a configured service', async () => {
    expect(await toOwnerView(AGENT, staticCatalog())).toEqual(agentView);
  });

  it("takes default from Parley's list, not from a catalog entry read before the list loaded", async () => {
    // A cold catalog: get() answers from the configuration alone (default false until a list).
    const warm = staticCatalog();
    const cold = { ...warm, get: (id: string) => ({ ...warm.get(id)!, default: false }) };

    expect(await toOwnerView(BOT, cold)).toEqual(botView);
  });

  it('falls back to the configuration when Parley cannot list its services', async () => {
    const catalog = {
      ...staticCatalog(),
      list: async () => {
        throw new ParleyTimeoutError('GET', 'services', 3000);
      },
    };

    expect(await toOwnerView(AGENT, catalog)).toEqual(agentView);
  });

  it('names a service it does not know by its identification', async () => {
    expect(await toOwnerView('unknown000', staticCatalog())).toEqual({
      identification: 'unknown000',
      name: 'unknown000',
      default: false,
    });
  });
});

describe('refreshOwner', () => {
  it('creates a baseline owner item from Parley without a record', async () => {
    const w = handoverWorld();

    const item = await refreshOwner('20', AGENT, w.deps);

    expect(item).toMatchObject({ owner: BOT, version: 1, lastSeq: 0, since: null });
    expect(w.parley.calls.map((c) => [c.as, c.method])).toEqual([[AGENT, 'getOwner']]);
    expect(w.history.userRecords('20')).toEqual([]);
  });

  it('records a change made in Parley directly as observed and advances the item', async () => {
    const w = handoverWorld();
    await refreshOwner('20', BOT, w.deps);
    w.parley.owners.set('20', AGENT);
    w.clock.advance(3000);

    const item = await refreshOwner('20', BOT, w.deps);

    const records = w.history.userRecords('20');
    expect(records).toEqual([
      {
        handoverId: 'h0001',
        userId: '20',
        seq: 1,
        fromOwner: BOT,
        toOwner: AGENT,
        reason: null,
        metadata: null,
        chain: 3,
        salt: expect.stringMatching(/^[\w-]{43}$/),
        subjectSalt: expect.stringMatching(/^[\w-]{43}$/),
        metadataDigest: expect.stringMatching(/^[0-9a-f]{64}$/),
        requestedBy: 'parley',
        source: 'observed',
        status: 'completed',
        parley: null,
        createdAt: '2026-03-10T14:00:03.000Z',
        prevHash: '0'.repeat(64),
        hash: expect.stringMatching(/^[0-9a-f]{64}$/),
      },
    ]);
    expect(records[0]!.metadataDigest).toBe(saltedMetadataDigest(null, records[0]!.salt!));
    expect(item).toMatchObject({
      owner: AGENT,
      version: 3, // the marker that claimed seq 1, then the advance
      since: '2026-03-10T14:00:03.000Z',
      lastSeq: 1,
      lastHash: records[0]!.hash,
      lastHandoverId: 'h0001',
    });
  });

  it('does not record drift while a handover is in flight', async () => {
    const w = handoverWorld();
    w.parley.onSetOwner = () => {
      throw new Error('crash after the marker');
    };
    await expect(performHandover(toAgent, w.deps)).rejects.toThrow();
    w.parley.owners.set('20', AGENT); // Parley may already show the pending handover's target

    const item = await refreshOwner('20', BOT, w.deps);

    expect(item.pending?.draft.toOwner).toBe(AGENT);
    expect(w.history.userRecords('20')).toEqual([]);
  });

  it('adopts the observed record a concurrent refresher appended but has not cached yet', async () => {
    const w = handoverWorld();
    await refreshOwner('20', BOT, w.deps);
    w.parley.owners.set('20', AGENT);
    const theirs = observedRecord(
      { userId: '20', seq: 0, hash: '0'.repeat(64), createdAt: null },
      BOT,
      AGENT,
      'other-refresher',
      w.clock.now(),
    );
    await w.history.append(theirs);

    const item = await refreshOwner('20', BOT, w.deps);

    expect(w.history.userRecords('20')).toEqual([theirs]);
    expect(item).toMatchObject({
      owner: AGENT,
      lastSeq: 1,
      lastHash: theirs.hash,
      lastHandoverId: 'other-refresher',
    });
  });

  it('re-reads after losing its CAS to a concurrent refresher, with no second record', async () => {
    const w = handoverWorld();
    await refreshOwner('20', BOT, w.deps);
    w.parley.owners.set('20', AGENT);
    // A concurrent refresher records the same drift and advances the item just before our CAS.
    w.state.beforeNextCas = () => {
      const item = w.state.owners.get('20')!;
      const theirs = observedRecord(
        { userId: '20', seq: 0, hash: item.lastHash, createdAt: null },
        BOT,
        AGENT,
        'other-refresher',
        w.clock.now(),
      );
      void w.history.append(theirs);
      w.state.owners.set('20', {
        ...item,
        owner: AGENT,
        version: item.version + 1,
        lastSeq: 1,
        lastHash: theirs.hash,
        lastCreatedAt: theirs.createdAt,
        lastHandoverId: theirs.handoverId,
      });
    };

    const item = await refreshOwner('20', BOT, w.deps);

    expect(w.history.userRecords('20').map((r) => r.handoverId)).toEqual(['other-refresher']);
    expect(item).toMatchObject({ owner: AGENT, lastSeq: 1, version: 2 });
  });
});

describe('syncOwner with an item read before its GET', () => {
  it('records no drift for a handover that marked after that read, which keeps its own record', async () => {
    const w = handoverWorld();
    await refreshOwner('20', BOT, w.deps);
    const readBefore = await w.state.getOwner('20');
    // Between that read and its GET, the Bot's handover marks the user and Parley applies it;
    // the refresher then runs before the handover appends its record.
    let refreshed: OwnerItem | undefined;
    const append = w.history.append.bind(w.history);
    w.history.append = async (record) => {
      if (record.source === 'api' && !refreshed) {
        refreshed = (await syncOwner('20', AGENT, w.deps, readBefore)).item;
      }
      return append(record);
    };

    const result = await performHandover(toAgent, w.deps);

    const records = w.history.userRecords('20');
    expect(records.map((r) => [r.handoverId, r.source])).toEqual([['h0001', 'api']]);
    expect(result.handover).toEqual(records[0]);
    expect(refreshed?.pending?.draft.handoverId).toBe('h0001');
    expect(w.state.owners.get('20')).toMatchObject({ owner: AGENT, pending: null, lastSeq: 1 });
  });

  it('records no drift for a handover that completed after that read', async () => {
    const w = handoverWorld();
    await refreshOwner('20', BOT, w.deps);
    const readBefore = await w.state.getOwner('20');
    await performHandover(toAgent, w.deps);

    const { item } = await syncOwner('20', AGENT, w.deps, readBefore);

    expect(w.history.userRecords('20').map((r) => r.source)).toEqual(['api']);
    expect(item).toMatchObject({ owner: AGENT, lastSeq: 1, lastHandoverId: 'h0001' });
  });
});

describe("syncOwner when Parley's answer lands after the owner changed", () => {
  /** Parley clients whose GET owner reads at once and answers after `whileInFlight` ran. */
  const lateGetOwner = (
    w: ReturnType<typeof handoverWorld>,
    whileInFlight: () => Promise<void>,
  ): HandoverDeps['parley'] => {
    let pending: (() => Promise<void>) | null = whileInFlight;
    return (as) => {
      const client = w.parley.client(as);
      return {
        ...client,
        getOwner: async (userId) => {
          const answer = await client.getOwner(userId);
          const run = pending;
          pending = null;
          if (run) await run();
          return answer;
        },
      };
    };
  };

  it('records nothing for an answer that predates a handover completed while it was in flight', async () => {
    const w = handoverWorld();
    await refreshOwner('20', BOT, w.deps);
    const deps = {
      ...w.deps,
      parley: lateGetOwner(w, async () => {
        await performHandover(toAgent, w.deps);
      }),
    };

    const answer = await currentOwner('20', { kind: 'auditor' }, deps);

    expect(w.history.userRecords('20').map((r) => [r.source, r.fromOwner, r.toOwner])).toEqual([
      ['api', BOT, AGENT],
    ]);
    expect(answer.owner).toEqual(agentView);
    expect(w.state.owners.get('20')).toMatchObject({ owner: AGENT, pending: null, lastSeq: 1 });
    expect(w.parley.ownerOf('20')).toBe(AGENT);
  });

  it('never takes the seq of a handover that marked after a stale answer was taken', async () => {
    const w = handoverWorld();
    await refreshOwner('20', BOT, w.deps);
    await performHandover(toAgent, w.deps);
    // An auditor's GET owner reads the Agent; before it lands the Agent hands the user back. Right
    // after the reader looks at that item, a second Bot -> Agent handover marks the next seq and
    // waits at Parley's PUT until the reader is done.
    let releasePut: () => void = () => {};
    const putGate = new Promise<void>((resolve) => {
      releasePut = resolve;
    });
    const gated: HandoverDeps['parley'] = (as) => {
      const client = w.parley.client(as);
      return {
        ...client,
        setOwner: async (userId, newOwner, metadata) => {
          await putGate;
          return client.setOwner(userId, newOwner, metadata);
        },
      };
    };
    let second: Promise<Awaited<ReturnType<typeof performHandover>>> | null = null;
    const readerState = Object.create(w.state) as typeof w.state;
    readerState.getOwner = async (userId) => {
      const item = await w.state.getOwner(userId);
      if (!second && item && !item.pending && item.owner === BOT && item.lastSeq === 2) {
        second = performHandover(toAgent, { ...w.deps, parley: gated });
        for (let i = 0; i < 1000 && !w.state.owners.get('20')?.pending; i++) {
          await new Promise((resolve) => setImmediate(resolve));
        }
      }
      return item;
    };
    const reader = {
      ...w.deps,
      state: readerState,
      parley: lateGetOwner(w, async () => {
        await performHandover(toBot, w.deps);
      }),
    };

    await currentOwner('20', { kind: 'auditor' }, reader);
    releasePut();
    const result = await second!;

    expect(result.changed).toBe(true);
    expect(w.history.userRecords('20').map((r) => [r.source, r.fromOwner, r.toOwner])).toEqual([
      ['api', BOT, AGENT],
      ['api', AGENT, BOT],
      ['api', BOT, AGENT],
    ]);
    expect(w.state.owners.get('20')).toMatchObject({ owner: AGENT, pending: null, lastSeq: 3 });
  });

  it('records a real change made at Parley once, through a marker that claims its seq', async () => {
    const w = handoverWorld();
    await refreshOwner('20', BOT, w.deps);
    w.parley.owners.set('20', AGENT);
    const writes: (string | null)[] = [];
    const cas = w.state.compareAndSetOwner.bind(w.state);
    w.state.compareAndSetOwner = async (item, expected) => {
      writes.push(item.pending ? `marker:${item.pending.draft.source}` : 'advance');
      return cas(item, expected);
    };

    await refreshOwner('20', BOT, w.deps);

    expect(writes).toEqual(['marker:observed', 'advance']);
    expect(w.history.userRecords('20').map((r) => [r.source, r.fromOwner, r.toOwner])).toEqual([
      ['observed', BOT, AGENT],
    ]);
    expect(w.state.owners.get('20')).toMatchObject({ owner: AGENT, pending: null, lastSeq: 1 });
  });

  it('finishes a stale observed marker from its draft, with no call to Parley', async () => {
    const w = handoverWorld();
    await refreshOwner('20', BOT, w.deps);
    w.parley.owners.set('20', AGENT);
    w.history.append = async () => {
      throw new Error('crash after the marker');
    };
    await expect(refreshOwner('20', BOT, w.deps)).rejects.toThrow('crash after the marker');
    w.history.append = FakeHistoryStore.prototype.append.bind(w.history);
    w.clock.advance(61_000);
    const callsBefore = w.parley.calls.length;

    expect(await recoverPending('20', w.deps)).toBe('recovered');

    expect(w.parley.calls.length).toBe(callsBefore);
    expect(w.history.userRecords('20').map((r) => [r.source, r.fromOwner, r.toOwner])).toEqual([
      ['observed', BOT, AGENT],
    ]);
    expect(w.state.owners.get('20')).toMatchObject({ owner: AGENT, pending: null, lastSeq: 1 });
  });
});

describe('syncOwner meeting a full erasure (the fence)', () => {
  /** The user's owner item made a fence, as the eraser makes it (DESIGN.md "The fence"). */
  const fence = (w: ReturnType<typeof handoverWorld>) => {
    const item = w.state.owners.get('20')!;
    w.state.owners.set('20', {
      ...item,
      version: item.version + 1,
      erasing: { erasureId: 'era_1', since: '2026-03-10T14:00:00.000Z' },
    });
  };

  it('starts again as for no item when the eraser deletes the owner item while GET owner is in flight', async () => {
    const w = handoverWorld();
    await refreshOwner('20', BOT, w.deps);
    fence(w);
    const deps = {
      ...w.deps,
      parley: (as: string) => {
        const client = w.parley.client(as);
        let first = true;
        return {
          ...client,
          getOwner: async (userId: string) => {
            const answer = await client.getOwner(userId);
            // The fence goes (the erasure is done) while the first answer is on its way.
            if (first) w.state.owners.delete('20');
            first = false;
            return answer;
          },
        };
      },
    };

    const answer = await currentOwner('20', { kind: 'service', serviceId: BOT }, deps);

    expect(answer.owner).toEqual(botView);
    expect(w.state.owners.get('20')).toMatchObject({ owner: BOT, version: 1, lastSeq: 0 });
    expect(w.history.userRecords('20')).toEqual([]);
  });

  it("answers Parley's owner over a fence that names another, writing nothing and asking once", async () => {
    const w = handoverWorld();
    await refreshOwner('20', BOT, w.deps);
    fence(w);
    w.parley.owners.set('20', AGENT);
    const fenced = structuredClone(w.state.owners.get('20'));
    const callsBefore = w.parley.calls.length;

    const synced = await syncOwner('20', BOT, w.deps);

    expect(synced).toEqual({ item: fenced, parleyOwner: AGENT });
    expect(w.parley.calls.length - callsBefore).toBe(1);
    expect(w.state.owners.get('20')).toEqual(fenced);
    expect(w.history.userRecords('20')).toEqual([]);
  });
});

describe('currentOwner', () => {
  it('answers Parley’s owner with since, the last handover id and the owner’s lease', async () => {
    const w = handoverWorld();
    await performHandover(toAgent, w.deps);
    w.clock.advance(60_000);

    const answer = await currentOwner('20', { kind: 'service', serviceId: BOT }, w.deps);

    // An agent's default lease (a day idle, a week at most), started by the handover.
    expect(answer).toEqual({
      userId: '20',
      owner: agentView,
      since: '2026-03-10T14:00:00.000Z',
      lastHandoverId: 'h0001',
      lease: {
        expiresAt: '2026-03-11T14:00:00.000Z',
        hardExpiresAt: '2026-03-17T14:00:00.000Z',
        lastUserAt: '2026-03-10T14:00:00.000Z',
        lastOwnerAt: '2026-03-10T14:00:00.000Z',
      },
    });
  });

  it('reads as the default service for an auditor', async () => {
    const w = handoverWorld();

    const answer = await currentOwner('77', { kind: 'auditor' }, w.deps);

    expect(answer).toEqual({ userId: '77', owner: botView });
    expect(w.parley.callsOf('getOwner').map((c) => c.as)).toEqual([BOT]);
  });

  it('answers for a user never seen without since or lastHandoverId', async () => {
    const w = handoverWorld();

    const answer = await currentOwner('77', { kind: 'service', serviceId: AGENT }, w.deps);

    expect(answer).toEqual({ userId: '77', owner: botView });
  });

  it('records drift it finds and answers the new owner', async () => {
    const w = handoverWorld();
    await performHandover(toAgent, w.deps);
    w.parley.owners.set('20', BOT);
    w.clock.advance(1000);

    const answer = await currentOwner('20', { kind: 'service', serviceId: AGENT }, w.deps);

    expect(answer).toEqual({
      userId: '20',
      owner: botView,
      since: '2026-03-10T14:00:01.000Z',
      lastHandoverId: 'h0002',
    });
    expect(w.history.userRecords('20').map((r) => r.source)).toEqual(['api', 'observed']);
  });

  it('answers Parley’s owner without since or lastHandoverId while a first handover is in flight', async () => {
    const w = handoverWorld();
    w.parley.onSetOwner = () => {
      throw new Error('crash after the marker');
    };
    await expect(performHandover(toAgent, w.deps)).rejects.toThrow();
    w.parley.owners.set('20', AGENT);

    const answer = await currentOwner('20', { kind: 'service', serviceId: BOT }, w.deps);

    expect(answer).toEqual({ userId: '20', owner: agentView });
  });
});

describe('ownerAt', () => {
  // 14:00 Bot -> Agent completed (h0001); 14:10 Agent -> Bot failed (h0002); 14:20 Agent -> Bot (h0003).
  const history = async () => {
    const w = handoverWorld();
    await performHandover(toAgent, w.deps);
    w.clock.advance(10 * 60_000);
    w.parley.failNext('setOwner', 'reject_403');
    await expect(performHandover(toBot, w.deps)).rejects.toThrow();
    w.clock.advance(10 * 60_000);
    await performHandover(toBot, w.deps);
    return w;
  };

  it('answers unknown before the first record', async () => {
    const w = await history();

    const answer = await ownerAt('20', '2026-03-10T13:59:59.999Z', w.deps);

    expect(answer).toEqual({
      userId: '20',
      at: '2026-03-10T13:59:59.999Z',
      owner: null,
      known: false,
    });
  });

  it('answers the new owner at the very instant of a record', async () => {
    const w = await history();

    const answer = await ownerAt('20', '2026-03-10T14:00:00.000Z', w.deps);

    expect(answer).toEqual({
      userId: '20',
      at: '2026-03-10T14:00:00.000Z',
      owner: agentView,
      known: true,
      since: '2026-03-10T14:00:00.000Z',
      handoverId: 'h0001',
    });
  });

  it('answers the owner between records', async () => {
    const w = await history();

    const answer = await ownerAt('20', '2026-03-10T14:05:00.000Z', w.deps);

    expect(answer.owner).toEqual(agentView);
    expect(answer.handoverId).toBe('h0001');
  });

  it('ignores a failed record: the owner stays the one before it', async () => {
    const w = await history();

    const answer = await ownerAt('20', '2026-03-10T14:15:00.000Z', w.deps);

    expect(answer).toEqual({
      userId: '20',
      at: '2026-03-10T14:15:00.000Z',
      owner: agentView,
      known: true,
      since: '2026-03-10T14:00:00.000Z',
      handoverId: 'h0001',
    });
  });

  it('answers the latest owner after the last record, for an instant in another time zone', async () => {
    const w = await history();

    const answer = await ownerAt('20', '2026-03-10T16:20:00+01:00', w.deps);

    expect(answer).toEqual({
      userId: '20',
      at: '2026-03-10T15:20:00.000Z',
      owner: botView,
      known: true,
      since: '2026-03-10T14:20:00.000Z',
      handoverId: 'h0003',
    });
  });

  it('answers the from-owner, since unknown, after a failed first record', async () => {
    const w = handoverWorld();
    w.parley.failNext('setOwner', 'reject_403');
    await expect(performHandover(toAgent, w.deps)).rejects.toThrow();

    const answer = await ownerAt('20', '2026-03-10T14:30:00.000Z', w.deps);

    expect(answer).toEqual({
      userId: '20',
      at: '2026-03-10T14:30:00.000Z',
      owner: botView,
      known: true,
    });
  });

  it('stops walking back after 50 failed records and answers the earliest one’s from-owner', async () => {
    const w = handoverWorld();
    const records = [chained(null, AGENT, 'completed')];
    for (let i = 0; i < 60; i++) records.push(chained(records.at(-1)!, BOT, 'failed'));
    for (const r of records) await w.history.append(r);
    const get = jest.spyOn(w.history, 'get');

    const answer = await ownerAt('20', '2026-03-10T15:00:00.000Z', w.deps);

    expect(answer).toEqual({
      userId: '20',
      at: '2026-03-10T15:00:00.000Z',
      owner: agentView,
      known: true,
    });
    expect(get).toHaveBeenCalledTimes(50);
  });

  it('refuses an instant that is not a date', async () => {
    const w = handoverWorld();

    await expect(ownerAt('20', 'last tuesday', w.deps)).rejects.toThrow(ValidationError);
  });
});
