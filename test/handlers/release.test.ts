// POST /services/{serviceId}/release through the real handler: dynalite and the Parley simulator
// over HTTP, users handed to the agent through POST /handovers first. What moved is read from
// the history and from the simulator's own log of applied changes; every answer is held against
// docs/openapi.json.
import { makeHandler as handover } from '../../functions/handlers/handover';
import { makeHandler as release } from '../../functions/handlers/release';
import type { HandoverRecord } from '../../functions/domain/types';
import type { HttpResult } from '../../functions/platform/handler';
import { type ApiEventInput, apiEvent } from '../support/events';
import { AGENT, BOT, type Harness, startHarness } from '../support/harness';
import { checkResponse } from '../support/openapi-check';

let h: Harness;
let handlers: { handover: ReturnType<typeof handover>; release: ReturnType<typeof release> };

const call = async (fn: keyof typeof handlers, input: ApiEventInput) => {
  const res = (await handlers[fn](apiEvent(input))) as HttpResult;
  const body = typeof res.body === 'string' ? res.body : '';
  checkResponse(input.method, input.path, res.statusCode!, res.headers, body);
  return { status: res.statusCode!, json: body ? JSON.parse(body) : undefined };
};

beforeAll(async () => {
  h = await startHarness();
  const of = (fn: string) => h.source.forFunction?.(fn) ?? h.source;
  handlers = { handover: handover(of('handover')), release: release(of('release')) };
}, 60_000);

afterAll(async () => {
  await h.close();
});

/** `n` users handed from the bot to the agent, as a Service would (one record each). */
const agentOwns = async (prefix: string, n: number): Promise<string[]> => {
  const users = Array.from({ length: n }, (_, i) => `${prefix}-${String(i).padStart(2, '0')}`);
  for (const userId of users) {
    const res = await call('handover', {
      method: 'POST',
      path: '/handovers',
      token: h.tokens.bot.api,
      body: { userId, newOwner: AGENT },
    });
    if (res.status !== 200) throw new Error(`arranging ${userId}: ${res.status}`);
  }
  return users;
};

const releaseAgent = (body: Record<string, unknown>, headers: Record<string, string> = {}) =>
  call('release', {
    method: 'POST',
    path: `/services/${AGENT}/release`,
    token: h.tokens.operator,
    headers,
    body,
  });

/** Every stored record of these users. */
const recordsOf = async (users: string[]): Promise<HandoverRecord[]> => {
  const out: HandoverRecord[] = [];
  for (const userId of users) {
    out.push(...(await h.deps.history.listUser(userId, { limit: 100 })).items);
  }
  return out;
};

/** Owner changes the simulator applied for these users, from the agent to the bot. */
const releasesApplied = (users: string[]) =>
  h.sim
    .log()
    .filter(
      (e) => e.kind === 'change' && users.includes(e.userId) && e.from === AGENT && e.to === BOT,
    );

describe('POST /services/{serviceId}/release', () => {
  it('counts in a dry run and moves no one', async () => {
    const users = await agentOwns('dry', 3);
    const before = (await recordsOf(users)).length;

    const res = await releaseAgent({ reason: 'count first', dryRun: true });

    expect(res.status).toBe(200);
    expect(res.json).toMatchObject({ serviceId: AGENT, dryRun: true, complete: true });
    expect(res.json.count).toBeGreaterThanOrEqual(users.length);
    for (const userId of users) expect(res.json.firstUsers).toContain(userId);
    expect((await recordsOf(users)).length).toBe(before);
    expect(users.map((u) => h.sim.ownerOf(u))).toEqual(users.map(() => AGENT));
  });

  it('moves each user once, one operator record each, and a retried call adds none', async () => {
    const users = await agentOwns('rel', 6);

    const first = await releaseAgent(
      { reason: 'desk closed' },
      { 'Idempotency-Key': 'release-test-1' },
    );
    const retried = await releaseAgent(
      { reason: 'desk closed' },
      { 'Idempotency-Key': 'release-test-1' },
    );

    expect([first.status, first.json.failed, first.json.cursor]).toEqual([200, [], undefined]);
    expect(first.json.moved).toBeGreaterThanOrEqual(users.length);
    expect(retried.status).toBe(200);
    const operatorRecords = (await recordsOf(users)).filter((r) => r.source === 'operator');
    expect(operatorRecords.map((r) => r.userId).sort()).toEqual(users);
    expect(
      new Set(
        operatorRecords.map(
          (r) => `${r.fromOwner}>${r.toOwner} ${r.status} ${r.requestedBy} ${r.reason}`,
        ),
      ),
    ).toEqual(new Set([`${AGENT}>${BOT} completed operator:operator desk closed`]));
    expect(
      releasesApplied(users)
        .map((e) => (e.kind === 'change' ? e.userId : ''))
        .sort(),
    ).toEqual(users);
    expect(users.map((u) => h.sim.ownerOf(u))).toEqual(users.map(() => BOT));
  });

  it('stops at the limit with a cursor, and resuming with it moves the rest, each once', async () => {
    const users = await agentOwns('page', 5);
    const answers: { moved: number; cursor?: string }[] = [];

    let cursor: string | undefined;
    do {
      const res = await releaseAgent({ reason: 'paged', limit: 2, ...(cursor ? { cursor } : {}) });
      expect(res.status).toBe(200);
      answers.push(res.json);
      cursor = res.json.cursor;
    } while (cursor && answers.length < 20);

    expect(answers.slice(0, -1).every((a) => a.moved === 2 && a.cursor !== undefined)).toBe(true);
    expect(answers.at(-1)!.cursor).toBeUndefined();
    const moved = (await recordsOf(users)).filter((r) => r.source === 'operator');
    expect(moved.map((r) => r.userId).sort()).toEqual(users);
    expect(releasesApplied(users)).toHaveLength(users.length);
  });

  it('refuses to release the default Service (422 cannot_release_default)', async () => {
    for (const service of [BOT, 'Bot%20Service']) {
      const res = await call('release', {
        method: 'POST',
        path: `/services/${service}/release`,
        token: h.tokens.operator,
        body: { reason: 'no' },
      });
      expect([res.status, res.json.error.code]).toEqual([422, 'cannot_release_default']);
    }
  });

  it.each([
    ['an unknown Service', 'nobody', { reason: 'x' }, 400, 'unknown_service'],
    ['no reason', AGENT, {}, 400, 'invalid_request'],
    ['a reason too long for a record', AGENT, { reason: 'r'.repeat(101) }, 400, 'invalid_request'],
    ['a cursor it did not give', AGENT, { reason: 'x', cursor: 'abc' }, 400, 'invalid_cursor'],
  ])('answers %s with 400', async (_case, service, body, status, code) => {
    const res = await call('release', {
      method: 'POST',
      path: `/services/${service}/release`,
      token: h.tokens.operator,
      body,
    });
    expect([res.status, res.json.error.code]).toEqual([status, code]);
  });

  it('is for operators: an auditor gets 403 operator_required, a Service too', async () => {
    const auditor = await call('release', {
      method: 'POST',
      path: `/services/${AGENT}/release`,
      token: h.tokens.auditor,
      body: { reason: 'x' },
    });
    const service = await call('release', {
      method: 'POST',
      path: `/services/${AGENT}/release`,
      token: h.tokens.agent.api,
      body: { reason: 'x' },
    });
    expect([auditor.status, auditor.json.error.code]).toEqual([403, 'operator_required']);
    expect([service.status, service.json.error.code]).toEqual([403, 'operator_required']);
  });
});
