// The console's handler on the real stores (dynalite over HTTP) and the Parley simulator, each
// call checked against its role in the template (strict IAM) and against the OpenAPI document.
// Time is a movable clock: sessions and the login throttle are judged by it, never by sleeps.
import { GetCommand, PutCommand, QueryCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { ASSETS } from '../../functions/console/static/assets';
import { CSP } from '../../functions/console/layout';
import { SESSION_COOKIE, sessionKeyOf } from '../../functions/console/session';
import { hashRecord } from '../../functions/domain/chain';
import { performHandover } from '../../functions/domain/handover/perform';
import { dayOf } from '../../functions/domain/metrics/day';
import { readMetrics } from '../../functions/domain/metrics/rollup';
import { makeHandler as checkpointHandler } from '../../functions/handlers/checkpoints';
import { makeHandler } from '../../functions/handlers/console';
import { makeHandler as metricsHandler } from '../../functions/handlers/metrics';
import { metricsDeps } from '../../functions/platform/metrics-deps';
import { handoverDeps } from '../../functions/platform/views';
import type { HttpResult } from '../../functions/platform/handler';
import { apiEvent } from '../support/events';
import { AGENT, BOT, type Harness, startHarness } from '../support/harness';
import { checkResponse } from '../support/openapi-check';
import { historyOf, invoker } from '../support/reliability';
import { createHash } from 'node:crypto';
import { CreateTableCommand } from '@aws-sdk/client-dynamodb';
import { createTableInput } from '../../functions/contracts/tables';
import { GetQueueAttributesCommand, SQSClient } from '@aws-sdk/client-sqs';
import { mockClient } from 'aws-sdk-client-mock';
import { createSqsQueueDepths } from '../../functions/adapters/queue-depths';
import { localDeadLetterDepths } from '../../local/queue/depths';
import { createLocalQueue } from '../../local/queue/local-queue';
import { queueTable } from '../../local/queue/store';

const clock = { t: Date.now(), now: () => clock.t };
let h: Harness;
let consoleFn: ReturnType<typeof makeHandler>;
let ipCounter = 0;

beforeAll(async () => {
  h = await startHarness({ clock, checkpoints: true });
  consoleFn = makeHandler(h.source.forFunction!('console'));
}, 60_000);
afterAll(async () => {
  await h?.close();
});

interface Call {
  method?: 'GET' | 'POST';
  path: string;
  cookie?: string;
  form?: Record<string, string>;
  headers?: Record<string, string>;
  ip?: string;
}

const call = async (c: Call): Promise<HttpResult & { text: string }> => {
  const method = c.method ?? (c.form ? 'POST' : 'GET');
  const headers: Record<string, string> = { host: 'localhost:3000', ...c.headers };
  if (method === 'POST') {
    headers['content-type'] ??= 'application/x-www-form-urlencoded';
    if (!c.headers || !('sec-fetch-site' in c.headers)) headers['sec-fetch-site'] = 'same-origin';
  }
  const base = apiEvent({
    method,
    path: c.path,
    headers,
    ...(c.form ? { rawBody: new URLSearchParams(c.form).toString() } : {}),
  });
  const event: APIGatewayProxyEventV2 = {
    ...base,
    ...(c.cookie ? { cookies: [c.cookie] } : {}),
    requestContext: {
      ...base.requestContext,
      http: { ...base.requestContext.http, sourceIp: c.ip ?? '192.0.2.1' },
    },
  };
  const result = (await consoleFn(event)) as HttpResult;
  const text = String(result.body ?? '');
  checkResponse(method, base.rawPath, result.statusCode ?? 200, result.headers, text);
  return { ...result, text };
};

const headerOf = (r: HttpResult, name: string) =>
  Object.entries(r.headers ?? {}).find(([k]) => k.toLowerCase() === name.toLowerCase())?.[1];

/** A fresh source address per test, so the throttle of one test never meets another's. */
const freshIp = () => `198.51.100.${++ipCounter}`;

const login = async (token: string, ip = freshIp()) => {
  const res = await call({ path: '/console/login', form: { token, next: '/console' }, ip });
  expect(res.statusCode).toBe(303);
  const set = res.cookies?.[0] ?? '';
  const id = /^__Host-parley-console=([^;]+);/.exec(set)?.[1];
  if (!id) throw new Error('no session cookie');
  return { id, cookie: `${SESSION_COOKIE}=${id}`, set };
};

const csrfOf = (page: string) => /name="csrf" value="([^"]+)"/.exec(page)?.[1] ?? '';

