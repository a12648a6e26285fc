// The Parley client against the Parley simulator over real HTTP: the seed's exchanges, auth
// failures, error classification, safe retries with an injected clock and sleep, and that no secret,
// Authorization value or message text leaks into errors or logs. A tiny local HTTP server covers
// answers the simulator never gives (unreadable bodies, warnings, refused connections).
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { ParleyCredentials } from '../../functions/adapters/parley-auth';
import {
  type CredentialsSource,
  createParleyClient,
  type ParleyCallInfo,
  type ParleyClientOptions,
} from '../../functions/adapters/parley-client';
import { parleyEndpoints, parleyPath, parleyUrl } from '../../functions/adapters/parley-paths';
import {
  ParleyApiError,
  ParleyError,
  ParleyNetworkError,
  ParleyTimeoutError,
  ValidationError,
} from '../../functions/domain/errors';
import type { Log, LogAttributes } from '../../functions/domain/ports';
import { parleyOwnerDataSchema, parleyServicesDataSchema } from '../../functions/schemas/parley';
import { type ParleySimulator, startParleySimulator } from '../../local/parley-sim';
import servicesFixture from '../fixtures/seed-get-services.response.json';
import putOwnerRequest from '../fixtures/seed-put-owner.request.json';
import putOwnerResponse from '../fixtures/seed-put-owner.response.json';

const BOT = 'as272d6g2ds766fcdfgh';
const AGENT = 'Jlk9e7cSf9g3FFsaqe39';

let sim: ParleySimulator;

beforeAll(async () => {
  sim = await startParleySimulator({ port: 0 });
});

afterAll(async () => {
  await sim.close();
});

beforeEach(() => {
  sim.setFaults([]);
  sim.clearLog();
});

// ---------------------------------------------------------------- helpers

interface TestCredentials extends CredentialsSource {
  invalidations: number;
}

function secretOf(serviceId: string): string {
  const service = sim.seed.services.find((s) => s.identification === serviceId);
  if (!service) throw new Error('not a seeded service');
  return service.sharedSecret;
}

/** A credentials source that hands out `secrets` in turn (the last one repeats). */
function credentialsFor(
  serviceId: string,
  secrets: string[] = [secretOf(serviceId)],
): TestCredentials {
  let index = 0;
  const source: TestCredentials = {
    serviceIdentification: serviceId,
    invalidations: 0,
    async get(): Promise<ParleyCredentials> {
      return {
        serviceIdentification: serviceId,
        accountIdentification: sim.seed.accountIdentification,
        sharedServiceAccountSecret: secrets[Math.min(index, secrets.length - 1)]!,
      };
    },
    invalidate() {
      source.invalidations += 1;
      index += 1;
    },
  };
  return source;
}

/** A clock that only moves when the client sleeps; the sleeps are recorded. */
function fakeTime(startMs = Date.now()) {
  let nowMs = startMs;
  const sleeps: number[] = [];
  return {
    sleeps,
    clock: { now: () => nowMs },
    sleep: async (ms: number) => {
      sleeps.push(ms);
      nowMs += ms;
    },
  };
}

