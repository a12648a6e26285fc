// The authenticator: Parley's callback header per service, API callers (services, auditors and
// operators), every kind of bad credential answered 401, token rotation lists, and the index
// rebuilt when the secrets change.
import {
  GetSecretValueCommand,
  ResourceNotFoundException,
  SecretsManagerClient,
} from '@aws-sdk/client-secrets-manager';
import { mockClient } from 'aws-sdk-client-mock';
import { createAuthenticator, extractToken } from '../../functions/adapters/auth';
import {
  createSecretsManagerProvider,
  createStaticSecretsProvider,
  SecretError,
} from '../../functions/adapters/secrets';
import { UnauthorizedError } from '../../functions/domain/errors';
import type { Authenticator } from '../../functions/domain/ports';
import type { CombinedServiceSecret } from '../../functions/schemas/config';
import { AGENT, BOT, manualClock } from '../support/fakes';

const ACCOUNT = 'acc-7f3e2a';
const T = {
  botCallback: 'cb-token-bot-current-0001',
  botCallbackNext: 'cb-token-bot-next-000002',
  botApi: 'api-token-bot-current-001',
  botApiNext: 'api-token-bot-next-000002',
  agentCallback: 'cb-token-agent-current-01',
  agentApi: 'api-token-agent-current-1',
  auditor: 'auditor-token-desk-00001',
  operator: 'operator-token-ops-00001',
  unknown: 'not-a-known-token-000001',
};

const secret = (callbackTokens: string[], apiTokens: string[]): CombinedServiceSecret => ({
  accountIdentification: ACCOUNT,
  sharedServiceAccountSecret: 'shared-secret-value-00001',
  callbackTokens,
  apiTokens,
  signingSecret: undefined,
});

const staticAuth = (): Authenticator =>
  createAuthenticator({
    secrets: createStaticSecretsProvider({
      services: {
        [BOT]: secret([T.botCallback, T.botCallbackNext], [T.botApi, T.botApiNext]),
        [AGENT]: secret([T.agentCallback], [T.agentApi]),
      },
      auditors: [{ name: 'Audit Desk', token: T.auditor }],
      operators: [{ name: 'ops-anna', token: T.operator }],
    }),
    serviceIds: [BOT, AGENT],
  });

/** The error `promise` rejects with (it must reject). */
const rejection = async (promise: Promise<unknown>): Promise<unknown> => {
  try {
    await promise;
  } catch (err) {
    return err;
  }
  throw new Error('expected a rejection');
};

describe('callback authentication', () => {
  const auth = staticAuth();

  it('accepts the service callback token as a Bearer header or bare, as Parley sends it', async () => {
    await expect(auth.callback(BOT, `Bearer ${T.botCallback}`)).resolves.toBeUndefined();
    await expect(auth.callback(BOT, T.botCallback)).resolves.toBeUndefined();
    await expect(auth.callback(BOT, `  bearer   ${T.botCallback} `)).resolves.toBeUndefined();
  });

  it('accepts every token of a rotation list', async () => {
    await expect(auth.callback(BOT, `Bearer ${T.botCallbackNext}`)).resolves.toBeUndefined();
  });

  it.each([
    ['a missing header', undefined],
    ['an empty header', ''],
    ['a malformed header', `Bearer ${T.botCallback} extra`],
    ['another scheme', `Basic ${T.botCallback}`],
    ['a wrong token', `Bearer ${T.unknown}`],
    ["another service's callback token", `Bearer ${T.agentCallback}`],
    ["the service's own API token", `Bearer ${T.botApi}`],
    ['an auditor token', `Bearer ${T.auditor}`],
    ['an overlong token', `Bearer ${'x'.repeat(600)}`],
  ])('refuses %s with 401', async (_case, header) => {
    const err = await rejection(auth.callback(BOT, header));
    expect(err).toBeInstanceOf(UnauthorizedError);
    expect((err as UnauthorizedError).message).toBe('Missing or invalid credentials.');
  });

  it('refuses an unknown serviceId with 401, like a wrong token', async () => {
    const err = await rejection(auth.callback('svc-unknown', `Bearer ${T.botCallback}`));
    expect(err).toBeInstanceOf(UnauthorizedError);
  });
});

