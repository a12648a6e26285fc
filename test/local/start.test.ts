import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { DynamoDBClient, ListTablesCommand } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, QueryCommand } from '@aws-sdk/lib-dynamodb';
import { historyIndexKeys } from '../../functions/adapters/history-store';
import { DEFAULT_INDEX_SHARDS } from '../../functions/domain/shards';
import { startParleySimulator } from '../../local/parley-sim';
import { EXAMPLE_RULE, generateServicesFile } from '../../local/services-file';
import {
  AGENT_SERVICE_ID,
  BOT_SERVICE_ID,
  generateSimulatorServicesFile,
  simulatorServices,
} from '../../local/stack';
import { localPorts, type Started, type StartIo, startFromEnvironment } from '../../local/start';
import { parseCurl, runCurl, shellWords } from './curl';
import { eventually, http as request, tempDir } from './support';

const ROOT = join(__dirname, '..', '..');

const io = (env: NodeJS.ProcessEnv) => {
  const out: string[] = [];
  const err: string[] = [];
  const value: StartIo = { env, out: (l) => out.push(l), err: (l) => err.push(l) };
  return { io: value, out, err };
};

/** The user the banner's curls play (the first curl writes as that user). */
const bannerUser = (out: string[]): string | undefined =>
  /\/_sim\/users\/([^/]+)\/messages/.exec(out.join('\n'))?.[1];

/** The banner's curl lines, as a reader pastes them. */
const bannerCurls = (out: string[]) =>
  out
    .filter((line) => /^ {4}curl /.test(line))
    .map((line) => parseCurl(shellWords(line.trim(), { vars: {} })));

const started = (value: Started | number): Started => {
  if (typeof value === 'number') throw new Error(`expected a running stack, got exit ${value}`);
  return value;
};

