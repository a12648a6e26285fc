// `npm run deploy` (cli/deploy/): the next steps told from a deploy's outputs file (a fixture of
// what cdk writes), the commands they print run as printed through the secrets CLI, and the
// wrapper around cdk with a stand-in CDK CLI that records its command line (no AWS here).
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { run, parseDeployArgs } from '../../cli/deploy/main';
import {
  nextSteps,
  OutputsError,
  parseOutputs,
  type StackOutputs,
} from '../../cli/deploy/next-steps';
import { run as runSecrets, type SecretStore } from '../../cli/secrets/main';
import {
  ConfigError,
  type LoadedStage,
  loadStage,
  parseStageConfig,
  REPO_ROOT,
} from '../../lib/config';
import { buildApp, templatesOf } from '../lib/support';

const FIXTURE = path.join(REPO_ROOT, 'test', 'fixtures', 'cdk-outputs-dev.json');
const fixture = (): StackOutputs => parseOutputs(fs.readFileSync(FIXTURE, 'utf8'), 'outputs.json');
const API = 'https://k3x9q2w7ab.execute-api.eu-west-1.amazonaws.com';
const BOT = 'as272d6g2ds766fcdfgh';
const AGENT = 'Jlk9e7cSf9g3FFsaqe39';

/** config/dev.json made a deployable stage of another name, with real-looking values. */
const staging = (): LoadedStage => {
  const raw = JSON.parse(fs.readFileSync(path.join(REPO_ROOT, 'config', 'dev.json'), 'utf8'));
  raw.stage = 'staging';
  raw.accountIdentification = 'acme-parley-account';
  raw.services[0].downstreamUrl = 'https://bot.acme.nl/parley';
  raw.infra.alarmEmail = 'oncall@acme.nl';
  return parseStageConfig(raw, 'config/staging.json');
};
/** The fixture's outputs as stage `name` would have them. */
const outputsOf = (name: string): StackOutputs =>
  JSON.parse(
    JSON.stringify(fixture()).replaceAll('ParleyHandover-dev-', `ParleyHandover-${name}-`),
  );

let tmp: string;
beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'deploy-'));
});
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