describe('API caller authentication', () => {
  const auth = staticAuth();

  it('identifies a service by any of its API tokens', async () => {
    expect(await auth.caller(`Bearer ${T.botApi}`)).toEqual({ kind: 'service', serviceId: BOT });
    expect(await auth.caller(`Bearer ${T.botApiNext}`)).toEqual({
      kind: 'service',
      serviceId: BOT,
    });
    expect(await auth.caller(`Bearer ${T.agentApi}`)).toEqual({
      kind: 'service',
      serviceId: AGENT,
    });
  });

  it('identifies an auditor by name', async () => {
    expect(await auth.caller(`Bearer ${T.auditor}`)).toEqual({
      kind: 'auditor',
      name: 'Audit Desk',
    });
  });

  it('identifies an operator by name', async () => {
    expect(await auth.caller(`Bearer ${T.operator}`)).toEqual({
      kind: 'operator',
      name: 'ops-anna',
    });
  });

  it("refuses an operator's token on Parley's webhook", async () => {
    expect(await rejection(auth.callback(BOT, `Bearer ${T.operator}`))).toBeInstanceOf(
      UnauthorizedError,
    );
  });

  it('refuses an operator token that differs from a real one in its last character', async () => {
    const near = `${T.operator.slice(0, -1)}2`;
    expect(await rejection(auth.caller(`Bearer ${near}`))).toBeInstanceOf(UnauthorizedError);
  });

  it('refuses at load a token listed both as an auditor and as an operator, naming no token', () => {
    const load = () =>
      createStaticSecretsProvider({
        services: {},
        auditors: [{ name: 'Desk', token: T.auditor }],
        operators: [{ name: 'ops', token: T.auditor }],
      });
    expect(load).toThrow(SecretError);
    expect(load).toThrow(/listed both as an auditor and as an operator/);
    expect(load).not.toThrow(new RegExp(T.auditor));
  });

  it.each([
    ['a missing header', undefined],
    ['a bare token without Bearer', T.botApi],
    ['a malformed header', 'Bearer'],
    ['a wrong token', `Bearer ${T.unknown}`],
    ['a callback token used as an API token', `Bearer ${T.botCallback}`],
  ])('refuses %s with 401', async (_case, header) => {
    expect(await rejection(auth.caller(header))).toBeInstanceOf(UnauthorizedError);
  });

  it('refuses a token configured for two callers rather than pick one', async () => {
    const ambiguous = createAuthenticator({
      secrets: createStaticSecretsProvider({
        services: { [BOT]: secret([T.botCallback], [T.botApi]) },
        auditors: [{ name: 'Desk', token: T.botApi }],
      }),
      serviceIds: [BOT],
    });
    expect(await rejection(ambiguous.caller(`Bearer ${T.botApi}`))).toBeInstanceOf(
      UnauthorizedError,
    );
  });
});

