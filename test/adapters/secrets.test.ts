// The secrets providers: Secrets Manager (mocked at the SDK boundary) with a per-secret TTL cache,
// shared in-flight fetches, the last good value served for a bounded time while refreshes fail,
// and rate-limited invalidation; each Service's callback tokens in a secret of their own; errors
// that name the secret and never a value; the static provider of local runs; and the credentials
// source the Parley client takes.
import {
  GetSecretValueCommand,
  ResourceNotFoundException,
  SecretsManagerClient,
} from '@aws-sdk/client-secrets-manager';
import { mockClient } from 'aws-sdk-client-mock';
import {
  createSecretsManagerProvider,
  createStaticSecretsProvider,
  parleyCredentialsSource,
  SecretError,
} from '../../functions/adapters/secrets';
import { AGENT, BOT, manualClock, recordingLog, recordingMetrics } from '../support/fakes';

const ACCOUNT = 'acc-7f3e2a';
const BOT_ARN = 'arn:aws:secretsmanager:eu-west-1:111122223333:secret:bot-AbCdEf';
const AGENT_ARN = 'arn:aws:secretsmanager:eu-west-1:111122223333:secret:agent-GhIjKl';
const AUDITORS_ARN = 'arn:aws:secretsmanager:eu-west-1:111122223333:secret:auditors-MnOpQr';
const BOT_CB_ARN = 'arn:aws:secretsmanager:eu-west-1:111122223333:secret:bot-callback-StUvWx';
const AGENT_CB_ARN = 'arn:aws:secretsmanager:eu-west-1:111122223333:secret:agent-callback-YzAbCd';

const SHARED = 'shared-secret-value-bot-0001';
const botSecret = {
  accountIdentification: ACCOUNT,
  sharedServiceAccountSecret: SHARED,
  apiToken: 'api-token-bot-single-0001',
};
const agentSecret = {
  accountIdentification: ACCOUNT,
  sharedServiceAccountSecret: 'shared-secret-value-agent-01',
  apiTokens: ['api-token-agent-current-1', 'api-token-agent-next-0002'],
  signingSecret: 'signing-secret-agent-000001',
};
const botCallbackSecret = {
  callbackTokens: ['cb-token-bot-current-0001', 'cb-token-bot-next-000002'],
};
const agentCallbackSecret = { callbackToken: 'cb-token-agent-single-001', placeholder: 'x' };
const auditorsSecret = { auditors: [{ name: 'Audit Desk', token: 'auditor-token-desk-00001' }] };

const sm = mockClient(SecretsManagerClient);

const serve = (values: Record<string, unknown>): void => {
  for (const [arn, value] of Object.entries(values)) {
    sm.on(GetSecretValueCommand, { SecretId: arn }).resolves({
      SecretString: typeof value === 'string' ? value : JSON.stringify(value),
    });
  }
};

const fetchesOf = (arn: string): number =>
  sm.commandCalls(GetSecretValueCommand, { SecretId: arn }).length;

const provider = (over: Partial<Parameters<typeof createSecretsManagerProvider>[0]> = {}) => {
  const clock = manualClock();
  const log = recordingLog();
  const metrics = recordingMetrics();
  const secrets = createSecretsManagerProvider({
    client: new SecretsManagerClient({}),
    serviceSecretArns: { [BOT]: BOT_ARN, [AGENT]: AGENT_ARN },
    callbackTokenSecretArns: { [BOT]: BOT_CB_ARN, [AGENT]: AGENT_CB_ARN },
    auditorsSecretArn: AUDITORS_ARN,
    clock,
    log,
    metrics,
    expectedAccount: ACCOUNT,
    ...over,
  });
  return { secrets, clock, log, metrics };
};

const failing = (arn: string) =>
  sm
    .on(GetSecretValueCommand, { SecretId: arn })
    .rejects(Object.assign(new Error('Service Unavailable'), { name: 'InternalServiceError' }));

/** The rejection of `promise`, which must reject. */
const rejection = async (promise: Promise<unknown>): Promise<Error> => {
  try {
    await promise;
  } catch (err) {
    return err as Error;
  }
  throw new Error('expected a rejection');
};

