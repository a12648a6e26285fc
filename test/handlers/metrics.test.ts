// GET /metrics, GET /metrics/stuck and the metrics schedules through the real handler: dynalite
// over HTTP (the production history, state and metrics stores), the Parley simulator for the
// Services' roles and default, each function under its role in the template (strict IAM). The
// worked example of docs/METRICS.md is stored and read back with its hand-computed figures; the
// notes come from the real processor and messages handlers. Every answer is held against
// docs/openapi.json.
import * as z from 'zod/mini';
import { metricsAnswerSchema, stuckAnswerSchema } from '../../functions/contracts/openapi-metrics';
import type { MetricsAnswer } from '../../functions/domain/metrics/rollup';
import type { StuckAnswer } from '../../functions/domain/metrics/stuck';
import { makeHandler, type MetricsTask } from '../../functions/handlers/metrics';
import type { AppDeps } from '../../functions/platform/deps';
import type { HttpResult } from '../../functions/platform/handler';
import { callbackJson, messageCallback } from '../../local/parley-sim/callback-body';
import {
  DAY,
  goldenInbound,
  goldenMature,
  goldenRecords,
  goldenReplies,
  MATURE_NOW,
} from '../domain/metrics/golden-history';
import { type ApiEventInput, apiEvent } from '../support/events';
import { type ManualClock, manualClock, recordingMetrics } from '../support/fakes';
import { AGENT, BOT, type Harness, startHarness } from '../support/harness';
import { stagePolicies } from '../support/iam';
import { checkResponse } from '../support/openapi-check';
import { type Invoker, invoker } from '../support/reliability';

// The answers' schemas and the use cases' types, held equal at compile time.
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
const same = <T extends true>(): T => true as T;
same<Same<z.output<typeof metricsAnswerSchema>, MetricsAnswer>>();
same<Same<z.output<typeof stuckAnswerSchema>, StuckAnswer>>();

let h: Harness;
let api: Invoker;
let clock: ManualClock;
const ids = { bot: BOT, desk: AGENT, users: 'mh-' };
const metrics = recordingMetrics();

/** The metrics function's deps (its own role under strict IAM), its metrics recorded. */
const source = async (): Promise<AppDeps> => ({
  ...(await (h.source.forFunction?.('metrics') ?? h.source)()),
  metrics,
});
const handler = () => makeHandler(source);

const call = async (input: ApiEventInput) => {
  const res = (await handler()(apiEvent(input))) as HttpResult;
  const body = typeof res.body === 'string' ? res.body : '';
  checkResponse(input.method, input.path, res.statusCode!, res.headers, body);
  const isJson = String(res.headers?.['Content-Type']).startsWith('application/json');
  const json = isJson ? JSON.parse(body) : undefined;
  // The operation's own answer schema as well (the committed document is regenerated with it).
  if (res.statusCode === 200 && isJson) {
    const schema = input.path.startsWith('/metrics/stuck')
      ? stuckAnswerSchema
      : metricsAnswerSchema;
    z.parse(z.strictObject(schema.shape), json);
  }
  return { status: res.statusCode!, headers: res.headers ?? {}, body, json };
};
const scheduled = (task?: MetricsTask) =>
  handler()(task ? { task } : { source: 'aws.events' }) as Promise<Record<string, unknown>>;

beforeAll(async () => {
  clock = manualClock(MATURE_NOW);
  h = await startHarness({ clock });
  // The roles' template is synthesized once, here: not inside the first request's Parley time.
  await stagePolicies();
  api = invoker(h.source);
  for (const record of goldenRecords(ids)) await h.deps.history.append(record);
  for (const note of goldenInbound(ids)) await h.deps.metricsStore.putInboundNote(note);
  for (const note of goldenReplies(ids)) await h.deps.metricsStore.putReplyNote(note);
});

afterAll(async () => {
  await h.close();
});

