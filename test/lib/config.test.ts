// Stage configuration loading: the default stage, the choice of another one, and bad
// configurations refused with one clear sentence (also end to end through bin/app.ts).
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {
  ConfigError,
  LAMBDA_ENV_LIMIT_BYTES,
  loadStage,
  parseStageConfig,
  REPO_ROOT,
} from '../../lib/config';

const dev = () => JSON.parse(fs.readFileSync(path.join(REPO_ROOT, 'config', 'dev.json'), 'utf8'));
const messageOf = (fn: () => unknown): string => {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as Error).message;
  }
  throw new Error('expected a ConfigError');
};
const oneSentence = (message: string) => {
  expect(message).not.toContain('\n');
  expect(message).toMatch(/^[A-Z].*\.$/);
  expect(message).not.toMatch(/\bat \S+:\d+/);
};

let tmp: string;
beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'stage-config-'));
});
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

it('loads config/dev.json by default with the seed Services and the infra settings', () => {
  const stage = loadStage();
  expect(stage.config.stage).toBe('dev');
  expect(stage.config.parley.baseUrl).toBe('https://api.parley.nu/serviceApi/v2.5');
  expect(stage.config.services.map((s) => [s.identification, s.name, s.role])).toEqual([
    ['as272d6g2ds766fcdfgh', 'Bot Service', 'bot'],
    ['Jlk9e7cSf9g3FFsaqe39', 'Agent Service', 'agent'],
  ]);
  expect(stage.config.services[0]!.rules).toHaveLength(1);
  expect(stage.infra).toEqual({
    logRetentionDays: 30,
    apiThrottle: { rate: 50, burst: 100 },
    webhookThrottle: { rate: 200, burst: 400 },
    healthThrottle: { rate: 5, burst: 10 },
    tracing: false,
  });
  expect(JSON.parse(stage.configJson)).toEqual(stage.config);
  expect(stage.configJson).not.toContain('infra');
});

it('loads another file with configPath and checks it against the asked stage', () => {
  const file = path.join(tmp, 'prod.json');
  fs.writeFileSync(file, JSON.stringify({ ...dev(), stage: 'prod' }));
  expect(loadStage({ configPath: file }).config.stage).toBe('prod');
  const message = messageOf(() => loadStage({ configPath: file, stage: 'dev' }));
  oneSentence(message);
  expect(message).toContain('stage is "prod" but "dev" was asked for');
});

it('names a missing stage file in one sentence', () => {
  const message = messageOf(() => loadStage({ stage: 'nosuchstage' }));
  oneSentence(message);
  expect(message).toBe(
    'Stage configuration config/nosuchstage.json was not found (see config/dev.json).',
  );
});

it('refuses a file that is not JSON', () => {
  const file = path.join(tmp, 'broken.json');
  fs.writeFileSync(file, '{ "stage": ');
  const message = messageOf(() => loadStage({ configPath: file }));
  oneSentence(message);
  expect(message).toContain('is not valid JSON');
});

it('lists every invalid field of a bad configuration in one sentence', () => {
  const raw = dev();
  raw.services[1].role = 'robot';
  raw.parley.baseUrl = 'not a url';
  raw.infra.logRetentionDays = 31;
  const message = messageOf(() => parseStageConfig(raw, 'config/dev.json'));
  oneSentence(message);
  expect(message).toMatch(/^Stage configuration config\/dev\.json is invalid: /);
  expect(message).toContain('services[1].role');
  expect(message).toContain('parley.baseUrl');
  expect(message).toContain('infra.logRetentionDays');
});

it('refuses a rule pattern the linear-time engine cannot run, naming the service and the rule', () => {
  const raw = dev();
  raw.services[0].rules.push({ match: '(a)\\1', newOwner: 'Agent Service', reason: 'repeat' });
  raw.services[1].rules = [{ match: '^(\\w+\\s?)+$', newOwner: 'Bot Service', reason: 'words' }];

  const message = messageOf(() => parseStageConfig(raw, 'config/dev.json'));

  oneSentence(message);
  expect(message).toBe(
    'Stage configuration config/dev.json is invalid: services[0].rules[1].match: service ' +
      '"Bot Service" rule 1 has a pattern the linear-time engine (RE2) cannot run: invalid escape ' +
      'sequence: `\\1` (RE2 has no backreferences or lookaround).',
  );
});

