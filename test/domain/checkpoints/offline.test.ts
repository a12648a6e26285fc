// The offline verdict on its own (the CLI's tests run it from real files): the chain of the
// checkpoints at hand (a gap, a fork, a first one that names a predecessor) and the records
// against the newest checkpoint holding their user, on the job's own output; the user's heads found
// by its subjectRef when the auditor has it, else by a record's seq and hash (weaker, and said).
import { makeCheckpoints } from '../../../functions/domain/checkpoints/job';
import {
  buildCheckpoint,
  type StoredCheckpoint,
  signedBytes,
} from '../../../functions/domain/checkpoints/document';
import { hashRecord } from '../../../functions/domain/chain';
import {
  LOCATED_BY_HASH_WARNING,
  verifyOffline,
} from '../../../functions/domain/checkpoints/offline';
import type { HandoverRecord } from '../../../functions/domain/types';
import { checkpointWorld, FIXED_PUBLIC_KEY, fixedSigner, historyOf, refOf } from './world';

/** Three checkpoints: u-a (2 records) in the first, u-b in the second, u-a (3) in the third. */
const threeCheckpoints = async () => {
  const w = checkpointWorld();
  await w.add(historyOf('u-a', 2, { startMs: w.clock.now() - 60_000 }));
  await makeCheckpoints(w.deps, { by: 'test' });
  w.clock.advance(60_000);
  await w.add(historyOf('u-b', 1, { startMs: w.clock.now() }));
  await makeCheckpoints(w.deps, { by: 'test' });
  w.clock.advance(60_000);
  const a = w.history.userRecords('u-a');
  await w.add(historyOf('u-a', 1, { firstSeq: 3, prevHash: a[1]!.hash, startMs: w.clock.now() }));
  await makeCheckpoints(w.deps, { by: 'test' });
  const stored: StoredCheckpoint[] = [];
  for (const id of ['000000000001', '000000000002', '000000000003'])
    stored.push((await w.store.get(id))!);
  return { w, stored };
};