describe('GET /metrics', () => {
  it('computes a day without a rollup from the stored history: the hand-computed figures, provisional', async () => {
    const res = await call({
      method: 'GET',
      path: `/metrics?from=${DAY}&to=${DAY}`,
      token: h.tokens.auditor,
    });

    expect(res.status).toBe(200);
    expect(res.json).toMatchObject({ from: DAY, to: DAY, granularity: 'day', service: null });
    expect(res.json.days).toEqual([
      {
        day: DAY,
        provisional: true,
        basis: 'computed',
        computedAt: '2026-03-12T06:00:00.000Z',
        windowEnd: '2026-03-11T00:00:00.000Z',
        ...goldenMature(ids),
      },
    ]);
  });

  it('reads the rollup the nightly run stored: the same figures, final; a second run writes nothing', async () => {
    const first = await scheduled('rollup');
    const second = await scheduled('rollup');

    const res = await call({
      method: 'GET',
      path: `/metrics?from=${DAY}&to=${DAY}`,
      token: h.tokens.operator,
    });

    expect(first).toEqual({ rollup: { checked: 6, written: 6, existing: 0, failed: 0 } });
    expect(second).toEqual({ rollup: { checked: 6, written: 0, existing: 6, failed: 0 } });
    expect(res.json.days[0]).toMatchObject({
      day: DAY,
      provisional: false,
      basis: 'rollup',
      ...goldenMature(ids),
    });
  });

  it('answers CSV for Accept: text/csv, one row per figure', async () => {
    const res = await call({
      method: 'GET',
      path: `/metrics?from=${DAY}&to=${DAY}`,
      token: h.tokens.auditor,
      headers: { Accept: 'text/csv' },
    });

    expect(res.status).toBe(200);
    expect(res.headers['Content-Type']).toBe('text/csv; charset=utf-8');
    const lines = res.body.split('\r\n');
    expect(lines[0]).toBe('day,provisional,metric,service,reason,source,from,to,value');
    expect(lines).toContain(`${DAY},false,records.handovers,,,,,,4`);
    expect(lines).toContain(`${DAY},false,timeInOwner.p90Seconds,${AGENT},,,,,46800`);
    expect(lines).toContain(`${DAY},false,handovers,,resolved,api,${AGENT},${BOT},2`);
    expect(lines).toContain(`${DAY},false,containment.cohort,,,,,,5`);
    expect(lines).toContain(`${DAY},false,pingPong.rate,,,,,,0.5`);
  });

  it('narrows to a Service given by name', async () => {
    const res = await call({
      method: 'GET',
      path: `/metrics?from=${DAY}&to=${DAY}&service=Agent%20Service&granularity=day`,
      token: h.tokens.auditor,
    });

    expect(res.json.service).toBe(AGENT);
    expect(Object.keys(res.json.days[0].timeInOwner)).toEqual([AGENT]);
    expect(res.json.days[0].handovers).toHaveLength(3);
  });

  it.each([
    ['no range', '', 'invalid_range', '`from` is required'],
    ['from after to', '?from=2026-03-11&to=2026-03-10', 'invalid_range', 'must not be after'],
    ['32 days', '?from=2026-03-01&to=2026-04-01', 'invalid_range', 'at most 31 days'],
    ['a week', `?from=${DAY}&to=${DAY}&granularity=week`, 'invalid_filter', 'granularity'],
    ['an unknown Service', `?from=${DAY}&to=${DAY}&service=Nobody`, 'unknown_service', 'Nobody'],
  ])('answers 400 to %s', async (_name, query, code, words) => {
    const res = await call({ method: 'GET', path: `/metrics${query}`, token: h.tokens.auditor });

    expect(res.status).toBe(400);
    expect(res.json.error.code).toBe(code);
    expect(res.json.error.message).toContain(words);
  });

  it('refuses a Service (403) and no token (401)', async () => {
    const asService = await call({
      method: 'GET',
      path: `/metrics?from=${DAY}&to=${DAY}`,
      token: h.tokens.bot.api,
    });
    const anonymous = await call({ method: 'GET', path: `/metrics?from=${DAY}&to=${DAY}` });

    expect([asService.status, asService.json.error.code]).toEqual([403, 'auditor_required']);
    expect(anonymous.status).toBe(401);
  });
});

