import { createHash, createHmac } from 'node:crypto';
import {
  finalizeRecord,
  GENESIS_HASH,
  hashRecord,
  metadataDigest,
  metadataState,
  saltedMetadataDigest,
  sealMetadata,
  verifyChain,
  verifyUserChain,
} from '../../functions/domain/chain';
import { refreshOwner } from '../../functions/domain/handover/owner';
import { performHandover } from '../../functions/domain/handover/perform';
import type { HandoverRecord } from '../../functions/domain/types';
import { eraseMetadata, FIXED_SALT, linkedRecords } from '../support/chains';
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
    const { salt: _salt, ...erased } = first;
    w.history.records.set(`20#${'1'.padStart(10, '0')}`, {
      ...erased,
      metadata: null,
      metadataErased: { at: '2026-06-01T00:00:00.000Z', erasureId: 'era_test' },
    });

    const report = await verifyUserChain('20', w.history);

    expect(first).toMatchObject({
      chain: 3,
      salt: expect.stringMatching(/^[\w-]{43}$/),
      subjectSalt: expect.stringMatching(/^[\w-]{43}$/),
    });
    expect(report).toEqual({
      ok: true,
      count: 2,
      lastHash: w.state.owners.get('20')!.lastHash,
      erased: 1,
    });
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

// ---------------------------------------------------------------- chain v2

/** A draft's metadata fields as chain v2 wrote them (no writer does now: sealMetadata is v3). */
const sealV2 = (metadata: Record<string, unknown> | null, salt: string) => ({
  chain: 2 as const,
  salt,
  metadata,
  metadataDigest: saltedMetadataDigest(metadata, salt),
});

const seedV2 = (): Omit<HandoverRecord, 'hash'> => ({
  ...seedRecord(),
  ...sealV2({ reason: 'question_too_complex' }, FIXED_SALT),
});

/** n linked v2 records for user 20, each with its own salt (seq as its first byte). */
const chainV2 = (n: number): HandoverRecord[] =>
  linkedRecords(n, (seq) => {
    const metadata = { reason: `reason-${seq}`, ticket: seq };
    return {
      reason: metadata.reason,
      ...sealV2(metadata, Buffer.alloc(32, seq).toString('base64url')),
    };
  });

describe('chain v2', () => {
  it('pins the salted digest of the seed metadata and of null for a fixed salt', () => {
    expect(saltedMetadataDigest({ reason: 'question_too_complex' }, FIXED_SALT)).toBe(
      'e618bb1e284ab9f12c7283ac071a4bae52a288fb35e13354459f2cf56d569fa0',
    );
    expect(saltedMetadataDigest(null, FIXED_SALT)).toBe(
      '884ed757342dea179553ab752b618ea3727be91a8b5bc775d5b51aa17ed291c0',
    );
  });

  it('computes the digest as HMAC-SHA256 keyed with the 32 salt bytes over canonical JSON', () => {
    const key = Buffer.from(Array.from({ length: 32 }, (_, i) => i));
    const expected = createHmac('sha256', key)
      .update('{"reason":"question_too_complex"}')
      .digest('hex');

    expect(Buffer.from(FIXED_SALT, 'base64url')).toEqual(key);
    expect(saltedMetadataDigest({ reason: 'question_too_complex' }, FIXED_SALT)).toBe(expected);
  });

  it('pins the hash of the seed record as v2: chain 2 chained, metadata and salt left out', () => {
    const canonical =
      '{"chain":2,"createdAt":"2026-03-10T14:00:00.000Z","fromOwner":"as272d6g2ds766fcdfgh",' +
      '"handoverId":"h0001","metadataDigest":' +
      '"e618bb1e284ab9f12c7283ac071a4bae52a288fb35e13354459f2cf56d569fa0",' +
      '"parley":{"code":null,"durationMs":1731,"status":200},"prevHash":' +
      `"${GENESIS_HASH}","reason":"question_too_complex","requestedBy":"as272d6g2ds766fcdfgh",` +
      '"seq":1,"source":"api","status":"completed","toOwner":"Jlk9e7cSf9g3FFsaqe39","userId":"20"}';
    const independent = createHash('sha256')
      .update(GENESIS_HASH + canonical)
      .digest('hex');

    expect(hashRecord(seedV2())).toBe(
      'f04df1cdcb5765a032d9f4242bbd7b404d48435f84ee65a43db87297852034a4',
    );
    expect(independent).toBe('f04df1cdcb5765a032d9f4242bbd7b404d48435f84ee65a43db87297852034a4');
  });

  it('draws a fresh random 32-byte salt per record by default', () => {
    const a = sealMetadata(null);
    const b = sealMetadata(null);

    expect(Buffer.from(a.salt!, 'base64url')).toHaveLength(32);
    expect(a.salt).not.toBe(b.salt);
    expect(a.metadataDigest).not.toBe(b.metadataDigest);
  });

  it('keeps the same hash when metadata and salt are erased and the erasure is marked', () => {
    const record = finalizeRecord(
      { ...seedV2(), status: undefined, parley: undefined } as never,
      'completed',
      seedRecord().parley,
    );

    expect(hashRecord(eraseMetadata(record))).toBe(record.hash);
    expect(metadataState(record)).toBe('ok');
    expect(metadataState(eraseMetadata(record))).toBe('erased');
  });

  it('refuses a v2 record whose salt is gone without an erasure mark, or whose metadata changed', () => {
    const [record] = chainV2(1);
    const { salt: _salt, ...saltless } = record!;

    expect(metadataState({ ...saltless, metadata: null })).toBe('mismatch');
    expect(metadataState({ ...record!, metadata: { reason: 'reason-1', ticket: 2 } })).toBe(
      'mismatch',
    );
    expect(metadataState({ ...record!, salt: 'not-a-salt' })).toBe('mismatch');
  });

  it('does not let a guessed metadata be confirmed from the kept digest once the salt is gone', () => {
    const [record] = chainV2(1);
    const erased = eraseMetadata(record!);

    // The v1 digest of the right guess would match a v1 record; the v2 digest matches neither.
    expect(erased.metadataDigest).not.toBe(metadataDigest({ reason: 'reason-1', ticket: 1 }));
  });

  it('verifies a v2 chain, counting erased records, and a mixed v1 then v2 chain', () => {
    const records = chainV2(4);
    records[1] = eraseMetadata(records[1]!);
    records[2] = eraseMetadata(records[2]!);
    const v1 = chainOf(2);
    const next = finalizeRecord(
      {
        ...chainV2(3)[2]!,
        status: undefined,
        parley: undefined,
        hash: undefined,
        prevHash: v1[1]!.hash,
      } as never,
      'completed',
      null,
    );

    expect(verifyChain('20', records)).toEqual({
      ok: true,
      count: 4,
      lastHash: records[3]!.hash,
      erased: 2,
    });
    expect(verifyChain('20', [...v1, next])).toEqual({ ok: true, count: 3, lastHash: next.hash });
  });

  it('names an edited v2 record, and an erased record whose metadata was put back', () => {
    const edited = chainV2(3);
    edited[1] = { ...edited[1]!, toOwner: 'somebody-else' };
    const restored = chainV2(3);
    restored[1] = { ...eraseMetadata(restored[1]!), metadata: { reason: 'invented' } };

    expect(verifyChain('20', edited)).toMatchObject({
      ok: false,
      firstBroken: { seq: 2, problem: 'hash_mismatch' },
    });
    expect(verifyChain('20', restored)).toMatchObject({
      ok: false,
      firstBroken: { seq: 2, problem: 'metadata_digest_mismatch' },
    });
  });

  it('keeps v1 records verifiable: their hash and digest as before, an erasure mark allowed', () => {
    const v1 = chainOf(3);
    v1[0] = {
      ...v1[0]!,
      metadata: null,
      metadataErased: { at: '2026-06-01T00:00:00.000Z', erasureId: 'era_test' },
    };

    expect(hashRecord(seedRecord())).toBe(
      'f67717c3c934dc966f6e5c36cca7a2743a4148e9f709b809a6c44aaa4338ad13',
    );
    expect(verifyChain('20', v1)).toEqual({
      ok: true,
      count: 3,
      lastHash: v1[2]!.hash,
      erased: 1,
    });
  });
});

