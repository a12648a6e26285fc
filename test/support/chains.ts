// Chains of records for the hash chain's tests (test/domain/chain*.test.ts): n linked records of
// one user, Bot and Agent in turn, each sealed by the caller (chain v2 or v3), and the metadata
// erasure as the eraser writes it.
import { finalizeRecord, GENESIS_HASH, type SaltSource } from '../../functions/domain/chain';
import type { DraftRecord, HandoverRecord } from '../../functions/domain/types';
import { AGENT, BOT } from './fakes';

/** The vectors' metadata salt: the bytes 0..31, base64url. */
export const FIXED_SALT = 'AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8';

/** Salts in the order given, round and round. */
export const fixedSalts = (...salts: string[]): SaltSource => {
  let i = 0;
  return { next: () => salts[i++ % salts.length]! };
};

/** What a record at `seq` says beyond its links: its reason and its sealed metadata fields. */
export type SealAt = (
  seq: number,
) => Pick<DraftRecord, 'reason' | 'chain' | 'salt' | 'subjectSalt' | 'metadata' | 'metadataDigest'>;

/** n linked records of `userId`, completed, with the fields `sealAt` gives each seq. */
export const linkedRecords = (n: number, sealAt: SealAt, userId = '20'): HandoverRecord[] => {
  const records: HandoverRecord[] = [];
  for (let seq = 1; seq <= n; seq++) {
    records.push(
      finalizeRecord(
        {
          handoverId: `h${String(seq).padStart(4, '0')}`,
          userId,
          seq,
          fromOwner: seq % 2 === 1 ? BOT : AGENT,
          toOwner: seq % 2 === 1 ? AGENT : BOT,
          ...sealAt(seq),
          requestedBy: BOT,
          source: 'api',
          createdAt: new Date(Date.UTC(2026, 2, 10, 14, 0, seq)).toISOString(),
          prevHash: records.at(-1)?.hash ?? GENESIS_HASH,
        },
        'completed',
        { status: 200, code: null, durationMs: 5 },
      ),
    );
  }
  return records;
};

/** A metadata erasure of one record, as the eraser writes it (a v3 subject salt stays). */
export const eraseMetadata = (record: HandoverRecord): HandoverRecord => {
  const { salt: _salt, ...rest } = record;
  return {
    ...rest,
    metadata: null,
    metadataErased: { at: '2026-06-01T00:00:00.000Z', erasureId: 'era_test' },
  };
};
