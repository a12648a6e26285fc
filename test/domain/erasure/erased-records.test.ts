// What a full erasure keeps of a chain v3 record, and the verify of an erased chain that hashes
// each such record again from it: a kept field changed afterwards breaks at its own seq.
import { createHash, createHmac } from 'node:crypto';
import fc from 'fast-check';
import { canonicalJson } from '../../../functions/domain/canonical';
import {
  finalizeRecord,
  GENESIS_HASH,
  type SaltSource,
  saltedMetadataDigest,
  sealMetadata,
} from '../../../functions/domain/chain';
import { erasedRecordOf } from '../../../functions/domain/erasure/apply';
import type { ErasedRecord, Tombstone } from '../../../functions/domain/erasure/types';
import { erasedHashOf, verifyErasedChain } from '../../../functions/domain/erasure/verify-erased';
import type {
  DraftRecord,
  HandoverRecord,
  HandoverSource,
  OfferEvent,
} from '../../../functions/domain/types';
import { AGENT, BOT } from '../../support/fakes';

const USER = 'ann-20';
const saltOf = (byte: number) => Buffer.alloc(32, byte).toString('base64url');
const salts = (...bytes: number[]): SaltSource => {
  let i = 0;
  return { next: () => saltOf(bytes[i++ % bytes.length]!) };
};

/** A v3 record of USER at `seq`, chained after `prevHash`. */
const v3 = (seq: number, prevHash: string, fields: Partial<DraftRecord> = {}): HandoverRecord =>
  finalizeRecord(
    {
      handoverId: `h-${seq}`,
      userId: USER,
      seq,
      fromOwner: seq % 2 === 1 ? BOT : AGENT,
      toOwner: seq % 2 === 1 ? AGENT : BOT,
      reason: seq % 2 === 1 ? `Ann here (${USER}), call me` : 'question_too_complex',
      ...sealMetadata({ note: `private ${USER}` }, salts(seq, 100 + seq)),
      requestedBy: BOT,
      source: 'api',
      createdAt: new Date(Date.UTC(2026, 2, 10, 14, 0, seq)).toISOString(),
      prevHash,
      ...fields,
    },
    'completed',
    { status: 200, code: null, durationMs: 40 + seq },
  );

/** A v2 record, as written before chain v3 (no subject salt; user id and reason in the hash). */
const v2 = (seq: number, prevHash: string): HandoverRecord => {
  const salt = saltOf(seq);
  return finalizeRecord(
    {
      handoverId: `h-${seq}`,
      userId: USER,
      seq,
      fromOwner: BOT,
      toOwner: AGENT,
      reason: 'question_too_complex',
      chain: 2,
      salt,
      metadata: null,
      metadataDigest: saltedMetadataDigest(null, salt),
      requestedBy: BOT,
      source: 'api',
      createdAt: new Date(Date.UTC(2026, 2, 10, 14, 0, seq)).toISOString(),
      prevHash,
    },
    'completed',
    null,
  );
};

const linked = (n: number, make: (seq: number, prev: string) => HandoverRecord = v3) => {
  const out: HandoverRecord[] = [];
  for (let seq = 1; seq <= n; seq++) out.push(make(seq, out.at(-1)?.hash ?? GENESIS_HASH));
  return out;
};

const erase = (records: HandoverRecord[]) => records.map((r) => erasedRecordOf(r, 'era_1'));

const tombstoneOf = (records: ErasedRecord[]): Tombstone => ({
  erasureId: 'era_1',
  subjectRef: 'a'.repeat(64),
  count: records.length,
  firstSeq: records[0]!.seq,
  lastSeq: records.at(-1)!.seq,
  lastHash: records.at(-1)!.hash,
  requestedBy: 'operator:ann',
  reason: 'asked',
  legalBasis: 'GDPR Art. 17',
  at: '2026-06-01T00:00:00.000Z',
});

const offerRecord = (): HandoverRecord =>
  v3(1, GENESIS_HASH, {
    kind: 'offer',
    source: 'offer',
    toOwner: BOT,
    offer: {
      offerId: `ofr_${Buffer.from(USER).toString('base64url')}.AAAAAAAAAAAAAAAA`,
      event: 'created',
      from: BOT,
      to: AGENT,
      expiresAt: '2026-03-10T14:00:31.000Z',
      onTimeout: 'keep',
    },
  });

