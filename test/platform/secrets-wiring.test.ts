// The composition root in AWS wires each function to exactly the secrets its environment names:
// the webhook function authenticates Parley from CALLBACK_TOKEN_SECRET_ARNS alone (Secrets Manager
// mocked at the SDK boundary), and a function without that variable has no callback tokens.
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { mockClient } from 'aws-sdk-client-mock';
import { UnauthorizedError } from '../../functions/domain/errors';
import { depsFromEnvironment } from '../../functions/platform/runtime';
import { ENV, stageConfigSchema } from '../../functions/schemas/config';

const BOT = 'bot-1';
const CB_ARN = 'arn:aws:secretsmanager:eu-west-1:111122223333:secret:bot-callback-AbCdEf';
const TOKEN = 'cb-token-bot-current-0001';
const config = stageConfigSchema.parse({
  stage: 'test',
  accountIdentification: 'acc-1',
  parley: { baseUrl: 'https://parley.example/v2' },
  services: [{ identification: BOT, name: 'Bot', role: 'bot' }],
});

const sm = mockClient(SecretsManagerClient);
const saved = { ...process.env };

beforeEach(() => {
  sm.reset();
  sm.on(GetSecretValueCommand, { SecretId: CB_ARN }).resolves({
    SecretString: JSON.stringify({ callbackTokens: [TOKEN] }),
  });
  process.env[ENV.config] = JSON.stringify(config);
  process.env[ENV.serviceSecretArns] = '{}';
  process.env.AWS_REGION = 'eu-west-1';
});

afterEach(() => {
  process.env = { ...saved };
});

afterAll(() => sm.restore());

describe('depsFromEnvironment', () => {
  it("authenticates Parley's callbacks from the callback-token secrets alone", async () => {
    process.env[ENV.callbackTokenSecretArns] = JSON.stringify({ [BOT]: CB_ARN });
    const deps = await depsFromEnvironment()();

    await deps.auth.callback(BOT, `Bearer ${TOKEN}`);
    const wrong = await deps.auth.callback(BOT, 'Bearer not-the-callback-token-01').catch((e) => e);

    expect(wrong).toBeInstanceOf(UnauthorizedError);
    expect(sm.commandCalls(GetSecretValueCommand).map((c) => c.args[0].input.SecretId)).toEqual([
      CB_ARN,
    ]);
  });

  it('gives a function without CALLBACK_TOKEN_SECRET_ARNS no callback tokens', async () => {
    delete process.env[ENV.callbackTokenSecretArns];
    const deps = await depsFromEnvironment()();

    await expect(deps.secrets.callbackTokens(BOT)).rejects.toThrow(
      `No callback-token secret is configured for service "${BOT}".`,
    );
    expect(sm.commandCalls(GetSecretValueCommand)).toHaveLength(0);
  });
});