describe('secret refresh', () => {
  const BOT_ARN = 'arn:aws:secretsmanager:eu-west-1:111122223333:secret:bot';
  const AGENT_ARN = 'arn:aws:secretsmanager:eu-west-1:111122223333:secret:agent';
  const BOT_CB_ARN = 'arn:aws:secretsmanager:eu-west-1:111122223333:secret:bot-callback';
  const AGENT_CB_ARN = 'arn:aws:secretsmanager:eu-west-1:111122223333:secret:agent-callback';
  const AUDITORS_ARN = 'arn:aws:secretsmanager:eu-west-1:111122223333:secret:auditors';
  const sm = mockClient(SecretsManagerClient);

  const serve = (arn: string, value: unknown): void => {
    sm.on(GetSecretValueCommand, { SecretId: arn }).resolves({
      SecretString: JSON.stringify(value),
    });
  };

  /** Each Service's two secrets as Secrets Manager holds them. */
  const serveService = (arn: string, callbackArn: string, value: CombinedServiceSecret): void => {
    const { callbackTokens, ...rest } = value;
    serve(arn, rest);
    serve(callbackArn, { callbackTokens });
  };

  const setup = (arns: { services?: boolean } = {}) => {
    const clock = manualClock();
    const secrets = createSecretsManagerProvider({
      client: new SecretsManagerClient({}),
      serviceSecretArns: arns.services === false ? {} : { [BOT]: BOT_ARN, [AGENT]: AGENT_ARN },
      callbackTokenSecretArns: { [BOT]: BOT_CB_ARN, [AGENT]: AGENT_CB_ARN },
      auditorsSecretArn: AUDITORS_ARN,
      ttlMs: 300_000,
      clock,
    });
    const auth = createAuthenticator({ secrets, serviceIds: [BOT, AGENT], clock, ttlMs: 30_000 });
    return { auth, clock };
  };

  beforeEach(() => {
    sm.reset();
    serveService(BOT_ARN, BOT_CB_ARN, secret([T.botCallback], [T.botApi]));
    serveService(AGENT_ARN, AGENT_CB_ARN, secret([T.agentCallback], [T.agentApi]));
    serve(AUDITORS_ARN, {
      auditors: [{ name: 'Audit Desk', token: T.auditor }],
      operators: [{ name: 'ops-anna', token: T.operator }],
    });
  });

  it('reads auditors and operators from the one auditors secret, in one fetch', async () => {
    const { auth } = setup();
    expect(await auth.caller(`Bearer ${T.operator}`)).toEqual({
      kind: 'operator',
      name: 'ops-anna',
    });
    expect(await auth.caller(`Bearer ${T.auditor}`)).toEqual({
      kind: 'auditor',
      name: 'Audit Desk',
    });
    expect(
      sm
        .commandCalls(GetSecretValueCommand, { SecretId: AUDITORS_ARN })
        .map((c) => c.args[0].input),
    ).toEqual([{ SecretId: AUDITORS_ARN }]);
  });

  it('reads a secret without operators as none (the first version wrote auditors only)', async () => {
    serve(AUDITORS_ARN, { auditors: [{ name: 'Audit Desk', token: T.auditor }] });
    const { auth } = setup();
    expect(await rejection(auth.caller(`Bearer ${T.operator}`))).toBeInstanceOf(UnauthorizedError);
    expect(await auth.caller(`Bearer ${T.auditor}`)).toMatchObject({ kind: 'auditor' });
  });

  it('refuses an auditors secret that lists one token in both roles, naming the problem and no token', async () => {
    serve(AUDITORS_ARN, {
      auditors: [{ name: 'Audit Desk', token: T.auditor }],
      operators: [{ name: 'ops-anna', token: T.auditor }],
    });
    const { auth } = setup();
    const err = await rejection(auth.caller(`Bearer ${T.auditor}`));
    expect(err).toBeInstanceOf(SecretError);
    expect((err as Error).message).toMatch(/listed both as an auditor and as an operator/);
    expect((err as Error).message).not.toContain(T.auditor);
  });

  it('reads each secret once while warm', async () => {
    const { auth, clock } = setup();
    for (let i = 0; i < 5; i++) {
      await auth.callback(BOT, `Bearer ${T.botCallback}`);
      await auth.caller(`Bearer ${T.agentApi}`);
      clock.advance(10_000);
    }
    expect(sm.commandCalls(GetSecretValueCommand)).toHaveLength(4);
  });

  it("reads only the named Service's callback-token secret for a callback", async () => {
    const { auth, clock } = setup();
    await auth.callback(BOT, `Bearer ${T.botCallback}`);
    expect(await rejection(auth.callback(BOT, `Bearer ${T.agentCallback}`))).toBeInstanceOf(
      UnauthorizedError,
    );
    clock.advance(10_000);
    await auth.callback(BOT, T.botCallback);
    expect(sm.commandCalls(GetSecretValueCommand).map((c) => c.args[0].input.SecretId)).toEqual([
      BOT_CB_ARN,
    ]);
  });

  it('authenticates callbacks with no access to any Service secret (the webhook function)', async () => {
    const { auth } = setup({ services: false });
    await expect(auth.callback(AGENT, `Bearer ${T.agentCallback}`)).resolves.toBeUndefined();
    expect(await rejection(auth.callback(AGENT, `Bearer ${T.agentApi}`))).toBeInstanceOf(
      UnauthorizedError,
    );
    expect(sm.commandCalls(GetSecretValueCommand).map((c) => c.args[0].input.SecretId)).toEqual([
      AGENT_CB_ARN,
    ]);
  });

  it('accepts a rotated token once the secrets cache has refreshed, and drops the old one', async () => {
    const { auth, clock } = setup();
    await auth.callback(BOT, `Bearer ${T.botCallback}`);
    serveService(BOT_ARN, BOT_CB_ARN, secret([T.botCallbackNext], [T.botApi]));
    clock.advance(300_000);
    await expect(auth.callback(BOT, `Bearer ${T.botCallbackNext}`)).resolves.toBeUndefined();
    expect(await rejection(auth.callback(BOT, `Bearer ${T.botCallback}`))).toBeInstanceOf(
      UnauthorizedError,
    );
  });

  it('answers a secret it could not read with that error, not 401, and still serves others', async () => {
    sm.on(GetSecretValueCommand, { SecretId: AGENT_CB_ARN }).rejects(
      new ResourceNotFoundException({ message: 'gone', $metadata: {} }),
    );
    const { auth } = setup();
    await expect(auth.callback(BOT, `Bearer ${T.botCallback}`)).resolves.toBeUndefined();
    expect(await rejection(auth.callback(AGENT, `Bearer ${T.agentCallback}`))).toBeInstanceOf(
      SecretError,
    );
    expect(await auth.caller(`Bearer ${T.botApi}`)).toEqual({ kind: 'service', serviceId: BOT });
  });

  it('retries a failed secret after a few seconds, not on every request', async () => {
    sm.on(GetSecretValueCommand, { SecretId: AGENT_CB_ARN })
      .rejectsOnce(new ResourceNotFoundException({ message: 'gone', $metadata: {} }))
      .resolves({ SecretString: JSON.stringify({ callbackTokens: [T.agentCallback] }) });
    const { auth, clock } = setup();
    await rejection(auth.callback(AGENT, `Bearer ${T.agentCallback}`));
    await rejection(auth.callback(AGENT, `Bearer ${T.agentCallback}`));
    expect(sm.commandCalls(GetSecretValueCommand, { SecretId: AGENT_CB_ARN })).toHaveLength(1);
    clock.advance(5_000);
    await expect(auth.callback(AGENT, `Bearer ${T.agentCallback}`)).resolves.toBeUndefined();
    expect(sm.commandCalls(GetSecretValueCommand, { SecretId: AGENT_CB_ARN })).toHaveLength(2);
  });
});

describe('extractToken', () => {
  it('reads Bearer tokens, and bare tokens only where allowed', () => {
    expect([
      extractToken('Bearer abc', false),
      extractToken('abc', false),
      extractToken('abc', true),
      extractToken('a b', true),
      extractToken('', true),
      extractToken(undefined, true),
    ]).toEqual(['abc', undefined, 'abc', undefined, undefined, undefined]);
  });
});
