import {
  finalizeRecord,
  GENESIS_HASH,
  hashRecord,
  metadataDigest,
  verifyChain,
  verifyUserChain,
} from '../../functions/domain/chain';
import { performHandover } from '../../functions/domain/handover/perform';
import type { HandoverRecord } from '../../functions/domain/types';
import { AGENT, BOT, FakeHistoryStore, handoverWorld } from '../support/fakes';

const seedRecord = (): Omit<HandoverRecord, 'hash'> => ({
  handoverId: 'h0001',
  userId: '20',
  seq: 1,
  fromOwner: BOT,
  toOwner: AGENT,
  reason: 'question_too_complex',
  metadata: { reason: 'question_too_complex' },
  metadataDigest: metadataDigest({ reason: 'question_too_complex' }),
  requestedBy: BOT,
  source: 'api',
  status: 'completed',
  parley: { status: 200, code: null, durationMs: 1731 },
  createdAt: '2026-03-10T14:00:00.000Z',
  prevHash: GENESIS_HASH,
});

/** n linked records for user 20, alternating Bot -> Agent -> Bot ..., one second apart. */
const chainOf = (n: number, userId = '20'): HandoverRecord[] => {
  const records: HandoverRecord[] = [];
  for (let seq = 1; seq <= n; seq++) {
    const metadata = seq % 2 === 1 ? { reason: `reason-${seq}`, ticket: seq } : null;
    const record = finalizeRecord(
      {
        handoverId: `h${String(seq).padStart(4, '0')}`,
        userId,
        seq,
        fromOwner: seq % 2 === 1 ? BOT : AGENT,
        toOwner: seq % 2 === 1 ? AGENT : BOT,
        reason: metadata?.reason ?? null,
        metadata,
        metadataDigest: metadataDigest(metadata),
        requestedBy: seq % 2 === 1 ? BOT : AGENT,
        source: 'api',
        createdAt: new Date(Date.UTC(2026, 2, 10, 14, 0, seq)).toISOString(),
        prevHash: records.at(-1)?.hash ?? GENESIS_HASH,
      },
      'completed',
      { status: 200, code: null, durationMs: 5 },
    );
    records.push(record);
  }
  return records;
};

describe('the hash chain', () => {
  it('starts from a genesis hash of 64 zeros', () => {
    expect(GENESIS_HASH).toBe('0000000000000000000000000000000000000000000000000000000000000000');
  });

  it('pins the digest of the seed metadata and of erased (null) metadata', () => {
    expect(metadataDigest({ reason: 'question_too_complex' })).toBe(
      '7b93d677eead3ec32d2dff0559689ee7ba1f859986282e020e3c11f84703e859',
    );
    expect(metadataDigest(null)).toBe(
      '74234e98afe7498fb5daf1f36ac2d78acc339464f950703b8c019892f982b90b',
    );
  });

  it('pins the hash of the seed handover record', () => {
    expect(hashRecord(seedRecord())).toBe(
      'f67717c3c934dc966f6e5c36cca7a2743a4148e9f709b809a6c44aaa4338ad13',
    );
  });

  it('leaves metadata out of the hash, and ignores a hash field passed along', () => {
    const record = seedRecord();
    const erased = { ...record, metadata: null };
    const withHash = { ...record, hash: 'anything' };

    expect(hashRecord(erased)).toBe(hashRecord(record));
    expect(hashRecord(withHash)).toBe(hashRecord(record));
  });

  it('finalizes a draft with its outcome and hash', () => {
    const { status: _s, parley: _p, ...draft } = seedRecord();

    const record = finalizeRecord(draft, 'completed', {
      status: 200,
      code: null,
      durationMs: 1731,
    });

    expect(record).toEqual({
      ...seedRecord(),
      hash: 'f67717c3c934dc966f6e5c36cca7a2743a4148e9f709b809a6c44aaa4338ad13',
    });
  });
});

describe('verifyChain', () => {
  it('accepts a sound chain and names its last hash', () => {
    const records = chainOf(5);

    expect(verifyChain('20', records)).toEqual({
      ok: true,
      count: 5,
      lastHash: records[4]!.hash,
    });
  });

  it('accepts an empty history', () => {
    expect(verifyChain('20', [])).toEqual({ ok: true, count: 0, lastHash: GENESIS_HASH });
  });

  it('names the first record whose field was edited', () => {
    const records = chainOf(5);
    records[2] = { ...records[2]!, toOwner: 'somebody-else' };

    expect(verifyChain('20', records)).toEqual({
      ok: false,
      count: 2,
      firstBroken: { seq: 3, handoverId: 'h0003', problem: 'hash_mismatch' },
    });
  });

  it('names an edit that also recomputed the hash by the broken link after it', () => {
    const records = chainOf(5);
    const { hash: _h, ...edited } = { ...records[1]!, reason: 'rewritten' };
    records[1] = { ...edited, hash: hashRecord(edited) };

    expect(verifyChain('20', records)).toEqual({
      ok: false,
      count: 2,
      firstBroken: { seq: 3, handoverId: 'h0003', problem: 'prev_hash_mismatch' },
    });
  });

  it('names the missing seq of a deleted record', () => {
    const records = chainOf(5);
    records.splice(1, 1);

    expect(verifyChain('20', records)).toEqual({
      ok: false,
      count: 1,
      firstBroken: { seq: 2, handoverId: null, problem: 'seq_gap' },
    });
  });

  it('finds records handed over out of order', () => {
    const records = chainOf(4);
    [records[1], records[2]] = [records[2]!, records[1]!];

    expect(verifyChain('20', records)).toEqual({
      ok: false,
      count: 1,
      firstBroken: { seq: 2, handoverId: null, problem: 'seq_gap' },
    });
  });

  it('finds two records whose seq numbers were swapped to reorder them', () => {
    const records = chainOf(4);
    const second = { ...records[2]!, seq: 2 };
    const third = { ...records[1]!, seq: 3 };

    expect(verifyChain('20', [records[0]!, second, third, records[3]!])).toEqual({
      ok: false,
      count: 1,
      firstBroken: { seq: 2, handoverId: 'h0003', problem: 'prev_hash_mismatch' },
    });
  });

  it('flags a changed metadata by its digest', () => {
    const records = chainOf(3);
    records[0] = { ...records[0]!, metadata: { reason: 'reason-1', ticket: 999 } };

    expect(verifyChain('20', records)).toEqual({
      ok: false,
      count: 0,
      firstBroken: { seq: 1, handoverId: 'h0001', problem: 'metadata_digest_mismatch' },
    });
  });

  it('accepts an erased metadata (null)', () => {
    const records = chainOf(3);
    records[0] = { ...records[0]!, metadata: null };

    expect(verifyChain('20', records)).toEqual({
      ok: true,
      count: 3,
      lastHash: records[2]!.hash,
    });
  });

  it('flags a record of another user', () => {
    const records = chainOf(2);
    records[1] = chainOf(2, '21')[1]!;

    expect(verifyChain('20', records)).toEqual({
      ok: false,
      count: 1,
      firstBroken: { seq: 2, handoverId: 'h0002', problem: 'wrong_user' },
    });
  });
});

