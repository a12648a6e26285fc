// Verify against the owner item, with the in-memory fakes: every problem code, a pending marker,
// races with writers that move the head during the walk, long histories, and reads only.
import {
  finalizeRecord,
  GENESIS_HASH,
  hashRecord,
  metadataDigest,
} from '../../functions/domain/chain';
import { NotFoundError } from '../../functions/domain/errors';
import type { HistoryStore, StateStore } from '../../functions/domain/ports';
import type { HandoverRecord, OwnerItem } from '../../functions/domain/types';
import { type VerifyDeps, verifyUser, verifyUsers } from '../../functions/domain/verify';
import { AGENT, BOT, FakeHistoryStore, FakeStateStore, recordingLog } from '../support/fakes';

const key = (userId: string, seq: number) => `${userId}#${String(seq).padStart(10, '0')}`;

/** n linked records for a user, Bot -> Agent -> Bot ..., one second apart. */
const chainOf = (n: number, userId = '20', from: HandoverRecord[] = []): HandoverRecord[] => {
  const records = [...from];
  for (let seq = from.length + 1; seq <= from.length + n; seq++) {
    const metadata = seq % 2 === 1 ? { reason: `reason-${seq}` } : null;
    records.push(
      finalizeRecord(
        {
          handoverId: `${userId}-h${seq}`,
          userId,
          seq,
          fromOwner: seq % 2 === 1 ? BOT : AGENT,
          toOwner: seq % 2 === 1 ? AGENT : BOT,
          reason: metadata?.reason ?? null,
          metadata,
          metadataDigest: metadataDigest(metadata),
          requestedBy: seq % 2 === 1 ? BOT : AGENT,
          source: 'api',
          createdAt: new Date(Date.UTC(2026, 2, 10, 14, 0, 0, seq)).toISOString(),
          prevHash: records.at(-1)?.hash ?? GENESIS_HASH,
        },
        'completed',
        { status: 200, code: null, durationMs: 5 },
      ),
    );
  }
  return records;
};

/** The owner item that names `records`' last one as its head. */
const ownerAfter = (userId: string, records: HandoverRecord[], version = 1): OwnerItem => {
  const last = records.at(-1);
  return {
    userId,
    owner: last?.toOwner ?? BOT,
    version,
    since: last?.createdAt ?? null,
    lastSeq: last?.seq ?? 0,
    lastHash: last?.hash ?? GENESIS_HASH,
    lastCreatedAt: last?.createdAt ?? null,
    lastHandoverId: last?.handoverId ?? null,
    pending: null,
    refreshedAt: '2026-03-10T15:00:00.000Z',
  };
};

/** A marker for the handover after `item`'s head, as performHandover writes it. */
const marked = (item: OwnerItem, next: HandoverRecord): OwnerItem => {
  const { status: _s, parley: _p, hash: _h, ...draft } = next;
  return {
    ...item,
    version: item.version + 1,
    pending: { draft, markedAt: '2026-03-10T15:00:01.000Z', actingService: item.owner },
  };
};

const world = () => {
  const history = new FakeHistoryStore();
  const state = new FakeStateStore();
  const log = recordingLog();
  const deps: VerifyDeps = { history, state, log };
  const store = async (userId: string, records: HandoverRecord[], owner = true) => {
    for (const r of records) await history.append(r);
    if (owner) state.owners.set(userId, ownerAfter(userId, records));
  };
  return { history, state, log, deps, store };
};

/** Stores whose every write throws: verify must never reach one. */
const readOnly = (history: HistoryStore, state: StateStore): VerifyDeps => {
  const refuse = (name: string) => () => {
    throw new Error(`verify wrote: ${name}`);
  };
  return {
    history: {
      listUser: (u, o) => history.listUser(u, o),
      get: (u, s, o) => history.get(u, s, o),
      append: refuse('append'),
    } as VerifyDeps['history'],
    state: {
      getOwner: (u, o) => state.getOwner(u, o),
      listUsers: (o) => state.listUsers(o),
      createOwner: refuse('createOwner'),
      compareAndSetOwner: refuse('compareAndSetOwner'),
      putIdempotency: refuse('putIdempotency'),
      replaceIdempotency: refuse('replaceIdempotency'),
      claimDelivery: refuse('claimDelivery'),
      updateDelivery: refuse('updateDelivery'),
    } as VerifyDeps['state'],
    log: recordingLog(),
  };
};

