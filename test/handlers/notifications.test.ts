// GET /notifications and POST /notifications/{id}/redeliver through the real handler: the outbox
// on dynalite over HTTP (the production notification store), the callers' tokens from the
// services file, the notify queue captured. Every answer is held against docs/openapi.json.
import { makeHandler } from '../../functions/handlers/notifications';
import type { NotificationItem } from '../../functions/domain/types';
import type { AppDeps } from '../../functions/platform/deps';
import type { HttpResult } from '../../functions/platform/handler';
import { type ApiEventInput, apiEvent } from '../support/events';
import { AGENT, BOT, type Harness, startHarness } from '../support/harness';
import { checkResponse } from '../support/openapi-check';

let h: Harness;
const sent: { groupId: string; dedupId: string; body: string }[] = [];
let refuseSends = false;

/** The notifications function's deps (its own role under strict IAM), the notify queue captured. */
const source = async (): Promise<AppDeps> => {
  const deps = await (h.source.forFunction?.('notifications') ?? h.source)();
  return {
    ...deps,
    notifyQueue: {
      send: async (message) => {
        if (refuseSends) throw Object.assign(new Error('refused'), { name: 'QueueDoesNotExist' });
        sent.push(message);
      },
    },
  };
};

const call = async (input: ApiEventInput) => {
  const event = apiEvent(input);
  const res = (await makeHandler(source)(event)) as HttpResult;
  const body = typeof res.body === 'string' ? res.body : '';
  checkResponse(input.method, input.path, res.statusCode!, res.headers, body);
  return { status: res.statusCode!, json: body ? JSON.parse(body) : undefined };
};

let seq = 0;
/** An outbox item as the writer stores it; ids and instants unique per test. */
const item = (overrides: Partial<NotificationItem> = {}): NotificationItem => {
  seq += 1;
  const createdAt = new Date(Date.UTC(2026, 2, 10, 14, 0, seq)).toISOString();
  return {
    id: `n-${String(seq).padStart(4, '0')}`,
    kind: 'notification',
    type: 'handover.completed',
    recipient: AGENT,
    userId: `user-${seq}`,
    seq: 1,
    handoverId: `h-${seq}`,
    body: JSON.stringify({ id: `n-${seq}`, metadata: { secretish: 'for the new owner only' } }),
    status: 'failed',
    attempts: 3,
    lastStatus: 410,
    lastError: 'the receiver answered 410',
    createdAt,
    updatedAt: createdAt,
    sentAt: null,
    version: 4,
    ...overrides,
  };
};

const store = async (...items: NotificationItem[]) => {
  for (const it of items) await h.deps.notifications.put(it);
  return items;
};

beforeAll(async () => {
  h = await startHarness();
});

afterAll(async () => {
  await h.close();
});

beforeEach(() => {
  sent.length = 0;
  refuseSends = false;
});

describe('GET /notifications', () => {
  it('lists the outbox newest first with the fields auditors may see, never a body', async () => {
    const [older, newer] = await store(
      item({ recipient: 'list-1' }),
      item({ recipient: 'list-1' }),
    );
    await h.deps.notifications.put(item({ recipient: BOT, status: 'sent' }));

    const res = await call({ method: 'GET', path: '/notifications', token: h.tokens.auditor });

    expect(res.status).toBe(200);
    const ids = res.json.items.map((i: { id: string }) => i.id);
    expect(ids.indexOf(newer!.id)).toBeLessThan(ids.indexOf(older!.id));
    const listed = res.json.items.find((i: { id: string }) => i.id === newer!.id);
    const { body: _body, version: _version, ...view } = newer!;
    expect(listed).toEqual(view);
  });

  it('filters by service (identification or name) and status, and pages with limit and cursor', async () => {
    const agentFailed = await store(item(), item(), item());
    await store(item({ status: 'sent', sentAt: '2026-03-10T15:00:00.000Z' }));
    await store(item({ recipient: BOT }));

    const seen: string[] = [];
    let cursor: string | undefined;
    let pages = 0;
    do {
      const query = `service=Agent%20Service&status=failed&limit=2${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`;
      const res = await call({
        method: 'GET',
        path: `/notifications?${query}`,
        token: h.tokens.auditor,
      });
      expect(res.status).toBe(200);
      expect(res.json.items.length).toBeLessThanOrEqual(2);
      seen.push(
        ...res.json.items.map((i: NotificationItem) => `${i.recipient} ${i.status} ${i.id}`),
      );
      cursor = res.json.cursor;
      pages += 1;
    } while (cursor && pages < 50);

    expect(seen.filter((s) => !s.startsWith(`${AGENT} failed `))).toEqual([]);
    for (const it of agentFailed) expect(seen).toContain(`${AGENT} failed ${it.id}`);
    expect(new Set(seen).size).toBe(seen.length);
    const byId = await call({
      method: 'GET',
      path: `/notifications?service=${AGENT}&status=sent`,
      token: h.tokens.auditor,
    });
    expect(byId.json.items.every((i: NotificationItem) => i.status === 'sent')).toBe(true);
    expect(byId.json.items.length).toBeGreaterThan(0);
  });

  it('lets an operator read it, and refuses a Service (403) and no token (401)', async () => {
    const operator = await call({
      method: 'GET',
      path: '/notifications?limit=1',
      token: h.tokens.operator,
    });
    const service = await call({
      method: 'GET',
      path: '/notifications',
      token: h.tokens.agent.api,
    });
    const nobody = await call({ method: 'GET', path: '/notifications' });

    expect([operator.status, service.status, nobody.status]).toEqual([200, 403, 401]);
    expect(service.json.error.code).toBe('auditor_required');
  });

  it.each([
    ['service=Nobody%20Service', 'unknown_service'],
    ['status=lost', 'invalid_filter'],
    ['limit=101', 'invalid_limit'],
    ['cursor=not-a-cursor', 'invalid_cursor'],
  ])('answers 400 to %s', async (query, code) => {
    const res = await call({
      method: 'GET',
      path: `/notifications?${query}`,
      token: h.tokens.auditor,
    });
    expect([res.status, res.json.error.code]).toEqual([400, code]);
  });
});