beforeEach(() => {
  sm.reset();
  serve({
    [BOT_ARN]: botSecret,
    [AGENT_ARN]: agentSecret,
    [AUDITORS_ARN]: auditorsSecret,
    [BOT_CB_ARN]: botCallbackSecret,
    [AGENT_CB_ARN]: agentCallbackSecret,
  });
});

describe('createSecretsManagerProvider', () => {
  it('normalizes token lists and single-token forms', async () => {
    const { secrets } = provider();
    expect(await secrets.service(BOT)).toEqual({
      accountIdentification: ACCOUNT,
      sharedServiceAccountSecret: SHARED,
      apiTokens: ['api-token-bot-single-0001'],
      signingSecret: undefined,
    });
    expect(await secrets.service(AGENT)).toEqual({
      accountIdentification: ACCOUNT,
      sharedServiceAccountSecret: 'shared-secret-value-agent-01',
      apiTokens: ['api-token-agent-current-1', 'api-token-agent-next-0002'],
      signingSecret: 'signing-secret-agent-000001',
    });
    expect(await secrets.callbackTokens(BOT)).toEqual([
      'cb-token-bot-current-0001',
      'cb-token-bot-next-000002',
    ]);
    expect(await secrets.callbackTokens(AGENT)).toEqual(['cb-token-agent-single-001']);
    expect(await secrets.auditors()).toEqual([
      { name: 'Audit Desk', token: 'auditor-token-desk-00001' },
    ]);
  });

  it('fetches each secret once per TTL', async () => {
    const { secrets, clock } = provider({ ttlMs: 60_000 });
    await secrets.service(BOT);
    clock.advance(59_999);
    await secrets.service(BOT);
    await secrets.auditors();
    await secrets.auditors();
    expect([fetchesOf(BOT_ARN), fetchesOf(AGENT_ARN), fetchesOf(AUDITORS_ARN)]).toEqual([1, 0, 1]);
  });

  it('fetches again once the TTL has passed and serves the new value', async () => {
    const { secrets, clock } = provider({ ttlMs: 60_000 });
    await secrets.service(BOT);
    serve({ [BOT_ARN]: { ...botSecret, apiToken: 'api-token-bot-rotated-01' } });
    clock.advance(60_000);
    expect((await secrets.service(BOT)).apiTokens).toEqual(['api-token-bot-rotated-01']);
    expect(fetchesOf(BOT_ARN)).toBe(2);
  });

  it('uses a five minute TTL by default', async () => {
    const { secrets, clock } = provider();
    await secrets.service(BOT);
    clock.advance(299_999);
    await secrets.service(BOT);
    clock.advance(1);
    await secrets.service(BOT);
    expect(fetchesOf(BOT_ARN)).toBe(2);
  });

  it('fetches again after invalidate of that service only', async () => {
    const { secrets, clock } = provider();
    await Promise.all([secrets.service(BOT), secrets.service(AGENT)]);
    clock.advance(30_000);
    secrets.invalidate(BOT);
    await Promise.all([secrets.service(BOT), secrets.service(AGENT)]);
    expect([fetchesOf(BOT_ARN), fetchesOf(AGENT_ARN)]).toEqual([2, 1]);
  });

  it('fetches everything again after invalidate without a service', async () => {
    const { secrets, clock } = provider();
    await Promise.all([secrets.service(BOT), secrets.auditors()]);
    clock.advance(30_000);
    secrets.invalidate();
    await Promise.all([secrets.service(BOT), secrets.auditors()]);
    expect([fetchesOf(BOT_ARN), fetchesOf(AUDITORS_ARN)]).toEqual([2, 2]);
  });

  it('shares one in-flight fetch between concurrent callers', async () => {
    const { secrets } = provider();
    const results = await Promise.all([
      secrets.service(BOT),
      secrets.service(BOT),
      secrets.service(BOT),
    ]);
    expect(fetchesOf(BOT_ARN)).toBe(1);
    expect(results[1]).toBe(results[0]);
    expect(results[2]).toBe(results[0]);
  });

  it('does not cache a value fetched while an invalidate happened', async () => {
    const { secrets } = provider();
    const first = secrets.service(BOT);
    secrets.invalidate(BOT);
    await first;
    await secrets.service(BOT);
    expect(fetchesOf(BOT_ARN)).toBe(2);
  });

  it('does not cache a failure: the next call fetches again', async () => {
    sm.on(GetSecretValueCommand, { SecretId: BOT_ARN })
      .rejectsOnce(new ResourceNotFoundException({ message: 'not found', $metadata: {} }))
      .resolves({ SecretString: JSON.stringify(botSecret) });
    const { secrets } = provider();
    await expect(secrets.service(BOT)).rejects.toThrow(SecretError);
    expect((await secrets.service(BOT)).accountIdentification).toBe(ACCOUNT);
    expect(fetchesOf(BOT_ARN)).toBe(2);
  });

  it('names a missing secret by service and ARN', async () => {
    sm.on(GetSecretValueCommand, { SecretId: BOT_ARN }).rejects(
      new ResourceNotFoundException({ message: 'Secrets Manager can not find it', $metadata: {} }),
    );
    const err = await rejection(provider().secrets.service(BOT));
    expect(err).toBeInstanceOf(SecretError);
    expect(err.message).toBe(`The secret of service "${BOT}" (${BOT_ARN}) was not found.`);
  });

  it('refuses malformed JSON without quoting the secret text', async () => {
    serve({ [BOT_ARN]: `{"sharedServiceAccountSecret":"${SHARED}",` });
    const err = await rejection(provider().secrets.service(BOT));
    expect(err.message).toBe(`The secret of service "${BOT}" (${BOT_ARN}) is not valid JSON.`);
    expect(err.message).not.toContain(SHARED);
  });

  it('names the failing field of a secret that does not match the schema, not its value', async () => {
    serve({ [BOT_ARN]: { ...botSecret, apiTokens: ['short-tok'] } });
    const err = await rejection(provider().secrets.service(BOT));
    expect(err.message).toBe(
      `The secret of service "${BOT}" (${BOT_ARN}) is malformed: ` +
        'apiTokens[0]: tokens must be at least 16 characters.',
    );
    expect(err.message).not.toContain('short-tok');
  });

  it('names a missing required field', async () => {
    const { sharedServiceAccountSecret: _omit, ...withoutShared } = botSecret;
    serve({ [BOT_ARN]: withoutShared });
    const err = await rejection(provider().secrets.service(BOT));
    expect(err.message).toBe(
      `The secret of service "${BOT}" (${BOT_ARN}) is malformed: ` +
        'sharedServiceAccountSecret: Invalid input: expected string, received undefined.',
    );
    expect(err.message).not.toContain('api-token-bot');
  });

  it('refuses a secret with no string value', async () => {
    sm.on(GetSecretValueCommand, { SecretId: BOT_ARN }).resolves({});
    const err = await rejection(provider().secrets.service(BOT));
    expect(err.message).toBe(`The secret of service "${BOT}" (${BOT_ARN}) has no string value.`);
  });

  it('ignores callback tokens still held in a Service secret written before the split', async () => {
    serve({
      [BOT_ARN]: { ...botSecret, callbackTokens: ['short'], callbackToken: 'old-token-0000001' },
    });
    expect(await provider().secrets.service(BOT)).toEqual({
      accountIdentification: ACCOUNT,
      sharedServiceAccountSecret: SHARED,
      apiTokens: ['api-token-bot-single-0001'],
      signingSecret: undefined,
    });
  });

  it('refuses a secret of another Parley account: one deployment serves one account', async () => {
    serve({ [AGENT_ARN]: { ...agentSecret, accountIdentification: 'acc-other-999' } });
    const err = await rejection(provider().secrets.service(AGENT));
    expect(err.message).toBe(
      `The secret of service "${AGENT}" (${AGENT_ARN}) names a different Parley account than ` +
        "this deployment's; one deployment serves one Parley account.",
    );
    expect(err.message).not.toContain('acc-other-999');
    expect(err.message).not.toContain('shared-secret-value-agent-01');
  });

  it('refuses a service without a configured secret without calling AWS', async () => {
    const err = await rejection(provider().secrets.service('svc-unknown'));
    expect(err.message).toBe('No secret is configured for service "svc-unknown".');
    expect(sm.commandCalls(GetSecretValueCommand)).toHaveLength(0);
  });

  it('names a malformed callback-token secret by service and ARN, not its value', async () => {
    serve({ [AGENT_CB_ARN]: { callbackTokens: ['tiny-token'] } });
    const err = await rejection(provider().secrets.callbackTokens(AGENT));
    expect(err.message).toBe(
      `The callback-token secret of service "${AGENT}" (${AGENT_CB_ARN}) is malformed: ` +
        'callbackTokens[0]: tokens must be at least 16 characters.',
    );
    expect(err.message).not.toContain('tiny-token');
  });

  it('refuses a service without a configured callback-token secret without calling AWS', async () => {
    const err = await rejection(
      provider({ callbackTokenSecretArns: {} }).secrets.callbackTokens(BOT),
    );
    expect(err.message).toBe(`No callback-token secret is configured for service "${BOT}".`);
    expect(sm.commandCalls(GetSecretValueCommand)).toHaveLength(0);
  });

  it('names the auditors secret when it is malformed', async () => {
    serve({ [AUDITORS_ARN]: { auditors: [{ name: 'Desk', token: 'tiny' }] } });
    const err = await rejection(provider().secrets.auditors());
    expect(err.message).toBe(
      `The auditors secret (${AUDITORS_ARN}) is malformed: ` +
        'auditors[0].token: tokens must be at least 16 characters.',
    );
    expect(err.message).not.toContain('tiny');
  });

  it('reports an access problem without the SDK message', async () => {
    const denied = Object.assign(new Error('User arn:...:role/x is not authorized'), {
      name: 'AccessDeniedException',
    });
    sm.on(GetSecretValueCommand, { SecretId: BOT_ARN }).rejects(denied);
    const err = await rejection(provider().secrets.service(BOT));
    expect(err.message).toBe(
      `The secret of service "${BOT}" (${BOT_ARN}) may not be read by this function.`,
    );
  });
});

