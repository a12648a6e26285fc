// Chain v3: the user id, the free-text reason and the offer id reach the hash only through a salted
// subject digest, so that everything a full erasure keeps can be hashed again (erased-records.test).
import { createHash, createHmac } from 'node:crypto';
import {
  finalizeRecord,
  GENESIS_HASH,
  hashRecord,
  metadataDigest,
  metadataState,
  saltedMetadataDigest,
  sealMetadata,
  subjectDigest,
  verifyChain,
} from '../../functions/domain/chain';
import type { HandoverRecord } from '../../functions/domain/types';
import { eraseMetadata, FIXED_SALT, fixedSalts, linkedRecords } from '../support/chains';
import { AGENT, BOT } from '../support/fakes';

/** The vectors' subject salt: the bytes 32..63, base64url (FIXED_SALT: 0..31, the metadata's). */
const SUBJECT_SALT = Buffer.from(Array.from({ length: 32 }, (_, i) => 32 + i)).toString(
  'base64url',
);

const seedV3 = (): HandoverRecord =>
  finalizeRecord(
    {
      handoverId: 'h0001',
      userId: '20',
      seq: 1,
      fromOwner: BOT,
      toOwner: AGENT,
      reason: 'question_too_complex',
      ...sealMetadata({ reason: 'question_too_complex' }, fixedSalts(FIXED_SALT, SUBJECT_SALT)),
      requestedBy: BOT,
      source: 'api',
      createdAt: '2026-03-10T14:00:00.000Z',
      prevHash: GENESIS_HASH,
    },
    'completed',
    { status: 200, code: null, durationMs: 1731 },
  );

/** n linked v3 records for user 20; odd seqs carry a free-text reason, even ones a code. */
const chainV3 = (n: number, userId = '20'): HandoverRecord[] =>
  linkedRecords(
    n,
    (seq) => {
      const reason = seq % 2 === 1 ? `Call me back, it is ${userId}` : `reason_${seq}`;
      return {
        reason,
        ...sealMetadata(
          { reason, ticket: seq },
          fixedSalts(
            Buffer.alloc(32, seq).toString('base64url'),
            Buffer.alloc(32, 100 + seq).toString('base64url'),
          ),
        ),
      };
    },
    userId,
  );

describe('chain v3: the vectors', () => {
  it('computes the subject digest as HMAC-SHA256 keyed with the subject salt over canonical { offerId, reason, userId }', () => {
    const key = Buffer.from(Array.from({ length: 32 }, (_, i) => 32 + i));
    const independent = createHmac('sha256', key)
      .update('{"offerId":null,"reason":"question_too_complex","userId":"20"}')
      .digest('hex');

    const digest = subjectDigest(
      { userId: '20', reason: 'question_too_complex', offerId: null },
      SUBJECT_SALT,
    );

    expect(digest).toBe(independent);
    expect(digest).toBe('2b37b4b94891d84f913c9e9a28773a585cc6aa0881a5e9e6f77e422021bbffed');
  });

  it('pins the hash of the seed record as v3: the chained view, neither user id nor reason text in it', () => {
    const subject = subjectDigest(
      { userId: '20', reason: 'question_too_complex', offerId: null },
      SUBJECT_SALT,
    );
    const canonical =
      '{"chain":3,"createdAt":"2026-03-10T14:00:00.000Z","fromOwner":"as272d6g2ds766fcdfgh",' +
      '"handoverId":"h0001","metadataDigest":' +
      '"e618bb1e284ab9f12c7283ac071a4bae52a288fb35e13354459f2cf56d569fa0",' +
      '"parley":{"code":null,"durationMs":1731,"status":200},' +
      '"reasonCode":"question_too_complex","requestedBy":"as272d6g2ds766fcdfgh","seq":1,' +
      `"source":"api","status":"completed","subjectDigest":"${subject}",` +
      '"toOwner":"Jlk9e7cSf9g3FFsaqe39"}';
    const independent = createHash('sha256')
      .update(GENESIS_HASH + canonical)
      .digest('hex');

    const record = seedV3();

    expect(record).toMatchObject({ chain: 3, salt: FIXED_SALT, subjectSalt: SUBJECT_SALT });
    expect(record.hash).toBe(independent);
    expect(hashRecord(record)).toBe(independent);
    expect(independent).toBe('64e2ebda0d9c7b57590c31a87d8b117c3efb3845ca82dabda3d9aa52250956b0');
  });

  it('seals a draft with chain 3, the metadata salt and then the subject salt from the source', () => {
    expect(sealMetadata({ a: 1 }, fixedSalts(FIXED_SALT, SUBJECT_SALT))).toEqual({
      chain: 3,
      salt: FIXED_SALT,
      subjectSalt: SUBJECT_SALT,
      metadata: { a: 1 },
      metadataDigest: saltedMetadataDigest({ a: 1 }, FIXED_SALT),
    });
  });

  it('draws two fresh random 32-byte salts per record by default', () => {
    const a = sealMetadata(null);
    const b = sealMetadata(null);

    expect(Buffer.from(a.subjectSalt!, 'base64url')).toHaveLength(32);
    expect(new Set([a.salt, a.subjectSalt, b.salt, b.subjectSalt]).size).toBe(4);
  });

  it('refuses a subject salt that is not 32 bytes of base64url', () => {
    expect(() => sealMetadata(null, fixedSalts(FIXED_SALT, 'short'))).toThrow(/32 bytes/);
  });
});

