// The standalone simulator's command line.
import { readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { seedFixture } from '../../../local/parley-sim';
import {
  connectCallbacks,
  parseCliArgs,
  runSimulatorCli,
  type RunningSimulator,
  UsageError,
} from '../../../local/parley-sim/main';
import { generateServicesFile, readServicesFile } from '../../../local/services-file';
import { type Started, startFromEnvironment } from '../../../local/start';
import { commandLines, parseCurl, runCurl, shellBlocks, shellWords } from '../curl';
import { eventually, http, tempDir } from '../support';

const quiet = (env: NodeJS.ProcessEnv = {}) => {
  const out: string[] = [];
  const err: string[] = [];
  return {
    io: { env, out: (l: string) => out.push(l), err: (l: string) => err.push(l) },
    out,
    err,
  };
};

const running = (value: RunningSimulator | number): RunningSimulator => {
  if (typeof value === 'number') throw new Error(`expected a running simulator, got exit ${value}`);
  return value;
};

describe('Parley simulator: CLI', () => {
  it('parses the CLI flags into options', () => {
    const options = parseCliArgs(['--port', '0', '--latency', '50', '--random-seed', '9']);

    expect(options).toEqual({
      help: false,
      port: 0,
      host: '127.0.0.1',
      seed: seedFixture(),
      faults: [{ route: '*', latencyMs: 50 }],
      randomSeed: 9,
      servicesFile: undefined,
      webhookBase: 'http://127.0.0.1:3000',
    });
  });

  it('reads a seed file', () => {
    const file = path.join(tmpdir(), `parley-sim-seed-${process.pid}.json`);
    const custom = seedFixture({ accountIdentification: 'otherAccount' });
    writeFileSync(file, JSON.stringify(custom));

    const options = parseCliArgs(['--seed', file]);
    unlinkSync(file);

    expect(options.seed.accountIdentification).toBe('otherAccount');
  });

  it.each([
    [['--bogus']],
    [['--port', 'abc']],
    [['--latency', '80-20']],
    [['--seed', path.join(tmpdir(), 'no-such-seed-file.json')]],
    [['--webhook-base', 'ftp://example']],
  ])('refuses %j with a usage error', (argv) => {
    expect(() => parseCliArgs(argv)).toThrow(UsageError);
  });

  it('writes a services file that npm start can use against it, and calls the service back with its tokens', async () => {
    const dir = tempDir('sim-cli-');
    const file = path.join(dir.dir, 'sim', 'services.json');
    const printed = quiet();
    const sim = running(
      await runSimulatorCli(['--port', '0', '--services-file', file], printed.io),
    );
    let stack: Started | number | undefined;
    try {
      const banner = printed.out.join('\n');
      expect(banner).toContain(`  Services file:        ${file} (written now)`);
      expect(banner).toContain(
        `    PARLEY_API_URL=${sim.sim.baseUrl} PARLEY_SERVICES_FILE=${file} npm start`,
      );
      expect(banner).toContain(
        `  Control API:          ${sim.sim.url}/_sim/ (GET it for the list)`,
      );

      stack = await startFromEnvironment(['--memory'], {
        env: {
          PARLEY_LOCAL_DIR: dir.dir,
          PORT: '0',
          PARLEY_SIM_PORT: '0',
          PARLEY_API_URL: sim.sim.baseUrl,
          PARLEY_SERVICES_FILE: file,
        },
        out: () => undefined,
        err: () => undefined,
      });
      if (typeof stack === 'number') throw new Error('npm start did not start');
      const api = stack.stack.url;
      // The banner's default points callbacks at port 3000; this test's stack has a port of its own.
      connectCallbacks(sim.sim, readServicesFile(file), api);
      const auditor = readServicesFile(file).auditors[0]!.token;

      const owner = await http(`${api}/users/20/owner`, { token: auditor });
      const said = await http(`${sim.sim.url}/_sim/users/31/messages`, {
        body: { text: 'I want a human' },
      });
      const records = await eventually('the rule to hand user 31 over', async () => {
        const res = await http(`${api}/users/31/handovers`, { token: auditor });
        return res.body.handovers?.length ? res.body.handovers : undefined;
      });

      expect(owner.status).toBe(200);
      expect(said.body).toMatchObject({ delivered: true, attempts: 1 });
      expect(
        records.map((r: { source: string; toOwner: string }) => [r.source, r.toOwner]),
      ).toEqual([['rule', seedFixture().services[1]!.identification]]);
    } finally {
      if (stack && typeof stack !== 'number') await stack.close();
      await sim.close();
      dir.remove();
    }
  });

  it('points callbacks at --webhook-base with each Service callback token', async () => {
    const dir = tempDir('sim-cli-hooks-');
    const file = path.join(dir.dir, 'services.json');
    const heard: string[] = [];
    const hook = createServer((req, res) => {
      heard.push(`${req.url} ${req.headers.authorization}`);
      req.resume();
      res.writeHead(200).end();
    });
    await new Promise<void>((resolve) => hook.listen(0, '127.0.0.1', resolve));
    const base = `http://127.0.0.1:${(hook.address() as AddressInfo).port}/`;
    const sim = running(
      await runSimulatorCli(
        ['--port', '0', '--services-file', file, '--webhook-base', base],
        quiet().io,
      ),
    );
    try {
      const settings = readServicesFile(file);
      const [bot, agent] = settings.file.services.map((s) => s.serviceIdentification);
      const tokenOf = (id: string) => settings.secrets[id]!.callbackTokens[0];
      sim.sim.setOwner('40', agent!);

      await sim.sim.sendUserMessage('20', 'hello');
      await sim.sim.sendUserMessage('40', 'hello');

      expect(heard).toEqual([
        `/webhooks/parley/${bot} Bearer ${tokenOf(bot!)}`,
        `/webhooks/parley/${agent} Bearer ${tokenOf(agent!)}`,
      ]);
    } finally {
      await sim.close();
      hook.closeAllConnections();
      await new Promise((resolve) => hook.close(resolve));
      dir.remove();
    }
  });

  it('keeps its services file, and so its tokens, across restarts', async () => {
    const dir = tempDir('sim-cli-again-');
    const env = { PARLEY_LOCAL_DIR: dir.dir };
    const file = path.join(dir.dir, 'parley-sim', 'services.json');
    const first = running(await runSimulatorCli(['--port', '0'], quiet(env).io));
    const written = readFileSync(file, 'utf8');
    await first.close();

    const again = quiet(env);
    const second = running(await runSimulatorCli(['--port', '0'], again.io));
    await second.close();

    expect(readFileSync(file, 'utf8')).toBe(written);
    expect(again.out.join('\n')).toContain(`  Services file:        ${file} (read)`);
    dir.remove();
  });

  it("answers every control API example of local/README.md's simulator section", async () => {
    const dir = tempDir('sim-cli-readme-');
    const readme = readFileSync(
      path.join(__dirname, '..', '..', '..', 'local', 'README.md'),
      'utf8',
    );
    const curls = shellBlocks(readme, ['The Parley simulator'])
      .flatMap(commandLines)
      .filter((l) => l.startsWith('curl '));
    const sim = running(
      await runSimulatorCli(
        ['--port', '0', '--services-file', path.join(dir.dir, 'services.json')],
        quiet().io,
      ),
    );
    try {
      const answers: [string, number][] = [];
      for (const line of curls) {
        const res = await runCurl(parseCurl(shellWords(line, { vars: { SIM: sim.sim.url } })));
        answers.push([line, res.status]);
      }

      expect(answers.length).toBeGreaterThan(0);
      expect(answers.filter(([, status]) => status !== 200)).toEqual([]);
    } finally {
      await sim.close();
      dir.remove();
    }
  });

  it('refuses a services file that does not fit its seed, in one sentence', async () => {
    const dir = tempDir('sim-cli-other-');
    const file = path.join(dir.dir, 'services.json');
    const other = generateServicesFile('anotherAccount', [{ identification: 'x', name: 'X' }]);
    writeFileSync(file, JSON.stringify(other));
    const printed = quiet();

    const code = await runSimulatorCli(['--port', '0', '--services-file', file], printed.io);

    expect(code).toBe(1);
    expect(printed.err).toEqual([
      `The services file ${file} does not fit this simulator's seed (its account, services or shared secrets differ): delete it, or name another with --services-file.`,
    ]);
    expect(readFileSync(file, 'utf8')).toBe(JSON.stringify(other));
    dir.remove();
  });
});