describe('callback tokens in a secret of their own', () => {
  it('reads only the callback-token secret, never the Service secret', async () => {
    const { secrets } = provider();
    await secrets.callbackTokens(BOT);
    await secrets.callbackTokens(BOT);
    expect(sm.commandCalls(GetSecretValueCommand).map((c) => c.args[0].input.SecretId)).toEqual([
      BOT_CB_ARN,
    ]);
  });

  it('serves callback tokens to a function that has no Service secret at all (the webhook)', async () => {
    const { secrets } = provider({ serviceSecretArns: {} });
    expect(await secrets.callbackTokens(AGENT)).toEqual(['cb-token-agent-single-001']);
    await expect(secrets.service(AGENT)).rejects.toThrow(
      `No secret is configured for service "${AGENT}".`,
    );
  });
});

describe('a failed refresh', () => {
  const stale = async (ttlMs = 60_000) => {
    const setup = provider({ ttlMs });
    await setup.secrets.service(BOT);
    failing(BOT_ARN);
    setup.clock.advance(ttlMs);
    return setup;
  };

  it('serves the last good value, with a warning and a metric that hold no value', async () => {
    const { secrets, log, metrics } = await stale();

    const value = await secrets.service(BOT);

    expect(value.sharedServiceAccountSecret).toBe(SHARED);
    expect(fetchesOf(BOT_ARN)).toBe(2);
    expect(metrics.total('SecretRefreshFailed', { secret: 'service' })).toBe(1);
    expect(log.lines).toEqual([
      {
        level: 'warn',
        message: 'secret refresh failed; serving the last good value',
        attributes: {
          secret: BOT_ARN,
          staleForSeconds: 0,
          reason: `The secret of service "${BOT}" (${BOT_ARN}) could not be read (InternalServiceError).`,
        },
      },
    ]);
    expect(JSON.stringify(log.lines)).not.toContain(SHARED);
  });

  it('tries again after a few seconds, not on every call, and counts each failure', async () => {
    const { secrets, clock, metrics } = await stale();
    await secrets.service(BOT);
    clock.advance(4_999);
    await secrets.service(BOT);
    expect(fetchesOf(BOT_ARN)).toBe(2);
    clock.advance(1);
    await secrets.service(BOT);
    expect(fetchesOf(BOT_ARN)).toBe(3);
    expect(metrics.total('SecretRefreshFailed')).toBe(2);
  });

  it('takes the new value as soon as a refresh succeeds again', async () => {
    const { secrets, clock } = await stale();
    await secrets.service(BOT);
    serve({ [BOT_ARN]: { ...botSecret, apiToken: 'api-token-bot-rotated-01' } });
    clock.advance(5_000);
    expect((await secrets.service(BOT)).apiTokens).toEqual(['api-token-bot-rotated-01']);
  });

  it('fails once the value is an hour past its TTL', async () => {
    const { secrets, clock } = await stale();
    await secrets.service(BOT);
    clock.advance(3_600_000 - 1);
    expect((await secrets.service(BOT)).sharedServiceAccountSecret).toBe(SHARED);
    clock.advance(1);
    const err = await rejection(secrets.service(BOT));
    expect(err).toBeInstanceOf(SecretError);
    expect(err.message).not.toContain(SHARED);
  });

  it('keeps callback tokens and auditors serving through a Secrets Manager outage too', async () => {
    const { secrets, clock, metrics } = provider({ ttlMs: 60_000 });
    await Promise.all([secrets.callbackTokens(BOT), secrets.auditors()]);
    failing(BOT_CB_ARN);
    failing(AUDITORS_ARN);
    clock.advance(60_000);
    expect(await secrets.callbackTokens(BOT)).toEqual(botCallbackSecret.callbackTokens);
    expect(await secrets.auditors()).toEqual(auditorsSecret.auditors);
    expect([
      metrics.total('SecretRefreshFailed', { secret: 'callback-tokens' }),
      metrics.total('SecretRefreshFailed', { secret: 'auditors' }),
    ]).toEqual([1, 1]);
  });
});

