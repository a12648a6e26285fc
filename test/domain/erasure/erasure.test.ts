// The erasure's pure parts: which outbox ids a record's items can have (the export and the eraser
// find them without a scan), what an erased record keeps, the subject reference, and the checks of
// an erased chain against its tombstone.
import { createHmac } from 'node:crypto';
import { finalizeRecord, GENESIS_HASH, sealMetadata } from '../../../functions/domain/chain';
import { erasedRecordOf } from '../../../functions/domain/erasure/apply';
import {
  bodyHoldsMetadata,
  bodyWithoutMetadata,
  outboxIdsOf,
} from '../../../functions/domain/erasure/gather';
import { subjectRefOf } from '../../../functions/domain/erasure/subject';
import type { ErasedRecord, Tombstone } from '../../../functions/domain/erasure/types';
import { verifyErasedChain } from '../../../functions/domain/erasure/verify-erased';
import { outboxItemsFor } from '../../../functions/domain/notify/build';
import type { HandoverRecord, HandoverSource, OfferEvent } from '../../../functions/domain/types';
import { AGENT, BOT, staticCatalog } from '../../support/fakes';
import { DESK, notifyServices, T0 } from '../notify/world';

const record = (fields: Partial<HandoverRecord> = {}): HandoverRecord =>
  finalizeRecord(
    {
      handoverId: 'h-1',
      userId: '20',
      seq: 1,
      fromOwner: BOT,
      toOwner: AGENT,
      reason: 'question_too_complex',
      ...sealMetadata({ reason: 'question_too_complex', note: 'private' }),
      requestedBy: BOT,
      source: 'api',
      createdAt: T0,
      prevHash: GENESIS_HASH,
      ...fields,
    },
    fields.status ?? 'completed',
    null,
  );

const offer = (event: OfferEvent) => ({
  offerId: 'ofr_MjA.abcdefghijklmnop',
  event,
  from: BOT,
  to: DESK,
  expiresAt: T0,
});

describe('outboxIdsOf', () => {
  const kinds: [string, Partial<HandoverRecord>][] = [
    ['a completed handover', {}],
    ['a failed handover', { status: 'failed' }],
    ['a hand-back to the bot (its agent/unset action)', { fromOwner: AGENT, toOwner: BOT }],
    ['an observed change', { source: 'observed' as HandoverSource, requestedBy: 'parley' }],
    ['a failover', { source: 'failover' as HandoverSource, requestedBy: 'system:failover' }],
    ['a lease expiry', { source: 'timeout' as HandoverSource, requestedBy: 'system:lease' }],
    ['a rule', { source: 'rule' as HandoverSource, requestedBy: `rule:${BOT}` }],
    ['an offer created', { kind: 'offer', toOwner: BOT, offer: offer('created') }],
    ['an offer expired to its fallback', { offer: offer('expired'), toOwner: DESK }],
  ];

  it.each(kinds)('names every outbox item of %s', (_, fields) => {
    const written = outboxItemsFor(record(fields), staticCatalog(notifyServices()), T0);

    expect(written.length).toBeGreaterThan(0);
    expect(outboxIdsOf(record(fields))).toEqual(
      expect.arrayContaining(written.map((item) => item.id)),
    );
  });

  it('names no more than the recipients a record can have, and each once', () => {
    const ids = outboxIdsOf(record());

    expect(new Set(ids).size).toBe(ids.length);
    expect(ids.length).toBeLessThanOrEqual(4);
  });
});

describe('an outbox body', () => {
  it('loses the new owner’s metadata and keeps the rest, canonical', () => {
    const [item] = outboxItemsFor(record(), staticCatalog(notifyServices()), T0).filter(
      (i) => i.recipient === AGENT,
    );

    const body = JSON.parse(bodyWithoutMetadata(item!));

    expect(bodyHoldsMetadata(item!)).toBe(true);
    expect(body).toEqual({ ...JSON.parse(item!.body), metadata: null });
    expect(bodyHoldsMetadata({ ...item!, body: bodyWithoutMetadata(item!) })).toBe(false);
  });
});