it('accepts RE2 syntax that JavaScript regular expressions lack', () => {
  const raw = dev();
  raw.services[0].rules = [
    { match: '(?P<word>\\x{e9}l\\x{e8}ve)', newOwner: 'Agent Service', reason: 'accent' },
  ];

  expect(parseStageConfig(raw, 'x.json').config.services[0]!.rules).toEqual(raw.services[0].rules);
});

it('refuses unknown infra settings (a typo would otherwise be ignored)', () => {
  const raw = dev();
  raw.infra.alarmEmial = 'ops@example.com';
  oneSentence(messageOf(() => parseStageConfig(raw, 'x.json')));
});

it("refuses a webhook limit below the other routes' (Parley's callbacks would be throttled first)", () => {
  const raw = dev();
  raw.infra.webhookThrottle = { rate: 40, burst: 400 };
  const message = messageOf(() => parseStageConfig(raw, 'x.json'));
  oneSentence(message);
  expect(message).toBe(
    'Stage configuration x.json is invalid: infra.webhookThrottle (rate 40, burst 400) must be at ' +
      'least infra.apiThrottle (rate 50, burst 100).',
  );
});

it('refuses a configuration that breaks the timeout chain', () => {
  const slowParley = dev();
  slowParley.parley.budgetMs = 20_000;
  expect(messageOf(() => parseStageConfig(slowParley, 'x.json'))).toContain('parley.budgetMs');
  const lateStale = dev();
  lateStale.staleAfterSeconds = 120;
  const message = messageOf(() => parseStageConfig(lateStale, 'x.json'));
  oneSentence(message);
  expect(message).toContain('staleAfterSeconds (120) must lie between');
});

it('refuses a configuration too large for the Lambda environment', () => {
  const raw = dev();
  raw.services = Array.from({ length: 12 }, (_, i) => ({
    identification: `service${i}`,
    name: `Service ${i}`,
    role: 'agent',
    rules: Array.from({ length: 4 }, () => ({
      match: '\\b(please|help|someone|human|agent|medewerker)\\b',
      newOwner: 'Service 0',
      reason: 'user_requested_human',
    })),
  }));
  const message = messageOf(() => parseStageConfig(raw, 'x.json'));
  oneSentence(message);
  expect(message).toContain(`Lambda's 4 KB environment`);
  expect(Buffer.byteLength(JSON.stringify(raw))).toBeGreaterThan(LAMBDA_ENV_LIMIT_BYTES / 2);
});

it('ends `cdk synth` on a bad configuration with exactly one line on stderr and exit code 1', () => {
  const file = path.join(tmp, 'bad.json');
  fs.writeFileSync(file, JSON.stringify({ ...dev(), services: [] }));
  const result = spawnSync(
    process.execPath,
    [
      path.join(REPO_ROOT, 'node_modules', 'tsx', 'dist', 'cli.mjs'),
      path.join(REPO_ROOT, 'bin', 'app.ts'),
    ],
    {
      cwd: REPO_ROOT,
      encoding: 'utf8',
      env: {
        ...process.env,
        CDK_CONTEXT_JSON: JSON.stringify({ config: file }),
        CDK_OUTDIR: path.join(tmp, 'out'),
        CDK_VALIDATION: 'false',
      },
      timeout: 60_000,
    },
  );
  expect(result.status).toBe(1);
  const lines = result.stderr.trim().split('\n');
  expect(lines).toHaveLength(1);
  oneSentence(lines[0]!);
  expect(lines[0]).toContain('services');
  expect(result.stdout).toBe('');
});

it('loads every stage configuration shipped in config/', () => {
  const dir = path.join(__dirname, '..', '..', 'config');
  const stages = fs
    .readdirSync(dir)
    .filter((f) => f.endsWith('.json'))
    .map((f) => f.replace(/\.json$/, ''));

  const loaded = stages.map((stage) => loadStage({ stage }).config.stage);

  expect(loaded).toEqual(stages);
  expect(stages).toEqual(expect.arrayContaining(['dev', 'prod']));
});