/** Hands a user to the Agent Service through the API (the bot owns new users at the simulator). */
const toAgent = async (userId: string, metadata: Record<string, unknown> = { reason: 'help' }) => {
  const res = await invoker(h.source).call({
    method: 'POST',
    path: '/handovers',
    token: h.tokens.bot.api,
    body: { userId, newOwner: AGENT, metadata },
  });
  expect(res.statusCode).toBe(200);
};

describe('console sessions', () => {
  it('shows the login form at /console without a session, and 401 with it on other pages', async () => {
    const home = await call({ path: '/console' });
    const deep = await call({ path: '/console/stuck' });

    expect(home.statusCode).toBe(200);
    expect(home.text).toContain('<form method="post" action="/console/login">');
    expect(home.text).toContain('<label for="token">');
    expect(deep.statusCode).toBe(401);
    expect(deep.text).toContain('name="next" value="/console/stuck"');
  });

  it("trades an operator's token for a __Host- session cookie; the table keeps only its hash, with a TTL", async () => {
    const { id, set } = await login(h.tokens.operator);
    const item = await h.dynamo.client.send(
      new GetCommand({
        TableName: h.dynamo.tables.state,
        Key: { pk: `SESSION#${sessionKeyOf(id)}` },
      }),
    );

    expect(set).toBe(
      `${SESSION_COOKIE}=${id}; Path=/; Secure; HttpOnly; SameSite=Strict; Max-Age=28800`,
    );
    expect(item.Item).toMatchObject({ name: 'operator', role: 'operator', version: 1 });
    expect(item.Item!.expiresAt).toBe(Math.ceil((clock.t + 30 * 60_000) / 1000));
    expect(JSON.stringify(item.Item)).not.toContain(id);
    expect(JSON.stringify(item.Item)).not.toContain(h.tokens.operator);
    expect(JSON.stringify(h.logs)).not.toContain(h.tokens.operator);
  });

  it("refuses a wrong token and a Service's token with 401 and never logs either", async () => {
    const ip = freshIp();
    const wrong = await call({ path: '/console/login', form: { token: 'nope' }, ip });
    const service = await call({ path: '/console/login', form: { token: h.tokens.bot.api }, ip });

    expect([wrong.statusCode, service.statusCode]).toEqual([401, 401]);
    expect(service.cookies).toBeUndefined();
    expect(JSON.stringify(h.logs)).not.toContain(h.tokens.bot.api);
  });

  it('refuses a source after 5 failed logins in a minute, a right token too, until the minute has passed', async () => {
    const ip = freshIp();
    const statuses: number[] = [];
    for (let i = 0; i < 5; i++) {
      statuses.push(
        (await call({ path: '/console/login', form: { token: `bad-${i}` }, ip })).statusCode!,
      );
      clock.t += 1_000;
    }
    const refused = await call({ path: '/console/login', form: { token: h.tokens.operator }, ip });
    const elsewhere = await call({ path: '/console/login', form: { token: h.tokens.operator } });
    clock.t += 56_000;
    const later = await call({ path: '/console/login', form: { token: h.tokens.operator }, ip });

    expect(statuses).toEqual([401, 401, 401, 401, 401]);
    expect(refused.statusCode).toBe(429);
    expect(headerOf(refused, 'Retry-After')).toBe('55');
    expect(refused.cookies).toBeUndefined();
    expect(elsewhere.statusCode).toBe(303);
    expect(later.statusCode).toBe(303);
  });

  it('ends a session 30 minutes after its last use, and 8 hours after its start however used', async () => {
    const idle = await login(h.tokens.auditor);
    const busy = await login(h.tokens.auditor);
    const start = clock.t;
    const seen: number[] = [];
    for (clock.t = start + 25 * 60_000; clock.t < start + 8 * 3600_000; clock.t += 25 * 60_000) {
      seen.push((await call({ path: '/console/stuck', cookie: busy.cookie })).statusCode!);
    }
    const idleAfter = await call({ path: '/console/stuck', cookie: idle.cookie });
    clock.t = start + 8 * 3600_000;
    const busyAfter = await call({ path: '/console/stuck', cookie: busy.cookie });

    expect(new Set(seen)).toEqual(new Set([200]));
    expect(idleAfter.statusCode).toBe(401);
    expect(busyAfter.statusCode).toBe(401);
  });

  it('logs out: the cookie is cleared and the session refused afterwards', async () => {
    const { cookie } = await login(h.tokens.auditor);
    const page = await call({ path: '/console/stuck', cookie });
    const out = await call({ path: '/console/logout', cookie, form: { csrf: csrfOf(page.text) } });
    const after = await call({ path: '/console/stuck', cookie });

    expect(out.statusCode).toBe(303);
    expect(out.cookies).toEqual([
      `${SESSION_COOKIE}=; Path=/; Secure; HttpOnly; SameSite=Strict; Max-Age=0`,
    ]);
    expect(after.statusCode).toBe(401);
  });
});

