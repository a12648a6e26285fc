// The secrets CLI's pure logic (merge, rotate, auditors) and its commands against an in-memory
// store: tokens are fresh, printed once, old tokens stay valid until retired; each Service's
// callback tokens go to their own secret (tokens left in the Service secret by an earlier version
// are copied over, and pruned on request).
import {
  GetSecretValueCommand,
  ListSecretsCommand,
  PutSecretValueCommand,
  SecretsManagerClient,
} from '@aws-sdk/client-secrets-manager';
import { mockClient } from 'aws-sdk-client-mock';
import { run, type SecretStore, secretsManagerStore } from '../../bin/secrets';
import { callbackTokensSecretSchema, serviceSecretSchema } from '../../functions/schemas/config';
import {
  addAuditor,
  mergeServiceSecret,
  newToken,
  parseSecretJson,
  rotateServiceToken,
  SecretInputError,
  tokensOf,
} from '../../lib/secret-values';

const counter = () => {
  let n = 0;
  return () => `token-${String(++n).padStart(12, '0')}`;
};

describe('tokens', () => {
  it('are 32 random bytes in base64url', () => {
    const a = newToken();
    expect(a).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(Buffer.from(a, 'base64url')).toHaveLength(32);
    expect(newToken()).not.toBe(a);
  });
});

describe('parseSecretJson', () => {
  it('drops the placeholder key and treats a non-object as empty', () => {
    expect(parseSecretJson('{"auditors":[],"placeholder":"xyz"}')).toEqual({ auditors: [] });
    expect(parseSecretJson('random-password')).toEqual({});
    expect(parseSecretJson('[1]')).toEqual({});
    expect(parseSecretJson(undefined)).toEqual({});
  });
});

describe('mergeServiceSecret', () => {
  it('merges Parley values and fresh tokens into the placeholders, keeping the signing secret', () => {
    const signing = 's'.repeat(48);
    const { next, issued } = mergeServiceSecret(
      { main: { apiTokens: [], signingSecret: signing }, callback: { callbackTokens: [] } },
      {
        accountIdentification: 'acc-1',
        sharedServiceAccountSecret: ' shared \n',
        generateTokens: true,
        token: counter(),
      },
    );
    expect(next).toEqual({
      main: {
        accountIdentification: 'acc-1',
        sharedServiceAccountSecret: 'shared',
        apiTokens: ['token-000000000002'],
        signingSecret: signing,
      },
      callback: { callbackTokens: ['token-000000000001'] },
    });
    expect(issued).toEqual({ callback: 'token-000000000001', api: 'token-000000000002' });
    expect(serviceSecretSchema.safeParse(next.main).success).toBe(true);
    expect(callbackTokensSecretSchema.parse(next.callback)).toEqual(['token-000000000001']);
  });

  it('keeps existing tokens (single-string form folded into the list) without --generate-tokens', () => {
    const { next, issued } = mergeServiceSecret(
      {
        main: { apiToken: 'old-api-token-0001' },
        callback: { callbackToken: 'old-callback-token-1' },
      },
      { sharedServiceAccountSecret: 'new-shared', generateTokens: false, token: counter() },
    );
    expect(next.callback).toEqual({ callbackTokens: ['old-callback-token-1'] });
    expect(next.main.apiTokens).toEqual(['old-api-token-0001']);
    expect(next.main.apiToken).toBeUndefined();
    expect(next.main.signingSecret).toBe('token-000000000001');
    expect(issued).toEqual({});
  });

  it('copies callback tokens left in the Service secret by an earlier version, keeping them there', () => {
    const { next, copied, pruned } = mergeServiceSecret(
      { main: { callbackTokens: ['legacy-callback-token1'], apiTokens: [] }, callback: {} },
      { generateTokens: false, token: counter() },
    );
    expect(next.callback).toEqual({ callbackTokens: ['legacy-callback-token1'] });
    expect(next.main.callbackTokens).toEqual(['legacy-callback-token1']);
    expect([copied, pruned]).toEqual([1, 0]);
  });

  it('prunes them from the Service secret on request, once they are in their own secret', () => {
    const { next, copied, pruned } = mergeServiceSecret(
      {
        main: { callbackToken: 'legacy-callback-token1', apiTokens: [] },
        callback: { callbackTokens: ['legacy-callback-token1'] },
      },
      { generateTokens: false, prune: true, token: counter() },
    );
    expect(next.main).not.toHaveProperty('callbackToken');
    expect(next.main).not.toHaveProperty('callbackTokens');
    expect(next.callback).toEqual({ callbackTokens: ['legacy-callback-token1'] });
    expect([copied, pruned]).toEqual([0, 1]);
  });

  it('drops old callback tokens from the Service secret when fresh ones are generated', () => {
    const { next, pruned } = mergeServiceSecret(
      { main: { callbackTokens: ['legacy-callback-token1'] }, callback: {} },
      { generateTokens: true, token: counter() },
    );
    expect(next.main).not.toHaveProperty('callbackTokens');
    expect(next.callback).toEqual({ callbackTokens: ['token-000000000001'] });
    expect(pruned).toBe(1);
  });

  it('refuses an empty shared secret', () => {
    expect(() =>
      mergeServiceSecret(
        { main: {}, callback: {} },
        { sharedServiceAccountSecret: '  ', generateTokens: false },
      ),
    ).toThrow(SecretInputError);
  });
});