describe('an erased record', () => {
  it('keeps seq, links, ids, time, ends, a reason code, source, status, requester and digests', () => {
    const source = record();
    const erased = erasedRecordOf(source, 'era_1');

    expect(erased).toEqual({
      erasureId: 'era_1',
      chain: 3,
      parley: null,
      metadataDigest: source.metadataDigest,
      subjectDigest: expect.stringMatching(/^[0-9a-f]{64}$/),
      seq: 1,
      prevHash: GENESIS_HASH,
      hash: source.hash,
      handoverId: 'h-1',
      createdAt: T0,
      fromOwner: BOT,
      toOwner: AGENT,
      reason: 'question_too_complex',
      source: 'api',
      status: 'completed',
      requestedBy: BOT,
    });
  });

  it('drops a reason that is free text (it came from the metadata)', () => {
    expect(erasedRecordOf(record({ reason: 'My name is Ann, call me' }), 'era_1').reason).toBe(
      null,
    );
  });
});

describe('the subject reference', () => {
  it('is HMAC-SHA256 of the UTF-8 user id under the key, hex', () => {
    const key = Buffer.alloc(32, 7);

    expect(subjectRefOf(key, 'user-ü')).toBe(
      createHmac('sha256', key).update(Buffer.from('user-ü', 'utf8')).digest('hex'),
    );
    expect(subjectRefOf(key, 'user-ü')).not.toBe(subjectRefOf(Buffer.alloc(32, 8), 'user-ü'));
  });
});

describe('verifyErasedChain', () => {
  const chain = (n: number): ErasedRecord[] => {
    const out: ErasedRecord[] = [];
    let prev = GENESIS_HASH;
    for (let seq = 1; seq <= n; seq++) {
      const r = record({ seq, prevHash: prev, handoverId: `h-${seq}` });
      out.push(erasedRecordOf(r, 'era_1'));
      prev = r.hash;
    }
    return out;
  };
  const tombstoneOf = (records: ErasedRecord[]): Tombstone => ({
    erasureId: 'era_1',
    subjectRef: 'a'.repeat(64),
    count: records.length,
    firstSeq: 1,
    lastSeq: records.at(-1)!.seq,
    lastHash: records.at(-1)!.hash,
    requestedBy: 'operator:ann',
    reason: 'asked',
    legalBasis: 'GDPR Art. 17',
    at: T0,
  });

  it('accepts linked records that match their tombstone', async () => {
    const records = chain(3);

    expect(await verifyErasedChain('era_1', { tombstone: tombstoneOf(records), records })).toEqual({
      erasureId: 'era_1',
      ok: true,
      count: 3,
      recomputed: 3,
      checkpoint: { status: 'none', checkpointId: null, seq: null },
    });
  });

  it('names a deleted record, a broken link, a tombstone that disagrees and a missing one', async () => {
    const records = chain(4);
    const tombstone = tombstoneOf(records);
    const relinked = records.map((r) => (r.seq === 3 ? { ...r, prevHash: 'f'.repeat(64) } : r));

    const gap = await verifyErasedChain('era_1', {
      tombstone,
      records: records.filter((r) => r.seq !== 2),
    });
    const link = await verifyErasedChain('era_1', { tombstone, records: relinked });
    const tail = await verifyErasedChain('era_1', { tombstone, records: records.slice(0, 3) });
    const none = await verifyErasedChain('era_1', { tombstone: null, records });

    expect(gap).toMatchObject({ ok: false, count: 1, firstBroken: { seq: 2, problem: 'seq_gap' } });
    expect(link).toMatchObject({
      ok: false,
      count: 2,
      firstBroken: { seq: 3, problem: 'prev_hash_mismatch' },
    });
    expect(tail).toMatchObject({
      ok: false,
      count: 3,
      firstBroken: { seq: 4, problem: 'tombstone_mismatch' },
    });
    expect(none).toMatchObject({ ok: false, firstBroken: { problem: 'tombstone_missing' } });
  });

  it('reports the checkpoint unchecked where no checker is given, broken when it disagrees', async () => {
    const records = chain(2);
    const tombstone = {
      ...tombstoneOf(records),
      checkpoint: { checkpointId: '000000000001', seq: 2, hash: records[1]!.hash },
    };

    const unchecked = await verifyErasedChain('era_1', { tombstone, records });
    const broken = await verifyErasedChain('era_1', { tombstone, records }, async () => ({
      status: 'broken',
      checkpointId: '000000000001',
      seq: 2,
      fault: 'head_missing',
    }));

    expect(unchecked).toMatchObject({
      ok: true,
      checkpoint: { status: 'unchecked', checkpointId: '000000000001', seq: 2 },
    });
    expect(broken).toMatchObject({
      ok: false,
      firstBroken: { seq: 2, problem: 'checkpoint_mismatch' },
    });
  });
});