describe('chain v3: verify of live records', () => {
  it('verifies a v3 chain', () => {
    const records = chainV3(4);

    expect(verifyChain('20', records)).toEqual({
      ok: true,
      count: 4,
      lastHash: records[3]!.hash,
    });
  });

  it('binds the free-text reason and the reason code: either edited is a hash_mismatch', () => {
    const text = chainV3(3);
    text[0] = { ...text[0]!, reason: 'Call me back, it is 21' };
    const code = chainV3(3);
    code[1] = { ...code[1]!, reason: 'reason_99' };

    expect(verifyChain('20', text)).toEqual({
      ok: false,
      count: 0,
      firstBroken: { seq: 1, handoverId: 'h0001', problem: 'hash_mismatch' },
    });
    expect(verifyChain('20', code)).toEqual({
      ok: false,
      count: 1,
      firstBroken: { seq: 2, handoverId: 'h0002', problem: 'hash_mismatch' },
    });
  });

  it('binds the user id: a record moved to another user with its id rewritten is a hash_mismatch', () => {
    const theirs = chainV3(2, '21');
    const mine = chainV3(2);
    mine[1] = { ...theirs[1]!, userId: '20', prevHash: mine[0]!.hash };

    expect(verifyChain('20', mine)).toMatchObject({
      ok: false,
      firstBroken: { seq: 2, problem: 'hash_mismatch' },
    });
  });

  it('names a live v3 record whose subject salt is gone or malformed: subject_digest_mismatch', () => {
    const gone = chainV3(2);
    const { subjectSalt: _s, ...saltless } = gone[1]!;
    gone[1] = saltless;
    const malformed = chainV3(2);
    malformed[1] = { ...malformed[1]!, subjectSalt: 'not-a-salt' };

    for (const records of [gone, malformed]) {
      expect(verifyChain('20', records)).toEqual({
        ok: false,
        count: 1,
        firstBroken: { seq: 2, handoverId: 'h0002', problem: 'subject_digest_mismatch' },
      });
    }
  });

  it('keeps a v3 record sound after a metadata erasure: metadata and salt go, the subject salt stays', () => {
    const records = chainV3(3);
    records[1] = eraseMetadata(records[1]!);

    expect(records[1]!.subjectSalt).toBeDefined();
    expect(metadataState(records[1]!)).toBe('erased');
    expect(verifyChain('20', records)).toEqual({
      ok: true,
      count: 3,
      lastHash: records[2]!.hash,
      erased: 1,
    });
  });

  it('verifies a chain that goes from v1 to v2 to v3', () => {
    const v1 = finalizeRecord(
      {
        handoverId: 'h0001',
        userId: '20',
        seq: 1,
        fromOwner: BOT,
        toOwner: AGENT,
        reason: null,
        metadata: null,
        metadataDigest: metadataDigest(null),
        requestedBy: BOT,
        source: 'api',
        createdAt: '2026-03-10T14:00:01.000Z',
        prevHash: GENESIS_HASH,
      },
      'completed',
      null,
    );
    const v2 = finalizeRecord(
      {
        ...v1,
        handoverId: 'h0002',
        seq: 2,
        chain: 2,
        salt: FIXED_SALT,
        metadataDigest: saltedMetadataDigest(null, FIXED_SALT),
        createdAt: '2026-03-10T14:00:02.000Z',
        prevHash: v1.hash,
      },
      'completed',
      null,
    );
    const v3 = finalizeRecord(
      {
        ...v1,
        handoverId: 'h0003',
        seq: 3,
        ...sealMetadata(null, fixedSalts(FIXED_SALT, SUBJECT_SALT)),
        createdAt: '2026-03-10T14:00:03.000Z',
        prevHash: v2.hash,
      },
      'completed',
      null,
    );

    expect([v1.chain, v2.chain, v3.chain]).toEqual([undefined, 2, 3]);
    expect(verifyChain('20', [v1, v2, v3])).toEqual({ ok: true, count: 3, lastHash: v3.hash });
  });

  it('binds an offer’s id through the subject digest and the rest of the offer directly', () => {
    const base = chainV3(1)[0]!;
    const offered = finalizeRecord(
      {
        ...base,
        kind: 'offer',
        source: 'offer',
        offer: {
          offerId: 'ofr_MjA.AAAAAAAAAAAAAAAA',
          event: 'created',
          from: BOT,
          to: AGENT,
          expiresAt: '2026-03-10T14:00:31.000Z',
          onTimeout: 'keep',
        },
      },
      'completed',
      null,
    );

    expect(
      hashRecord({ ...offered, offer: { ...offered.offer!, offerId: 'ofr_MjE.AAAAAAAAAAAAAAAA' } }),
    ).not.toBe(offered.hash);
    expect(hashRecord({ ...offered, offer: { ...offered.offer!, to: BOT } })).not.toBe(
      offered.hash,
    );
    expect(hashRecord({ ...offered, kind: undefined })).not.toBe(offered.hash);
    expect(hashRecord(offered)).toBe(offered.hash);
  });
});