describe('rotateServiceToken', () => {
  it('adds a new callback token next to the current one in its own secret, then retires the oldest', () => {
    const token = counter();
    const start = {
      main: { apiTokens: ['api-token-000000'] },
      callback: { callbackTokens: ['first-callback-token'] },
    };
    const rotated = rotateServiceToken(start, { kind: 'callback', retire: false, token });
    expect(tokensOf(rotated.next.callback, 'callback')).toEqual([
      'first-callback-token',
      'token-000000000001',
    ]);
    expect(rotated.issued).toEqual({ callback: 'token-000000000001' });
    expect(rotated.next.main).toEqual(start.main);

    const retired = rotateServiceToken(rotated.next, { kind: 'callback', retire: true });
    expect(tokensOf(retired.next.callback, 'callback')).toEqual(['token-000000000001']);
    expect(retired.issued).toEqual({});
  });

  it('rotates from callback tokens left in the Service secret, so the current one stays valid', () => {
    const rotated = rotateServiceToken(
      { main: { callbackToken: 'legacy-callback-token1' }, callback: { callbackTokens: [] } },
      { kind: 'callback', retire: false, token: counter() },
    );
    expect(rotated.next.callback).toEqual({
      callbackTokens: ['legacy-callback-token1', 'token-000000000001'],
    });
    expect(rotated.copied).toBe(1);
  });

  it('rotates API tokens in the Service secret', () => {
    const rotated = rotateServiceToken(
      {
        main: { apiTokens: ['api-token-000000'] },
        callback: { callbackTokens: ['cb-0000000000000'] },
      },
      { kind: 'api', retire: false, token: counter() },
    );
    expect(rotated.next).toEqual({
      main: { apiTokens: ['api-token-000000', 'token-000000000001'] },
      callback: { callbackTokens: ['cb-0000000000000'] },
    });
  });

  it('never retires the last token', () => {
    expect(() =>
      rotateServiceToken(
        { main: { apiTokens: ['only-api-token-0001'] }, callback: {} },
        { kind: 'api', retire: true },
      ),
    ).toThrow(/only one/);
  });
});

describe('addAuditor', () => {
  it('adds a named auditor with a fresh token and refuses a duplicate name', () => {
    const { next, token } = addAuditor({ auditors: [] }, 'Compliance', counter());
    expect(next).toEqual({ auditors: [{ name: 'Compliance', token: 'token-000000000001' }] });
    expect(token).toBe('token-000000000001');
    expect(() => addAuditor(next, 'Compliance')).toThrow(/exists already/);
  });
});

describe('bin/secrets.ts commands', () => {
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

  it('answers --help on each command on stdout without touching a secret', async () => {
    const store = () => {
      throw new Error('no store for --help');
    };
    for (const command of ['set-service', 'add-auditor', 'rotate']) {
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
