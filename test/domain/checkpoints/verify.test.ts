// Verify against the signed checkpoints, on fakes: what the owner item cannot catch (a history and
// owner item rewritten together, the newest records and the head deleted together) the newest
// checkpoint holding the user does; records after it are "not yet checkpointed", no break. The
// user's heads and notes are found by its subjectRef under the subject key, which the report shows.
import { generateKeyPairSync } from 'node:crypto';
import { createCheckpointStore } from '../../../functions/adapters/checkpoint-objects';
import { checkpointKey } from '../../../functions/contracts/checkpoints';
import { hashRecord } from '../../../functions/domain/chain';
import { makeCheckpoints } from '../../../functions/domain/checkpoints/job';
import type { HandoverRecord } from '../../../functions/domain/types';
import { SubjectKeyMissingError, verifyUser } from '../../../functions/domain/verify';
import { checkpointWorld, historyOf, ownerItemFor, refOf, subjectKey } from './world';

type World = ReturnType<typeof checkpointWorld>;

const verifyDeps = (w: World, withCheckpoints = true) => ({
  history: w.history,
  state: w.state,
  log: w.log,
  checkpoints: withCheckpoints ? { store: w.store, signer: w.signer } : null,
  subjectKey,
});

/** A world with u-a's 3 records and u-b's 1 in the first checkpoint. */
const checkpointed = async () => {
  const w = checkpointWorld();
  await w.add(historyOf('u-a', 3));
  await w.add(historyOf('u-b', 1));
  await makeCheckpoints(w.deps, { by: 'test' });
  return w;
};

/** Replaces a user's records (and owner item) with a consistent history of new hashes. */
const rewriteConsistently = (w: World, userId: string, records: HandoverRecord[]) => {
  for (const key of [...w.history.records.keys()]) {
    if (key.startsWith(`${userId}#`)) w.history.records.delete(key);
  }
  let prevHash = records[0]!.prevHash;
  for (const original of records) {
    const unhashed = { ...original, reason: 'nothing_to_see', prevHash };
    const record = { ...unhashed, hash: hashRecord(unhashed) };
    w.history.records.set(`${userId}#${String(record.seq).padStart(10, '0')}`, record);
    prevHash = record.hash;
  }
  w.state.owners.set(userId, ownerItemFor(w.history.userRecords(userId)));
};

