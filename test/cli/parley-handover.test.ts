import { execFile } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  DeleteCommand,
  GetCommand,
  PutCommand,
  ScanCommand,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import { createNotificationStore } from '../../functions/adapters/notification-store';
import { hashRecord } from '../../functions/domain/chain';
import type { NotificationItem } from '../../functions/domain/types';
import { type CliIo, runCli } from '../../cli/parley-handover/main';
import { removeRunInfo, writeRunInfo } from '../../local/paths';
import { parseServicesFile } from '../../local/services-file';
import {
  AGENT_SERVICE_ID as AGENT,
  generateSimulatorServicesFile,
  type LocalStack,
  startLocalStack,
  TABLES,
} from '../../local/stack';
import { http, tempDir } from '../local/support';

describe('parley-handover CLI', () => {
  const dir = tempDir('cli-');
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
      queue: { deliver: false },
    });
    // What `npm start` leaves for the CLI: the running stack's address.
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

  it('prints help with exit code 0, and usage mistakes with exit code 2', async () => {
    const help = await cli('--help');
    const commandHelp = await cli('audit', 'range', '--help');

    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/^Usage: parley-handover/);
    expect(commandHelp.code).toBe(0);
    expect(commandHelp.stdout).toContain('audit range --from ISO --to ISO');
    for (const argv of [
      [],
      ['frobnicate'],
      ['owner'],
      ['owner', '20', '--colour'],
      ['owner', '20', '--at', 'last tuesday'],
      ['services', '--format', 'xml'],
      ['audit', 'range', '--from', '2026-01-01'],
      ['audit', 'sideways'],
    ]) {
      expect({ argv, code: (await cli(...argv)).code }).toEqual({ argv, code: 2 });
    }
    expect((await cli('frobnicate')).stderr).toBe('Unknown command "frobnicate". Try --help.\n');
  });

  it('lists the services of the local stack with the local auditor token by default', async () => {
    const table = await cli('services');
    const json = await cli('services', '--format', 'json');

    expect(table.code).toBe(0);
    expect(table.stdout.split('\n')[0]).toMatch(/^identification\s+name\s+role\s+default$/);
    expect(table.stdout).toMatch(/Agent Service\s+agent\s+false/);
    expect(JSON.parse(json.stdout).services).toHaveLength(2);
  });

  it('hands a user over as its current owner, then answers owner, audit and verify', async () => {
    const before = new Date().toISOString();
    const moved = await cli('handover', '60', 'Agent Service', '--reason', 'vip');
    const owner = await cli('owner', '60');
    const earlier = await cli('owner', '60', '--at', before, '--format', 'json');
    const audit = await cli('audit', 'user', '60', '--format', 'json');
    const verify = await cli('verify', '60');

    expect(moved).toMatchObject({ code: 0 });
    expect(moved.stdout).toMatch(
      /^user 60 now belongs to Agent Service \(handover [\w-]+, seq 1\)\n$/,
    );
    expect(owner.stdout).toBe(
      `user 60: Agent Service (${AGENT}), since ${JSON.parse(audit.stdout).handovers[0].createdAt}\n`,
    );
    expect(JSON.parse(earlier.stdout)).toMatchObject({ owner: null, known: false });
    expect(JSON.parse(audit.stdout).handovers).toMatchObject([
      { seq: 1, toOwner: AGENT, reason: 'vip', status: 'completed' },
    ]);
    expect(verify).toMatchObject({ code: 0 });
    expect(verify.stdout).toMatch(/^user 60: 1 record\(s\), hash chain intact/);
  });

  it('pages through an audit range as CSV with a progress line on stderr', async () => {
    const from = new Date(Date.now() - 1000).toISOString();
    for (const user of ['61', '62', '63']) {
      expect((await cli('handover', user, 'Agent Service', '--reason', 'bulk')).code).toBe(0);
    }
    const to = new Date(Date.now() + 1000).toISOString();

    const csv = await cli(
      'audit',
      'range',
      '--from',
      from,
      '--to',
      to,
      '--reason',
      'bulk',
      '--format',
      'csv',
      '--page-size',
      '1',
    );

    expect(csv.code).toBe(0);
    const lines = csv.stdout.trim().split('\n');
    expect(lines).toHaveLength(4); // one header row, three records
    expect(lines.slice(1).map((l) => l.includes('bulk'))).toEqual([true, true, true]);
    expect(csv.stderr).toMatch(/audit range: 3 record\(s\), 3 page\(s\)/);
    expect(csv.stdout).not.toMatch(/audit range/);
  });

  it('exits 1 when the hash chain of a user was edited behind the service', async () => {
    expect((await cli('handover', '64', 'Agent Service', '--reason', 'original')).code).toBe(0);
    await stack.dynamo.client.send(
      new UpdateCommand({
        TableName: TABLES.history,
        Key: { pk: 'USER#64', sk: `SEQ#${'1'.padStart(10, '0')}` },
        UpdateExpression: 'SET #reason = :edited',
        ExpressionAttributeNames: { '#reason': 'reason' },
        ExpressionAttributeValues: { ':edited': 'edited' },
      }),
    );

    const verify = await cli('verify', '64');

    expect(verify.code).toBe(1);
    expect(verify.stdout).toBe(
      'user 64: hash chain BROKEN at seq 1 (hash_mismatch); 0 record(s) before it are sound\n',
    );
  });

  it('exits 1 when the newest record of a user was deleted behind the service', async () => {
    expect((await cli('handover', '65', 'Agent Service', '--reason', 'first')).code).toBe(0);
    expect(
      (await cli('handover', '65', 'default', '--reason', 'second', '--as', 'Agent Service')).code,
    ).toBe(0);
    await stack.dynamo.client.send(
      new DeleteCommand({
        TableName: TABLES.history,
        Key: { pk: 'USER#65', sk: `SEQ#${'2'.padStart(10, '0')}` },
      }),
    );

    const verify = await cli('verify', '65');

    expect(verify.code).toBe(1);
    expect(verify.stdout).toBe(
      'user 65: hash chain BROKEN at seq 2 (record_missing); 1 record(s) before it are sound\n',
    );
  });

  it('exits 1 when the newest record was rewritten behind the service with a recomputed hash', async () => {
    expect((await cli('handover', '66', 'Agent Service', '--reason', 'first')).code).toBe(0);
    expect(
      (await cli('handover', '66', 'default', '--reason', 'second', '--as', 'Agent Service')).code,
    ).toBe(0);
    const key = { pk: 'USER#66', sk: `SEQ#${'2'.padStart(10, '0')}` };
    const stored = (
      await stack.dynamo.client.send(new GetCommand({ TableName: TABLES.history, Key: key }))
    ).Item!;
    const { pk: _pk, sk: _sk, dayPk: _d, toPk: _t, timeSk: _ts, ...record } = stored;
    const rewritten = { ...record, reason: 'nothing_to_see', requestedBy: 'someone-else' };
    await stack.dynamo.client.send(
      new PutCommand({
        TableName: TABLES.history,
        Item: { ...stored, ...rewritten, hash: hashRecord(rewritten as never) },
      }),
    );

    const verify = await cli('verify', '66');

    expect(verify.code).toBe(1);
    expect(verify.stdout).toBe(
      'user 66: hash chain BROKEN at seq 2 (head_mismatch); 1 record(s) before it are sound\n',
    );
  });

  it('writes nothing while it verifies, even when Parley names another owner than the cache', async () => {
    expect((await cli('handover', '67', 'Agent Service', '--reason', 'first')).code).toBe(0);
    const bot = stack.parley!.seed.services.find((s) => s.identification !== AGENT)!;
    stack.parley!.setOwner('67', bot.identification); // moved at Parley, not through us
    const before = await stack.dynamo.client.send(
      new ScanCommand({ TableName: TABLES.history, ConsistentRead: true }),
    );

    const verify = await cli('verify', '67', '--format', 'json');
    const after = await stack.dynamo.client.send(
      new ScanCommand({ TableName: TABLES.history, ConsistentRead: true }),
    );

    expect(after.Items).toHaveLength(before.Items!.length);
    expect(verify.code).toBe(0);
    expect(JSON.parse(verify.stdout)).toMatchObject({ userId: '67', ok: true, count: 1 });
  });

  it('verifies every user with --all: progress on stderr, a summary naming each broken user, exit 1', async () => {
    const owners = await stack.dynamo.client.send(
      new ScanCommand({
        TableName: TABLES.state,
        FilterExpression: 'begins_with(pk, :user)',
        ExpressionAttributeValues: { ':user': 'USER#' },
      }),
    );
    const users = owners.Items!.length;
    const err: string[] = [];
    const out: string[] = [];
    const tty: CliIo = {
      env,
      stdout: (t) => out.push(t),
      stderr: (t) => err.push(t),
      stderrIsTty: true,
    };

    const plain = await cli('verify', '--all', '--page-size', '3');
    const json = await cli('verify', '--all', '--format', 'json');
    const code = await runCli(['verify', '--all', '--page-size', '3'], tty);

    expect(plain.code).toBe(1);
    expect(plain.stdout).toBe(
      [
        `users ${users}, ok ${users - 3}, broken 3`,
        '  user 64: BROKEN at seq 1 (hash_mismatch)',
        '  user 65: BROKEN at seq 2 (record_missing)',
        '  user 66: BROKEN at seq 2 (head_mismatch)',
        '',
      ].join('\n'),
    );
    const lines = plain.stderr.trimEnd().split('\n');
    expect(lines.length).toBeGreaterThanOrEqual(Math.ceil(users / 3));
    expect(lines.at(-1)).toBe(`verify --all: ${users} user(s) checked, 3 broken`);
    expect(JSON.parse(json.stdout)).toEqual({
      users,
      ok: users - 3,
      broken: 3,
      firstBroken: [
        { userId: '64', seq: 1, handoverId: expect.any(String), problem: 'hash_mismatch' },
        { userId: '65', seq: 2, handoverId: null, problem: 'record_missing' },
        { userId: '66', seq: 2, handoverId: expect.any(String), problem: 'head_mismatch' },
      ],
    });
    expect(code).toBe(1);
    const ttyErr = err.join('');
    expect(ttyErr.startsWith('\r\x1b[Kverify --all: ')).toBe(true);
    expect(ttyErr.split('\r').length - 1).toBeGreaterThanOrEqual(Math.ceil(users / 3));
    expect(ttyErr.slice(0, -1)).not.toContain('\n'); // rewritten in place; one newline to end
    expect(ttyErr.endsWith(`\r\x1b[Kverify --all: ${users} user(s) checked, 3 broken\n`)).toBe(
      true,
    );
  });

  it('refuses verify with a user and --all together, or a page size out of range', async () => {
    const help = await cli('verify', '--help');
    expect(help).toMatchObject({ code: 0 });
    expect(help.stdout).toContain('parley-handover verify --all [--page-size N]');
    for (const argv of [
      ['verify'],
      ['verify', '20', '--all'],
      ['verify', '20', '--page-size', '5'],
      ['verify', '--all', '--page-size', '101'],
      ['verify', '--all', '--page-size', '0'],
    ]) {
      expect({ argv, code: (await cli(...argv)).code }).toEqual({ argv, code: 2 });
    }
  });

  it('takes --url and --token before the command as well as after it', async () => {
    const auditor = parseServicesFile(
      JSON.parse(readFileSync(join(dir.dir, 'services.json'), 'utf8')),
    ).file.auditors[0]!.token;

    const before = await cli(
      '--url',
      stack.url,
      '--token',
      auditor,
      'services',
      '--format',
      'json',
    );
    const after = await cli('services', '--url', stack.url, '--token', auditor, '--format', 'json');

    expect(before.code).toBe(0);
    expect(JSON.parse(before.stdout)).toEqual(JSON.parse(after.stdout));
  });

  it('says there is nothing to verify for an unknown user or one without records, and hints at npm start when the local stack is down', async () => {
    const unknown = await cli('verify', 'no-such-user');
    expect((await cli('owner', '69')).code).toBe(0); // an owner item, no record yet
    const empty = await cli('verify', '69');
    const elsewhere = tempDir('cli-down-');
    const down = await runCli(['services', '--token', 'x'.repeat(32)], {
      env: { PARLEY_LOCAL_DIR: elsewhere.dir, PORT: '9' },
      stdout: () => undefined,
      stderr: (t) => {
        downErr.push(t);
      },
    });

    expect(unknown).toMatchObject({ code: 1, stdout: '' });
    expect(unknown.stderr).toBe(
      'The service answered 404 not_found: No owner item and no handover records for this user: nothing to verify (check the user id).\n',
    );
    expect(empty).toMatchObject({
      code: 0,
      stdout: 'user 69: no handover records yet (nothing to verify)\n',
    });
    expect(down).toBe(1);
    expect(downErr.join('')).toMatch(/Is the local stack running \(npm start\)\?/);
    elsewhere.remove();
  });
  const downErr: string[] = [];

  it('exits 1 with the API error for a refused call, a bad token and an unreachable service', async () => {
    const notOwner = await cli('handover', '65', 'Agent Service', '--as', 'Agent Service');
    const badToken = await cli('services', '--token', 'x'.repeat(32));
    const nowhere = await cli('services', '--url', 'http://127.0.0.1:9');

    expect(notOwner.code).toBe(1);
    expect(notOwner.stderr).toMatch(/^The service answered 403 not_owner: /);
    expect(badToken.code).toBe(1);
    expect(badToken.stderr).toMatch(/^The service answered 401 unauthorized: /);
    expect(badToken.stderr).not.toContain('x'.repeat(32));
    expect(nowhere).toMatchObject({
      code: 1,
      stderr: 'The service at http://127.0.0.1:9 cannot be reached.\n',
    });
  });

  it('runs reconcile and reports what it examined', async () => {
    const out = await cli('reconcile', '--format', 'json');

    expect(out.code).toBe(0);
    expect(JSON.parse(out.stdout)).toMatchObject({ examined: 0, recovered: 0, failed: [] });
  });

  it('takes the global options before the command, after it, and between its arguments', async () => {
    expect((await cli('handover', '70', 'Agent Service', '--reason', 'globals')).code).toBe(0);
    const auditor = stack.tokens.auditor!.token;
    const runs = await Promise.all(
      [
        ['--json', 'audit', 'user', '70'],
        ['audit', '--json', 'user', '70'],
        ['audit', 'user', '70', '--format', 'json'],
        ['--format=json', 'audit', 'user', '70', '--url', stack.url, '--token', auditor],
        ['audit', 'user', '--token', auditor, '70', '--json'],
      ].map((argv) => cli(...argv)),
    );

    for (const run of runs) expect(run).toMatchObject({ code: 0, stderr: '' });
    const bodies = runs.map((run) => JSON.parse(run.stdout));
    expect(bodies[0].handovers).toMatchObject([{ userId: '70', seq: 1, reason: 'globals' }]);
    expect(bodies.slice(1)).toEqual([bodies[0], bodies[0], bodies[0], bodies[0]]);
  });

  it('names an unknown option in one clean sentence, before or after the command', async () => {
    const after = await cli('owner', '20', '--frobnicate');
    const before = await cli('--frobnicate', 'services');
    const near = await cli('owner', '20', '--att', '2026-03-01T10:00:00Z');

    expect(after).toEqual({
      code: 2,
      stdout: '',
      stderr: 'Unknown option --frobnicate. Try --help.\n',
    });
    expect(before).toEqual(after);
    expect(near).toEqual({
      code: 2,
      stdout: '',
      stderr: 'Unknown option --att. Did you mean --at? Try --help.\n',
    });
  });

  it('says that no token was sent, and how to give one, when --url comes without --token', async () => {
    const bare = await cli('services', '--url', stack.url);
    const wrong = await cli('services', '--url', stack.url, '--token', 'x'.repeat(32));

    expect(bare).toMatchObject({ code: 1, stdout: '' });
    expect(bare.stderr).toMatch(
      /^The service answered 401 unauthorized: [^\n]+ No token was sent: pass --token TOKEN or set PARLEY_HANDOVER_TOKEN \(an auditor's token; for handover, the owning Service's apiToken\)\.\n$/,
    );
    expect(wrong).toMatchObject({ code: 1 });
    expect(wrong.stderr).toMatch(/^The service answered 401 unauthorized: /);
    expect(wrong.stderr).not.toContain('No token was sent');
  });

  it('refuses an --at the API would refuse (a date alone, no zone) with exit 2 and no request', async () => {
    const auditor = stack.tokens.auditor!.token;
    const requests: string[] = [];
    const counting: typeof fetch = (input, init) => {
      requests.push(String(input));
      return fetch(input, init);
    };
    const run = async (argv: string[]) => {
      const err: string[] = [];
      const code = await runCli(argv, {
        env,
        fetch: counting,
        stdout: () => undefined,
        stderr: (t) => err.push(t),
      });
      return { code, stderr: err.join('') };
    };

    const refused = [];
    for (const at of ['2026-03-01', '2026-03-01T10:00:00', '2026-03-01T10:00:00+0100']) {
      const api = await http(`${stack.url}/users/70/owner?at=${encodeURIComponent(at)}`, {
        token: auditor,
      });
      refused.push({ at, api: api.status, cli: (await run(['owner', '70', '--at', at])).code });
    }
    const dateOnly = await run(['owner', '70', '--at', '2026-03-01']);
    const sent = requests.length;
    const endOfDay = await run(['owner', '70', '--at', '2026-03-01T23:59:59Z']);

    expect(refused).toEqual([
      { at: '2026-03-01', api: 400, cli: 2 },
      { at: '2026-03-01T10:00:00', api: 400, cli: 2 },
      { at: '2026-03-01T10:00:00+0100', api: 400, cli: 2 },
    ]);
    expect(dateOnly.stderr).toBe(
      '--at names an instant, not a day: add a time and a zone, e.g. 2026-03-01T23:59:59Z for the end of that day. Try --help.\n',
    );
    expect(sent).toBe(0);
    expect(endOfDay).toEqual({ code: 0, stderr: '' });
    expect(requests).toHaveLength(1);
    expect((await cli('owner', '--help')).stdout).toContain('A date alone is refused');
  });

  it('works as the package bin through the tsx shim', async () => {
    const result = await new Promise<{ code: number; stdout: string }>((resolve) => {
      execFile(
        process.execPath,
        [
          join(__dirname, '..', '..', 'cli', 'parley-handover', 'bin.js'),
          'owner',
          '60',
          '--url',
          stack.url,
          '--token',
          stack.tokens.auditor!.token,
        ],
        { env: { ...process.env, PARLEY_LOCAL_DIR: dir.dir } },
        (error, stdout) => resolve({ code: error ? Number(error.code ?? 1) : 0, stdout }),
      );
    });

    expect(result).toEqual({ code: 0, stdout: expect.stringMatching(/^user 60: Agent Service/) });
  });

  // Last: a release moves every user the agent owns, which the tests above arranged for themselves.
  describe('operators: notifications and release', () => {
    const outbox = () =>
      createNotificationStore({ client: stack.dynamo.client, tableName: TABLES.state });
    const failedItem = (id: string, userId: string): NotificationItem => ({
      id,
      kind: 'notification',
      type: 'handover.completed',
      recipient: AGENT,
      userId,
      seq: 1,
      handoverId: `h-${id}`,
      body: '{}',
      status: 'failed',
      attempts: 2,
      lastStatus: 404,
      lastError: 'the receiver answered 404',
      createdAt: '2026-03-10T14:00:00.000Z',
      updatedAt: '2026-03-10T14:00:00.000Z',
      sentAt: null,
      version: 3,
    });

    it('lists failed notifications, a page at a time, and redelivers one with the local operator token', async () => {
      await outbox().put(failedItem('cli-n-1', '80'));
      await outbox().put(failedItem('cli-n-2', '81'));

      const page = await cli('notifications', 'list', '--status', 'failed', '--limit', '1');
      const json = await cli('notifications', 'list', '--service', 'Agent Service', '--json');
      const redeliver = await cli('notifications', 'redeliver', 'cli-n-1', '--reason', 'fixed');

      expect(page.code).toBe(0);
      expect(page.stdout.split('\n')[0]).toMatch(
        /^id\s+kind\s+type\s+recipient\s+userId\s+seq\s+status/,
      );
      expect(page.stdout.trim().split('\n')).toHaveLength(3); // header, one row, its error line
      expect(page.stderr).toMatch(/^more: --cursor \S+\n$/);
      const ids = JSON.parse(json.stdout).items.map((i: { id: string }) => i.id);
      expect(ids).toEqual(expect.arrayContaining(['cli-n-1', 'cli-n-2']));
      expect(JSON.parse(json.stdout).items[0].body).toBeUndefined();
      expect(redeliver).toEqual({
        code: 0,
        stdout: 'notification cli-n-1: pending, queued again\n',
        stderr: '',
      });
      expect((await outbox().get('cli-n-1'))?.status).toBe('pending');
    });

    it('answers an auditor token on redeliver with the API refusal, and usage mistakes with exit 2', async () => {
      const auditor = stack.tokens.auditor!.token;
      const refused = await cli('notifications', 'redeliver', 'cli-n-2', '--token', auditor);

      expect(refused.code).toBe(1);
      expect(refused.stderr).toMatch(/^The service answered 403 operator_required: /);
      for (const argv of [
        ['notifications'],
        ['notifications', 'resend'],
        ['notifications', 'list', '--status', 'lost'],
        ['notifications', 'list', '--limit', '101'],
        ['notifications', 'redeliver'],
        ['release', 'Agent Service'],
        ['release', 'Agent Service', '--reason', 'x', '--dry-run', '--all'],
        ['release', 'Agent Service', '--reason', 'x', '--limit', '501'],
      ]) {
        expect({ argv, code: (await cli(...argv)).code }).toEqual({ argv, code: 2 });
      }
      expect((await cli('release', '--help')).stdout).toContain('--all');
    });

    it('counts in a dry run, then releases every user of the agent with --all, a progress line per call', async () => {
      for (const user of ['90', '91', '92']) {
        expect((await cli('handover', user, 'Agent Service', '--reason', 'to release')).code).toBe(
          0,
        );
      }
      const dry = await cli(
        'release',
        'Agent Service',
        '--reason',
        'closing',
        '--dry-run',
        '--json',
      );
      const owned = JSON.parse(dry.stdout).count as number;

      const released = await cli(
        'release',
        'Agent Service',
        '--reason',
        'closing',
        '--all',
        '--limit',
        '1',
      );
      const again = await cli('release', 'Agent Service', '--reason', 'closing', '--dry-run');
      const audit = await cli('audit', 'user', '91', '--json');

      expect(owned).toBeGreaterThanOrEqual(3);
      expect(released.code).toBe(0);
      // A user moved at Parley behind the cache (an earlier test's) is skipped, not failed.
      const [, moved, skipped] = /^\S+: moved (\d+), skipped (\d+), failed 0\n$/.exec(
        released.stdout,
      )!;
      expect(Number(moved) + Number(skipped)).toBe(owned);
      const progress = released.stderr.trimEnd().split('\n');
      expect(progress.at(-1)).toBe(
        `release: moved ${moved}, skipped ${skipped}, failed 0 after ${progress.length} call(s)`,
      );
      expect(progress.length).toBeGreaterThanOrEqual(owned);
      expect(again.stdout).toBe(`0 user(s) of ${AGENT} would go to the default Service\n`);
      expect(JSON.parse(audit.stdout).handovers[0]).toMatchObject({
        source: 'operator',
        requestedBy: 'operator:local-operator',
        reason: 'closing',
        fromOwner: AGENT,
      });
    });

    it('exits 1 with the refusal when asked to release the default Service', async () => {
      const out = await cli('release', 'default', '--reason', 'no');
      expect(out.code).toBe(1);
      expect(out.stderr).toMatch(/^The service answered 422 cannot_release_default: /);
    });
  });
});
