// The secrets CLI (`npm run secrets`, cli/secrets/) on commander: its commands against an
// in-memory store (tokens printed once on stdout, each Service's callback tokens in their own
// secret, usage mistakes refused before any secret is touched), and its Secrets Manager store at
// the SDK boundary.
import {
  GetSecretValueCommand,
  ListSecretsCommand,
  PutSecretValueCommand,
  SecretsManagerClient,
} from '@aws-sdk/client-secrets-manager';
import { mockClient } from 'aws-sdk-client-mock';
import { run, type SecretStore, secretsManagerStore } from '../../cli/secrets/main';

describe('the secrets CLI commands', () => {
  const memoryStore = (initial: Record<string, string>) => {
    const values = { ...initial };
    const found: Record<string, string>[] = [];
    const store: SecretStore = {
      async find(tags) {
        found.push(tags);
        const kind = tags['parley-handover:kind'];
        return kind === 'auditors'
          ? 'arn:auditors'
          : `arn:${kind === 'callback-tokens' ? 'cb:' : ''}${tags['parley-handover:service']}`;
      },
      async read(id) {
        return values[id];
      },
      async write(id, value) {
        values[id] = value;
      },
    };
    return { store, values, found };
  };
  let out: string[];
  let err: string[];
  beforeEach(() => {
    out = [];
    err = [];
    jest.spyOn(console, 'log').mockImplementation((m: string) => void out.push(m));
    jest.spyOn(console, 'error').mockImplementation((m: string) => void err.push(m));
  });
  afterEach(() => jest.restoreAllMocks());

  it('set-service writes both secrets and prints the tokens once, on stdout', async () => {
    const bot = 'as272d6g2ds766fcdfgh';
    const mem = memoryStore({
      [`arn:${bot}`]: '{"apiTokens":[],"signingSecret":"abcdefghijklmnopqrstuvwxyz"}',
      [`arn:cb:${bot}`]: '{"callbackTokens":[],"placeholder":"generated"}',
    });
    const code = await run(
      [
        'set-service',
        '--stage',
        'dev',
        '--service',
        bot,
        '--shared-secret-stdin',
        '--generate-tokens',
      ],
      () => mem.store,
      async () => 'parley-shared-secret',
    );
    expect(code).toBe(0);
    expect(mem.found).toEqual([
      {
        'parley-handover:stage': 'dev',
        'parley-handover:kind': 'service',
        'parley-handover:service': bot,
      },
      {
        'parley-handover:stage': 'dev',
        'parley-handover:kind': 'callback-tokens',
        'parley-handover:service': bot,
      },
    ]);
    const written = JSON.parse(mem.values[`arn:${bot}`]!);
    const callback = JSON.parse(mem.values[`arn:cb:${bot}`]!);
    expect(written.sharedServiceAccountSecret).toBe('parley-shared-secret');
    expect(written.accountIdentification).toBe('REPLACE-WITH-PARLEY-ACCOUNT-IDENTIFICATION');
    expect(written).not.toHaveProperty('callbackTokens');
    expect(callback).toEqual({ callbackTokens: [expect.any(String)] });
    expect(out).toEqual([
      `Bot Service callback header for Parley: Authorization: Bearer ${callback.callbackTokens[0]}`,
      `Bot Service API token: ${written.apiTokens[0]}`,
      `Bot Service signing secret (verifies X-Handover-Signature): ${written.signingSecret}`,
    ]);
    expect(err).toEqual(['Written to the secret of Bot Service and to its callback-token secret.']);
    expect(err.join('\n')).not.toContain('parley-shared-secret');
  });

  it('set-service copies callback tokens of an earlier version and says how to prune them', async () => {
    const bot = 'as272d6g2ds766fcdfgh';
    const legacy = {
      accountIdentification: 'REPLACE-WITH-PARLEY-ACCOUNT-IDENTIFICATION',
      sharedServiceAccountSecret: 'parley-shared-secret',
      callbackTokens: ['legacy-callback-token-01'],
      apiTokens: ['legacy-api-token-00001'],
      signingSecret: 'abcdefghijklmnopqrstuvwxyz',
    };
    const mem = memoryStore({
      [`arn:${bot}`]: JSON.stringify(legacy),
      [`arn:cb:${bot}`]: '{"callbackTokens":[],"placeholder":"generated"}',
    });

    expect(await run(['set-service', '--stage', 'dev', '--service', bot], () => mem.store)).toBe(0);
    const afterCopy = JSON.parse(mem.values[`arn:cb:${bot}`]!);
    expect(
      await run(['set-service', '--stage', 'dev', '--service', bot, '--prune'], () => mem.store),
    ).toBe(0);

    expect(afterCopy).toEqual({ callbackTokens: ['legacy-callback-token-01'] });
    expect(JSON.parse(mem.values[`arn:${bot}`]!)).not.toHaveProperty('callbackTokens');
    expect(out).toEqual([]);
    expect(err).toEqual([
      'Copied 1 callback token of Bot Service into its callback-token secret (the webhook reads ' +
        'only that one). The Service secret still lists it for a webhook deployed before the ' +
        `split: once this version is deployed, run set-service --stage dev --service ${bot} --prune.`,
      'Written to the secret of Bot Service and to its callback-token secret.',
      'Removed 1 callback token from the secret of Bot Service: it lives in its callback-token ' +
        'secret now.',
      'Written to the secret of Bot Service and to its callback-token secret.',
    ]);
    expect(err.join('\n')).not.toContain('legacy-callback-token-01');
  });

  it('set-service says what is still missing in either secret', async () => {
    const bot = 'as272d6g2ds766fcdfgh';
    const mem = memoryStore({});
    expect(await run(['set-service', '--stage', 'dev', '--service', bot], () => mem.store)).toBe(0);
    expect(err).toEqual([
      'Written to the secret of Bot Service and to its callback-token secret; still missing: ' +
        'sharedServiceAccountSecret, callbackTokens (run with --shared-secret-stdin and --generate-tokens).',
    ]);
  });

  it('rotate writes callback tokens to the callback-token secret only', async () => {
    const bot = 'as272d6g2ds766fcdfgh';
    const main = '{"apiTokens":["api-token-0000000001"]}';
    const mem = memoryStore({
      [`arn:${bot}`]: main,
      [`arn:cb:${bot}`]: '{"callbackTokens":["cb-token-00000000001"]}',
    });
    const code = await run(
      ['rotate', '--stage', 'dev', '--service', bot, '--kind', 'callback'],
      () => mem.store,
    );
    const callback = JSON.parse(mem.values[`arn:cb:${bot}`]!);
    expect(code).toBe(0);
    expect(mem.values[`arn:${bot}`]).toBe(main);
    expect(callback.callbackTokens).toEqual(['cb-token-00000000001', expect.any(String)]);
    expect(out).toEqual([
      `Bot Service callback header for Parley: Authorization: Bearer ${callback.callbackTokens[1]}`,
    ]);
    expect(err).toEqual(['Written to the callback-token secret of Bot Service.']);
  });

  it('refuses a Service that is not in the stage configuration and another account', async () => {
    const mem = memoryStore({});
    await expect(
      run(['rotate', '--stage', 'dev', '--service', 'nope', '--kind', 'api'], () => mem.store),
    ).rejects.toThrow(/not in config\/dev.json/);
    await expect(
      run(
        [
          'set-service',
          '--stage',
          'dev',
          '--service',
          'as272d6g2ds766fcdfgh',
          '--account',
          'other',
        ],
        () => mem.store,
      ),
    ).rejects.toThrow(/one stage serves one Parley account/);
  });

  it('add-auditor writes to the auditors secret and prints the token once', async () => {
    const mem = memoryStore({ 'arn:auditors': '{"auditors":[],"placeholder":"generated"}' });
    expect(
      await run(['add-auditor', '--stage', 'dev', '--name', 'Compliance'], () => mem.store),
    ).toBe(0);
    const written = JSON.parse(mem.values['arn:auditors']!);
    expect(written).toEqual({ auditors: [{ name: 'Compliance', token: expect.any(String) }] });
    expect(out).toEqual([`Auditor token of Compliance: ${written.auditors[0].token}`]);
  });

  it('add-operator adds an operator beside the auditors and prints the token once', async () => {
    const mem = memoryStore({
      'arn:auditors': '{"auditors":[{"name":"Compliance","token":"auditor-token-0000001"}]}',
    });

    expect(await run(['add-operator', '--stage', 'dev', '--name', 'Ops'], () => mem.store)).toBe(0);

    const written = JSON.parse(mem.values['arn:auditors']!);
    expect(written).toEqual({
      auditors: [{ name: 'Compliance', token: 'auditor-token-0000001' }],
      operators: [{ name: 'Ops', token: expect.stringMatching(/^[A-Za-z0-9_-]{32,}$/) }],
    });
    expect(written.operators[0].token).not.toBe('auditor-token-0000001');
    expect(out).toEqual([`Operator token of Ops: ${written.operators[0].token}`]);
  });

  it('add-operator refuses a name already given to an operator, and writes nothing', async () => {
    const before = '{"auditors":[],"operators":[{"name":"Ops","token":"operator-token-000001"}]}';
    const mem = memoryStore({ 'arn:auditors': before });

    await expect(
      run(['add-operator', '--stage', 'dev', '--name', 'Ops'], () => mem.store),
    ).rejects.toThrow('An operator named "Ops" exists already.');
    expect(mem.values['arn:auditors']).toBe(before);
    expect(out).toEqual([]);
  });

  it('answers --help on each command on stdout without touching a secret', async () => {
    const store = () => {
      throw new Error('no store for --help');
    };
    for (const command of ['set-service', 'add-auditor', 'add-operator', 'rotate']) {
      expect(await run([command, '--help'], store)).toBe(0);
    }
    expect(await run(['--help'], store)).toBe(0);
    expect(out.join('\n')).toContain('--generate-tokens');
    expect(err).toEqual([]);
  });

  it('reports usage mistakes with exit code 2 before touching a secret', async () => {
    const store = () => {
      throw new Error('no store for a usage mistake');
    };
    expect(
      await run(['rotate', '--stage', 'dev', '--service', 'x', '--kind', 'bogus'], store),
    ).toBe(2);
    expect(await run(['set-service', '--stage', 'dev'], store)).toBe(2);
    expect(await run(['add-auditor', '--bogus'], store)).toBe(2);
    expect(await run(['nonsense'], store)).toBe(2);
    expect(err.join('\n')).toContain('--kind must be "callback" or "api".');
    expect(err.join('\n')).toContain('--service is required.');
  });

  it('takes --stage before the command as well as after it', async () => {
    const mem = memoryStore({ 'arn:auditors': '{"auditors":[]}' });

    const before = await run(
      ['--stage', 'dev', 'add-auditor', '--name', 'Compliance'],
      () => mem.store,
    );
    const after = await run(
      ['add-auditor', '--name', 'Operations', '--stage', 'dev'],
      () => mem.store,
    );

    expect([before, after]).toEqual([0, 0]);
    expect(mem.found).toEqual([
      { 'parley-handover:stage': 'dev', 'parley-handover:kind': 'auditors' },
      { 'parley-handover:stage': 'dev', 'parley-handover:kind': 'auditors' },
    ]);
    const written = JSON.parse(mem.values['arn:auditors']!);
    expect(written.auditors.map((a: { name: string }) => a.name)).toEqual([
      'Compliance',
      'Operations',
    ]);
  });

  it('says each usage mistake in one sentence plus "Try --help."', async () => {
    const store = () => {
      throw new Error('no store for a usage mistake');
    };

    const codes = [
      await run(['add-auditor', '--stage', 'dev', '--name', 'x', '--frobnicate'], store),
      await run(['set-service'], store),
      await run(['rotate', '--stage', 'dev', '--service', 'x'], store),
      await run(['rotate', '--stage', 'dev', '--service', 'x', '--kind', 'api', 'now'], store),
      await run(['rotat', '--stage', 'dev'], store),
      await run(['add-auditor', '--stage'], store),
    ];

    expect(codes).toEqual([2, 2, 2, 2, 2, 2]);
    expect(err).toEqual([
      'Unknown option --frobnicate. Try --help.',
      '--stage and --service are required. Try --help.',
      '--kind must be "callback" or "api". Try --help.',
      'Unexpected argument "now". Try --help.',
      'Unknown command "rotat". Did you mean rotate? Try --help.',
      '--stage needs a value. Try --help.',
    ]);
    expect(out).toEqual([]);
  });
});

