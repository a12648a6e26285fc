// The signed checkpoints seen from an erasure, on the job's own output: the eraser notes the newest
// checkpoint holding the user, found by the user's subjectRef; later, with no user id left, the
// erased chain is checked against that checkpoint by the head under the tombstone's subjectRef.
import {
  checkpointOfUser,
  erasedCheckpointChecker,
} from '../../../functions/domain/erasure/checkpoint';
import type { ErasedRecord, Tombstone } from '../../../functions/domain/erasure/types';
import { makeCheckpoints } from '../../../functions/domain/checkpoints/job';
import { checkpointWorld, historyOf, refOf, subjectKey } from './world';

/** u-a (3 records) and u-b (3 records, another chain) in checkpoint 1, u-a again (4) in 2. */
const world = async () => {
  const w = checkpointWorld();
  await w.add(historyOf('u-a', 3, { startMs: w.clock.now() - 10 * 60_000 }));
  await w.add(historyOf('u-b', 3, { startMs: w.clock.now() - 10 * 60_000 }));
  await makeCheckpoints(w.deps, { by: 'test' });
  w.clock.advance(60_000);
  const a = w.history.userRecords('u-a');
  await w.add(historyOf('u-a', 1, { firstSeq: 4, prevHash: a[2]!.hash, startMs: w.clock.now() }));
  await makeCheckpoints(w.deps, { by: 'test' });
  return w;
};

/** The user's records as a full erasure keeps them (the checker reads seq and hash). */
const erasedOf = (records: { seq: number; hash: string; prevHash: string }[]) =>
  records.map((r) => ({ ...r, erasureId: 'era_1' }) as unknown as ErasedRecord);

const tombstoneOf = (
  subjectRef: string,
  records: { seq: number; hash: string }[],
  checkpoint: Tombstone['checkpoint'],
): Tombstone => ({
  erasureId: 'era_1',
  subjectRef,
  count: records.length,
  firstSeq: 1,
  lastSeq: records.at(-1)!.seq,
  lastHash: records.at(-1)!.hash,
  requestedBy: 'operator:test',
  reason: 'access request',
  legalBasis: 'GDPR Art. 17',
  at: '2026-03-10T12:40:00.000Z',
  ...(checkpoint ? { checkpoint } : {}),
});

describe('an erasure and the checkpoints', () => {
  it("notes the newest checkpoint holding the user, found by the user's subjectRef", async () => {
    const w = await world();
    const noteOf = checkpointOfUser({ store: w.store, signer: w.signer }, subjectKey);
    expect(await noteOf('u-a')).toEqual({
      checkpointId: '000000000002',
      seq: 4,
      hash: w.history.userRecords('u-a')[3]!.hash,
    });
    expect(await noteOf('u-b')).toMatchObject({ checkpointId: '000000000001', seq: 3 });
    expect(await noteOf('nobody')).toBeNull();
    // Under another key the user is named otherwise, and no checkpoint holds that name.
    const otherKey = { key: async () => Buffer.alloc(32, 8) };
    expect(
      await checkpointOfUser({ store: w.store, signer: w.signer }, otherKey)('u-a'),
    ).toBeNull();
  });

  it("verifies the erased chain by the head under the tombstone's subjectRef", async () => {
    const w = await world();
    const check = erasedCheckpointChecker({ store: w.store, signer: w.signer });
    const records = w.history.userRecords('u-a');
    const named = { checkpointId: '000000000002', seq: 4, hash: records[3]!.hash };
    expect(await check(tombstoneOf(refOf('u-a'), records, named), erasedOf(records))).toEqual({
      status: 'verified',
      checkpointId: '000000000002',
      seq: 4,
    });
  });

  it('fails a tombstone whose subjectRef has no head there, or whose head is another seq or hash', async () => {
    const w = await world();
    const check = erasedCheckpointChecker({ store: w.store, signer: w.signer });
    const a = w.history.userRecords('u-a');
    const b = w.history.userRecords('u-b');
    // u-b's records under u-a's name, and the reverse: the names decide, not a matching seq.
    const bNamed = { checkpointId: '000000000001', seq: 3, hash: b[2]!.hash };
    expect(await check(tombstoneOf(refOf('u-a'), b, bNamed), erasedOf(b))).toMatchObject({
      status: 'broken',
      fault: 'head_mismatch',
    });
    const aNamed = { checkpointId: '000000000002', seq: 4, hash: a[3]!.hash };
    expect(await check(tombstoneOf(refOf('u-b'), a, aNamed), erasedOf(a))).toMatchObject({
      status: 'broken',
      fault: 'head_missing',
    });
    // The right name and checkpoint, an erased record rewritten at the head.
    const rewritten = a.map((r) => (r.seq === 4 ? { ...r, hash: 'e'.repeat(64) } : r));
    expect(await check(tombstoneOf(refOf('u-a'), a, aNamed), erasedOf(rewritten))).toMatchObject({
      status: 'broken',
      fault: 'record_mismatch',
    });
  });
});