describe('verify against the signed checkpoints', () => {
  it("reports the user's records verified against the newest checkpoint holding them", async () => {
    const w = await checkpointed();
    const report = await verifyUser('u-a', verifyDeps(w));
    expect(report).toMatchObject({ ok: true, count: 3, lastSeq: 3, subjectRef: refOf('u-a') });
    expect(report.checkpoint).toEqual({
      status: 'verified',
      checkpointId: '000000000001',
      createdAt: '2026-03-10T12:30:00.000Z',
      seq: 3,
      notYetCheckpointed: 0,
    });
  });

  it('calls a record written after the newest checkpoint not yet checkpointed, and no break', async () => {
    const w = await checkpointed();
    const last = w.history.userRecords('u-a')[2]!;
    await w.add(historyOf('u-a', 1, { firstSeq: 4, prevHash: last.hash }));
    const report = await verifyUser('u-a', verifyDeps(w));
    expect(report).toMatchObject({ ok: true, count: 4 });
    expect(report.checkpoint).toMatchObject({ status: 'verified', seq: 3, notYetCheckpointed: 1 });
  });

  it('reports a user no checkpoint holds yet, every record not yet checkpointed', async () => {
    const w = await checkpointed();
    await w.add(historyOf('u-c', 2));
    const report = await verifyUser('u-c', verifyDeps(w));
    expect(report.ok).toBe(true);
    expect(report.checkpoint).toEqual({
      status: 'none',
      checkpointId: null,
      createdAt: null,
      seq: null,
      notYetCheckpointed: 2,
    });
  });

  it('fails a history and owner item rewritten consistently below a checkpoint (the owner item alone says intact)', async () => {
    const w = await checkpointed();
    rewriteConsistently(w, 'u-a', w.history.userRecords('u-a'));
    expect((await verifyUser('u-a', verifyDeps(w, false))).ok).toBe(true);
    const report = await verifyUser('u-a', verifyDeps(w));
    expect(report).toMatchObject({
      ok: false,
      firstBroken: { seq: 3, handoverId: 'u-a-h3', problem: 'checkpoint_mismatch' },
    });
    expect(report.checkpoint).toMatchObject({ status: 'broken', seq: 3 });
  });

  it('fails when the newest records and the head were deleted together', async () => {
    const w = await checkpointed();
    w.history.records.delete('u-a#0000000003');
    w.history.records.delete('u-a#0000000002');
    w.state.owners.set('u-a', ownerItemFor(w.history.userRecords('u-a')));
    expect((await verifyUser('u-a', verifyDeps(w, false))).ok).toBe(true);
    const report = await verifyUser('u-a', verifyDeps(w));
    expect(report).toMatchObject({
      ok: false,
      count: 1,
      firstBroken: { seq: 2, handoverId: null, problem: 'checkpoint_record_missing' },
    });
  });

  it('fails when the checkpoint does not verify with the public key', async () => {
    const w = await checkpointed();
    const otherKey = generateKeyPairSync('ec', { namedCurve: 'prime256v1' })
      .publicKey.export({ type: 'spki', format: 'pem' })
      .toString();
    const signer = { ...w.signer, publicKeyPem: async () => otherKey };
    const report = await verifyUser('u-a', {
      ...verifyDeps(w),
      checkpoints: { store: w.store, signer },
    });
    expect(report).toMatchObject({
      ok: false,
      firstBroken: { seq: 3, problem: 'checkpoint_invalid' },
    });
    expect(report.checkpoint).toMatchObject({ status: 'broken', fault: 'signature_invalid' });
  });

  it("fails when the newest checkpoint's predecessor is gone from the bucket", async () => {
    const w = await checkpointed();
    const last = w.history.userRecords('u-a')[2]!;
    await w.add(historyOf('u-a', 1, { firstSeq: 4, prevHash: last.hash, startMs: w.clock.now() }));
    w.clock.advance(60_000);
    await makeCheckpoints(w.deps, { by: 'test' });
    w.bucket.objects.delete(checkpointKey('000000000001'));
    // A reader that has not seen it (the store keeps what it read).
    const store = createCheckpointStore(w.bucket);
    const report = await verifyUser('u-a', {
      ...verifyDeps(w),
      checkpoints: { store, signer: w.signer },
    });
    expect(report).toMatchObject({
      ok: false,
      firstBroken: { seq: 4, problem: 'checkpoint_invalid' },
    });
    expect(report.checkpoint).toMatchObject({ status: 'broken', fault: 'chain_broken', seq: 4 });
  });

  it('fails when the checkpoint holding the user is gone from the bucket', async () => {
    const w = await checkpointed();
    await w.add(historyOf('u-c', 1, { startMs: w.clock.now() }));
    w.clock.advance(60_000);
    await makeCheckpoints(w.deps, { by: 'test' });
    w.bucket.objects.delete(checkpointKey('000000000001'));
    const store = createCheckpointStore(w.bucket);
    const report = await verifyUser('u-a', {
      ...verifyDeps(w),
      checkpoints: { store, signer: w.signer },
    });
    expect(report).toMatchObject({
      ok: false,
      firstBroken: { seq: 1, problem: 'checkpoint_invalid' },
    });
    expect(report.checkpoint).toMatchObject({
      status: 'broken',
      checkpointId: '000000000001',
      fault: 'chain_broken',
    });
  });

  it('skips a note naming a checkpoint that does not hold the user (a run that lost its place)', async () => {
    const w = await checkpointed();
    // One past the newest (a run that died before its put), one whose place another run took.
    await w.store.markUser(refOf('u-a'), '000000000002');
    await w.add(historyOf('u-c', 1, { startMs: w.clock.now() }));
    w.clock.advance(60_000);
    await makeCheckpoints(w.deps, { by: 'test' });
    await w.store.markUser(refOf('u-a'), '000000000003');
    const report = await verifyUser('u-a', verifyDeps(w));
    expect(report.checkpoint).toMatchObject({ status: 'verified', checkpointId: '000000000001' });
  });

  it('finds the user under another subject key nowhere: its heads are named by the key', async () => {
    const w = await checkpointed();
    const report = await verifyUser('u-a', {
      ...verifyDeps(w),
      subjectKey: { key: async () => Buffer.alloc(32, 8) },
    });
    expect(report.subjectRef).not.toBe(refOf('u-a'));
    expect(report.checkpoint).toMatchObject({ status: 'none', notYetCheckpointed: 3 });
  });

  it('says without checkpoints nothing of a subjectRef, and refuses checkpoints without the key', async () => {
    const w = await checkpointed();
    const bare = await verifyUser('u-a', verifyDeps(w, false));
    expect(bare.subjectRef).toBeUndefined();
    expect(bare.checkpoint).toBeUndefined();
    const { subjectKey: _k, ...keyless } = verifyDeps(w);
    await expect(verifyUser('u-a', keyless)).rejects.toThrow(SubjectKeyMissingError);
  });
});