describe("refetches after Parley's 401", () => {
  it('refetches at most once per secret per 30 seconds', async () => {
    const { secrets, clock } = provider();
    await secrets.service(BOT);
    clock.advance(10_000);
    secrets.invalidate(BOT);
    await secrets.service(BOT);
    expect(fetchesOf(BOT_ARN)).toBe(1);
    clock.advance(20_000);
    secrets.invalidate(BOT);
    await secrets.service(BOT);
    secrets.invalidate(BOT);
    await secrets.service(BOT);
    expect(fetchesOf(BOT_ARN)).toBe(2);
  });

  it('keeps the invalidated value as the last good one if the refetch fails', async () => {
    const { secrets, clock } = provider();
    await secrets.service(BOT);
    clock.advance(30_000);
    failing(BOT_ARN);
    secrets.invalidate(BOT);
    expect((await secrets.service(BOT)).sharedServiceAccountSecret).toBe(SHARED);
    expect(fetchesOf(BOT_ARN)).toBe(2);
  });
});

describe('createStaticSecretsProvider', () => {
  const normalized = {
    accountIdentification: ACCOUNT,
    sharedServiceAccountSecret: SHARED,
    callbackTokens: ['cb-token-bot-current-0001'],
    apiTokens: ['api-token-bot-single-0001'],
    signingSecret: undefined,
  };

  it('serves the given secrets (both of a Service from one object) and auditors', async () => {
    const secrets = createStaticSecretsProvider({
      services: { [BOT]: normalized },
      auditors: auditorsSecret.auditors,
    });
    const { callbackTokens, ...serviceSecret } = normalized;
    expect(await secrets.service(BOT)).toEqual(serviceSecret);
    expect(await secrets.callbackTokens(BOT)).toEqual(callbackTokens);
    expect(await secrets.auditors()).toEqual(auditorsSecret.auditors);
    await expect(secrets.service(AGENT)).rejects.toThrow(
      `No secret is configured for service "${AGENT}".`,
    );
  });

  it('refuses at construction a service of another account', () => {
    expect(() =>
      createStaticSecretsProvider({
        services: { [BOT]: { ...normalized, accountIdentification: 'acc-other' } },
        auditors: [],
        expectedAccount: ACCOUNT,
      }),
    ).toThrow('one deployment serves one Parley account');
  });
});

describe('parleyCredentialsSource', () => {
  it('gives the Parley client the service credentials and invalidates that secret', async () => {
    const { secrets, clock } = provider();
    const source = parleyCredentialsSource(secrets, BOT);
    expect(source.serviceIdentification).toBe(BOT);
    expect(await source.get()).toEqual({
      serviceIdentification: BOT,
      accountIdentification: ACCOUNT,
      sharedServiceAccountSecret: SHARED,
    });
    await source.get();
    clock.advance(30_000);
    source.invalidate();
    await source.get();
    expect(fetchesOf(BOT_ARN)).toBe(2);
  });
});
