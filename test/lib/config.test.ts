// Stage configuration loading: the default stage, the choice of another one, bad configurations
// refused with one clear sentence (also end to end through bin/app.ts), and the placeholders and
// example hosts that only stage dev may keep.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {
  ConfigError,
  LAMBDA_ENV_LIMIT_BYTES,
  loadStage,
  parseStageConfig,
  placeholdersOf,
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
/** A configuration with every shipped placeholder replaced by a plausible real value. */
const filled = (raw: Record<string, any>) => {
  raw.accountIdentification = 'acme-parley-account';
  raw.services.forEach((s: Record<string, any>, i: number) => {
    s.identification = `acmeService${i}x7Qz`;
    if (s.downstreamUrl !== undefined) s.downstreamUrl = `https://chat.acme.nl/parley/${i}`;
  });
  if (raw.infra?.alarmEmail !== undefined) raw.infra.alarmEmail = 'oncall@acme.nl';
  return raw;
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
  fs.writeFileSync(file, JSON.stringify(filled({ ...dev(), stage: 'prod' })));
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

it('takes the index shards from 1 to 64, 8 when not given, and refuses any other count', () => {
  const given = (indexShards: unknown) => parseStageConfig({ ...dev(), indexShards }, 'x.json');
  const refusal = (indexShards: unknown) => messageOf(() => given(indexShards));

  const counts = [given(1), given(64), parseStageConfig(dev(), 'x.json')].map(
    (stage) => stage.config.indexShards,
  );
  const messages = [refusal(0), refusal(65), refusal(2.5), refusal('8')];

  expect(counts).toEqual([1, 64, 8]);
  expect(JSON.parse(given(3).configJson).indexShards).toBe(3);
  for (const message of messages) {
    oneSentence(message);
    expect(message).toMatch(
      /^Stage configuration x\.json is invalid: indexShards: .*whole number from 1 to 64/,
    );
  }
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

/** bin/app.ts as `cdk synth` runs it, with this CDK context. */
const synth = (context: Record<string, string>) =>
  spawnSync(
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
        CDK_CONTEXT_JSON: JSON.stringify(context),
        CDK_OUTDIR: path.join(tmp, 'out'),
        CDK_VALIDATION: 'false',
      },
      timeout: 60_000,
    },
  );

it('ends `cdk synth` on a bad configuration with exactly one line on stderr and exit code 1', () => {
  const file = path.join(tmp, 'bad.json');
  fs.writeFileSync(file, JSON.stringify({ ...dev(), services: [] }));
  const result = synth({ config: file });
  expect(result.status).toBe(1);
  const lines = result.stderr.trim().split('\n');
  expect(lines).toHaveLength(1);
  oneSentence(lines[0]!);
  expect(lines[0]).toContain('services');
  expect(result.stdout).toBe('');
});

it('loads config/dev.json as shipped and refuses every other shipped stage only for its placeholders', () => {
  const dir = path.join(REPO_ROOT, 'config');
  const others = fs
    .readdirSync(dir)
    .filter((f) => f.endsWith('.json') && f !== 'dev.json')
    .map((f) => f.replace(/\.json$/, ''));

  const refused = others.map((stage) => messageOf(() => loadStage({ stage })));
  const loadedOnceFilled = others.map(
    (stage) =>
      parseStageConfig(
        filled(JSON.parse(fs.readFileSync(path.join(dir, `${stage}.json`), 'utf8'))),
        `config/${stage}.json`,
        stage,
      ).config.stage,
  );

  expect(loadStage({ stage: 'dev' }).config.stage).toBe('dev');
  expect(others).toEqual(expect.arrayContaining(['prod']));
  for (const message of refused) {
    oneSentence(message);
    expect(message).toContain('holds placeholders');
  }
  expect(loadedOnceFilled).toEqual(others);
});

describe('placeholders and example hosts (every stage but dev)', () => {
  const staging = (change: (raw: Record<string, any>) => void = () => undefined) => {
    const raw = filled({ ...dev(), stage: 'staging' });
    raw.services[0].downstreamUrl = 'https://bot.acme.nl/parley';
    raw.infra.alarmEmail = 'oncall@acme.nl';
    change(raw);
    return raw;
  };

  it('refuses the shipped config/prod.json template, naming every key to fill in one sentence', () => {
    const message = messageOf(() => loadStage({ stage: 'prod' }));

    oneSentence(message);
    expect(message).toBe(
      'Stage configuration config/prod.json holds placeholders, which only stage "dev" may keep: ' +
        'accountIdentification is a placeholder (REPLACE-WITH-PARLEY-ACCOUNT-IDENTIFICATION), set ' +
        'your Parley account identification; services[0].identification is a placeholder ' +
        '(REPLACE-WITH-BOT-SERVICE-IDENTIFICATION), set the identification Parley gave "Bot ' +
        'Service"; services[0].downstreamUrl points at an example host (bot.example.com), set your ' +
        "bot's real URL or remove the key; services[1].identification is a placeholder " +
        '(REPLACE-WITH-AGENT-SERVICE-IDENTIFICATION), set the identification Parley gave "Agent ' +
        'Service"; services[1].downstreamUrl points at an example host (desk.example.com), set your ' +
        "agent desk's real URL or remove the key; infra.alarmEmail is at an example domain " +
        '(ops@example.com), set the address that should receive alarms or remove the key.',
    );
  });

  it('names the one key of a single example host', () => {
    const raw = staging((r) => {
      r.services[0].downstreamUrl = 'https://bot.example.com/parley';
    });

    expect(messageOf(() => parseStageConfig(raw, 'config/staging.json'))).toBe(
      'Stage configuration config/staging.json holds placeholders, which only stage "dev" may ' +
        'keep: services[0].downstreamUrl points at an example host (bot.example.com), set your ' +
        "bot's real URL or remove the key.",
    );
  });

  it.each([
    ['https://example.com/parley', 'an example host (example.com)'],
    ['https://Desk.Example.NET./hook', 'an example host (desk.example.net.)'],
    ['https://example.org', 'an example host (example.org)'],
    ['https://bot.example/parley', 'an example host (bot.example)'],
    ['https://bot.test/parley', 'an example host (bot.test)'],
    ['https://bot.invalid/parley', 'an example host (bot.invalid)'],
    ['http://localhost:4100/bot', 'a local host (localhost), which Lambda cannot reach'],
    ['http://app.localhost/bot', 'a local host (app.localhost), which Lambda cannot reach'],
    ['http://127.0.0.1:4100/bot', 'a local host (127.0.0.1), which Lambda cannot reach'],
    ['http://[::1]:4100/bot', 'a local host ([::1]), which Lambda cannot reach'],
    ['https://REPLACE-WITH-DESK-URL/parley', 'a placeholder host (replace-with-desk-url)'],
  ])('refuses the downstream URL %s as %s', (url, what) => {
    const raw = staging((r) => {
      r.services[1].downstreamUrl = url;
    });

    const message = messageOf(() => parseStageConfig(raw, 'x.json'));

    oneSentence(message);
    expect(message).toContain(`services[1].downstreamUrl points at ${what}, set your agent desk's`);
  });

  it.each([
    'https://chat.example.company.com/parley',
    'https://example.com.au/parley',
    'https://myexample.com/parley',
    'https://examples.org/hook',
    'https://bot.testing.nl/parley',
    'https://128.0.0.1/parley',
  ])('accepts the real-looking downstream URL %s', (url) => {
    const raw = staging((r) => {
      r.services[1].downstreamUrl = url;
    });

    expect(parseStageConfig(raw, 'x.json').config.services[1]!.downstreamUrl).toBe(url);
  });

  it("refuses an example host as Parley's base URL and an alarm address at an example domain", () => {
    const raw = staging((r) => {
      r.parley.baseUrl = 'https://parley.example.org/serviceApi/v2.5';
      r.infra.alarmEmail = 'alarms@ops.example.com';
    });

    expect(messageOf(() => parseStageConfig(raw, 'x.json'))).toBe(
      'Stage configuration x.json holds placeholders, which only stage "dev" may keep: ' +
        "parley.baseUrl points at an example host (parley.example.org), set the URL of Parley's " +
        'Service API; infra.alarmEmail is at an example domain (alarms@ops.example.com), set the ' +
        'address that should receive alarms or remove the key.',
    );
  });

  it.each([
    'REPLACE-WITH-PARLEY-ACCOUNT-IDENTIFICATION',
    'replace_with_account',
    '<your account identification>',
    'your-parley-account-identification',
    'acc…',
  ])('refuses the placeholder account identification %s', (account) => {
    const raw = staging((r) => {
      r.accountIdentification = account;
    });

    expect(messageOf(() => parseStageConfig(raw, 'x.json'))).toContain(
      `accountIdentification is a placeholder (${account}), set your Parley account identification`,
    );
  });

  it('accepts a stage other than dev once every value is real', () => {
    const loaded = parseStageConfig(staging(), 'config/staging.json', 'staging');

    expect(loaded.config.accountIdentification).toBe('acme-parley-account');
    expect(loaded.infra.alarmEmail).toBe('oncall@acme.nl');
  });

  it('lets stage dev keep placeholders and example hosts, and lists them for a warning', () => {
    const raw = dev();
    raw.services[0].downstreamUrl = 'https://bot.example.com/parley';
    raw.infra.alarmEmail = 'ops@example.com';

    const loaded = parseStageConfig(raw, 'config/dev.json');

    expect(placeholdersOf(loaded)).toEqual([
      'accountIdentification is a placeholder (REPLACE-WITH-PARLEY-ACCOUNT-IDENTIFICATION), set ' +
        'your Parley account identification',
      'services[0].downstreamUrl points at an example host (bot.example.com), set your ' +
        "bot's real URL or remove the key",
      'infra.alarmEmail is at an example domain (ops@example.com), set the address that should ' +
        'receive alarms or remove the key',
    ]);
  });

  it('ends `cdk synth -c stage=prod` with the sentence on one line and exit code 1', () => {
    const result = synth({ stage: 'prod' });

    expect(result.status).toBe(1);
    expect(result.stderr.trim().split('\n')).toEqual([
      messageOf(() => loadStage({ stage: 'prod' })),
    ]);
    expect(result.stdout).toBe('');
  });
});