describe('the next steps after a deploy', () => {
  it("tells each Service's secrets command, its webhook URL and header, and the first requests", () => {
    const text = nextSteps(loadStage(), fixture(), 'cdk.out/outputs-dev.json', 'AGAIN');

    expect(text.split('\n')).toEqual([
      'Deployed stage "dev" (config/dev.json). What is left to do, once:',
      '',
      'Note: config/dev.json still holds placeholders (stage "dev" may keep them, Parley will not ' +
        'accept them): accountIdentification is a placeholder ' +
        '(REPLACE-WITH-PARLEY-ACCOUNT-IDENTIFICATION), set your Parley account identification. ' +
        'Fill them in and run npm run deploy again.',
      '',
      "1. Fill each Service's secrets. `read -rs` takes the Service's shared service-account secret",
      '   from Parley without showing it or keeping it in your shell history; set-service then prints',
      "   the Service's callback header, API token and signing secret once: keep them in your",
      '   password manager.',
      `   Bot Service (${BOT}):`,
      '     read -rs PARLEY_SHARED_SECRET',
      `     printf '%s' "$PARLEY_SHARED_SECRET" | npm run -s secrets -- set-service --stage dev --service ${BOT} --shared-secret-stdin --generate-tokens`,
      `   Agent Service (${AGENT}):`,
      '     read -rs PARLEY_SHARED_SECRET',
      `     printf '%s' "$PARLEY_SHARED_SECRET" | npm run -s secrets -- set-service --stage dev --service ${AGENT} --shared-secret-stdin --generate-tokens`,
      '   An auditor, for the CLI and audits (prints its token once):',
      '     npm run -s secrets -- add-auditor --stage dev --name audit-team',
      '',
      "2. Register each Service's callback at Parley (through Parley support or its console): the",
      '   URL below, method POST, and the header with the callback token set-service printed for it.',
      `   Bot Service:   ${API}/webhooks/parley/${BOT}`,
      '                  Authorization: Bearer <callback token of Bot Service>',
      `   Agent Service: ${API}/webhooks/parley/${AGENT}`,
      '                  Authorization: Bearer <callback token of Agent Service>',
      '',
      "3. Give each Service's program its API token and signing secret (step 1).",
      '   Bot Service:   no downstreamUrl: its callbacks are recorded, not forwarded',
      '   Agent Service: no downstreamUrl: its callbacks are recorded, not forwarded',
      '',
      '4. Try it:',
      `     curl -s ${API}/health`,
      `     npx parley-handover --url ${API} --token "$AUDITOR_TOKEN" services`,
      "   then send a message as a user at Parley and watch the processor's log:",
      '     aws logs tail ParleyHandover-dev-Api-ProcessorLogs1C2D3E4F-aB3dE5gH7jK9 --follow',
      '',
      'Print this again: AGAIN',
    ]);
  });

  it('asks to confirm the alarm e-mail of a stage that has one and says where callbacks go', () => {
    const text = nextSteps(staging(), outputsOf('staging'), 'outputs.json');

    expect(text).not.toContain('placeholders');
    expect(text).toContain(
      '3. Confirm the alarms\' e-mail subscription: AWS sent "AWS Notification - Subscription\n' +
        '   Confirmation" to oncall@acme.nl; alarms reach it only after its link is opened.',
    );
    expect(text).toContain(
      '   Bot Service:   callbacks are forwarded to https://bot.acme.nl/parley\n' +
        '   Agent Service: no downstreamUrl: its callbacks are recorded, not forwarded',
    );
    expect(text).toContain(`set-service --stage staging --service ${BOT} `);
    expect(text).toContain('5. Try it:');
    expect(text).not.toContain('Print this again');
  });

  it('prints secrets commands that the secrets CLI runs as printed, and the header it prints matches', async () => {
    const text = nextSteps(loadStage(), fixture(), 'outputs.json');
    const commands = [...text.matchAll(/npm run -s secrets -- (.+)$/gm)].map((m) =>
      m[1]!.split(' '),
    );
    const values: Record<string, string> = {};
    const store: SecretStore = {
      async find(tags) {
        return `arn:${tags['parley-handover:kind']}:${tags['parley-handover:service'] ?? ''}`;
      },
      async read(id) {
        return values[id];
      },
      async write(id, value) {
        values[id] = value;
      },
    };
    const printed: string[] = [];
    jest.spyOn(console, 'log').mockImplementation((m: string) => void printed.push(m));
    jest.spyOn(console, 'error').mockImplementation(() => undefined);

    const codes: number[] = [];
    try {
      for (const argv of commands) {
        codes.push(
          await runSecrets(
            argv,
            () => store,
            async () => 'the-shared-secret-from-parley',
          ),
        );
      }
    } finally {
      jest.restoreAllMocks();
    }

    expect(commands.map((argv) => argv[0])).toEqual(['set-service', 'set-service', 'add-auditor']);
    expect(codes).toEqual([0, 0, 0]);
    expect(JSON.parse(values[`arn:service:${BOT}`]!).sharedServiceAccountSecret).toBe(
      'the-shared-secret-from-parley',
    );
    const headers = printed.filter((line) => line.includes('callback header for Parley'));
    expect(headers).toEqual([
      expect.stringMatching(
        /^Bot Service callback header for Parley: Authorization: Bearer \S{16,}$/,
      ),
      expect.stringMatching(
        /^Agent Service callback header for Parley: Authorization: Bearer \S{16,}$/,
      ),
    ]);
  });

  it('names what is missing from an outputs file in one sentence', () => {
    const dataOnly = fixture();
    delete dataOnly['ParleyHandover-dev-Api'];
    const olderApi = fixture();
    delete olderApi['ParleyHandover-dev-Api']!.ProcessorLogGroupName;

    const messages = [dataOnly, olderApi].map((outputs) => {
      try {
        nextSteps(loadStage(), outputs, 'out.json');
      } catch (err) {
        expect(err).toBeInstanceOf(OutputsError);
        return (err as Error).message;
      }
      throw new Error('expected an OutputsError');
    });

    expect(messages).toEqual([
      'out.json has no outputs of ParleyHandover-dev-Api: the API stack of stage "dev" was not deployed.',
      "out.json has no ProcessorLogGroupName output of ParleyHandover-dev-Api (the processor's log " +
        'group): deploy this version of the stack.',
    ]);
    expect(() => parseOutputs('{"a": 1}', 'out.json')).toThrow(
      'out.json is not a cdk outputs file (stack name -> output -> value).',
    );
  });

  it("gets the processor's log group from an output of the API stack", () => {
    const { api } = templatesOf(buildApp());
    const groups = Object.keys(api.findResources('AWS::Logs::LogGroup')).filter((id) =>
      id.startsWith('ProcessorLogs'),
    );

    expect(groups).toHaveLength(1);
    expect(api.findOutputs('ProcessorLogGroupName').ProcessorLogGroupName!.Value).toEqual({
      Ref: groups[0],
    });
  });
});

