import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  generateServicesFile,
  loadOrCreateServicesFile,
  parseServicesFile,
  readServicesFile,
  simulatorSeed,
  toStageConfig,
  tokensOf,
} from '../../local/services-file';

const TOKEN_A = 'tok-aaaaaaaaaaaaaaaaaaaa';
const TOKEN_B = 'tok-bbbbbbbbbbbbbbbbbbbb';

const service = (overrides: Record<string, unknown> = {}) => ({
  serviceIdentification: 'as272d6g2ds766fcdfgh',
  accountIdentification: 'acc-1',
  sharedServiceAccountSecret: 'shared-secret',
  name: 'Bot Service',
  callbackToken: TOKEN_A,
  apiTokens: [TOKEN_B, 'tok-next-cccccccccccccccc'],
  ...overrides,
});

describe('services file', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'services-file-'));
  });
  afterAll(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  it('turns one document into the stage configuration and the per-service secrets', () => {
    const settings = parseServicesFile({
      services: [
        service({ rules: [{ match: '\\bhuman\\b', newOwner: 'Agent Service', reason: 'asked' }] }),
        service({
          serviceIdentification: 'Jlk9e7cSf9g3FFsaqe39',
          name: 'Agent Service',
          role: 'agent',
          downstreamUrl: 'http://127.0.0.1:9/desk',
          signingSecret: 'signing-secret-0001',
        }),
      ],
      auditors: [{ name: 'auditor', token: 'auditor-token-000000' }],
    });

    const config = toStageConfig(settings, {
      parleyBaseUrl: 'http://127.0.0.1:1/serviceApi/v2.5',
      downstreamUrls: { 'bot service': 'http://127.0.0.1:8/bot' },
    });

    expect(config.accountIdentification).toBe('acc-1');
    expect(config.services).toEqual([
      {
        identification: 'as272d6g2ds766fcdfgh',
        name: 'Bot Service',
        role: 'bot',
        downstreamUrl: 'http://127.0.0.1:8/bot',
        rules: [{ match: '\\bhuman\\b', newOwner: 'Agent Service', reason: 'asked' }],
      },
      {
        identification: 'Jlk9e7cSf9g3FFsaqe39',
        name: 'Agent Service',
        role: 'agent',
        downstreamUrl: 'http://127.0.0.1:9/desk',
        rules: [],
      },
    ]);
    expect(settings.secrets.as272d6g2ds766fcdfgh).toEqual({
      accountIdentification: 'acc-1',
      sharedServiceAccountSecret: 'shared-secret',
      callbackTokens: [TOKEN_A],
      apiTokens: [TOKEN_B, 'tok-next-cccccccccccccccc'],
      signingSecret: undefined,
    });
    expect(tokensOf(settings).services.as272d6g2ds766fcdfgh?.apiToken).toBe(TOKEN_B);
  });

  it('refuses services of two accounts with one sentence that names them', () => {
    const twoAccounts = {
      services: [
        service(),
        service({ serviceIdentification: 'other', name: 'Other', accountIdentification: 'acc-2' }),
      ],
    };

    expect(() => parseServicesFile(twoAccounts)).toThrow(
      'The services file names 2 Parley accounts (acc-1, acc-2); one stack serves exactly one account.',
    );
  });

  it('names the field of a mistake and never its value', () => {
    const secretValue = 'short';
    let message = '';
    try {
      parseServicesFile({ services: [service({ apiTokens: undefined, apiToken: secretValue })] });
    } catch (err) {
      message = (err as Error).message;
    }

    expect(message).toMatch(/services\[0\]\.apiToken/);
    expect(message).not.toContain(secretValue);
    expect(() => parseServicesFile({ services: [service({ callbackTokn: TOKEN_A })] })).toThrow(
      /unknown field "callbackTokn"/,
    );
    expect(() => parseServicesFile({ services: [service({ callbackToken: undefined })] })).toThrow(
      /callbackToken/,
    );
  });

  it('says so in one sentence when the file is missing or not JSON', () => {
    const broken = join(dir, 'broken.json');
    writeFileSync(broken, '{ not json');

    expect(() => readServicesFile(join(dir, 'missing.json'))).toThrow(/does not exist\.$/);
    expect(() => readServicesFile(broken)).toThrow(/is not valid JSON\.$/);
  });

  it('generates a file with fresh random tokens once, readable by the owner only', () => {
    const path = join(dir, 'gen', 'services.json');
    const generate = () =>
      generateServicesFile('acc-1', [
        { identification: 'bot-id', name: 'Bot Service', role: 'bot' },
        { identification: 'agent-id', name: 'Agent Service', role: 'agent' },
      ]);

    const first = loadOrCreateServicesFile(path, generate);
    const again = loadOrCreateServicesFile(path, generate);

    expect(first.created).toBe(true);
    expect(again.created).toBe(false);
    expect(again.settings.secrets).toEqual(first.settings.secrets);
    expect(statSync(path).mode & 0o777).toBe(0o600);
    const tokens = tokensOf(first.settings);
    const all = [
      tokens.services['bot-id']!.apiToken,
      tokens.services['bot-id']!.callbackToken,
      tokens.services['agent-id']!.apiToken,
      tokens.auditor!.token,
    ];
    expect(new Set(all).size).toBe(4);
    for (const t of all) expect(t).toMatch(/^[A-Za-z0-9_-]{32}$/);
    expect(readFileSync(path, 'utf8')).toContain('"serviceIdentification": "bot-id"');
  });
  it('builds a services document from what is given, with fresh random values for the rest', () => {
    const file = generateServicesFile(
      'acc-1',
      [
        {
          identification: 'bot-id',
          name: 'Bot Service',
          sharedSecret: 'shared-secret',
          callbackTokens: [TOKEN_A],
          apiTokens: [TOKEN_B],
          signingSecret: null,
          downstreamUrl: 'http://127.0.0.1:8/bot',
        },
        { identification: 'agent-id', name: 'Agent Service', role: 'agent' },
      ],
      { auditors: [{ name: 'ops', token: 'auditor-token-000000' }, { name: 'second' }] },
    );

    expect(file.services[0]).toEqual({
      serviceIdentification: 'bot-id',
      accountIdentification: 'acc-1',
      sharedServiceAccountSecret: 'shared-secret',
      name: 'Bot Service',
      role: 'bot',
      callbackTokens: [TOKEN_A],
      apiTokens: [TOKEN_B],
      downstreamUrl: 'http://127.0.0.1:8/bot',
    });
    const agent = file.services[1]!;
    expect(agent).toMatchObject({ serviceIdentification: 'agent-id', role: 'agent' });
    for (const value of [
      agent.sharedServiceAccountSecret,
      agent.signingSecret,
      ...(agent.callbackTokens ?? []),
      ...(agent.apiTokens ?? []),
    ]) {
      expect(value).toMatch(/^[A-Za-z0-9_-]{32}$/);
    }
    expect(file.auditors?.[0]).toEqual({ name: 'ops', token: 'auditor-token-000000' });
    expect(file.auditors?.[1]?.name).toBe('second');
    expect(file.auditors?.[1]?.token).toMatch(/^[A-Za-z0-9_-]{32}$/);
    expect(() => parseServicesFile(file)).not.toThrow();
  });

  it('writes a local-operator with a token of its own beside the auditor, and reads it back', () => {
    const settings = parseServicesFile(
      generateServicesFile('acc-1', [{ identification: 'bot-id', name: 'Bot Service' }]),
    );
    const tokens = tokensOf(settings);

    expect(tokens.operator?.name).toBe('local-operator');
    expect(tokens.operator?.token).toMatch(/^[A-Za-z0-9_-]{32}$/);
    expect(tokens.operator?.token).not.toBe(tokens.auditor?.token);
    expect(settings.operators).toEqual([tokens.operator]);
  });

  it('refuses a token listed both as an auditor and as an operator, quoting no token', () => {
    const file = {
      services: [service()],
      auditors: [{ name: 'desk', token: 'shared-token-00000000' }],
      operators: [{ name: 'ops', token: 'shared-token-00000000' }],
    };
    expect(() => parseServicesFile(file)).toThrow(/listed both as an auditor and as an operator/);
    expect(() => parseServicesFile(file)).not.toThrow(/shared-token/);
  });

  it("gives the simulator a seed of the file's services, the first one the default", () => {
    const settings = parseServicesFile(
      generateServicesFile('acc-1', [
        { identification: 'bot-id', name: 'Bot Service', sharedSecret: 'bot-secret' },
        { identification: 'agent-id', name: 'Agent Service', sharedSecret: 'agent-secret' },
      ]),
    );

    expect(simulatorSeed(settings, { '20': 'agent-id' })).toEqual({
      accountIdentification: 'acc-1',
      services: [
        {
          identification: 'bot-id',
          name: 'Bot Service',
          sharedSecret: 'bot-secret',
          default: true,
        },
        {
          identification: 'agent-id',
          name: 'Agent Service',
          sharedSecret: 'agent-secret',
          default: false,
        },
      ],
      owners: { '20': 'agent-id' },
    });
    expect(simulatorSeed(settings)).not.toHaveProperty('owners');
  });
});
