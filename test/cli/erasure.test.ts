// The CLI's erasure and export commands against the local stack (real gateway, handlers, dynalite,
// the Parley simulator): an erasure asked for, done by the eraser the way its schedule runs it,
// shown with its erased chain verified, the user exported afterwards (its tombstone only), the
// register saved and written back; usage mistakes refused before any request.
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { GetCommand, PutCommand } from '@aws-sdk/lib-dynamodb';
import { type CliIo, runCli } from '../../cli/parley-handover/main';
import { removeRunInfo, writeRunInfo } from '../../local/paths';
import { parseServicesFile } from '../../local/services-file';
import {
  generateSimulatorServicesFile,
  type LocalStack,
  startLocalStack,
  TABLES,
} from '../../local/stack';
import { tempDir } from '../local/support';

describe('parley-handover erasure and export', () => {
  const dir = tempDir('cli-erasure-');
  const env: NodeJS.ProcessEnv = { PARLEY_LOCAL_DIR: dir.dir };
  let stack: LocalStack;

  const cli = async (...argv: string[]) => {
    const out: string[] = [];
    const err: string[] = [];
    const io: CliIo = { env, stdout: (t) => out.push(t), stderr: (t) => err.push(t) };
    const code = await runCli(argv, io);
    return { code, stdout: out.join(''), stderr: err.join('') };
  };

  beforeAll(async () => {
    const file = generateSimulatorServicesFile();
    writeFileSync(join(dir.dir, 'services.json'), JSON.stringify(file));
    stack = await startLocalStack({
      settings: parseServicesFile(file),
      reconcileIntervalMs: 0,
      eraserIntervalMs: 0,
      // The hold for stalled writers is the handlers' tests' (test/handlers/erasure.test.ts);
      // here an erasure right after its user's handover is done by one run of the eraser.
      eraserWritersDoneMs: 0,
      queue: { deliver: false },
    });
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
  });
  afterAll(async () => {
    removeRunInfo(env);
    await stack.close();
    dir.remove();
  });

  it('refuses an erasure request without its level, reason or legal basis, with exit 2', async () => {
    for (const argv of [
      ['erasure', 'request', '70', '--reason', 'r', '--legal-basis', 'b'],
      ['erasure', 'request', '70', '--level', 'most', '--reason', 'r', '--legal-basis', 'b'],
      ['erasure', 'request', '70', '--level', 'full', '--legal-basis', 'b'],
      ['erasure', 'request', '70', '--level', 'full', '--reason', 'r'],
      ['erasure', 'request', '--level', 'full', '--reason', 'r', '--legal-basis', 'b'],
      ['erasure', 'show'],
      ['export'],
    ]) {
      expect({ argv, code: (await cli(...argv)).code }).toEqual({ argv, code: 2 });
    }
  });

  it('counts in a dry run, erases a user whole, shows it verified and exports its tombstone only', async () => {
    expect((await cli('handover', '70', 'Agent Service', '--reason', 'vip')).code).toBe(0);
    const asked = ['--level', 'full', '--reason', 'the user asked', '--legal-basis', 'GDPR 17'];

    const dry = await cli('erasure', 'request', '70', ...asked, '--dry-run');
    const requested = await cli('erasure', 'request', '70', ...asked, '--json');
    const erasureId = JSON.parse(requested.stdout).erasureId as string;
    await stack.eraserNow();
    const shown = await cli('erasure', 'show', erasureId);
    const out = join(dir.dir, 'export-70.json');
    const exported = await cli('export', '70', '--out', out);
    const body = JSON.parse(readFileSync(out, 'utf8'));

    expect(dry).toMatchObject({ code: 0 });
    expect(dry.stdout).toBe(
      'would erase (full): 1 record(s) (1 with metadata), an owner item, 0 outbox item(s)\n',
    );
    expect(requested.code).toBe(0);
    expect(shown).toMatchObject({ code: 0 });
    expect(shown.stdout).toContain(`erasure ${erasureId} (full): done`);
    expect(shown.stdout).toContain(
      'erased chain: 1 record(s) linked and as the tombstone says; checkpoint',
    );
    expect(exported.code).toBe(0);
    expect(statSync(out).mode & 0o777).toBe(0o600);
    expect(exported.stderr).toContain(`manifestSha256 ${body.manifestSha256}`);
    expect(body).toMatchObject({
      owner: null,
      records: [],
      erasures: [{ tombstone: { count: 1 } }],
    });
  });

  it('exits 1 when an erased chain was edited behind the service', async () => {
    expect((await cli('handover', '71', 'Agent Service', '--reason', 'vip')).code).toBe(0);
    expect((await cli('handover', '71', 'Bot Service', '--reason', 'back')).code).toBe(0);
    const requested = await cli(
      'erasure',
      'request',
      '71',
      '--level',
      'full',
      '--reason',
      'asked',
      '--legal-basis',
      'GDPR 17',
      '--json',
    );
    const erasureId = JSON.parse(requested.stdout).erasureId as string;
    await stack.eraserNow();
    const key = { pk: `ERASED#${erasureId}`, sk: `SEQ#${'1'.padStart(10, '0')}` };
    const stored = await stack.dynamo.client.send(
      new GetCommand({ TableName: TABLES.history, Key: key }),
    );
    await stack.dynamo.client.send(
      new PutCommand({ TableName: TABLES.history, Item: { ...stored.Item, hash: '0'.repeat(64) } }),
    );

    const shown = await cli('erasure', 'show', erasureId);

    expect(shown.code).toBe(1);
    // Chain v3: the edited record's own hash is computed again, so it breaks at its own seq.
    expect(shown.stdout).toContain('erased chain BROKEN at seq 1 (hash_mismatch)');
  });

  it('saves the register and writes it back with reapply; asks for a retention run', async () => {
    const saved = await cli('erasure', 'list', '--all', '--json');
    const file = join(dir.dir, 'register.json');
    writeFileSync(file, saved.stdout);

    const reapplied = await cli('erasure', 'reapply', '--register', file);
    const retention = await cli('erasure', 'retention');
    const listed = await cli('erasure', 'list');

    expect(JSON.parse(saved.stdout).items.length).toBeGreaterThanOrEqual(2);
    expect(reapplied).toMatchObject({ code: 0 });
    expect(reapplied.stdout).toMatch(
      /^0 register item\(s\) written back, \d+ erasure\(s\) opened again/,
    );
    expect(retention).toMatchObject({
      code: 0,
      stdout: 'retention run asked for: the eraser runs it within a minute\n',
    });
    expect(listed.stdout.split('\n')[0]).toMatch(/^erasureId\s+level\s+status\s+requestedBy/);
  });
});