function captureLog() {
  const lines: { level: string; message: string; attributes?: LogAttributes }[] = [];
  const at =
    (level: string) =>
    (message: string, attributes?: LogAttributes): void => {
      lines.push({ level, message, attributes });
    };
  const log: Log = { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
  return { log, lines };
}

function makeClient(credentials: CredentialsSource, overrides: Partial<ParleyClientOptions> = {}) {
  const time = fakeTime();
  const { log, lines } = captureLog();
  const client = createParleyClient({
    baseUrl: sim.baseUrl,
    credentials,
    clock: time.clock,
    sleep: time.sleep,
    random: () => 0.5,
    log,
    ...overrides,
  });
  return { client, sleeps: time.sleeps, lines };
}

function requests(method: string, path: string) {
  return sim
    .log()
    .flatMap((e) => (e.kind === 'request' && e.method === method && e.path === path ? [e] : []));
}

async function failure(promise: Promise<unknown>): Promise<ParleyError> {
  try {
    await promise;
  } catch (err) {
    if (err instanceof ParleyError) return err;
    throw err;
  }
  throw new Error('expected the call to fail');
}

let nextUser = 1000;
/** A user id no other test touches; it starts owned by the default (Bot) service. */
const freshUser = (): string => String(nextUser++);

// ---------------------------------------------------------------- the seed's exchanges

describe('the seed exchanges', () => {
  it('parses GET services into the fixture services with default as a boolean', async () => {
    const { client } = makeClient(credentialsFor(BOT));

    const result = await client.listServices();

    expect(result.data).toEqual(
      servicesFixture.data.services.map((s) => ({
        identification: s.identification,
        name: s.name,
        default: s.default === 'true',
      })),
    );
    expect(result.status).toEqual(200);
    expect(result.apiVersion).toEqual('20500');
    expect(requests('GET', 'services')).toHaveLength(1);
  });

  it('sends the seed PUT users/20/owner exactly as the fixture request', async () => {
    sim.setOwner('20', BOT);
    const { client } = makeClient(credentialsFor(BOT));

    const result = await client.setOwner(
      '20',
      putOwnerRequest.body.newOwner,
      putOwnerRequest.body.metadata,
    );

    const [entry, ...others] = requests('PUT', 'users/20/owner');
    expect(others).toEqual([]);
    expect({
      method: entry?.method,
      path: entry?.path,
      caller: entry?.caller,
      body: entry?.body,
    }).toEqual(putOwnerRequest);
    expect(result.data).toEqual(putOwnerResponse.data);
    expect(result.warnings).toEqual([]);
    expect(sim.ownerOf('20')).toEqual(AGENT);
  });

  it('reads a new user as owned by the default service, and the owner after a handover', async () => {
    const userId = freshUser();
    const { client } = makeClient(credentialsFor(BOT));

    const before = await client.getOwner(userId);
    await client.setOwner(userId, AGENT, { reason: 'question_too_complex' });
    const after = await client.getOwner(userId);

    expect([before.data, after.data]).toEqual([{ owner: BOT }, { owner: AGENT }]);
  });

  it('sends a message as the owner and clears the agent', async () => {
    const userId = freshUser();
    const { client } = makeClient(credentialsFor(BOT));

    await client.sendMessage(userId, 'Hello from the bot');
    await client.unsetAgent(userId);

    expect(sim.messagesTo(userId).map((m) => m.from)).toEqual([BOT]);
    expect(requests('PUT', `users/${userId}/agent/unset`).map((e) => e.status)).toEqual([200]);
  });

  it('joins a base URL with a trailing slash and reports the acting service', async () => {
    const { client } = makeClient(credentialsFor(AGENT), { baseUrl: `${sim.baseUrl}/` });

    const result = await client.listServices();

    expect(client.serviceIdentification).toEqual(AGENT);
    expect(result.data.map((s) => s.identification)).toEqual([BOT, AGENT]);
  });
});

// ---------------------------------------------------------------- authentication

describe('authentication failures', () => {
  it('surfaces a wrong secret as a rejected 401 api_key_not_valid after one refresh', async () => {
    const credentials = credentialsFor(BOT, ['not-the-secret']);
    const { client } = makeClient(credentials);

    const error = await failure(client.listServices());

    expect(error).toBeInstanceOf(ParleyApiError);
    expect(error).toMatchObject({
      status: 401,
      parleyCode: 'api_key_not_valid',
      outcome: 'rejected',
    });
    expect(credentials.invalidations).toEqual(1);
    expect(requests('GET', 'services').map((e) => e.status)).toEqual([401, 401]);
  });

  it('surfaces an expired validUntil as 401 api_key_not_valid', async () => {
    const { client } = makeClient(credentialsFor(BOT), {
      clock: { now: () => Date.now() - 60 * 60 * 1000 },
    });

    const error = await failure(client.getOwner(freshUser()));

    expect(error).toBeInstanceOf(ParleyApiError);
    expect(error).toMatchObject({
      status: 401,
      parleyCode: 'api_key_not_valid',
      outcome: 'rejected',
    });
  });

  it('surfaces an unknown service as 401 api_key_not_valid', async () => {
    const unknown: CredentialsSource = {
      serviceIdentification: 'unknownService000001',
      get: async () => ({
        serviceIdentification: 'unknownService000001',
        accountIdentification: sim.seed.accountIdentification,
        sharedServiceAccountSecret: 'whatever-secret',
      }),
      invalidate() {},
    };
    const { client } = makeClient(unknown);

    const error = await failure(client.listServices());

    expect(error).toBeInstanceOf(ParleyApiError);
    expect(error).toMatchObject({
      status: 401,
      parleyCode: 'api_key_not_valid',
      outcome: 'rejected',
    });
  });

  it('retries once with refreshed credentials after a 401, also for a write', async () => {
    const userId = freshUser();
    const credentials = credentialsFor(BOT, ['a-stale-rotated-secret', secretOf(BOT)]);
    const { client, sleeps } = makeClient(credentials);

    await client.setOwner(userId, AGENT, { reason: 'question_too_complex' });

    expect(credentials.invalidations).toEqual(1);
    expect(requests('PUT', `users/${userId}/owner`).map((e) => e.status)).toEqual([401, 200]);
    expect(sleeps).toEqual([]);
    expect(sim.ownerOf(userId)).toEqual(AGENT);
  });

  it('reuses one Authorization value across calls', async () => {
    const sent: string[] = [];
    const recordingFetch: typeof fetch = async (input, init) => {
      sent.push(new Headers(init?.headers).get('authorization') ?? '');
      return fetch(input, init);
    };
    const { client } = makeClient(credentialsFor(BOT), { fetch: recordingFetch });

    await client.listServices();
    await client.getOwner(freshUser());

    expect(sent).toHaveLength(2);
    expect(sent[1]).toEqual(sent[0]);
    expect(sent[0]?.startsWith('Bearer')).toBe(false);
  });
});

// ---------------------------------------------------------------- definite rejections

describe('rejections', () => {
  it('rejects a PUT owner from a service that does not own the user', async () => {
    const userId = freshUser();
    const { client } = makeClient(credentialsFor(AGENT));

    const error = await failure(client.setOwner(userId, AGENT, {}));

    expect(error).toBeInstanceOf(ParleyApiError);
    expect((error as ParleyApiError).status).toBeGreaterThanOrEqual(400);
    expect((error as ParleyApiError).status).toBeLessThan(500);
    expect(error.outcome).toEqual('rejected');
    expect(requests('PUT', `users/${userId}/owner`)).toHaveLength(1);
    expect(sim.ownerOf(userId)).toEqual(BOT);
  });

  it.each([400, 403])('does not retry a read answered with %i', async (status) => {
    const userId = freshUser();
    sim.setFaults([{ route: 'getOwner', errorRate: 1, errorStatus: status }]);
    const { client, sleeps } = makeClient(credentialsFor(BOT));

    const error = await failure(client.getOwner(userId));

    expect(error).toMatchObject({ status, outcome: 'rejected', method: 'GET' });
    expect(requests('GET', `users/${userId}/owner`)).toHaveLength(1);
    expect(sleeps).toEqual([]);
  });

  it.each([400, 403])('does not retry a PUT owner answered with %i', async (status) => {
    const userId = freshUser();
    sim.setFaults([{ route: 'putOwner', errorRate: 1, errorStatus: status }]);
    const { client } = makeClient(credentialsFor(BOT));

    const error = await failure(client.setOwner(userId, AGENT, {}));

    expect(error).toMatchObject({ status, outcome: 'rejected', method: 'PUT' });
    expect(requests('PUT', `users/${userId}/owner`)).toHaveLength(1);
  });
});

// ---------------------------------------------------------------- retries of reads

describe('retries of reads', () => {
  it('retries GET owner on injected 5xx with full-jitter backoff and then succeeds', async () => {
    const userId = freshUser();
    sim.setFaults([{ route: 'getOwner', errorRate: 1, errorStatus: 503, times: 2 }]);
    const { client, sleeps } = makeClient(credentialsFor(BOT));

    const result = await client.getOwner(userId);

    expect(result.data).toEqual({ owner: BOT });
    expect(requests('GET', `users/${userId}/owner`).map((e) => e.status)).toEqual([503, 503, 200]);
    // random() = 0.5 over caps of 100 ms and 200 ms
    expect(sleeps).toEqual([50, 100]);
  });

  it('gives up after maxAttempts with an unknown-outcome error', async () => {
    const userId = freshUser();
    sim.setFaults([{ route: 'getOwner', errorRate: 1, errorStatus: 500 }]);
    const { client, sleeps } = makeClient(credentialsFor(BOT), {
      retry: { maxAttempts: 4, baseDelayMs: 1000, maxDelayMs: 1500 },
      random: () => 0.999,
    });

    const error = await failure(client.getOwner(userId));

    expect(error).toMatchObject({ status: 500, outcome: 'unknown' });
    expect(requests('GET', `users/${userId}/owner`)).toHaveLength(4);
    expect(sleeps).toEqual([999, 1498, 1498]);
  });

  it('waits as long as Retry-After says on a 429', async () => {
    sim.setFaults([{ route: 'services', rate429: 1, retryAfterSeconds: 2, times: 1 }]);
    const { client, sleeps } = makeClient(credentialsFor(BOT));

    const result = await client.listServices();

    expect(result.data).toHaveLength(2);
    expect(requests('GET', 'services').map((e) => e.status)).toEqual([429, 200]);
    expect(sleeps).toEqual([2000]);
  });

  it('stops retrying 429s before the total budget is spent', async () => {
    sim.setFaults([{ route: 'services', rate429: 1, retryAfterSeconds: 1 }]);
    const { client, sleeps } = makeClient(credentialsFor(BOT), {
      budgetMs: 3500,
      retry: { maxAttempts: 10 },
    });

    const error = await failure(client.listServices());

    expect(error).toMatchObject({ status: 429, outcome: 'unknown', retryAfterMs: 1000 });
    expect(requests('GET', 'services')).toHaveLength(4);
    expect(sleeps).toEqual([1000, 1000, 1000]);
  });

  it('gives a call no more than the time its request has left, below the client budget', async () => {
    sim.setFaults([{ route: 'getOwner', rate429: 1, retryAfterSeconds: 1 }]);
    const { client, sleeps } = makeClient(credentialsFor(BOT), {
      budgetMs: 8000,
      retry: { maxAttempts: 10 },
    });
    const userId = freshUser();

    const error = await failure(client.getOwner(userId, { budgetMs: 3500 }));

    expect(error).toMatchObject({ status: 429, outcome: 'unknown' });
    expect(requests('GET', `users/${userId}/owner`)).toHaveLength(4);
    expect(sleeps).toEqual([1000, 1000, 1000]);
  });

  it('does not sleep when Retry-After reaches past the budget', async () => {
    sim.setFaults([{ route: 'services', rate429: 1, retryAfterSeconds: 10 }]);
    const { client, sleeps } = makeClient(credentialsFor(BOT), { budgetMs: 8000 });

    const error = await failure(client.listServices());

    expect(error).toMatchObject({ status: 429, retryAfterMs: 10_000 });
    expect(requests('GET', 'services')).toHaveLength(1);
    expect(sleeps).toEqual([]);
  });

  it('retries GET owner after attempts that time out', async () => {
    const userId = freshUser();
    sim.setFaults([{ route: 'getOwner', timeoutRate: 1, times: 2 }]);
    const { client } = makeClient(credentialsFor(BOT), { timeoutMs: 150 });

    const result = await client.getOwner(userId);

    expect(result.data).toEqual({ owner: BOT });
    expect(requests('GET', `users/${userId}/owner`)).toHaveLength(3);
  });

  it('throws a timeout error when every attempt of a read times out', async () => {
    sim.setFaults([{ route: 'services', timeoutRate: 1 }]);
    const { client } = makeClient(credentialsFor(BOT), {
      timeoutMs: 100,
      retry: { maxAttempts: 2 },
    });

    const error = await failure(client.listServices());

    expect(error).toBeInstanceOf(ParleyTimeoutError);
    expect(error.outcome).toEqual('unknown');
    expect(requests('GET', 'services')).toHaveLength(2);
  });

  it('retries a read after a dropped connection', async () => {
    sim.setFaults([{ route: 'services', dropRate: 1, times: 1 }]);
    const { client } = makeClient(credentialsFor(BOT));

    const result = await client.listServices();

    expect(result.data).toHaveLength(2);
    expect(requests('GET', 'services')).toHaveLength(2);
  });
});

// ---------------------------------------------------------------- writes are never retried blindly

describe('no blind retry of writes', () => {
  it('does not retry a PUT owner answered with 5xx and reports an unknown outcome', async () => {
    const userId = freshUser();
    sim.setFaults([{ route: 'putOwner', errorRate: 1, errorStatus: 503 }]);
    const { client, sleeps } = makeClient(credentialsFor(BOT));

    const error = await failure(client.setOwner(userId, AGENT, {}));

    expect(error).toBeInstanceOf(ParleyApiError);
    expect(error).toMatchObject({ status: 503, outcome: 'unknown' });
    expect(requests('PUT', `users/${userId}/owner`)).toHaveLength(1);
    expect(sleeps).toEqual([]);
  });

  it('does not retry a PUT owner that times out', async () => {
    const userId = freshUser();
    sim.setFaults([{ route: 'putOwner', timeoutRate: 1 }]);
    const { client } = makeClient(credentialsFor(BOT), { timeoutMs: 150 });

    const error = await failure(client.setOwner(userId, AGENT, {}));

    expect(error).toBeInstanceOf(ParleyTimeoutError);
    expect(error.outcome).toEqual('unknown');
    expect(requests('PUT', `users/${userId}/owner`)).toHaveLength(1);
  });

  it('does not retry a PUT owner whose connection is dropped', async () => {
    const userId = freshUser();
    sim.setFaults([{ route: 'putOwner', dropRate: 1 }]);
    const { client } = makeClient(credentialsFor(BOT));

    const error = await failure(client.setOwner(userId, AGENT, {}));

    expect(error).toBeInstanceOf(ParleyNetworkError);
    expect(error).toMatchObject({ sent: true, outcome: 'unknown' });
    expect(requests('PUT', `users/${userId}/owner`)).toHaveLength(1);
  });

  it('reports unknown when Parley applies the PUT and then cuts the connection', async () => {
    const userId = freshUser();
    sim.setFaults([{ route: 'putOwner', applyThenFailRate: 1, applyThenFailMode: 'drop' }]);
    const { client } = makeClient(credentialsFor(BOT));

    const error = await failure(client.setOwner(userId, AGENT, {}));

    expect(error.outcome).toEqual('unknown');
    expect(requests('PUT', `users/${userId}/owner`)).toHaveLength(1);
    expect(sim.ownerOf(userId)).toEqual(AGENT);
  });

  it('does not retry a message or an agent unset answered with 5xx', async () => {
    const userId = freshUser();
    sim.setFaults([
      { route: 'messages', errorRate: 1, errorStatus: 502 },
      { route: 'agentUnset', errorRate: 1, errorStatus: 500 },
    ]);
    const { client } = makeClient(credentialsFor(BOT));

    const sendError = await failure(client.sendMessage(userId, 'Hello'));
    const unsetError = await failure(client.unsetAgent(userId));

    expect([sendError.outcome, unsetError.outcome]).toEqual(['unknown', 'unknown']);
    expect(requests('POST', `users/${userId}/messages`)).toHaveLength(1);
    expect(requests('PUT', `users/${userId}/agent/unset`)).toHaveLength(1);
  });
});

// ---------------------------------------------------------------- a 429 on a write was not applied

describe('retries of writes answered 429', () => {
  it('retries a PUT owner answered 429 after the Retry-After, and it is applied once', async () => {
    const userId = freshUser();
    sim.setFaults([{ route: 'putOwner', rate429: 1, retryAfterSeconds: 2, times: 1 }]);
    const { client, sleeps } = makeClient(credentialsFor(BOT));

    await client.setOwner(userId, AGENT, {});

    expect(requests('PUT', `users/${userId}/owner`).map((e) => e.status)).toEqual([429, 200]);
    expect(sleeps).toEqual([2000]);
    expect(sim.ownerOf(userId)).toEqual(AGENT);
  });

  it('retries a message and an agent unset answered 429 with the backoff of a read', async () => {
    const userId = freshUser();
    sim.setFaults([
      { route: 'messages', rate429: 1, retryAfterSeconds: 0, times: 2 },
      { route: 'agentUnset', rate429: 1, retryAfterSeconds: 0, times: 1 },
    ]);
    const { client, sleeps } = makeClient(credentialsFor(BOT));

    await client.sendMessage(userId, 'Hello');
    await client.unsetAgent(userId);

    expect(requests('POST', `users/${userId}/messages`).map((e) => e.status)).toEqual([
      429, 429, 200,
    ]);
    expect(requests('PUT', `users/${userId}/agent/unset`).map((e) => e.status)).toEqual([429, 200]);
    // random() = 0.5 over caps of 100 ms and 200 ms, then 100 ms (no Retry-After in these)
    expect(sleeps).toEqual([50, 100, 50]);
  });

  it('stops retrying a PUT owner answered 429 within the budget, without sleeping past it', async () => {
    const userId = freshUser();
    sim.setFaults([{ route: 'putOwner', rate429: 1, retryAfterSeconds: 1 }]);
    const { client, sleeps } = makeClient(credentialsFor(BOT), {
      budgetMs: 2500,
      retry: { maxAttempts: 10 },
    });

    const error = await failure(client.setOwner(userId, AGENT, {}));

    expect(error).toMatchObject({ status: 429, method: 'PUT', retryAfterMs: 1000 });
    expect(requests('PUT', `users/${userId}/owner`)).toHaveLength(3);
    expect(sleeps).toEqual([1000, 1000]);
    expect(sim.ownerOf(userId)).toEqual(BOT);
  });
});

// ---------------------------------------------------------------- logging and secrecy

describe('logging and secrecy', () => {
  it('logs one structured line per attempt and reports each attempt', async () => {
    const userId = freshUser();
    sim.setFaults([{ route: 'getOwner', errorRate: 1, errorStatus: 503, times: 1 }]);
    const calls: ParleyCallInfo[] = [];
    const { client, lines } = makeClient(credentialsFor(BOT), {
      onCall: (info) => calls.push(info),
    });

    await client.getOwner(userId);

    const path = `users/${userId}/owner`;
    const simCode = requests('GET', path)[0]?.code;
    expect(simCode).toEqual(expect.any(String));
    expect(lines).toEqual([
      {
        level: 'info',
        message: 'parley call',
        attributes: {
          method: 'GET',
          path,
          status: 503,
          durationMs: 0,
          apiVersion: '20500',
          attempt: 1,
          error: simCode,
        },
      },
      {
        level: 'info',
        message: 'parley call',
        attributes: {
          method: 'GET',
          path,
          status: 200,
          durationMs: 0,
          apiVersion: '20500',
          attempt: 2,
        },
      },
    ]);
    expect(calls).toEqual([
      { method: 'GET', path, status: 503, durationMs: 0 },
      { method: 'GET', path, status: 200, durationMs: 0 },
    ]);
  });

  it('never puts the secret, the Authorization value or message text in errors or logs', async () => {
    const messageText = 'my account number is 12345 please help';
    const sentAuthorizations: string[] = [];
    const recordingFetch: typeof fetch = async (input, init) => {
      sentAuthorizations.push(new Headers(init?.headers).get('authorization') ?? '');
      return fetch(input, init);
    };
    const wrongSecret = 'wrong-secret-value-0123456789';
    const { log, lines } = captureLog();
    const options = { fetch: recordingFetch, log, timeoutMs: 150, retry: { maxAttempts: 2 } };
    const bot = makeClient(credentialsFor(BOT), options).client;
    const agent = makeClient(credentialsFor(AGENT), options).client;
    const wrong = makeClient(credentialsFor(BOT, [wrongSecret]), options).client;
    const userId = freshUser();

    const errors: ParleyError[] = [];
    errors.push(await failure(wrong.listServices()));
    errors.push(await failure(agent.sendMessage(userId, messageText)));
    sim.setFaults([{ route: 'messages', errorRate: 1, errorStatus: 500 }]);
    errors.push(await failure(bot.sendMessage(userId, messageText)));
    sim.setFaults([{ route: 'messages', timeoutRate: 1 }]);
    errors.push(await failure(bot.sendMessage(userId, messageText)));
    sim.setFaults([{ route: 'messages', dropRate: 1 }]);
    errors.push(await failure(bot.sendMessage(userId, messageText)));

    const forbidden = [
      secretOf(BOT),
      secretOf(AGENT),
      wrongSecret,
      messageText,
      ...new Set(sentAuthorizations),
    ];
    const texts = [
      ...errors.flatMap((e) => [e.message, JSON.stringify(e), String(e.stack)]),
      ...lines.map((line) => JSON.stringify(line)),
    ];
    expect(errors.map((e) => e.constructor.name)).toEqual([
      'ParleyApiError',
      'ParleyApiError',
      'ParleyApiError',
      'ParleyTimeoutError',
      'ParleyNetworkError',
    ]);
    expect(sentAuthorizations.length).toBeGreaterThanOrEqual(5);
    expect(lines.length).toEqual(sentAuthorizations.length);
    expect(texts.filter((text) => forbidden.some((secret) => text.includes(secret)))).toEqual([]);
  });
});

// ---------------------------------------------------------------- answers the simulator never gives

describe('against a hand-written server', () => {
  let server: Server;
  let baseUrl: string;
  let answer: (req: IncomingMessage, res: ServerResponse) => void = (_req, res) => res.end();
  let hits = 0;

  beforeAll(async () => {
    server = createServer((req, res) => {
      hits += 1;
      req.resume();
      req.on('end', () => answer(req, res));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/serviceApi/v2.5`;
  });

  afterAll(async () => {
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  beforeEach(() => {
    hits = 0;
  });

  const reply = (status: number, body: string, headers: Record<string, string> = {}) => {
    answer = (_req, res) => {
      res.writeHead(status, { 'Content-Type': 'application/json', ...headers });
      res.end(body);
    };
  };

  const localClient = (overrides: Partial<ParleyClientOptions> = {}) =>
    makeClient(credentialsFor(BOT), { baseUrl, ...overrides });

  it('treats a 2xx with unparsable JSON on a PUT owner as an unknown outcome, not retried', async () => {
    reply(200, '<html>gateway</html>');
    const { client } = localClient();

    const error = await failure(client.setOwner('7', AGENT, {}));

    expect(error).toBeInstanceOf(ParleyApiError);
    expect(error).toMatchObject({ status: 200, parleyCode: null, outcome: 'unknown' });
    expect(hits).toEqual(1);
  });

  it('treats a 2xx ERROR envelope as a rejection carrying its code', async () => {
    reply(
      200,
      JSON.stringify({
        status: 'ERROR',
        notifications: [{ type: 'error', message: 'user_not_found' }],
      }),
    );
    const { client } = localClient();

    const error = await failure(client.setOwner('7', AGENT, {}));

    expect(error).toMatchObject({ status: 200, parleyCode: 'user_not_found', outcome: 'rejected' });
    expect(hits).toEqual(1);
  });

  it('treats a SUCCESS whose owner data is unreadable as a rejected read, not retried', async () => {
    reply(200, JSON.stringify({ status: 'SUCCESS', data: { somethingElse: 1 } }));
    const { client } = localClient();

    const error = await failure(client.getOwner('7'));

    expect(error).toMatchObject({ status: 200, outcome: 'rejected' });
    expect(hits).toEqual(1);
  });

  it('returns warnings, keeps unknown fields harmless and reads the API version', async () => {
    reply(
      200,
      JSON.stringify({
        data: { owner: { identification: AGENT, name: 'Agent Service' }, extra: true },
        notifications: [
          { type: 'warning', message: 'deprecated_call' },
          { type: 'success', message: 'ok' },
        ],
        status: 'SUCCESS',
        metadata: { method: 'get', duration: 'not-a-number' },
        media: {},
      }),
      { 'X-Parley-API-Version': '20300' },
    );
    const { client } = localClient();

    const result = await client.getOwner('7');

    expect(result).toEqual({
      data: { owner: AGENT },
      status: 200,
      apiVersion: '20300',
      durationMs: 0,
      warnings: ['deprecated_call'],
    });
  });

  it('keeps only a code-like error notification as the Parley code', async () => {
    reply(
      400,
      JSON.stringify({
        status: 'ERROR',
        notifications: [{ type: 'error', message: 'The message "secret stuff" was refused' }],
      }),
    );
    const { client } = localClient();

    const error = await failure(client.sendMessage('7', 'secret stuff'));

    expect(error).toMatchObject({ status: 400, parleyCode: null, outcome: 'rejected' });
    expect(error.message).toEqual('Parley answered POST users/7/messages with HTTP 400.');
  });

  it('honours a Retry-After given as an HTTP date', async () => {
    const nowMs = Date.parse('2026-11-25T12:00:00Z');
    let first = true;
    answer = (_req, res) => {
      if (first) {
        first = false;
        res.writeHead(503, { 'Retry-After': 'Wed, 25 Nov 2026 12:00:03 GMT' });
        res.end();
        return;
      }
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify({ status: 'SUCCESS', data: { services: [] } }));
    };
    const time = fakeTime(nowMs);
    const client = createParleyClient({
      baseUrl,
      credentials: credentialsFor(BOT),
      clock: time.clock,
      sleep: time.sleep,
      random: () => 0,
    });

    const result = await client.listServices();

    expect(result.data).toEqual([]);
    expect(time.sleeps).toEqual([3000]);
    expect(hits).toEqual(2);
  });

  it('retries any method whose connection was refused, then reports it as never sent', async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    const calls: ParleyCallInfo[] = [];
    const { client, sleeps } = makeClient(credentialsFor(BOT), {
      baseUrl: `http://127.0.0.1:${port}/serviceApi/v2.5`,
      onCall: (info) => calls.push(info),
    });

    const error = await failure(client.setOwner('7', AGENT, {}));

    expect(error).toBeInstanceOf(ParleyNetworkError);
    expect(error).toMatchObject({ sent: false, outcome: 'rejected' });
    expect(calls.map((c) => c.status)).toEqual([null, null, null]);
    expect(sleeps).toEqual([50, 100]);
  });
});

// ---------------------------------------------------------------- paths and schemas

describe('the path table', () => {
  it('marks the assumed paths and the reads', () => {
    const table = Object.entries(parleyEndpoints).map(([route, e]) => [
      route,
      e.method,
      e.template,
      e.assumed,
      e.read,
    ]);

    expect(table).toEqual([
      ['services', 'GET', 'services', true, true],
      ['getOwner', 'GET', 'users/{userId}/owner', true, true],
      ['putOwner', 'PUT', 'users/{userId}/owner', false, false],
      ['messages', 'POST', 'users/{userId}/messages', true, false],
      ['agentUnset', 'PUT', 'users/{userId}/agent/unset', false, false],
    ]);
  });

  it('URL-encodes the user id and refuses dot segments', () => {
    expect(parleyPath('getOwner', { userId: 'a b/c?d' })).toEqual('users/a%20b%2Fc%3Fd/owner');
    expect(() => parleyPath('putOwner', { userId: '..' })).toThrow(ValidationError);
    expect(() => parleyPath('messages', {})).toThrow(ValidationError);
    // A lone surrogate cannot be URL-encoded: refused as input, not a URIError (a 500).
    expect(() => parleyPath('getOwner', { userId: 'a\ud800' })).toThrow(ValidationError);
    expect(parleyPath('getOwner', { userId: '💬' })).toEqual('users/%F0%9F%92%AC/owner');
  });

  it('joins a base URL that carries a path', () => {
    expect(parleyUrl('http://host:4010/serviceApi/v2.5/', '/services')).toEqual(
      'http://host:4010/serviceApi/v2.5/services',
    );
  });
});

describe('the response schemas', () => {
  it('reads default from strings and booleans, and a missing default as false', () => {
    const services = parleyServicesDataSchema.parse({
      services: [
        { identification: 'a', name: 'A', default: 'TRUE' },
        { identification: 'b', name: 'B', default: false },
        { identification: 'c', name: 'C' },
      ],
    });

    expect(services.map((s) => s.default)).toEqual([true, false, false]);
  });

  it('reads the owner from every tolerated shape', () => {
    const shapes = [
      { owner: 'x1' },
      { owner: { identification: 'x2' } },
      { identification: 'x3' },
      { owner: 42, identification: 'x4' },
    ];

    expect(shapes.map((d) => parleyOwnerDataSchema.parse(d))).toEqual([
      { owner: 'x1' },
      { owner: 'x2' },
      { owner: 'x3' },
      { owner: 'x4' },
    ]);
    expect(parleyOwnerDataSchema.safeParse({ owner: null }).success).toBe(false);
  });
});