describe('the notes, from the processor and the messages route', () => {
  it("counts today's message to the bot, the escalation and the desk's first reply 90 s later", async () => {
    const userId = 'mh-e2e';
    const today = '2026-03-12';
    await api.call({
      method: 'POST',
      path: `/webhooks/parley/${BOT}`,
      headers: { Authorization: `Bearer ${h.tokens.bot.callback}` },
      rawBody: callbackJson(messageCallback({ userId, id: 77_001, text: 'hello' })),
    });
    expect((await api.processor(h.drainQueue())).batchItemFailures).toEqual([]);
    clock.advance(60_000);
    const moved = await api.call({
      method: 'POST',
      path: '/handovers',
      token: h.tokens.bot.api,
      body: { userId, newOwner: 'Agent Service', metadata: { reason: 'user_requested_human' } },
    });
    expect(moved.statusCode).toBe(200);
    clock.advance(90_000);
    const sent = await api.call({
      method: 'POST',
      path: `/users/${userId}/messages`,
      token: h.tokens.agent.api,
      body: { text: 'Hi, a person here.' },
    });
    expect(sent.statusCode).toBe(200);

    const res = await call({
      method: 'GET',
      path: `/metrics?from=${today}&to=${today}`,
      token: h.tokens.auditor,
    });

    expect(res.json.days[0]).toMatchObject({
      day: today,
      provisional: true,
      records: { total: 1, handovers: 1 },
      activeUsers: 1,
      escalations: { completed: 1, failed: 0 },
      containment: { cohort: 1, contained: 0, escalated: 1, escalationFailed: 0 },
      firstAgentReply: { escalations: 1, replied: 1, coverage: 1, p50Seconds: 90, p90Seconds: 90 },
    });
  });
});

describe('GET /metrics/stuck and the StuckOwners gauge', () => {
  const lease = (user: string, owner: string) => ({
    expiresAt: '2026-03-13T06:00:00.000Z',
    hardExpiresAt: '2026-03-19T06:00:00.000Z',
    lastUserAt: user,
    lastOwnerAt: owner,
  });
  const leasedOwner = (userId: string, owner: string, lastUserAt: string, lastOwnerAt: string) =>
    h.deps.state.createOwner({
      userId,
      owner,
      version: 1,
      since: '2026-03-12T04:00:00.000Z',
      lastSeq: 0,
      lastHash: '',
      lastCreatedAt: null,
      lastHandoverId: null,
      pending: null,
      refreshedAt: '2026-03-12T04:00:00.000Z',
      lease: lease(lastUserAt, lastOwnerAt),
      dueAt: '2026-03-13T05:55:00.000Z',
    });

  beforeAll(async () => {
    // Now is 2026-03-12T06:02:30Z (the tests above moved the clock 150 s).
    await leasedOwner('mh-stuck-1', AGENT, '2026-03-12T05:30:00.000Z', '2026-03-12T05:00:00.000Z');
    await leasedOwner('mh-stuck-2', AGENT, '2026-03-12T05:40:00.000Z', '2026-03-12T05:39:00.000Z');
    await leasedOwner('mh-answered', AGENT, '2026-03-12T05:00:00.000Z', '2026-03-12T05:10:00.000Z');
    await leasedOwner('mh-fresh', AGENT, '2026-03-12T06:00:00.000Z', '2026-03-12T05:00:00.000Z');
  });

  it('lists the users waiting on their owner past 15 minutes, longest first', async () => {
    const res = await call({ method: 'GET', path: '/metrics/stuck', token: h.tokens.auditor });

    expect(res.status).toBe(200);
    expect(res.json).toEqual({
      asOf: '2026-03-12T06:02:30.000Z',
      stuckAfterMinutes: 15,
      count: 2,
      users: [
        {
          userId: 'mh-stuck-1',
          owner: AGENT,
          lastUserAt: '2026-03-12T05:30:00.000Z',
          lastOwnerAt: '2026-03-12T05:00:00.000Z',
          waitingSeconds: 1950,
        },
        {
          userId: 'mh-stuck-2',
          owner: AGENT,
          lastUserAt: '2026-03-12T05:40:00.000Z',
          lastOwnerAt: '2026-03-12T05:39:00.000Z',
          waitingSeconds: 1350,
        },
      ],
      truncated: false,
    });
  });

  it("narrows to a Service, and refuses a Service's token", async () => {
    const bot = await call({
      method: 'GET',
      path: '/metrics/stuck?service=Bot%20Service',
      token: h.tokens.operator,
    });
    const asService = await call({
      method: 'GET',
      path: '/metrics/stuck',
      token: h.tokens.agent.api,
    });

    expect([bot.status, bot.json.count]).toEqual([200, 0]);
    expect(asService.status).toBe(403);
  });

  it('sets the StuckOwners gauge from the scheduled run', async () => {
    metrics.points.length = 0;

    const result = await scheduled('stuck');

    expect(result).toEqual({ stuck: 2 });
    expect(metrics.points).toEqual([{ kind: 'gauge', name: 'StuckOwners', value: 2 }]);
  });

  it('does both on a plain scheduled event (the local timer)', async () => {
    const result = await scheduled();

    expect(result).toEqual({
      rollup: { checked: 6, written: 0, existing: 6, failed: 0 },
      stuck: 2,
    });
  });
});