describe('an erased v3 record', () => {
  it('keeps every field its hash covers, and neither user id, reason text, offer id nor salt', () => {
    const record = offerRecord();

    const erased = erasedRecordOf(record, 'era_1');

    expect(erased).toEqual({
      erasureId: 'era_1',
      chain: 3,
      seq: 1,
      prevHash: GENESIS_HASH,
      hash: record.hash,
      handoverId: 'h-1',
      createdAt: record.createdAt,
      fromOwner: BOT,
      toOwner: BOT,
      reason: null,
      source: 'offer',
      status: 'completed',
      requestedBy: BOT,
      parley: { status: 200, code: null, durationMs: 41 },
      kind: 'offer',
      offer: {
        event: 'created',
        from: BOT,
        to: AGENT,
        expiresAt: '2026-03-10T14:00:31.000Z',
        onTimeout: 'keep',
      },
      metadataDigest: record.metadataDigest,
      subjectDigest: expect.stringMatching(/^[0-9a-f]{64}$/),
    });
    expect(erasedHashOf(erased)).toBe(record.hash);
  });

  it('keeps a reason that is a code', () => {
    expect(erasedRecordOf(v3(2, GENESIS_HASH), 'era_1').reason).toBe('question_too_complex');
  });

  it('keeps a v2 record’s fields as before, its version named, and cannot be hashed again', () => {
    const erased = erasedRecordOf(v2(1, GENESIS_HASH), 'era_1');

    expect(Object.keys(erased).sort()).toEqual(
      [
        'erasureId',
        'chain',
        'seq',
        'prevHash',
        'hash',
        'handoverId',
        'createdAt',
        'fromOwner',
        'toOwner',
        'reason',
        'source',
        'status',
        'requestedBy',
      ].sort(),
    );
    expect(erased.chain).toBe(2);
    expect(erasedHashOf(erased)).toBeNull();
  });

  it('gives a guessed user id nothing to be tested against without the subject salt', () => {
    const record = offerRecord();
    const erased = erasedRecordOf(record, 'era_1');
    const text = JSON.stringify(erased);
    const bytes = Buffer.from(USER, 'utf8');
    const subject = canonicalJson({
      offerId: record.offer!.offerId,
      reason: record.reason,
      userId: USER,
    });
    const known = [Buffer.alloc(0), Buffer.alloc(32), Buffer.from(GENESIS_HASH, 'hex')];
    const derived = [
      USER,
      bytes.toString('base64url'),
      bytes.toString('base64'),
      bytes.toString('hex'),
      createHash('sha256').update(bytes).digest('hex'),
      createHash('sha256').update(bytes).digest('base64url'),
      ...known.flatMap((key) => [
        createHmac('sha256', key).update(bytes).digest('hex'),
        createHmac('sha256', key).update(subject).digest('hex'),
      ]),
      createHash('sha256').update(subject).digest('hex'),
    ];

    for (const value of derived) expect(text).not.toContain(value);
    expect(text).not.toContain(record.subjectSalt!);
    expect(text).not.toContain(record.salt!);
  });
});

describe('hashing an erased v3 record again', () => {
  const hex64 = fc.uint8Array({ minLength: 32, maxLength: 32 }).map((b) => Buffer.from(b));
  const text = fc.string({ maxLength: 24 });
  const reason = fc.oneof(
    fc.constant(null),
    fc.stringMatching(/^[a-z][a-z0-9_.-]{0,20}$/),
    fc.string({ maxLength: 40 }),
  );
  const offer = fc.record(
    {
      offerId: text,
      event: fc.constantFrom<OfferEvent>(
        'created',
        'accepted',
        'declined',
        'cancelled',
        'expired',
        'superseded',
      ),
      from: text,
      to: text,
      expiresAt: fc.date({ noInvalidDate: true }).map((d) => d.toISOString()),
      onTimeout: text,
    },
    { requiredKeys: ['offerId', 'event', 'from', 'to', 'expiresAt'] },
  );
  const record = fc
    .record({
      userId: fc.string({ minLength: 1, maxLength: 24 }),
      handoverId: fc.string({ minLength: 1, maxLength: 36 }),
      seq: fc.integer({ min: 1, max: 1_000_000 }),
      fromOwner: fc.option(text, { nil: null }),
      toOwner: text,
      reason,
      metadata: fc.option(
        fc.dictionary(
          fc.string({ maxLength: 8 }),
          fc.oneof(text, fc.integer(), fc.boolean(), fc.constant(null)),
        ),
        { nil: null },
      ),
      requestedBy: text,
      source: fc.constantFrom<HandoverSource>(
        'api',
        'rule',
        'downstream',
        'observed',
        'failover',
        'operator',
        'timeout',
        'offer',
      ),
      status: fc.constantFrom('completed' as const, 'failed' as const),
      parley: fc.option(
        fc.record({
          status: fc.option(fc.integer({ min: 100, max: 599 }), { nil: null }),
          code: fc.option(text, { nil: null }),
          durationMs: fc.nat(),
        }),
        { nil: null },
      ),
      createdAt: fc
        .date({ min: new Date(0), max: new Date(4e12), noInvalidDate: true })
        .map((d) => d.toISOString()),
      prevHash: hex64.map((b) => b.toString('hex')),
      offerKind: fc.option(fc.tuple(fc.boolean(), offer), { nil: null }),
      salt: hex64.map((b) => b.toString('base64url')),
      subjectSalt: hex64.map((b) => b.toString('base64url')),
    })
    .map(({ offerKind, salt, subjectSalt, status, parley, metadata, ...fields }) =>
      finalizeRecord(
        {
          ...fields,
          ...sealMetadata(metadata, salts(0)),
          salt,
          subjectSalt,
          metadataDigest: saltedMetadataDigest(metadata, salt),
          ...(offerKind ? { offer: offerKind[1] } : {}),
          ...(offerKind?.[0] ? { kind: 'offer' as const } : {}),
        },
        status,
        parley,
      ),
    );

  it('gives the record’s own hash back for any record', () => {
    fc.assert(
      fc.property(record, (r) => {
        expect(r.chain).toBe(3);
        expect(erasedHashOf(erasedRecordOf(r, 'era_1'))).toBe(r.hash);
      }),
      { numRuns: 300 },
    );
  });

  it('gives another hash when any kept field changed', () => {
    const changes: [string, (e: ErasedRecord) => ErasedRecord][] = [
      ['toOwner', (e) => ({ ...e, toOwner: `${e.toOwner}x` })],
      ['fromOwner', (e) => ({ ...e, fromOwner: e.fromOwner === null ? 'x' : null })],
      [
        'createdAt',
        (e) => ({ ...e, createdAt: new Date(Date.parse(e.createdAt) + 1).toISOString() }),
      ],
      ['status', (e) => ({ ...e, status: e.status === 'completed' ? 'failed' : 'completed' })],
      ['source', (e) => ({ ...e, source: e.source === 'api' ? 'rule' : 'api' })],
      ['requestedBy', (e) => ({ ...e, requestedBy: `${e.requestedBy}x` })],
      ['handoverId', (e) => ({ ...e, handoverId: `${e.handoverId}x` })],
      ['seq', (e) => ({ ...e, seq: e.seq + 1 })],
      ['reason', (e) => ({ ...e, reason: e.reason === null ? 'other_code' : null })],
      [
        'parley',
        (e) => ({
          ...e,
          parley: e.parley === null ? { status: 200, code: null, durationMs: 1 } : null,
        }),
      ],
      ['metadataDigest', (e) => ({ ...e, metadataDigest: 'f'.repeat(64) })],
      ['subjectDigest', (e) => ({ ...e, subjectDigest: 'f'.repeat(64) })],
      ['prevHash', (e) => ({ ...e, prevHash: 'f'.repeat(64) })],
    ];
    fc.assert(
      fc.property(record, fc.constantFrom(...changes), (r, [, change]) => {
        expect(erasedHashOf(change(erasedRecordOf(r, 'era_1')))).not.toBe(r.hash);
      }),
      { numRuns: 300 },
    );
  });
});

