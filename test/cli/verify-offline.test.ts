// `parley-handover verify --offline` as an external auditor runs it: the files come from a real
// local stack (its checkpoint job, its folder of checkpoints, GET /checkpoints/public-key, the
// CLI's own `audit user --json` and `export`, the subjectRef of `verify --json`), then the stack is
// stopped and the CLI checks them with nothing of ours running. Tampered copies of those files
// fail, a record after the newest checkpoint does not; without the user's subjectRef the head is
// found by seq and hash, with a warning, and a history rewritten as a whole is not seen.
import { generateKeyPairSync } from 'node:crypto';
import { cpSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { type CliIo, runCli } from '../../cli/parley-handover/main';
import { hashRecord } from '../../functions/domain/chain';
import { removeRunInfo, writeRunInfo } from '../../local/paths';
import { parseServicesFile } from '../../local/services-file';
import { generateSimulatorServicesFile, startLocalStack } from '../../local/stack';
import { http, tempDir } from '../local/support';

const dir = tempDir('cli-offline-');
const env: NodeJS.ProcessEnv = { PARLEY_LOCAL_DIR: dir.dir };
const files = {
  key: join(dir.dir, 'key.pem'),
  bucket: join(dir.dir, 'bucket'),
  user: join(dir.dir, 'user-70.json'),
  later: join(dir.dir, 'user-70-later.json'),
  exported: join(dir.dir, 'export-70.json'),
};
/** User 70's subjectRef, from verify's answer while the stack ran. */
let subjectRef = '';

const cli = async (...argv: string[]) => {
  const out: string[] = [];
  const err: string[] = [];
  const io: CliIo = { env, stdout: (t) => out.push(t), stderr: (t) => err.push(t) };
  const code = await runCli(argv, io);
  return { code, stdout: out.join(''), stderr: err.join('') };
};

const offline = (records = files.user, bucket = files.bucket, key = files.key, ...more: string[]) =>
  cli(
    'verify',
    '--offline',
    '--public-key',
    key,
    '--checkpoints',
    bucket,
    '--records',
    records,
    ...more,
  );

const recordsOf = (file: string) => JSON.parse(readFileSync(file, 'utf8')).handovers as any[];
const writeRecords = (name: string, handovers: unknown[]) => {
  const file = join(dir.dir, name);
  writeFileSync(file, JSON.stringify({ handovers }));
  return file;
};
/** A copy of the bucket folder, changed by `change` (which gets the checkpoint files' paths). */
const bucketCopy = (name: string, change: (checkpointFiles: string[]) => void) => {
  const copy = join(dir.dir, name);
  cpSync(files.bucket, copy, { recursive: true });
  const folder = join(copy, 'checkpoints');
  change(
    readdirSync(folder)
      .sort()
      .map((f) => join(folder, f)),
  );
  return copy;
};

beforeAll(async () => {
  const file = generateSimulatorServicesFile();
  writeFileSync(join(dir.dir, 'services.json'), JSON.stringify(file));
  const stack = await startLocalStack({
    settings: parseServicesFile(file),
    dataDir: join(dir.dir, 'data'),
    reconcileIntervalMs: 0,
    checkpointIntervalMs: 0,
    queue: { deliver: false },
    // Checkpoints start today: the first run has no earlier day to list.
    config: {
      checkpoints: { since: `${new Date().toISOString().slice(0, 10)}T00:00:00.000Z` } as never,
    },
  });
  try {
    writeRunInfo(
      {
        pid: process.pid,
        url: stack.url,
        simulatorUrl: stack.parley!.url,
        servicesFile: join(dir.dir, 'services.json'),
        demo: false,
      },
      env,
    );
    // Users 70 and 71: three handovers and one, then a checkpoint of both.
    for (const [user, as] of [
      ['70', undefined],
      ['70', 'Agent Service'],
      ['70', undefined],
      ['71', undefined],
    ] as const) {
      const target = as ? 'default' : 'Agent Service';
      const moved = await cli(
        'handover',
        user,
        target,
        '--reason',
        'offline',
        ...(as ? ['--as', as] : []),
      );
      expect(moved.code).toBe(0);
    }
    await stack.checkpointNow();
    writeFileSync(files.user, (await cli('audit', 'user', '70', '--json')).stdout);
    subjectRef = JSON.parse((await cli('verify', '70', '--json')).stdout).subjectRef;
    expect((await cli('export', '70', '--out', files.exported)).code).toBe(0);
    // One more record of user 70, after the newest checkpoint.
    expect(
      (await cli('handover', '70', 'default', '--reason', 'late', '--as', 'Agent Service')).code,
    ).toBe(0);
    writeFileSync(files.later, (await cli('audit', 'user', '70', '--json')).stdout);
    const key = await http<string>(`${stack.url}/checkpoints/public-key`);
    expect(key.status).toBe(200);
    writeFileSync(files.key, key.body);
    cpSync(join(dir.dir, 'data', 'checkpoints-v2'), files.bucket, { recursive: true });
  } finally {
    removeRunInfo(env);
    await stack.close();
  }
}, 120_000);

afterAll(() => dir.remove());

const WARNING =
  /^warning: no subjectRef given: the user's head was located by matching a record's seq and hash, so a history rewritten as a whole matches no head and reads as not checkpointed instead of broken; give the user's subjectRef \(verify's or the export's\) for the full check\.\n$/;

describe('verify --offline', () => {
  it("verifies a user's records against the checkpoints, every signature and the chain, from files only", async () => {
    expect(subjectRef).toMatch(/^[0-9a-f]{64}$/);
    const table = await offline(files.user, files.bucket, files.key, '--subject-ref', subjectRef);
    const json = await offline(
      files.user,
      files.bucket,
      files.key,
      '--subject-ref',
      subjectRef,
      '--json',
    );
    expect(table.code).toBe(0);
    expect(table.stdout).toBe(
      'user 70: 3 record(s), hash chain intact; checkpoint 000000000001 verified at seq 3, 0 record(s) not yet checkpointed; 1 checkpoint(s) 000000000001..000000000001: signatures and chain verified\n',
    );
    expect(table.stderr).toBe('');
    expect(JSON.parse(json.stdout)).toMatchObject({
      userId: '70',
      subjectRef,
      located: 'subjectRef',
      ok: true,
      count: 3,
      checkpoint: { status: 'verified', seq: 3, notYetCheckpointed: 0 },
      chain: { checkpoints: 1 },
    });
  });

  it("takes the subjectRef from the export, and the export's records", async () => {
    const exported = JSON.parse(readFileSync(files.exported, 'utf8'));
    expect(exported.subjectRef).toBe(subjectRef);
    const result = await offline(files.exported, files.bucket, files.key, '--json');
    expect({ code: result.code, stderr: result.stderr }).toEqual({ code: 0, stderr: '' });
    expect(JSON.parse(result.stdout)).toMatchObject({
      subjectRef,
      located: 'subjectRef',
      ok: true,
      count: 3,
      checkpoint: { status: 'verified', seq: 3 },
    });
  });

  it("without a subjectRef, locates the head by a record's seq and hash and warns why that is weaker", async () => {
    const result = await offline(files.user, files.bucket, files.key, '--json');
    expect(result.code).toBe(0);
    expect(result.stderr).toMatch(WARNING);
    expect(JSON.parse(result.stdout)).toMatchObject({
      subjectRef,
      located: 'hash',
      checkpoint: { status: 'verified', seq: 3 },
    });
  });

  it('calls a record written after the newest checkpoint not yet checkpointed, and exits 0', async () => {
    const later = await offline(files.later, files.bucket, files.key, '--json');
    expect(later.code).toBe(0);
    expect(JSON.parse(later.stdout)).toMatchObject({
      ok: true,
      count: 4,
      checkpoint: { status: 'verified', seq: 3, notYetCheckpointed: 1 },
    });
  });

  it('fails a history rewritten consistently, with new hashes, below the checkpoint', async () => {
    let prevHash = '0'.repeat(64);
    const rewritten = recordsOf(files.user)
      .sort((a, b) => a.seq - b.seq)
      .map((r) => {
        const changed = { ...r, reason: 'nothing_to_see', prevHash };
        const record = { ...changed, hash: hashRecord(changed) };
        prevHash = record.hash;
        return record;
      });
    const file = writeRecords('rewritten.json', rewritten);
    const result = await offline(file, files.bucket, files.key, '--subject-ref', subjectRef);
    expect(result.code).toBe(1);
    expect(result.stdout).toMatch(/^user 70: BROKEN at seq 3 \(checkpoint_mismatch\)/);
    // Without the subjectRef no head matches: "not checkpointed", with the warning that says so.
    const blind = await offline(file);
    expect(blind.code).toBe(0);
    expect(blind.stdout).toMatch(
      /; no checkpoint holds this user: 3 record\(s\) not yet checkpointed;/,
    );
    expect(blind.stderr).toMatch(WARNING);
  });

  it('fails when the newest records were removed from the file', async () => {
    const kept = recordsOf(files.user).filter((r) => r.seq === 1);
    const cut = writeRecords('cut.json', kept);
    const result = await offline(
      cut,
      files.bucket,
      files.key,
      '--subject-ref',
      subjectRef,
      '--json',
    );
    expect(result.code).toBe(1);
    expect(JSON.parse(result.stdout)).toMatchObject({
      ok: false,
      count: 1,
      firstBroken: { seq: 2, problem: 'checkpoint_record_missing' },
    });
  });

  it('fails a checkpoint changed after signing, and one signed by another key', async () => {
    const changed = bucketCopy('changed', ([file]) => {
      writeFileSync(file!, readFileSync(file!, 'utf8').replace(/"lastSeq":3/, '"lastSeq":2'));
    });
    const edited = await offline(files.user, changed, files.key, '--json');
    expect(edited.code).toBe(1);
    expect(JSON.parse(edited.stdout).chain.fault).toEqual({
      checkpointId: '000000000001',
      fault: 'root_mismatch',
    });

    const otherKey = join(dir.dir, 'other.pem');
    writeFileSync(
      otherKey,
      generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).publicKey.export({
        type: 'spki',
        format: 'pem',
      }),
    );
    const forged = await offline(files.user, files.bucket, otherKey, '--json');
    expect(forged.code).toBe(1);
    expect(JSON.parse(forged.stdout)).toMatchObject({
      firstBroken: { problem: 'checkpoint_invalid' },
      checkpoint: { status: 'broken', fault: 'signature_invalid' },
    });
  });

  it('names a file it cannot use (exit 1) and a wrong command line (exit 2)', async () => {
    const notJson = writeRecords('x.json', []);
    writeFileSync(notJson, 'not json');
    expect(await offline(notJson)).toMatchObject({
      code: 1,
      stderr: `--records ${notJson} is not JSON.\n`,
    });
    const empty = join(dir.dir, 'empty');
    rmSync(empty, { recursive: true, force: true });
    mkdirSync(empty);
    expect((await offline(files.user, empty)).stderr).toBe(
      `--checkpoints ${empty} holds no checkpoint.\n`,
    );
    expect((await offline(files.user, files.bucket, files.user)).stderr).toBe(
      `--public-key ${files.user} is not an ECDSA P-256 public key in PEM.\n`,
    );
    expect(await cli('verify', '--offline', '--records', files.user)).toMatchObject({
      code: 2,
      stderr: 'verify --offline needs --public-key, --checkpoints. Try --help.\n',
    });
    expect(await offline(files.user, files.bucket, files.key, '--subject-ref', '70')).toMatchObject(
      {
        code: 2,
        stderr: "--subject-ref takes 64 lowercase hex digits (verify's subjectRef). Try --help.\n",
      },
    );
    expect(await cli('verify', '70', '--subject-ref', subjectRef)).toMatchObject({
      code: 2,
      stderr: '--subject-ref goes with --offline. Try --help.\n',
    });
    const other = 'f'.repeat(64);
    expect(
      await offline(files.exported, files.bucket, files.key, '--subject-ref', other),
    ).toMatchObject({
      code: 1,
      stderr: `--records ${files.exported} names another subjectRef than --subject-ref.\n`,
    });
    expect((await cli('verify', '70', '--records', files.user)).code).toBe(2);
    expect((await cli('verify', '--offline', '--all')).code).toBe(2);
  });
});
