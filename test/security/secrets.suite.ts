// Secrets stay secret: a run through every route and the processor, with good and bad credentials,
// Parley faults, a rotated-looking 401, failing downstreams, hostile bodies and a Secrets Manager
// outage served from the last good values (SDK mocked at its boundary), while capturing ALL
// output: the production logger's JSON lines (Powertools, at DEBUG), the Log port's calls, stdout,
// stderr and console, and every response. None may hold a token, a secret, a Parley Authorization
// value, a secret in a downstream URL, or message text.
import { messageCallback } from '../../local/parley-sim/callback-body';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { mockClient } from 'aws-sdk-client-mock';
import {
  createSecretsManagerProvider,
  createStaticSecretsProvider,
} from '../../functions/adapters/secrets';
import { createLogger } from '../../functions/platform/logger';
import { buildDeps } from '../../functions/platform/runtime';
import { AGENT, BOT, type Harness, startHarness } from '../support/harness';
import { sqsEvent, sqsRecord } from '../support/events';
import {
  captureOutput,
  type DownstreamProgram,
  type Invoker,
  invoker,
  type OutputCapture,
  reportFigures,
  startDownstream,
} from '../support/reliability';

export const defineSecretsSuite = (users: number, label: string): void => {
  let h: Harness;
  let api: Invoker;
  let bot: DownstreamProgram;
  let desk: DownstreamProgram;
  let output: OutputCapture;
  const loggerLines: string[] = [];
  const responses: string[] = [];
  const authorizations = new Set<string>();
  const URL_SECRET = `urlkey-${Math.random().toString(36).slice(2)}-secret`;
  const TEXT_MARK = 'private-words-of-the-user';

  beforeAll(async () => {
    output = captureOutput();
    bot = await startDownstream((f, attempt) => {
      const text = String(f.body.text ?? '');
      if (text.includes('fail') && attempt === 1)
        return { status: 500, body: { secret: URL_SECRET } };
      return {
        status: 200,
        body: text.includes('human')
          ? { reply: `${TEXT_MARK} reply`, handover: { newOwner: AGENT } }
          : { reply: `${TEXT_MARK} reply` },
      };
    });
    desk = await startDownstream(() => ({ status: 200, body: {} }));
    const recordingFetch: typeof fetch = async (input, init) => {
      const auth = new Headers(init?.headers).get('authorization');
      if (auth) authorizations.add(auth);
      return fetch(input, init);
    };
    h = await startHarness({
      fetch: recordingFetch,
      log: createLogger({ level: 'DEBUG', sink: (line) => loggerLines.push(line) }),
      faults: [{ route: '*', errorRate: 0.2, timeoutRate: 0.05 }],
      parley: { timeoutMs: 200, budgetMs: 800 },
      services: {
        [BOT]: { downstreamUrl: `${bot.url}?key=${URL_SECRET}` },
        [AGENT]: { downstreamUrl: `${desk.url}?key=${URL_SECRET}` },
      },
    });
    api = invoker(h.source);
  });

  afterAll(async () => {
    output.restore();
    await h.close();
    await bot.close();
    await desk.close();
  });

  const record = <T extends { body?: unknown; headers?: unknown }>(res: T): T => {
    responses.push(JSON.stringify(res.headers ?? {}) + String(res.body ?? ''));
    return res;
  };

  it('prints no secret, token, Authorization value or message text in a whole run', async () => {
    const t = h.tokens;
    for (let i = 0; i < users; i++) {
      const userId = `secret-${i}`;
      const text = `${TEXT_MARK} ${i % 3 === 0 ? 'I want a human' : i % 3 === 1 ? 'please fail' : 'hello'}`;
      const callback = JSON.stringify(messageCallback({ userId, id: 50_000 + i, text }));
      // Good and bad webhook credentials, a bare token, a token of the wrong kind.
      for (const header of [
        `Bearer ${t.bot.callback}`,
        t.bot.callback,
        `Bearer ${t.agent.callback}`,
        `Bearer ${t.bot.api}`,
        `Bearer ${t.bot.callback}x`,
      ]) {
        record(
          await api.call({
            method: 'POST',
            path: `/webhooks/parley/${BOT}`,
            headers: { Authorization: header },
            rawBody: callback,
          }),
        );
      }
      for (let round = 0; round < 3 && h.queued.length > 0; round++) {
        await api.processor(sqsEvent(h.queued.splice(0).map((m) => sqsRecord(m))));
      }
      h.queued.splice(0);

      // Every route, with the right token, the wrong kind, and secrets where input goes.
      const calls = [
        {
          method: 'POST' as const,
          path: '/handovers',
          token: t.bot.api,
          body: { userId, newOwner: 'Agent Service', metadata: { reason: 'secret_test' } },
        },
        {
          method: 'POST' as const,
          path: '/handovers',
          token: t.agent.api,
          body: { userId, newOwner: 'default' },
        },
        {
          method: 'POST' as const,
          path: '/handovers',
          token: t.auditor,
          body: { userId, newOwner: AGENT },
        },
        {
          method: 'POST' as const,
          path: '/handovers',
          token: t.bot.api,
          body: { userId, newOwner: t.agent.api },
        },
        {
          method: 'POST' as const,
          path: '/handovers',
          token: t.bot.api,
          rawBody: `{"userId":"${t.bot.signing}",`,
        },
        {
          method: 'POST' as const,
          path: `/users/${userId}/messages`,
          token: t.bot.api,
          body: { text },
        },
        {
          method: 'POST' as const,
          path: `/users/${userId}/messages`,
          token: t.agent.api,
          body: { text },
        },
        {
          method: 'POST' as const,
          path: `/users/${userId}/messages`,
          token: t.bot.api,
          body: { text: t.bot.signing, extra: t.agent.api },
        },
        { method: 'GET' as const, path: `/users/${userId}/owner`, token: t.auditor },
        {
          method: 'GET' as const,
          path: `/users/${userId}/owner?at=${t.bot.api}`,
          token: t.auditor,
        },
        { method: 'GET' as const, path: '/services', token: t.agent.api },
        { method: 'GET' as const, path: `/users/${userId}/handovers`, token: t.auditor },
        {
          method: 'GET' as const,
          path: `/handovers?from=2020-01-01T00:00:00Z&to=2100-01-01T00:00:00Z&cursor=${t.auditor}`,
          token: t.auditor,
        },
        {
          method: 'GET' as const,
          path: '/handovers?from=2020-01-01T00:00:00Z&to=2100-01-01T00:00:00Z',
          token: t.auditor,
          headers: { accept: 'text/csv' },
        },
        { method: 'POST' as const, path: '/reconcile', token: t.auditor, body: { userId } },
        { method: 'POST' as const, path: '/reconcile', token: t.bot.callback, body: {} },
        { method: 'GET' as const, path: '/health' },
      ];
      for (const c of calls) record(await api.call(c));
    }
    await api.scheduledReconcile();

    // A Parley secret that no longer matches (a rotation not yet seen): 401 api_key_not_valid.
    const staleSecrets = createStaticSecretsProvider({
      services: {
        [BOT]: {
          accountIdentification: h.sim.seed.accountIdentification,
          sharedServiceAccountSecret: 'an-outdated-shared-secret-value',
          callbackTokens: [t.bot.callback],
          apiTokens: [t.bot.api],
          signingSecret: undefined,
        },
      },
      auditors: [{ name: 'auditor', token: t.auditor }],
    });
    h.sim.setFaults([]);
    const stale = buildDeps({
      config: {
        ...h.deps.config,
        services: h.deps.config.services.filter((s) => s.identification === BOT),
      },
      secrets: staleSecrets,
      // Only its Parley client is used here: no table is touched.
      dynamo: { client: {} as never, historyTable: 'unused', stateTable: 'unused' },
      queue: { send: async () => undefined },
      log: createLogger({ level: 'DEBUG', sink: (line) => loggerLines.push(line) }),
    });
    await stale
      .parley(BOT)
      .getOwner('secret-0')
      .catch(() => undefined);

    // Secrets Manager fails every refresh: the last good values are served, with warnings.
    const sm = mockClient(SecretsManagerClient);
    let now = Date.now();
    let outage = false;
    sm.on(GetSecretValueCommand).callsFake(async ({ SecretId }: { SecretId?: string }) => {
      if (outage) throw Object.assign(new Error(`cannot read ${SecretId}`), { name: 'Throttling' });
      const service = SecretId?.endsWith(':bot') ? t.bot : t.agent;
      return {
        SecretString: JSON.stringify(
          SecretId?.startsWith('arn:cb:')
            ? { callbackTokens: [service.callback] }
            : SecretId === 'arn:auditors'
              ? { auditors: [{ name: 'auditor', token: t.auditor }] }
              : {
                  accountIdentification: h.sim.seed.accountIdentification,
                  sharedServiceAccountSecret: 'an-outdated-shared-secret-value',
                  apiTokens: [service.api],
                  signingSecret: service.signing,
                },
        ),
      };
    });
    try {
      const fromManager = createSecretsManagerProvider({
        client: new SecretsManagerClient({ region: 'eu-west-1' }),
        serviceSecretArns: { [BOT]: 'arn:bot', [AGENT]: 'arn:agent' },
        callbackTokenSecretArns: { [BOT]: 'arn:cb:bot', [AGENT]: 'arn:cb:agent' },
        auditorsSecretArn: 'arn:auditors',
        clock: { now: () => now },
        log: createLogger({ level: 'DEBUG', sink: (line) => loggerLines.push(line) }),
      });
      const readAll = () =>
        Promise.all([
          fromManager.service(BOT),
          fromManager.service(AGENT),
          fromManager.callbackTokens(BOT),
          fromManager.callbackTokens(AGENT),
          fromManager.auditors(),
        ]);
      await readAll();
      outage = true;
      now += 300_000;
      const served = await readAll();
      expect(served[2]).toEqual([t.bot.callback]);
      expect(loggerLines.filter((l) => l.includes('serving the last good value'))).toHaveLength(5);
    } finally {
      sm.restore();
    }

    const secrets = new Map<string, string>([
      ['bot callback token', t.bot.callback],
      ['bot API token', t.bot.api],
      ['bot signing secret', t.bot.signing],
      ['agent callback token', t.agent.callback],
      ['agent API token', t.agent.api],
      ['agent signing secret', t.agent.signing],
      ['auditor token', t.auditor],
      ['secret in a downstream URL', URL_SECRET],
      ['message text', TEXT_MARK],
      ['outdated shared secret', 'an-outdated-shared-secret-value'],
      ...h.sim.seed.services.map(
        (s) => [`${s.name} shared secret`, s.sharedSecret] as [string, string],
      ),
      ...[...authorizations].map((a, i) => [`Parley Authorization #${i}`, a] as [string, string]),
    ]);
    const portCalls = h.logs.map((l) => `${l.message} ${JSON.stringify(l.attributes ?? {})}`);
    const everything = [...loggerLines, ...portCalls, output.text()].join('\n');
    const printed: string[] = [];
    for (const [name, value] of secrets) if (everything.includes(value)) printed.push(name);
    expect(printed).toEqual([]);

    // Responses: a caller's own input may come back (it sent it); nothing of anyone else's.
    const answered = responses.join('\n');
    const leaked = [...secrets]
      .filter(([name]) => /shared secret|Authorization|downstream URL|signing/.test(name))
      .filter(([, value]) => answered.includes(value))
      .map(([name]) => name);
    expect(leaked).toEqual([]);

    expect(loggerLines.length).toBeGreaterThan(users * 10);
    expect(authorizations.size).toBeGreaterThan(0);
    // The users the run reached, from the simulator's log of the service's Parley calls.
    const usersReached = new Set(
      h.sim
        .log()
        .flatMap((e) => (e.kind === 'request' ? [/^users\/([^/]+)\//.exec(e.path)?.[1]] : []))
        .filter((u) => u?.startsWith('secret-')),
    ).size;
    const figures = {
      users: usersReached,
      requests: responses.length,
      logLines: loggerLines.length + h.logs.length,
      outputChars: everything.length,
      secretsSearched: secrets.size,
      secretsFound: printed.length,
      secretsInResponses: leaked.length,
    };
    reportFigures(label, figures, {
      drives: `${figures.requests} requests for ${figures.users} users over every route and the processor, with good and bad credentials, Parley faults, a stale Parley secret, failing downstreams and secrets placed in inputs, all output captured`,
      proved: `${figures.logLines} log lines and ${figures.outputChars} characters of output searched for ${figures.secretsSearched} secret, token, Authorization and message-text values: ${figures.secretsFound} found; ${figures.secretsInResponses} in responses`,
    });
  });
};