describe('every writer of records writes chain v3', () => {
  it('gives handover, observed, offer and superseded records chain 3, a salt and a subject salt of their own', async () => {
    const w = handoverWorld();
    const salts: string[] = [];
    let n = 0;
    w.deps.salts = {
      next: () => {
        const salt = Buffer.alloc(32, ++n).toString('base64url');
        salts.push(salt);
        return salt;
      },
    };
    await refreshOwner('20', BOT, w.deps);
    w.parley.owners.set('20', AGENT);
    await refreshOwner('20', BOT, w.deps); // observed
    await performHandover(
      { userId: '20', newOwner: BOT, requestedBy: AGENT, source: 'api', metadata: { a: 1 } },
      w.deps,
    );
    await performHandover(
      {
        userId: '20',
        newOwner: AGENT,
        requestedBy: BOT,
        source: 'rule',
        offer: { offerTimeoutSeconds: 60 },
      },
      w.deps,
    ); // an offer's created record
    await performHandover(
      { userId: '20', newOwner: AGENT, requestedBy: BOT, source: 'api' },
      w.deps,
    ); // a handover superseding the offer: its record, then the offer's superseded record

    const records = w.history.userRecords('20');

    expect(records.map((r) => [r.source, r.kind ?? 'handover', r.offer?.event ?? null])).toEqual([
      ['observed', 'handover', null],
      ['api', 'handover', null],
      ['offer', 'offer', 'created'],
      ['api', 'handover', null],
      ['offer', 'offer', 'superseded'],
    ]);
    for (const r of records) {
      expect({ seq: r.seq, chain: r.chain, state: metadataState(r) }).toEqual({
        seq: r.seq,
        chain: 3,
        state: 'ok',
      });
    }
    // The injected source salted every record but the superseded one: its salt, then its subject's.
    expect(records.slice(0, 4).flatMap((r) => [r.salt, r.subjectSalt])).toEqual(salts);
    expect(verifyChain('20', records)).toMatchObject({ ok: true, count: 5 });
  });

  it('derives the superseded record’s subject salt from its handover’s subject salt, which a full erasure removes', async () => {
    const w = handoverWorld();
    await refreshOwner('20', BOT, w.deps);
    await performHandover(
      {
        userId: '20',
        newOwner: AGENT,
        requestedBy: BOT,
        source: 'rule',
        offer: { offerTimeoutSeconds: 60 },
      },
      w.deps,
    );
    await performHandover(
      { userId: '20', newOwner: AGENT, requestedBy: BOT, source: 'api' },
      w.deps,
    );
    const records = w.history.userRecords('20');
    const handover = records.at(-2)!;
    const superseded = records.at(-1)!;
    const seeded = (seed: string) => createHash('sha256').update(seed).digest('base64url');

    expect(superseded.offer?.event).toBe('superseded');
    // Its metadata is null: a salt derived from the kept hash gives nothing away.
    expect(superseded.salt).toBe(seeded(`${handover.hash}#superseded`));
    expect(superseded.subjectSalt).toBe(seeded(`${handover.subjectSalt}#superseded`));
    expect(superseded.subjectSalt).not.toBe(seeded(`${superseded.prevHash}#superseded`));
  });
});