describe('POST /notifications/{id}/redeliver', () => {
  it('puts a failed notification back to pending (attempts kept) and queues it in its user group', async () => {
    const [failed] = await store(item({ userId: 'redeliver-1' }));

    const res = await call({
      method: 'POST',
      path: `/notifications/${failed!.id}/redeliver`,
      token: h.tokens.operator,
      body: { reason: 'receiver fixed its 410' },
    });

    expect([res.status, res.json]).toEqual([202, { id: failed!.id, status: 'pending' }]);
    const stored = await h.deps.notifications.get(failed!.id);
    expect(stored).toEqual({
      ...failed,
      status: 'pending',
      version: failed!.version + 1,
      updatedAt: expect.any(String),
    });
    expect(sent).toEqual([
      {
        groupId: `${AGENT}#redeliver-1`,
        dedupId: `${failed!.id}#redeliver#${failed!.version + 1}`,
        body: JSON.stringify({ id: failed!.id }),
      },
    ]);
    const line = h.logs.find(
      (l) =>
        l.message === 'notification redelivery requested' &&
        l.attributes?.notificationId === failed!.id,
    );
    expect(line?.attributes).toMatchObject({
      requestedBy: 'operator:operator',
      reason: 'receiver fixed its 410',
      previousStatus: 'failed',
    });
  });

  it('redelivers a sent notification too, under a new deduplication id each time', async () => {
    const [done] = await store(
      item({ status: 'sent', sentAt: '2026-03-10T15:00:00.000Z', lastStatus: 200 }),
    );

    const first = await call({
      method: 'POST',
      path: `/notifications/${done!.id}/redeliver`,
      token: h.tokens.operator,
    });
    const second = await call({
      method: 'POST',
      path: `/notifications/${done!.id}/redeliver`,
      token: h.tokens.operator,
      body: {},
    });

    expect([first.status, second.status]).toEqual([202, 202]);
    expect(sent.map((m) => m.dedupId)).toEqual([
      `${done!.id}#redeliver#${done!.version + 1}`,
      `${done!.id}#redeliver#${done!.version + 2}`,
    ]);
    expect((await h.deps.notifications.get(done!.id))?.version).toBe(done!.version + 2);
  });

  it('answers 202 when the queue refuses, the item left pending for the relay, and says so in a warning', async () => {
    const [failed] = await store(item());
    refuseSends = true;

    const res = await call({
      method: 'POST',
      path: `/notifications/${failed!.id}/redeliver`,
      token: h.tokens.operator,
    });

    expect(res.status).toBe(202);
    expect((await h.deps.notifications.get(failed!.id))?.status).toBe('pending');
    expect(
      h.logs.filter(
        (l) =>
          l.level === 'warn' &&
          l.message.startsWith('redeliver enqueue failed') &&
          l.attributes?.notificationId === failed!.id,
      ),
    ).toHaveLength(1);
  });

  it('answers 404 for an unknown id and changes nothing', async () => {
    const res = await call({
      method: 'POST',
      path: '/notifications/n-nobody/redeliver',
      token: h.tokens.operator,
    });
    expect([res.status, res.json.error.code]).toEqual([404, 'notification_not_found']);
    expect(sent).toEqual([]);
  });

  it('is for operators only: an auditor gets 403 operator_required and the item stays as it was', async () => {
    const [failed] = await store(item());

    const auditor = await call({
      method: 'POST',
      path: `/notifications/${failed!.id}/redeliver`,
      token: h.tokens.auditor,
    });
    const service = await call({
      method: 'POST',
      path: `/notifications/${failed!.id}/redeliver`,
      token: h.tokens.agent.api,
    });

    expect([auditor.status, auditor.json.error.code]).toEqual([403, 'operator_required']);
    expect(service.status).toBe(403);
    expect(await h.deps.notifications.get(failed!.id)).toEqual(failed);
  });

  it.each([
    ['a reason that is blank', { reason: ' ' }, 400],
    ['an unknown field', { reason: 'x', now: true }, 400],
    ['a body that is not JSON', 'reason=x', 415],
  ])('refuses %s', async (_case, body, status) => {
    const [failed] = await store(item());
    const res = await call({
      method: 'POST',
      path: `/notifications/${failed!.id}/redeliver`,
      token: h.tokens.operator,
      ...(typeof body === 'string'
        ? { rawBody: body, headers: { 'Content-Type': 'application/x-www-form-urlencoded' } }
        : { body }),
    });
    expect(res.status).toBe(status);
    expect((await h.deps.notifications.get(failed!.id))?.status).toBe('failed');
  });
});