describe('the metrics store on dynalite (the production adapter)', () => {
  it('lists every leased owner item once across the byDue shards, a page at a time, and only those with a lease', async () => {
    const users = Array.from({ length: 9 }, (_, i) => `mh-page-${i}`);
    for (const userId of users) {
      await h.deps.state.createOwner({
        userId,
        owner: AGENT,
        version: 1,
        since: null,
        lastSeq: 0,
        lastHash: '',
        lastCreatedAt: null,
        lastHandoverId: null,
        pending: null,
        refreshedAt: '2026-03-12T04:00:00.000Z',
        lease: {
          expiresAt: '2026-03-13T06:00:00.000Z',
          hardExpiresAt: '2026-03-19T06:00:00.000Z',
          lastUserAt: '2026-03-12T05:00:00.000Z',
          lastOwnerAt: '2026-03-12T05:00:00.000Z',
        },
        dueAt: '2026-03-13T05:55:00.000Z',
      });
    }
    // A timer without a lease (an offer's deadline): listed by byDue, not a leased owner.
    await h.deps.state.createOwner({
      userId: 'mh-offer-only',
      owner: AGENT,
      version: 1,
      since: null,
      lastSeq: 0,
      lastHash: '',
      lastCreatedAt: null,
      lastHandoverId: null,
      pending: null,
      refreshedAt: '2026-03-12T04:00:00.000Z',
      lease: null,
      dueAt: '2026-03-12T07:00:00.000Z',
    });
    const seen: string[] = [];
    let cursor: string | undefined;
    let pages = 0;
    do {
      const page = await h.deps.metricsStore.listLeased({
        limit: 2,
        ...(cursor ? { cursor } : {}),
      });
      expect(page.items.length).toBeLessThanOrEqual(2);
      seen.push(...page.items.map((i) => i.userId));
      cursor = page.cursor;
      pages += 1;
    } while (cursor && pages < 100);

    expect(cursor).toBeUndefined();
    expect(seen.filter((u) => u.startsWith('mh-page-')).sort()).toEqual(users);
    expect(new Set(seen).size).toBe(seen.length);
    expect(seen).not.toContain('mh-offer-only');
  });

  it('writes each note once: a second put of the same key answers false and changes nothing', async () => {
    const store = h.deps.metricsStore;
    const note = {
      userId: 'mh-once',
      day: '2026-03-09',
      service: BOT,
      at: '2026-03-09T10:00:00.000Z',
    };

    expect(await store.putInboundNote(note)).toBe(true);
    expect(
      await store.putInboundNote({ ...note, service: AGENT, at: '2026-03-09T11:00:00.000Z' }),
    ).toBe(false);
    expect((await store.inboundNotes('2026-03-09')).filter((n) => n.userId === 'mh-once')).toEqual([
      note,
    ]);

    const reply = {
      userId: 'mh-once',
      owner: AGENT,
      since: '2026-03-09T10:05:00.000Z',
      at: '2026-03-09T10:06:00.000Z',
    };
    expect(await store.putReplyNote(reply)).toBe(true);
    expect(await store.putReplyNote({ ...reply, at: '2026-03-09T10:09:00.000Z' })).toBe(false);
    expect(
      await store.replyNotes([
        { userId: 'mh-once', since: reply.since },
        { userId: 'mh-once', since: '2026-03-09T10:00:00.000Z' },
      ]),
    ).toEqual([reply]);
  });
});