describe('npm start', () => {
  it('generates the services file, prints one banner with tokens and curls, and keeps data across runs', async () => {
    const dir = tempDir('start-');
    const env = { PARLEY_LOCAL_DIR: dir.dir, PORT: '0', PARLEY_SIM_PORT: '0' };
    try {
      const first = io(env);
      const run = started(await startFromEnvironment([], first.io));
      const services = JSON.parse(readFileSync(join(dir.dir, 'services.json'), 'utf8'));
      const auditor: string = services.auditors[0].token;
      const banner = first.out.join('\n');

      expect(banner).toContain('parley-handover is running locally');
      expect(banner).toContain(
        `${join(dir.dir, 'services.json')} (generated now, with fresh tokens)`,
      );
      expect(banner).toContain(auditor);
      expect(banner).toMatch(
        new RegExp(`operator\\s+local-operator: ${services.operators[0].token}\n`),
      );
      expect(banner).toContain(`OPERATOR_TOKEN=${services.operators[0].token}`);
      expect(banner.match(/^ {4}curl /gm)).toHaveLength(4);
      expect(JSON.parse(readFileSync(join(dir.dir, 'run.json'), 'utf8'))).toMatchObject({
        url: run.stack.url,
        demo: true,
      });
      expect((await request(`${run.stack.url}/health`)).status).toBe(200);
      const moved = await request(`${run.stack.url}/handovers`, {
        token: services.services[0].apiTokens[0],
        body: { userId: '20', newOwner: 'Agent Service' },
      });
      expect(moved.status).toBe(200);
      const twice = await startFromEnvironment([], io(env).io).catch((err: Error) => err.message);
      expect(twice).toBe(
        `The data directory ${join(dir.dir, 'dynamo')} is in use by another run (process ${process.pid}): stop it, or use --memory.`,
      );
      await run.close();
      expect(existsSync(join(dir.dir, 'run.json'))).toBe(false);

      const second = io(env);
      const again = started(await startFromEnvironment([], second.io));
      try {
        expect(second.out.join('\n')).toContain('(read)');
        // Each run's banner plays its rule curl with a user of its own, so it hands over again.
        expect(bannerUser(second.out)).not.toBe(bannerUser(first.out));
        const history = await request(`${again.stack.url}/users/20/handovers`, { token: auditor });
        expect(history.body.handovers).toHaveLength(1);
      } finally {
        await again.close();
      }
    } finally {
      dir.remove();
    }
  });

  it('attaches the demo bot and desk to a services file it generated, and says where forwards go', async () => {
    const dir = tempDir('start-demo-');
    const out = io({ PARLEY_LOCAL_DIR: dir.dir, PORT: '0', PARLEY_SIM_PORT: '0' });
    const run = started(await startFromEnvironment(['--memory'], out.io));
    try {
      const forwards = Object.fromEntries(
        run.stack.config.services.map((s) => [s.name, s.downstreamUrl]),
      );
      const banner = out.out.join('\n');

      expect(forwards['Bot Service']).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/$/);
      expect(forwards['Agent Service']).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/$/);
      expect(forwards['Bot Service']).not.toBe(forwards['Agent Service']);
      expect(banner).toContain(
        `  Forwards      Bot Service -> the demo bot at ${forwards['Bot Service']}`,
      );
      expect(banner).toContain(
        `                Agent Service -> the demo desk at ${forwards['Agent Service']}`,
      );
    } finally {
      await run.close();
      dir.remove();
    }
  });

  it('keeps a downstreamUrl the generated services file was given, attaching the demo only where there is none', async () => {
    const dir = tempDir('start-edited-');
    const file = generateSimulatorServicesFile();
    file.services[0]!.downstreamUrl = 'http://127.0.0.1:9/my-bot';
    writeFileSync(join(dir.dir, 'services.json'), JSON.stringify(file));
    const out = io({ PARLEY_LOCAL_DIR: dir.dir, PORT: '0', PARLEY_SIM_PORT: '0' });
    const run = started(await startFromEnvironment(['--memory'], out.io));
    try {
      const forwards = run.stack.config.services.map((s) => [s.name, s.downstreamUrl]);

      expect(forwards).toEqual([
        ['Bot Service', 'http://127.0.0.1:9/my-bot'],
        ['Agent Service', expect.stringMatching(/^http:\/\/127\.0\.0\.1:\d+\/$/)],
      ]);
      expect(out.out).toContain('  Forwards      Bot Service -> http://127.0.0.1:9/my-bot');
      expect(JSON.parse(readFileSync(join(dir.dir, 'run.json'), 'utf8')).demo).toBe(false);
    } finally {
      await run.close();
      dir.remove();
    }
  });

  it('uses a services file given through PARLEY_SERVICES_FILE exactly as written: nothing attached, nothing overridden', async () => {
    const dir = tempDir('start-given-');
    const file = join(dir.dir, 'mine.json');
    const services = generateSimulatorServicesFile();
    services.services[0]!.downstreamUrl = 'http://127.0.0.1:9/my-bot';
    writeFileSync(file, JSON.stringify(services));
    const out = io({
      PARLEY_LOCAL_DIR: dir.dir,
      PARLEY_SERVICES_FILE: file,
      PORT: '0',
      PARLEY_SIM_PORT: '0',
    });
    const run = started(await startFromEnvironment(['--memory'], out.io));
    try {
      const forwards = run.stack.config.services.map((s) => [s.name, s.downstreamUrl]);

      expect(forwards).toEqual([
        ['Bot Service', 'http://127.0.0.1:9/my-bot'],
        ['Agent Service', undefined],
      ]);
      expect(out.out).toContain('  Forwards      Bot Service -> http://127.0.0.1:9/my-bot');
      expect(out.out).toContain(
        '                Agent Service -> nowhere (no downstreamUrl): its callbacks are only recorded',
      );
      expect(JSON.parse(readFileSync(join(dir.dir, 'run.json'), 'utf8')).demo).toBe(false);
    } finally {
      await run.close();
      dir.remove();
    }
  });

  it("plays the banner's curls as printed: a fresh user asks for a human, the rule hands them over, the desk answers, the agent hands back", async () => {
    const dir = tempDir('start-curls-');
    const out = io({ PARLEY_LOCAL_DIR: dir.dir, PORT: '0', PARLEY_SIM_PORT: '0' });
    const run = started(await startFromEnvironment(['--memory'], out.io));
    try {
      const [ask, sent, handBack, trail, ...more] = bannerCurls(out.out);
      const userId = bannerUser(out.out)!;
      const auditor = run.stack.tokens.auditor!.token;
      const records = async () =>
        (await request(`${run.stack.url}/users/${userId}/handovers`, { token: auditor })).body
          .handovers as { source: string; fromOwner: string; toOwner: string }[];

      expect(userId).not.toBe('20');
      expect(await records()).toEqual([]);
      const asked = await runCurl(ask!);
      expect([asked.status, JSON.parse(asked.text).delivered]).toEqual([200, true]);
      await eventually('the desk to answer', () =>
        run.stack.parley!.messagesTo(userId).some((m) => m.from === AGENT_SERVICE_ID),
      );
      const seen = await runCurl(sent!);
      const back = await runCurl(handBack!);
      const audit = await runCurl(trail!);

      expect(more).toEqual([]);
      expect(seen.status).toBe(200);
      expect(JSON.parse(seen.text).map((m: { from: string }) => m.from)).toEqual([
        AGENT_SERVICE_ID,
      ]);
      expect(back.status).toBe(200);
      expect(audit.status).toBe(200);
      expect(
        JSON.parse(audit.text).handovers.map((r: { source: string; toOwner: string }) => [
          r.source,
          r.toOwner,
        ]),
      ).toEqual([
        ['api', BOT_SERVICE_ID],
        ['rule', AGENT_SERVICE_ID],
      ]);
      expect(ask!.body).toBe('{"text":"I want a human"}');
      expect(out.out).toContain(
        `    # user ${userId} asks for a human: the Bot Service's rule hands them to the Agent Service, whose demo desk answers`,
      );
      expect(simulatorServices()[0]!.rules).toEqual([EXAMPLE_RULE]);
    } finally {
      await run.close();
      dir.remove();
    }
  });

  it('puts the API on 3000 and the simulator on 3001 unless PORT and PARLEY_SIM_PORT say otherwise', () => {
    expect(localPorts({})).toEqual({ api: 3000, simulator: 3001 });
    expect(localPorts({ PORT: '8080', PARLEY_SIM_PORT: '8081' })).toEqual({
      api: 8080,
      simulator: 8081,
    });
    expect(localPorts({ PORT: '', PARLEY_SIM_PORT: '' })).toEqual({ api: 3000, simulator: 3001 });
  });

  it('talks to the Parley at PARLEY_API_URL with the credentials of the services file, starting no simulator', async () => {
    const dir = tempDir('start-real-');
    // A "real" Parley on a path of its own, playing an account of two services.
    const parley = await startParleySimulator({ basePath: '/api/serviceApi/v2.5' });
    const file = join(dir.dir, 'mine.json');
    const services = generateServicesFile(
      parley.seed.accountIdentification,
      parley.seed.services.map((s, i) => ({
        identification: s.identification,
        name: s.name,
        role: i === 0 ? 'bot' : 'agent',
        sharedSecret: s.sharedSecret,
        callbackTokens: [`callback-token-${i}-0000000`],
        apiTokens: [`api-token-${i}-000000000000`],
        signingSecret: null,
      })),
      { auditors: [{ name: 'ops', token: 'auditor-token-0000000' }] },
    );
    writeFileSync(file, JSON.stringify(services));
    const out = io({
      PARLEY_LOCAL_DIR: dir.dir,
      PORT: '0',
      PARLEY_SIM_PORT: '0',
      PARLEY_SERVICES_FILE: file,
      PARLEY_API_URL: parley.baseUrl,
    });
    const run = started(await startFromEnvironment(['--memory'], out.io));
    try {
      const owner = await request(`${run.stack.url}/users/20/owner`, {
        token: 'auditor-token-0000000',
      });

      expect(run.stack.parley).toBeNull();
      expect(out.out.join('\n')).toContain(
        `Parley        the Parley at ${parley.baseUrl} (PARLEY_API_URL)`,
      );
      expect(owner.status).toBe(200);
      expect(owner.body.owner.identification).toBe(parley.seed.services[0]!.identification);
      expect(
        parley.log().map((e) => (e.kind === 'request' ? `${e.method} ${e.path}` : e.kind)),
      ).toContain('GET users/20/owner');
    } finally {
      await run.close();
      await parley.close();
      dir.remove();
    }
  });

  it('writes run.json for outside tools, also in a --memory run given a services file', async () => {
    const dir = tempDir('start-run-info-');
    // PARLEY_LOCAL_DIR does not exist yet: a --memory run keeps no data there, only run.json.
    const local = join(dir.dir, 'local');
    const file = join(dir.dir, 'mine.json');
    writeFileSync(file, JSON.stringify(generateSimulatorServicesFile()));
    const env = {
      PARLEY_LOCAL_DIR: local,
      PARLEY_SERVICES_FILE: file,
      PORT: '0',
      PARLEY_SIM_PORT: '0',
    };
    const run = started(await startFromEnvironment(['--memory'], io(env).io));
    try {
      const info = JSON.parse(readFileSync(join(local, 'run.json'), 'utf8'));
      const settings = JSON.parse(readFileSync(file, 'utf8'));
      const moved = await request(`${info.url}/handovers`, {
        token: settings.services[0].apiTokens[0],
        body: { userId: '20', newOwner: 'Agent Service', metadata: { reason: 'vip' } },
      });
      const records = await request(`${info.url}/users/20/handovers`, {
        token: settings.auditors[0].token,
      });
      // What an outside tool does with run.json: reach the tables through the run's dynalite.
      const client = new DynamoDBClient({ endpoint: info.dynamoEndpoint, region: 'local' });
      const tables = await client.send(new ListTablesCommand({}));
      const items = await DynamoDBDocumentClient.from(client).send(
        new QueryCommand({
          TableName: 'parley-handover-history',
          KeyConditionExpression: 'pk = :pk',
          ExpressionAttributeValues: { ':pk': 'USER#20' },
        }),
      );
      client.destroy();

      expect(info).toEqual({
        pid: process.pid,
        url: run.stack.url,
        simulatorUrl: run.stack.parley!.url,
        servicesFile: file,
        demo: false,
        dynamoEndpoint: expect.stringMatching(/^http:\/\/127\.0\.0\.1:\d+$/),
      });
      expect(moved.status).toBe(200);
      expect(tables.TableNames).toEqual(
        expect.arrayContaining(['parley-handover-history', 'parley-handover-state']),
      );
      const record = records.body.handovers[0];
      expect(items.Items).toEqual([
        {
          ...record,
          pk: 'USER#20',
          sk: expect.stringMatching(/^SEQ#0*1$/),
          ...historyIndexKeys(record, DEFAULT_INDEX_SHARDS),
        },
      ]);
    } finally {
      await run.close();
    }
    expect(existsSync(join(local, 'run.json'))).toBe(false);
    expect(existsSync(join(local, 'dynamo'))).toBe(false);
    dir.remove();
  });

  it('writes nothing in a --memory run', async () => {
    const dir = tempDir('start-memory-');
    try {
      const run = started(
        await startFromEnvironment(
          ['--memory'],
          io({ PARLEY_LOCAL_DIR: dir.dir, PORT: '0', PARLEY_SIM_PORT: '0' }).io,
        ),
      );
      await run.close();

      expect(existsSync(join(dir.dir, 'services.json'))).toBe(false);
      expect(existsSync(join(dir.dir, 'dynamo'))).toBe(false);
    } finally {
      dir.remove();
    }
  });

  it('answers --help with 0 and an unknown option with 2', async () => {
    const help = io({});
    expect(await startFromEnvironment(['--help'], help.io)).toBe(0);
    expect(help.out[0]).toMatch(/^Usage: npm start/);
    const wrong = io({});
    expect(await startFromEnvironment(['--fast'], wrong.io)).toBe(2);
    expect(wrong.err[0]).toMatch(/'--fast'.*Try --help\.$/);
  });

  it('refuses configuration mistakes with one sentence each', async () => {
    const dir = tempDir('start-bad-');
    const twoAccounts = join(dir.dir, 'two.json');
    const service = (id: string, account: string) => ({
      serviceIdentification: id,
      accountIdentification: account,
      sharedServiceAccountSecret: 'secret',
      name: id,
      callbackToken: 'c'.repeat(20),
      apiToken: `a-${id}`.padEnd(20, 'x'),
    });
    writeFileSync(
      twoAccounts,
      JSON.stringify({ services: [service('one', 'acc-1'), service('two', 'acc-2')] }),
    );
    const blocker = http.createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    const busyPort = (blocker.address() as AddressInfo).port;
    const attempt = (env: NodeJS.ProcessEnv) =>
      startFromEnvironment(
        ['--memory'],
        io({ PARLEY_LOCAL_DIR: dir.dir, PORT: '0', PARLEY_SIM_PORT: '0', ...env }).io,
      ).then(
        () => 'started',
        (err: Error) => err.message,
      );
    try {
      expect(await attempt({ PARLEY_SERVICES_FILE: twoAccounts })).toBe(
        `The services file ${twoAccounts} names 2 Parley accounts (acc-1, acc-2); one stack serves exactly one account.`,
      );
      expect(await attempt({ PARLEY_SERVICES_FILE: join(dir.dir, 'missing.json') })).toBe(
        `The services file ${join(dir.dir, 'missing.json')} does not exist.`,
      );
      expect(await attempt({ PARLEY_API_URL: 'https://parley.example/serviceApi/v2.5' })).toMatch(
        /^PARLEY_API_URL is set but the services file .* does not exist: set PARLEY_SERVICES_FILE/,
      );
      expect(await attempt({ PORT: 'eighty' })).toBe('PORT must be a port number from 0 to 65535.');
      const generated = join(dir.dir, 'generated.json');
      writeFileSync(generated, JSON.stringify(generateSimulatorServicesFile()));
      expect(
        await attempt({ PARLEY_SERVICES_FILE: generated, PARLEY_LOCAL_DIR: generated }),
      ).toMatch(
        /^Could not write .*generated\.json\/run\.json: E[A-Z]+\. Check PARLEY_LOCAL_DIR\.$/,
      );
      expect(await attempt({ PORT: String(busyPort) })).toBe(
        `Port ${busyPort} is in use: stop the other program or set PORT.`,
      );
      expect(await attempt({ PARLEY_SIM_PORT: 'x' })).toBe(
        'PARLEY_SIM_PORT must be a port number from 0 to 65535.',
      );
      expect(await attempt({ PARLEY_SIM_PORT: String(busyPort) })).toBe(
        `Port ${busyPort} for the Parley simulator is in use: stop the other program or set PARLEY_SIM_PORT.`,
      );
    } finally {
      await new Promise((resolve) => blocker.close(resolve));
      dir.remove();
    }
  });

  describe('as a process', () => {
    const children: ChildProcess[] = [];
    afterAll(() => {
      for (const child of children) if (child.exitCode === null) child.kill('SIGKILL');
    });

    const launch = (env: NodeJS.ProcessEnv, args: string[] = []) => {
      const child = spawn(
        process.execPath,
        [require.resolve('tsx/cli'), 'local/start.ts', ...args],
        {
          cwd: ROOT,
          env: { ...process.env, POWERTOOLS_LOG_LEVEL: 'SILENT', PARLEY_SIM_PORT: '0', ...env },
          stdio: ['ignore', 'pipe', 'pipe'],
        },
      );
      children.push(child);
      let stdout = '';
      let stderr = '';
      child.stdout!.on('data', (c: Buffer) => {
        stdout += c.toString();
      });
      child.stderr!.on('data', (c: Buffer) => {
        stderr += c.toString();
      });
      const exited = new Promise<number | null>((resolve) =>
        child.on('exit', (code) => resolve(code)),
      );
      return { child, exited, output: () => ({ stdout, stderr }) };
    };

    it('stops cleanly with exit code 0 on Ctrl-C', async () => {
      const dir = tempDir('start-proc-');
      try {
        const run = launch({ PARLEY_LOCAL_DIR: dir.dir, PORT: '0', PARLEY_SIM_PORT: '0' }, [
          '--memory',
        ]);
        const url = await new Promise<string>((resolve, reject) => {
          const timer = setInterval(() => {
            const m = /API {11}(http:\/\/localhost:\d+)/.exec(run.output().stdout);
            if (m) {
              clearInterval(timer);
              resolve(m[1]!);
            } else if (run.child.exitCode !== null) {
              clearInterval(timer);
              reject(new Error(run.output().stderr));
            }
          }, 25);
        });
        expect((await request(`${url}/health`)).status).toBe(200);

        run.child.kill('SIGINT');

        expect(await run.exited).toBe(0);
        expect(run.output().stderr).toContain('Stopped.');
      } finally {
        dir.remove();
      }
    });

    it('ends a configuration error with one line on stderr and exit code 1', async () => {
      const dir = tempDir('start-proc-bad-');
      try {
        const run = launch({
          PARLEY_LOCAL_DIR: dir.dir,
          PARLEY_SERVICES_FILE: join(dir.dir, 'nope.json'),
        });

        expect(await run.exited).toBe(1);
        expect(run.output().stderr.trim().split('\n')).toEqual([
          `The services file ${join(dir.dir, 'nope.json')} does not exist.`,
        ]);
      } finally {
        dir.remove();
      }
    });
  });
});
