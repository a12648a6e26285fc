// An operator may do all an auditor may: every auditor route answers an operator's token as it
// answers an auditor's (real handlers on dynalite and the Parley simulator), and the routes that
// act answer an auditor 403 operator_required. Every answer is held against docs/openapi.json.
import { makeHandler as audit } from '../../functions/handlers/audit';
import { makeHandler as handover } from '../../functions/handlers/handover';
import { makeHandler as notifications } from '../../functions/handlers/notifications';
import { makeHandler as owner } from '../../functions/handlers/owner';
import { makeHandler as reconcile } from '../../functions/handlers/reconcile';
import { makeHandler as release } from '../../functions/handlers/release';
import { makeHandler as services } from '../../functions/handlers/services';
import { makeHandler as verify } from '../../functions/handlers/verify';
import { httpRoutes, routeKey } from '../../functions/contracts/routes';
import type { HttpResult } from '../../functions/platform/handler';
import { type ApiEventInput, apiEvent } from '../support/events';
import { AGENT, type Harness, startHarness } from '../support/harness';
import { checkResponse } from '../support/openapi-check';

let h: Harness;
const handlers: Record<string, (event: ReturnType<typeof apiEvent>) => Promise<unknown>> = {};

const call = async (input: ApiEventInput) => {
  const event = apiEvent(input);
  const route = httpRoutes.find((r) => routeKey(r) === event.routeKey)!;
  const res = (await handlers[route.fn]!(event)) as HttpResult;
  const body = typeof res.body === 'string' ? res.body : '';
  checkResponse(input.method, input.path, res.statusCode!, res.headers, body);
  return { status: res.statusCode!, json: body ? JSON.parse(body) : undefined };
};

beforeAll(async () => {
  h = await startHarness();
  const made = { audit, handover, notifications, owner, reconcile, release, services, verify };
  for (const [fn, make] of Object.entries(made)) {
    handlers[fn] = make(h.source.forFunction?.(fn) ?? h.source);
  }
  const moved = await call({
    method: 'POST',
    path: '/handovers',
    token: h.tokens.bot.api,
    body: { userId: 'op-1', newOwner: AGENT },
  });
  if (moved.status !== 200) {
    throw new Error(`arranging a handover: ${moved.status} ${moved.json?.error?.code}`);
  }
}, 60_000);

afterAll(async () => {
  await h.close();
});

const readerRoutes: [string, Omit<ApiEventInput, 'token'>][] = [
  ['GET /users/{userId}/owner', { method: 'GET', path: '/users/op-1/owner' }],
  [
    'GET /users/{userId}/owner?at',
    { method: 'GET', path: '/users/op-1/owner?at=2020-01-01T00:00:00Z' },
  ],
  ['GET /services', { method: 'GET', path: '/services' }],
  ['GET /users/{userId}/handovers', { method: 'GET', path: '/users/op-1/handovers' }],
  ['GET /handovers', { method: 'GET', path: '/handovers?from=2020-01-01&to=2020-01-02' }],
  ['GET /users/{userId}/verify', { method: 'GET', path: '/users/op-1/verify' }],
  ['GET /verify', { method: 'GET', path: '/verify' }],
  ['POST /reconcile', { method: 'POST', path: '/reconcile' }],
  ['GET /notifications', { method: 'GET', path: '/notifications' }],
];

describe('an operator on the auditor routes', () => {
  it.each(readerRoutes)('answers %s as it answers an auditor', async (_name, request) => {
    const asAuditor = await call({ ...request, token: h.tokens.auditor });
    const asOperator = await call({ ...request, token: h.tokens.operator });

    expect(asAuditor.status).toBe(200);
    expect(asOperator.status).toBe(asAuditor.status);
    expect(Object.keys(asOperator.json).sort()).toEqual(Object.keys(asAuditor.json).sort());
  });
});

describe('the routes that act', () => {
  it.each([
    [
      'POST /services/{serviceId}/release',
      { method: 'POST', path: `/services/${AGENT}/release`, body: { reason: 'x', dryRun: true } },
    ],
    [
      'POST /notifications/{id}/redeliver',
      { method: 'POST', path: '/notifications/n-1/redeliver' },
    ],
  ] as [string, Omit<ApiEventInput, 'token'>][])(
    'answer an auditor 403 operator_required on %s',
    async (_name, request) => {
      const res = await call({ ...request, token: h.tokens.auditor });
      expect([res.status, res.json.error.code]).toEqual([403, 'operator_required']);
    },
  );

  it("keeps a Service's routes from an operator (403 service_required)", async () => {
    const res = await call({
      method: 'POST',
      path: '/handovers',
      token: h.tokens.operator,
      body: { userId: 'op-1', newOwner: 'default' },
    });
    expect([res.status, res.json.error.code]).toEqual([403, 'service_required']);
  });
});