describe('the offline verify', () => {
  it('takes the newest checkpoint holding the user, whatever order the files come in', async () => {
    const { w, stored } = await threeCheckpoints();
    const report = verifyOffline({
      publicKeyPem: FIXED_PUBLIC_KEY,
      checkpoints: [stored[2]!, stored[0]!, stored[1]!],
      records: w.history.userRecords('u-a').reverse(),
      subjectRef: refOf('u-a'),
    });
    expect(report).toMatchObject({
      userId: 'u-a',
      subjectRef: refOf('u-a'),
      located: 'subjectRef',
      ok: true,
      count: 3,
      lastSeq: 3,
      chain: { checkpoints: 3, first: '000000000001', newest: '000000000003' },
      checkpoint: { status: 'verified', checkpointId: '000000000003', seq: 3 },
    });
    expect(report.chain.fault).toBeUndefined();
    expect(report.warning).toBeUndefined();
  });

  it('fails a set with a checkpoint missing in the middle, even for a user of the others', async () => {
    const { w, stored } = await threeCheckpoints();
    const report = verifyOffline({
      publicKeyPem: FIXED_PUBLIC_KEY,
      checkpoints: [stored[0]!, stored[2]!],
      records: w.history.userRecords('u-a'),
    });
    expect(report).toMatchObject({
      ok: false,
      chain: { fault: { checkpointId: '000000000003', fault: 'gap' } },
      checkpoint: { status: 'broken', fault: 'chain_broken' },
    });
  });

  it('accepts the same checkpoint twice, and fails two different ones in one place (a fork)', async () => {
    const { w, stored } = await threeCheckpoints();
    const records = w.history.userRecords('u-a');
    const twice = verifyOffline({
      publicKeyPem: FIXED_PUBLIC_KEY,
      checkpoints: [...stored, stored[1]!],
      records,
    });
    expect(twice.ok).toBe(true);

    const signer = fixedSigner();
    const other = buildCheckpoint({
      previous: stored[0]!.checkpoint,
      createdAt: stored[1]!.checkpoint.createdAt,
      coveredUntil: stored[1]!.checkpoint.coveredUntil,
      heads: [{ subjectRef: refOf('u-z'), lastSeq: 1, lastHash: 'f'.repeat(64) }],
    });
    const fork = {
      checkpoint: other,
      signature: Buffer.from(await signer.sign(signedBytes(other))),
    };
    const forked = verifyOffline({
      publicKeyPem: FIXED_PUBLIC_KEY,
      checkpoints: [...stored, fork],
      records,
    });
    expect(forked.chain.fault).toEqual({ checkpointId: '000000000002', fault: 'fork' });
    expect(forked.ok).toBe(false);
  });

  it('starts a partial set anywhere, but holds the first of all to name no predecessor', async () => {
    const { w, stored } = await threeCheckpoints();
    const records = w.history.userRecords('u-a');
    expect(
      verifyOffline({ publicKeyPem: FIXED_PUBLIC_KEY, checkpoints: stored.slice(1), records }).ok,
    ).toBe(true);
    const signer = fixedSigner();
    const first = { ...stored[0]!.checkpoint, previousCheckpointHash: 'e'.repeat(64) };
    const claimed = {
      checkpoint: first,
      signature: Buffer.from(await signer.sign(signedBytes(first))),
    };
    const report = verifyOffline({
      publicKeyPem: FIXED_PUBLIC_KEY,
      checkpoints: [claimed],
      records,
    });
    expect(report.chain.fault).toEqual({ checkpointId: '000000000001', fault: 'chain_broken' });
  });

  it("names the chain's own break in the records first", async () => {
    const { w, stored } = await threeCheckpoints();
    const records = w.history.userRecords('u-a');
    records[0] = { ...records[0]!, reason: 'edited' };
    const report = verifyOffline({ publicKeyPem: FIXED_PUBLIC_KEY, checkpoints: stored, records });
    expect(report).toMatchObject({
      ok: false,
      count: 0,
      firstBroken: { seq: 1, problem: 'hash_mismatch' },
    });
  });

  it("without a subjectRef, finds the user's head by a record's seq and hash, reads the ref off it, and says why that is weaker", async () => {
    const { w, stored } = await threeCheckpoints();
    const report = verifyOffline({
      publicKeyPem: FIXED_PUBLIC_KEY,
      checkpoints: stored,
      records: w.history.userRecords('u-a'),
    });
    expect(report).toMatchObject({
      ok: true,
      subjectRef: refOf('u-a'),
      located: 'hash',
      warning: LOCATED_BY_HASH_WARNING,
      checkpoint: { status: 'verified', checkpointId: '000000000003', seq: 3 },
    });
    expect(report.warning).toContain('reads as not checkpointed instead of broken');
  });

  it('fails a history rewritten as a whole below the checkpoint given the subjectRef; by hash it only looks not checkpointed', async () => {
    const { w, stored } = await threeCheckpoints();
    let prevHash = '0'.repeat(64);
    const rewritten = w.history.userRecords('u-a').map((r): HandoverRecord => {
      const changed = { ...r, reason: 'nothing_to_see', prevHash };
      const record = { ...changed, hash: hashRecord(changed) };
      prevHash = record.hash;
      return record;
    });
    const input = { publicKeyPem: FIXED_PUBLIC_KEY, checkpoints: stored, records: rewritten };
    expect(verifyOffline({ ...input, subjectRef: refOf('u-a') })).toMatchObject({
      ok: false,
      located: 'subjectRef',
      firstBroken: { seq: 3, problem: 'checkpoint_mismatch' },
      checkpoint: { status: 'broken', checkpointId: '000000000003', seq: 3 },
    });
    expect(verifyOffline(input)).toMatchObject({
      ok: true,
      located: 'hash',
      subjectRef: null,
      warning: LOCATED_BY_HASH_WARNING,
      checkpoint: { status: 'none', notYetCheckpointed: 3 },
    });
  });

  it('fails the newest records cut from the file, with the subjectRef and by an older head found by hash', async () => {
    const { w, stored } = await threeCheckpoints();
    const cut = w.history.userRecords('u-a').filter((r) => r.seq <= 2);
    for (const subjectRef of [refOf('u-a'), undefined]) {
      expect(
        verifyOffline({
          publicKeyPem: FIXED_PUBLIC_KEY,
          checkpoints: stored,
          records: cut,
          ...(subjectRef ? { subjectRef } : {}),
        }),
      ).toMatchObject({
        ok: false,
        count: 2,
        subjectRef: refOf('u-a'),
        firstBroken: { seq: 3, problem: 'checkpoint_record_missing' },
        checkpoint: { status: 'broken', checkpointId: '000000000003', seq: 3 },
      });
    }
  });
});