describe('verifyErasedChain over v3 records', () => {
  it('hashes every v3 record again and says how many it recomputed', async () => {
    const records = erase(linked(4));

    const report = await verifyErasedChain('era_1', { tombstone: tombstoneOf(records), records });

    expect(report).toEqual({
      erasureId: 'era_1',
      ok: true,
      count: 4,
      recomputed: 4,
      checkpoint: { status: 'none', checkpointId: null, seq: null },
    });
  });

  it.each([
    ['toOwner', (r: ErasedRecord) => ({ ...r, toOwner: 'somebody-else' })],
    ['createdAt', (r: ErasedRecord) => ({ ...r, createdAt: '2026-03-10T15:00:00.000Z' })],
    ['reason', (r: ErasedRecord) => ({ ...r, reason: 'user_requested_human' })],
    ['status', (r: ErasedRecord) => ({ ...r, status: 'failed' as const })],
  ])(
    'names an erased record whose %s changed, links intact, by hash_mismatch at its seq',
    async (_, change) => {
      const records = erase(linked(4)).map((r) => (r.seq === 3 ? change(r) : r));

      const report = await verifyErasedChain('era_1', { tombstone: tombstoneOf(records), records });

      expect(report).toMatchObject({
        ok: false,
        count: 2,
        recomputed: 2,
        firstBroken: { seq: 3, problem: 'hash_mismatch' },
      });
    },
  );

  it('names a v3 record stripped of a field its hash covers', async () => {
    const records = erase(linked(2));
    const { subjectDigest: _d, ...stripped } = records[1]!;
    records[1] = stripped;

    const report = await verifyErasedChain('era_1', { tombstone: tombstoneOf(records), records });

    expect(report).toMatchObject({
      ok: false,
      count: 1,
      firstBroken: { seq: 2, problem: 'hash_mismatch' },
    });
  });

  it('checks v2 records by their links only, then hashes the v3 records after them', async () => {
    const records = erase(linked(4, (seq, prev) => (seq <= 2 ? v2(seq, prev) : v3(seq, prev))));

    const report = await verifyErasedChain('era_1', { tombstone: tombstoneOf(records), records });

    expect(report).toMatchObject({ ok: true, count: 4, recomputed: 2 });
  });

  it('refuses a record whose chain version goes back (a v3 record relabelled to escape the hashing)', async () => {
    const records = erase(linked(3)).map((r) =>
      r.seq === 2 ? { ...r, chain: 2 as const, toOwner: 'somebody-else' } : r,
    );

    const report = await verifyErasedChain('era_1', { tombstone: tombstoneOf(records), records });

    expect(report).toMatchObject({
      ok: false,
      count: 1,
      firstBroken: { seq: 2, problem: 'hash_mismatch' },
    });
  });
});