describe('npm run deploy', () => {
  /** A stand-in CDK CLI: records its arguments, writes the fixture as its outputs, exits `code`. */
  const fakeCdk = (name: string, code = 0) => {
    const log = path.join(tmp, `${name}.calls`);
    const script = path.join(tmp, `${name}.js`);
    fs.writeFileSync(
      script,
      `const fs = require('node:fs');
const args = process.argv.slice(2);
fs.appendFileSync(${JSON.stringify(log)}, JSON.stringify(args) + '\\n');
const at = args.findIndex((a) => a === '--outputs-file' || a === '-O');
if (${code} === 0) fs.copyFileSync(${JSON.stringify(FIXTURE)}, args[at + 1]);
process.exit(${code});
`,
    );
    const calls = (): string[][] =>
      fs.existsSync(log)
        ? fs
            .readFileSync(log, 'utf8')
            .trim()
            .split('\n')
            .map((l) => JSON.parse(l))
        : [];
    return { cdk: [process.execPath, script], calls };
  };
  const io = (name: string, cdk: readonly string[]) => {
    const out: string[] = [];
    const err: string[] = [];
    const dir = path.join(tmp, name);
    fs.mkdirSync(dir, { recursive: true });
    return {
      out,
      err,
      dir,
      io: {
        out: (t: string) => void out.push(t),
        err: (t: string) => void err.push(t),
        cdk,
        outputsDir: dir,
      },
    };
  };

  it('runs cdk deploy --all with the options given and an outputs file, then prints the next steps', async () => {
    const fake = fakeCdk('ok');
    const t = io('ok', fake.cdk);

    const code = await run(['-c', 'stage=dev', '--require-approval', 'never'], t.io);

    const file = path.join(t.dir, 'outputs-dev.json');
    expect(code).toBe(0);
    expect(fake.calls()).toEqual([
      ['deploy', '--all', '--outputs-file', file, '-c', 'stage=dev', '--require-approval', 'never'],
    ]);
    expect(t.out).toEqual([
      nextSteps(
        loadStage(),
        fixture(),
        path.relative(process.cwd(), file).startsWith('..')
          ? file
          : path.relative(process.cwd(), file),
        'npm run -s deploy -- --next-steps-only -c stage=dev',
      ),
    ]);
    expect(t.err).toEqual([]);
  });

  it("passes cdk's failure on and prints no next steps", async () => {
    const fake = fakeCdk('fails', 3);
    const t = io('fails', fake.cdk);

    const code = await run([], t.io);

    expect(code).toBe(3);
    expect(fake.calls()).toHaveLength(1);
    expect(t.out).toEqual([]);
  });

  it('refuses a stage with placeholders in one sentence before cdk starts', async () => {
    const fake = fakeCdk('prod');
    const t = io('prod', fake.cdk);

    const code = await run(['-c', 'stage=prod'], t.io);

    expect(code).toBe(1);
    expect(fake.calls()).toEqual([]);
    let refusal = '';
    try {
      loadStage({ stage: 'prod' });
    } catch (err) {
      expect(err).toBeInstanceOf(ConfigError);
      refusal = (err as Error).message;
    }
    expect(t.err).toEqual([refusal]);
    expect(refusal).toContain('holds placeholders');
    expect(t.out).toEqual([]);
  });

  it('prints the next steps again with --next-steps-only and deploys nothing', async () => {
    const fake = fakeCdk('again');
    const t = io('again', fake.cdk);
    const missing = await run(['--next-steps-only'], t.io);
    fs.copyFileSync(FIXTURE, path.join(t.dir, 'outputs-dev.json'));

    const code = await run(['--next-steps-only'], t.io);

    expect(missing).toBe(1);
    expect(t.err).toEqual([
      expect.stringMatching(
        /^No stack outputs in \S+outputs-dev\.json: run npm run deploy first\.$/,
      ),
    ]);
    expect(code).toBe(0);
    expect(fake.calls()).toEqual([]);
    expect(t.out).toHaveLength(1);
    expect(t.out[0]).toContain(`${API}/webhooks/parley/${BOT}`);
  });

  it('uses an outputs file given with -O, passing it to cdk once', async () => {
    const fake = fakeCdk('own');
    const t = io('own', fake.cdk);
    const file = path.join(t.dir, 'mine.json');

    const code = await run(['-O', file, '--context=stage=dev'], t.io);

    expect(code).toBe(0);
    expect(fake.calls()).toEqual([['deploy', '--all', '-O', file, '--context=stage=dev']]);
    expect(t.out[0]).toContain(
      `Print this again: npm run -s deploy -- --next-steps-only -c stage=dev --outputs-file ${file}`,
    );
  });

  it("reads the stage from cdk's context options and refuses an outputs option without a file", async () => {
    const t = io('usage', fakeCdk('usage').cdk);

    const code = await run(['--outputs-file'], t.io);

    expect(
      parseDeployArgs(['-c', 'stage=prod', 'config=x.json', 'ParleyHandover-prod-Api']),
    ).toEqual({
      cdkArgs: ['-c', 'stage=prod', 'config=x.json', 'ParleyHandover-prod-Api'],
      selection: { stage: 'prod', configPath: 'x.json' },
      nextStepsOnly: false,
      help: false,
    });
    expect(parseDeployArgs(['--context=stage=qa']).selection).toEqual({ stage: 'qa' });
    expect(code).toBe(2);
    expect(t.err).toEqual(['--outputs-file needs a file name. Try --help.']);
  });
});