describe('console forms', () => {
  it('refuses a cross-site POST with 403, the login included, and does nothing', async () => {
    await toAgent('cs-1');
    const { cookie } = await login(h.tokens.operator);
    const page = await call({ path: '/console/users/cs-1', cookie });
    const form = { csrf: csrfOf(page.text), reason: 'forged', key: 'k'.repeat(22) };
    const crossSite = await call({
      path: '/console/users/cs-1/release',
      cookie,
      form,
      headers: { 'sec-fetch-site': 'cross-site', origin: 'https://evil.test' },
    });
    const foreignOrigin = await call({
      path: '/console/users/cs-1/release',
      cookie,
      form,
      headers: { 'sec-fetch-site': undefined as never, origin: 'https://evil.test' },
    });
    const crossLogin = await call({
      path: '/console/login',
      form: { token: h.tokens.operator },
      headers: { 'sec-fetch-site': 'cross-site' },
    });

    expect([crossSite.statusCode, foreignOrigin.statusCode, crossLogin.statusCode]).toEqual([
      403, 403, 403,
    ]);
    expect(crossLogin.cookies).toBeUndefined();
    expect((await historyOf(h.deps.history, 'cs-1')).map((r) => r.toOwner)).toEqual([AGENT]);
  });

  it("refuses a POST without the session's CSRF token, or with another session's", async () => {
    await toAgent('cs-2');
    const mine = await login(h.tokens.operator);
    const other = await login(h.tokens.operator);
    const otherPage = await call({ path: '/console/stuck', cookie: other.cookie });
    const none = await call({
      path: '/console/users/cs-2/release',
      cookie: mine.cookie,
      form: { reason: 'r', key: 'k'.repeat(22) },
    });
    const foreign = await call({
      path: '/console/users/cs-2/release',
      cookie: mine.cookie,
      form: { csrf: csrfOf(otherPage.text), reason: 'r', key: 'k'.repeat(22) },
    });

    expect([none.statusCode, foreign.statusCode]).toEqual([403, 403]);
    expect((await historyOf(h.deps.history, 'cs-2')).map((r) => r.toOwner)).toEqual([AGENT]);
  });

  it("answers an auditor's release and reconcile with 403 and records nothing", async () => {
    await toAgent('au-1');
    const { cookie } = await login(h.tokens.auditor);
    const page = await call({ path: '/console/users/au-1', cookie });
    const form = { csrf: csrfOf(page.text), reason: 'try', key: 'a'.repeat(22) };
    const release = await call({ path: '/console/users/au-1/release', cookie, form });
    const reconcile = await call({ path: '/console/users/au-1/reconcile', cookie, form });

    expect(page.text).not.toContain('/console/users/au-1/release');
    expect([release.statusCode, reconcile.statusCode]).toEqual([403, 403]);
    expect((await historyOf(h.deps.history, 'au-1')).length).toBe(1);
  });

  it('releases a user as an operator: one record naming the operator and the reason, once however often it is posted', async () => {
    await toAgent('op-1');
    const { cookie } = await login(h.tokens.operator);
    const page = await call({ path: '/console/users/op-1', cookie });
    const key = /name="key" value="([^"]+)"/.exec(page.text)?.[1] ?? '';
    const form = { csrf: csrfOf(page.text), reason: 'desk closed for the night', key };
    const first = await call({ path: '/console/users/op-1/release', cookie, form });
    const again = await call({ path: '/console/users/op-1/release', cookie, form });
    const after = await call({ path: String(headerOf(first, 'Location')).split('#')[0]!, cookie });
    const records = await historyOf(h.deps.history, 'op-1');

    expect(first.statusCode).toBe(303);
    expect(headerOf(first, 'Location')).toBe('/console/users/op-1?done=released#timeline');
    expect(again.statusCode).toBe(303);
    expect(records.map((r) => [r.seq, r.toOwner, r.source, r.requestedBy, r.reason])).toEqual([
      [1, AGENT, 'api', BOT, 'help'],
      [2, BOT, 'operator', 'operator:operator', 'desk closed for the night'],
    ]);
    expect(after.text).toContain('Released to the default Service');
    expect(after.text).toContain('desk closed for the night');
    expect(h.logs).toContainEqual(
      expect.objectContaining({
        message: 'console action',
        attributes: expect.objectContaining({
          action: 'release',
          requestedBy: 'operator:operator',
        }),
      }),
    );
  });

  it('asks for a reason before any action', async () => {
    await toAgent('op-2');
    const { cookie } = await login(h.tokens.operator);
    const page = await call({ path: '/console/users/op-2', cookie });
    const res = await call({
      path: '/console/users/op-2/release',
      cookie,
      form: { csrf: csrfOf(page.text), reason: '  ', key: 'b'.repeat(22) },
    });

    expect(res.statusCode).toBe(400);
    expect(res.text).toContain('Give a reason');
    expect((await historyOf(h.deps.history, 'op-2')).length).toBe(1);
  });
});