describe('verifyUserChain', () => {
  it('verifies the records performHandover wrote, across an erased metadata', async () => {
    const w = handoverWorld();
    await performHandover(
      {
        userId: '20',
        newOwner: AGENT,
        metadata: { reason: 'question_too_complex' },
        requestedBy: BOT,
        source: 'api',
      },
      w.deps,
    );
    await performHandover(
      { userId: '20', newOwner: 'default', requestedBy: AGENT, source: 'api' },
      w.deps,
    );
    const first = w.history.userRecords('20')[0]!;
    w.history.records.set(`20#${'1'.padStart(10, '0')}`, { ...first, metadata: null });

    const report = await verifyUserChain('20', w.history);

    expect(report).toEqual({ ok: true, count: 2, lastHash: w.state.owners.get('20')!.lastHash });
  });

  it('walks more than one page in ascending order and finds a break on a later page', async () => {
    const history = new FakeHistoryStore();
    const records = chainOf(1200);
    for (const r of records) await history.append(r);
    const intact = await verifyUserChain('20', history);
    const victim = records[1099]!;
    history.records.set(`20#${String(victim.seq).padStart(10, '0')}`, {
      ...victim,
      createdAt: '2026-03-10T15:00:00.000Z',
    });

    const broken = await verifyUserChain('20', history);

    expect(intact).toEqual({ ok: true, count: 1200, lastHash: records[1199]!.hash });
    expect(broken).toEqual({
      ok: false,
      count: 1099,
      firstBroken: { seq: 1100, handoverId: 'h1100', problem: 'hash_mismatch' },
    });
  });
});

describe('verifyUserChain with the expected head', () => {
  const stored = async (records: HandoverRecord[]) => {
    const history = new FakeHistoryStore();
    for (const r of records) await history.append(r);
    return history;
  };

  it('accepts a history that ends at the owner item’s lastSeq and lastHash', async () => {
    const records = chainOf(3);
    const head = { lastSeq: 3, lastHash: records[2]!.hash };

    const report = await verifyUserChain('20', await stored(records), head);

    expect(report).toEqual({ ok: true, count: 3, lastHash: records[2]!.hash });
  });

  it('reports a deleted newest record as the first missing seq', async () => {
    const records = chainOf(3);
    const head = { lastSeq: 3, lastHash: records[2]!.hash };

    const report = await verifyUserChain('20', await stored(records.slice(0, 2)), head);

    expect(report).toEqual({
      ok: false,
      count: 2,
      firstBroken: { seq: 3, handoverId: null, problem: 'seq_gap' },
    });
  });

  it('reports a whole deleted history against a non-empty head', async () => {
    const records = chainOf(2);

    const report = await verifyUserChain('20', await stored([]), {
      lastSeq: 2,
      lastHash: records[1]!.hash,
    });

    expect(report).toEqual({
      ok: false,
      count: 0,
      firstBroken: { seq: 1, handoverId: null, problem: 'seq_gap' },
    });
  });

  it('reports a head whose hash is not the stored record’s', async () => {
    const records = chainOf(2);

    const report = verifyChain('20', records, { lastSeq: 2, lastHash: records[0]!.hash });

    expect(report).toEqual({
      ok: false,
      count: 2,
      firstBroken: { seq: 2, handoverId: 'h0002', problem: 'head_mismatch' },
    });
  });

  it('allows records written after the head (the owner item not yet caught up)', async () => {
    const records = chainOf(3);

    const report = verifyChain('20', records, { lastSeq: 2, lastHash: records[1]!.hash });

    expect(report).toEqual({ ok: true, count: 3, lastHash: records[2]!.hash });
  });

  it('accepts an empty history against the genesis head', () => {
    expect(verifyChain('20', [], { lastSeq: 0, lastHash: GENESIS_HASH })).toEqual({
      ok: true,
      count: 0,
      lastHash: GENESIS_HASH,
    });
  });
});