describe('verifyUser', () => {
  it('answers ok with the count and the owner item’s head for an intact history', async () => {
    const w = world();
    const records = chainOf(3);
    await w.store('20', records);

    const report = await verifyUser('20', w.deps);

    expect(report).toEqual({
      userId: '20',
      ok: true,
      count: 3,
      lastSeq: 3,
      lastHash: records[2]!.hash,
    });
  });

  it('reads the owner item and every record with consistent reads, and writes nothing', async () => {
    const w = world();
    await w.store('20', chainOf(3));
    // The newest record deleted, so the broken path runs as well.
    w.history.records.delete(key('20', 3));
    const appendsBefore = w.history.appendCalls;

    const report = await verifyUser('20', readOnly(w.history, w.state));

    expect(report.firstBroken).toEqual({ seq: 3, handoverId: null, problem: 'record_missing' });
    expect(w.state.reads.length).toBeGreaterThanOrEqual(2);
    expect(w.history.reads.length).toBeGreaterThanOrEqual(1);
    expect([...w.state.reads, ...w.history.reads].filter((r) => r.consistent !== true)).toEqual([]);
    expect(w.history.appendCalls).toBe(appendsBefore);
    expect(w.state.casCalls).toBe(0);
  });

  it('reports the issue’s case: the newest record rewritten with a recomputed hash', async () => {
    const w = world();
    const records = chainOf(3);
    await w.store('20', records);
    const { hash: _h, ...newest } = records[2]!;
    const forged = { ...newest, reason: 'nothing_to_see', requestedBy: 'someone-else' };
    w.history.records.set(key('20', 3), { ...forged, hash: hashRecord(forged) });

    const report = await verifyUser('20', w.deps);

    expect(report).toEqual({
      userId: '20',
      ok: false,
      count: 2,
      lastSeq: 3,
      lastHash: records[2]!.hash,
      firstBroken: { seq: 3, handoverId: '20-h3', problem: 'head_mismatch' },
    });
    expect(w.log.lines).toEqual([
      {
        level: 'warn',
        message: 'hash chain broken',
        attributes: { userId: '20', handoverId: '20-h3', seq: 3, problem: 'head_mismatch' },
      },
    ]);
  });

  it('reports a head whose handover id is not the stored record’s', async () => {
    const w = world();
    await w.store('20', chainOf(2));
    w.state.owners.set('20', { ...w.state.owners.get('20')!, lastHandoverId: 'another' });

    const report = await verifyUser('20', w.deps);

    expect(report.firstBroken).toEqual({ seq: 2, handoverId: '20-h2', problem: 'head_mismatch' });
  });

  it('reports deleted newest records as the first missing seq', async () => {
    const w = world();
    await w.store('20', chainOf(4));
    w.history.records.delete(key('20', 3));
    w.history.records.delete(key('20', 4));

    const report = await verifyUser('20', w.deps);

    expect(report).toMatchObject({
      ok: false,
      count: 2,
      firstBroken: { seq: 3, handoverId: null, problem: 'record_missing' },
    });
  });

  it('names a deleted middle record a gap, and an edit a hash mismatch, before the head', async () => {
    const w = world();
    const records = chainOf(4);
    await w.store('20', records);
    await w.store('21', chainOf(4, '21'));
    w.history.records.delete(key('20', 2));
    w.history.records.set(key('21', 2), {
      ...w.history.records.get(key('21', 2))!,
      toOwner: AGENT,
    });

    const gap = await verifyUser('20', w.deps);
    const edit = await verifyUser('21', w.deps);

    expect(gap.firstBroken).toEqual({ seq: 2, handoverId: null, problem: 'seq_gap' });
    expect(edit.firstBroken).toEqual({ seq: 2, handoverId: '21-h2', problem: 'hash_mismatch' });
  });

  it('reports a record past the head when no handover is in flight', async () => {
    const w = world();
    const records = chainOf(3);
    await w.store('20', records.slice(0, 2));
    await w.history.append(records[2]!);

    const report = await verifyUser('20', w.deps);

    expect(report).toMatchObject({
      ok: false,
      count: 2,
      lastSeq: 2,
      firstBroken: { seq: 3, handoverId: '20-h3', problem: 'beyond_head' },
    });
    // Walked three times before calling it a break (an observed record may be a moment ahead).
    expect(w.history.reads.filter((r) => r.method === 'listUser')).toHaveLength(3);
  });

  it('accepts an observed record whose owner-item write lands while verify looks again', async () => {
    const w = world();
    const records = chainOf(3);
    await w.store('20', records.slice(0, 2));
    await w.history.append(records[2]!);
    const getOwner = w.state.getOwner.bind(w.state);
    let reads = 0;
    w.state.getOwner = async (userId, options) => {
      // The owner-item write of that record lands between the first walk and the second.
      if (++reads === 3) w.state.owners.set('20', ownerAfter('20', records, 2));
      return getOwner(userId, options);
    };

    const report = await verifyUser('20', w.deps);

    expect(report).toEqual({
      userId: '20',
      ok: true,
      count: 3,
      lastSeq: 3,
      lastHash: records[2]!.hash,
    });
  });

  it('treats a pending marker as no break, with or without its record stored yet', async () => {
    const w = world();
    const records = chainOf(4);
    await w.store('20', records.slice(0, 2));
    w.state.owners.set('20', marked(w.state.owners.get('20')!, records[2]!));

    const beforeRecord = await verifyUser('20', w.deps);
    await w.history.append(records[2]!);
    const afterRecord = await verifyUser('20', w.deps);
    // A failed attempt may add the observed record after its own before the owner item moves.
    await w.history.append(records[3]!);
    const withObserved = await verifyUser('20', w.deps);

    const pending = { seq: 3, handoverId: '20-h3', markedAt: '2026-03-10T15:00:01.000Z' };
    expect(beforeRecord).toEqual({
      userId: '20',
      ok: true,
      count: 2,
      lastSeq: 2,
      lastHash: records[1]!.hash,
      pending: { ...pending, recorded: false },
    });
    expect(afterRecord).toMatchObject({ ok: true, count: 3, pending: { recorded: true } });
    expect(withObserved).toMatchObject({ ok: true, count: 4 });
  });

  it('still checks the links of an in-flight record, and allows no third record past the head', async () => {
    const w = world();
    const records = chainOf(5);
    await w.store('20', records.slice(0, 2));
    w.state.owners.set('20', marked(w.state.owners.get('20')!, records[2]!));
    for (const r of records.slice(2)) await w.history.append(r);

    const tooMany = await verifyUser('20', w.deps);
    w.history.records.set(key('20', 3), { ...records[2]!, reason: 'edited' });
    const edited = await verifyUser('20', w.deps);

    expect(tooMany.firstBroken).toEqual({ seq: 5, handoverId: '20-h5', problem: 'beyond_head' });
    expect(edited.firstBroken).toEqual({ seq: 3, handoverId: '20-h3', problem: 'hash_mismatch' });
  });

  it('accepts handovers completed while it walks (the head moves forward)', async () => {
    const w = world();
    const records = chainOf(4);
    await w.store('20', records.slice(0, 2));
    const listUser = w.history.listUser.bind(w.history);
    w.history.listUser = async (userId, options) => {
      const page = await listUser(userId, options);
      // Two handovers complete right after the walk read its page (records, then owner item).
      await w.history.append(records[2]!);
      await w.history.append(records[3]!);
      w.state.owners.set('20', ownerAfter('20', records, 3));
      return page;
    };

    const report = await verifyUser('20', w.deps);

    expect(report).toMatchObject({ ok: true, count: 2, lastSeq: 2 });
  });

  it('reports records with no owner item, and answers not found when there is neither', async () => {
    const w = world();
    await w.store('20', chainOf(2), false);

    const orphan = await verifyUser('20', w.deps);
    const nothing = verifyUser('no-such-user', w.deps);

    expect(orphan).toMatchObject({
      ok: false,
      count: 0,
      lastSeq: 0,
      lastHash: GENESIS_HASH,
      firstBroken: { seq: 1, handoverId: '20-h1', problem: 'owner_item_missing' },
    });
    await expect(nothing).rejects.toBeInstanceOf(NotFoundError);
  });

  it('answers ok with count 0 for an owner item and no records yet', async () => {
    const w = world();
    await w.store('20', []);

    expect(await verifyUser('20', w.deps)).toEqual({
      userId: '20',
      ok: true,
      count: 0,
      lastSeq: 0,
      lastHash: GENESIS_HASH,
    });
  });

  it('walks a long history a page at a time and finds a break on a later page', async () => {
    const w = world();
    const records = chainOf(2500);
    await w.store('20', records);
    w.history.records.set(key('20', 2100), { ...records[2099]!, requestedBy: 'forged' });

    const report = await verifyUser('20', w.deps);

    expect(report.firstBroken).toEqual({
      seq: 2100,
      handoverId: '20-h2100',
      problem: 'hash_mismatch',
    });
    const pages = w.history.reads.filter((r) => r.method === 'listUser');
    expect(pages).toHaveLength(3);
  });
});

describe('verifyUsers', () => {
  it('verifies a page of users whole and hands back the cursor of the next page', async () => {
    const w = world();
    for (const userId of ['a', 'b', 'c']) await w.store(userId, chainOf(2, userId));
    w.history.records.delete(key('b', 2));

    const first = await verifyUsers(w.deps, { limit: 2 });
    const second = await verifyUsers(w.deps, { limit: 2, cursor: first.cursor });

    expect(first.users.map((u) => [u.userId, u.ok, u.firstBroken?.problem])).toEqual([
      ['a', true, undefined],
      ['b', false, 'record_missing'],
    ]);
    expect(first.cursor).toEqual(expect.any(String));
    expect(second).toEqual({
      users: [{ userId: 'c', ok: true, count: 2, lastSeq: 2, lastHash: expect.any(String) }],
    });
  });

  it('writes nothing while verifying a page', async () => {
    const w = world();
    for (const userId of ['a', 'b']) await w.store(userId, chainOf(2, userId));

    const page = await verifyUsers(readOnly(w.history, w.state), { limit: 10 });

    expect(page.users.map((u) => u.ok)).toEqual([true, true]);
  });
});