describe('console pages', () => {
  it('renders a <script> in a user id and in metadata as text', async () => {
    // A user id may not hold `/`: a tag that is never closed is as dangerous.
    const userId = 'x"><script>alert(1)';
    await toAgent(userId, { reason: 'x', note: '<script>alert(2)</script>' });
    const { cookie } = await login(h.tokens.auditor);
    const page = await call({ path: `/console/users/${encodeURIComponent(userId)}`, cookie });

    expect(page.statusCode).toBe(200);
    expect(page.text).not.toMatch(/<script>alert/);
    expect(page.text).toContain('x&quot;&gt;&lt;script&gt;alert(1)');
    expect(page.text).toContain('&lt;script&gt;alert(2)&lt;/script&gt;');
  });

  it('sends the content security policy and no caching on every page', async () => {
    const { cookie } = await login(h.tokens.auditor);
    for (const path of ['/console', '/console/stuck', '/console/search', '/console/users/cs-1']) {
      const res = await call({ path, cookie });
      expect([path, headerOf(res, 'Content-Security-Policy')]).toEqual([path, CSP]);
      expect(headerOf(res, 'Cache-Control')).toBe('no-store');
    }
    expect(CSP).toBe(
      "default-src 'self'; script-src 'self'; object-src 'none'; frame-ancestors 'none'",
    );
  });

  it('serves its static files for a year, each the bytes its SRI hash names', async () => {
    for (const asset of Object.values(ASSETS)) {
      const res = await call({ path: `/console/static/${asset.file}` });
      const digest = createHash('sha384').update(res.text, 'utf8').digest('base64');
      expect([asset.file, res.statusCode, `sha384-${digest}`]).toEqual([
        asset.file,
        200,
        asset.integrity,
      ]);
      expect(headerOf(res, 'Cache-Control')).toBe('public, max-age=31536000, immutable');
    }
    expect((await call({ path: '/console/static/nope.js' })).statusCode).toBe(404);
  });

  it('finds handovers by reason and gives the same search as CSV', async () => {
    await toAgent('se-1', { reason: 'billing_question' });
    const { cookie } = await login(h.tokens.auditor);
    const page = await call({ path: '/console/search?reason=billing_question', cookie });
    const csv = await call({ path: '/console/search?reason=billing_question&format=csv', cookie });
    const bad = await call({ path: '/console/search?from=yesterday&to=today', cookie });

    expect(page.statusCode).toBe(200);
    expect(page.text).toContain('/console/users/se-1#seq-1');
    expect(headerOf(csv, 'Content-Type')).toBe('text/csv; charset=utf-8');
    expect(headerOf(csv, 'Content-Disposition')).toMatch(/^attachment; filename="handovers-/);
    expect(csv.text.split('\r\n').filter(Boolean)).toHaveLength(2);
    expect(csv.text).toContain(',se-1,1,');
    expect(bad.statusCode).toBe(400);
    expect(bad.text).toContain('role="alert"');
  });

  it('shows the overview counted from the stores', async () => {
    const { cookie } = await login(h.tokens.auditor);
    const res = await call({ path: '/console', cookie });

    expect(res.statusCode).toBe(200);
    expect(res.text).toContain('Users per owner now');
    expect(res.text).toContain('data-slot="Dead-letter queue depths"');
    expect(res.text).toMatch(/<svg viewBox="0 0 720 240"/);
  });

  it("shows each dead-letter queue's depth from the local queues: a dead-lettered callback counts 1, the empty notify DLQ 0", async () => {
    // The local queues on the harness's dynalite; a callback that fails its only receive is
    // dead-lettered at the next receive, as SQS moves it past maxReceiveCount.
    const tableName = `queue-${Date.now()}`;
    await h.dynamo.client.send(new CreateTableCommand(createTableInput(queueTable, tableName)));
    // The queues' own clock, moved past the visibility timeout; the console's is left alone.
    const queueClock = { t: clock.t, now: () => queueClock.t };
    const local = (name: string) =>
      createLocalQueue({
        client: h.dynamo.client,
        tableName,
        name,
        clock: queueClock,
        maxReceiveCount: 1,
        visibilityTimeoutMs: 1000,
      });
    const callbacks = local('callbacks');
    const notify = local('notify');
    await callbacks.send({ groupId: 'dlq-u1', dedupId: 'dlq-d1', body: '{}' });
    const fail = async (event: { Records: { messageId: string }[] }) => ({
      batchItemFailures: event.Records.map((r) => ({ itemIdentifier: r.messageId })),
    });
    await callbacks.pollOnce(fail);
    queueClock.t += 1001;
    await callbacks.pollOnce(fail);
    const parked = await callbacks.listDlq();
    const withDepths = makeHandler(async () => ({
      ...(await h.source.forFunction!('console')()),
      queueDepths: localDeadLetterDepths([
        { name: 'callbacks', queue: callbacks },
        { name: 'notify', queue: notify },
      ]),
    }));
    const { cookie } = await login(h.tokens.auditor);

    const event = apiEvent({
      method: 'GET',
      path: '/console',
      headers: { host: 'localhost:3000' },
    });
    const res = (await withDepths({ ...event, cookies: [cookie] })) as HttpResult;
    const text = String(res.body);

    expect(parked.map((m) => m.dedupId)).toEqual(['dlq-d1']);
    expect(res.statusCode).toBe(200);
    expect(text).not.toContain('data-slot="Dead-letter queue depths"');
    expect(text).toContain(
      '<div class="card"><span class="n">1</span>callbacks in the dead-letter queue',
    );
    expect(text).toContain(
      '<div class="card"><span class="n">0</span>notifications in the dead-letter queue',
    );
    expect(text).toContain('npm run dlq -- redrive');
  });

  it('says the depths could not be read when SQS refuses, and logs the error by name only', async () => {
    // SQS mocked at the SDK boundary (no local SQS server exists), refusing with an account id.
    const sqs = mockClient(SQSClient);
    sqs
      .on(GetQueueAttributesCommand)
      .rejects(Object.assign(new Error('denied for 111122223333'), { name: 'AccessDenied' }));
    const withDepths = makeHandler(async () => ({
      ...(await h.source.forFunction!('console')()),
      queueDepths: createSqsQueueDepths({
        client: new SQSClient({ region: 'eu-west-1' }),
        queues: [{ name: 'callbacks', url: 'https://sqs.eu-west-1.amazonaws.com/111122223333/d' }],
      }),
    }));
    const { cookie } = await login(h.tokens.auditor);
    const before = h.logs.length;

    const event = apiEvent({
      method: 'GET',
      path: '/console',
      headers: { host: 'localhost:3000' },
    });
    const res = (await withDepths({ ...event, cookies: [cookie] })) as HttpResult;
    sqs.restore();
    const text = String(res.body);
    const warned = h.logs.slice(before).filter((l) => l.message === 'dead-letter depths not read');

    expect(res.statusCode).toBe(200);
    expect(text).toContain('The depths could not be read just now');
    expect(text).not.toContain('111122223333');
    expect(warned.map((l) => l.attributes)).toEqual([{ error: 'QueueDepthUnavailableError' }]);
    expect(JSON.stringify(h.logs)).not.toContain('111122223333');
  });
});

describe('console figures from the metrics and the checkpoints', () => {
  const makeCheckpoint = async () => {
    const res = (await checkpointHandler(h.source.forFunction!('checkpoint'))(
      apiEvent({ method: 'POST', path: '/checkpoints', token: h.tokens.operator }),
    )) as HttpResult;
    expect(res.statusCode).toBe(201);
  };
  const userPage = async (userId: string) => {
    const { cookie } = await login(h.tokens.auditor);
    const page = await call({ path: `/console/users/${userId}`, cookie });
    expect(page.statusCode).toBe(200);
    return /<p>History: (.*?)<\/p>/s.exec(page.text)?.[1] ?? '';
  };

  it("shows a user's checkpoint state from verify: checkpointed, then records not yet checkpointed", async () => {
    await toAgent('ck-1');
    const before = await userPage('ck-1');
    await makeCheckpoint();
    const held = await userPage('ck-1');
    await invoker(h.source).call({
      method: 'POST',
      path: '/handovers',
      token: h.tokens.agent.api,
      body: { userId: 'ck-1', newOwner: BOT },
    });
    const later = await userPage('ck-1');

    expect(before).toContain('intact');
    expect(before).toContain('not yet checkpointed: 1 record');
    expect(held).toContain('intact');
    expect(held).toMatch(/checkpointed in checkpoint <code>\d{12}<\/code>.*up to seq 1/s);
    expect(held).not.toContain('not yet checkpointed');
    expect(later).toMatch(/checkpointed in checkpoint <code>\d{12}<\/code>.*up to seq 1/s);
    expect(later).toContain('1 later record not yet checkpointed');
  });

  it('shows a checkpoint mismatch when the history and the owner item were rewritten together', async () => {
    await toAgent('ck-2');
    await makeCheckpoint();
    const items = (
      await h.dynamo.client.send(
        new QueryCommand({
          TableName: h.dynamo.tables.history,
          KeyConditionExpression: 'pk = :pk',
          ExpressionAttributeValues: { ':pk': 'USER#ck-2' },
          ConsistentRead: true,
        }),
      )
    ).Items!;
    const { pk: _pk, sk: _sk, dayPk: _d, toPk: _t, timeSk: _ts, ...record } = items[0]!;
    const rewritten = { ...record, reason: 'nothing_to_see' };
    const hash = hashRecord(rewritten as never);
    await h.dynamo.client.send(
      new PutCommand({
        TableName: h.dynamo.tables.history,
        Item: { ...items[0], ...rewritten, hash },
      }),
    );
    await h.dynamo.client.send(
      new UpdateCommand({
        TableName: h.dynamo.tables.state,
        Key: { pk: 'USER#ck-2' },
        UpdateExpression: 'SET lastHash = :h',
        ExpressionAttributeValues: { ':h': hash },
      }),
    );

    const history = await userPage('ck-2');

    expect(history).toContain('broken');
    expect(history).toContain('checkpoint_mismatch');
    expect(history).toMatch(/checkpoint mismatch: checkpoint <code>\d{12}<\/code> holds seq 1/);
  });

  it('shows the stuck owners as the metrics count them (GET /metrics/stuck)', async () => {
    await toAgent('st-1');
    await h.dynamo.client.send(
      new UpdateCommand({
        TableName: h.dynamo.tables.state,
        Key: { pk: 'USER#st-1' },
        UpdateExpression: 'SET lease.lastOwnerAt = :o, lease.lastUserAt = :u',
        ExpressionAttributeValues: {
          ':o': new Date(clock.t - 40 * 60_000).toISOString(),
          ':u': new Date(clock.t - 20 * 60_000).toISOString(),
        },
      }),
    );
    const stuck = (await metricsHandler(h.source.forFunction!('metrics'))(
      apiEvent({ method: 'GET', path: '/metrics/stuck', token: h.tokens.auditor }),
    )) as HttpResult;
    const answer = JSON.parse(String(stuck.body)) as { count: number; users: { userId: string }[] };
    const { cookie } = await login(h.tokens.auditor);
    const overview = await call({ path: '/console', cookie });
    const list = await call({ path: '/console/stuck', cookie });

    expect(answer.users.map((u) => u.userId)).toContain('st-1');
    expect(overview.text).toContain(
      `<span class="n">${answer.count}</span>stuck owners<br><span class="note"><a href="/console/stuck">the list</a>, as GET /metrics/stuck counts them`,
    );
    expect(list.text).toContain('href="/console/users/st-1"');
    expect(list.text).toContain('20 min');
  });

  it('charts the handovers per day by reason from the metrics: a stored rollup as it is, today computed', async () => {
    const md = metricsDeps(h.deps);
    const day = dayOf(clock.t - 3 * 86_400_000);
    const [computed] = (await readMetrics({ from: day, to: day }, md)).days;
    const stored = await h.deps.metricsStore.putRollup({
      day,
      metrics: {
        ...computed!,
        handovers: [{ reason: 'rolled_up', source: 'api', from: BOT, to: AGENT, count: 3 }],
      },
    });
    await toAgent('ch-1', { reason: 'chart_today' });
    const { cookie } = await login(h.tokens.auditor);
    const overview = await call({ path: '/console', cookie });

    expect(stored).toBe(true);
    expect(overview.text).toContain('rolled_up: 3</li>');
    expect(overview.text).toContain(`<title>${day}: 3 × rolled_up</title>`);
    expect(overview.text).toContain(`<title>${dayOf(clock.t)}: 1 × chart_today</title>`);
  });

  it('counts the failovers of the last 24 hours from the completed failover records', async () => {
    const { cookie } = await login(h.tokens.auditor);
    const figure = async () => {
      const page = await call({ path: '/console', cookie });
      return Number(/<span class="n">(\d+)<\/span>failovers in the last 24 h/.exec(page.text)?.[1]);
    };
    const before = await figure();
    await toAgent('fo-1');
    await performHandover(
      { userId: 'fo-1', newOwner: BOT, requestedBy: AGENT, source: 'failover' },
      handoverDeps(h.deps),
    );
    // A user's record is at least 1 ms after the one before: let the clock reach it.
    clock.t += 1000;
    const after = await figure();

    expect(after - before).toBe(1);
  });
});