describe('the Secrets Manager store', () => {
  const sm = mockClient(SecretsManagerClient);
  afterEach(() => sm.reset());
  const tag = (Key: string, Value: string) => ({ Key, Value });

  it('finds the one secret whose tags all match, across pages, then reads and writes it', async () => {
    sm.on(ListSecretsCommand)
      .resolvesOnce({
        SecretList: [
          {
            ARN: 'arn:agent',
            Tags: [tag('parley-handover:stage', 'dev'), tag('parley-handover:service', 'agent-id')],
          },
        ],
        NextToken: 'page-2',
      })
      .resolvesOnce({
        SecretList: [
          {
            ARN: 'arn:bot',
            Tags: [tag('parley-handover:stage', 'dev'), tag('parley-handover:service', 'bot-id')],
          },
        ],
      });
    sm.on(GetSecretValueCommand).resolves({ SecretString: '{"a":1}' });
    sm.on(PutSecretValueCommand).resolves({});
    const store = secretsManagerStore(new SecretsManagerClient({ region: 'eu-west-1' }));
    expect(
      await store.find({ 'parley-handover:stage': 'dev', 'parley-handover:service': 'bot-id' }),
    ).toBe('arn:bot');
    expect(sm.commandCalls(ListSecretsCommand)[0]!.args[0].input.Filters).toEqual([
      { Key: 'tag-key', Values: ['parley-handover:stage'] },
      { Key: 'tag-value', Values: ['dev'] },
    ]);
    expect(await store.read('arn:bot')).toBe('{"a":1}');
    await store.write('arn:bot', '{"a":2}');
    expect(sm.commandCalls(PutSecretValueCommand)[0]!.args[0].input).toEqual({
      SecretId: 'arn:bot',
      SecretString: '{"a":2}',
    });
  });

  it('says in one sentence when no secret carries the tags', async () => {
    sm.on(ListSecretsCommand).resolves({ SecretList: [] });
    const store = secretsManagerStore(new SecretsManagerClient({ region: 'eu-west-1' }));
    await expect(store.find({ 'parley-handover:stage': 'prod' })).rejects.toThrow(
      /^No secret tagged prod was found: deploy the data stack first or pass --secret-id\.$/,
    );
  });
});
