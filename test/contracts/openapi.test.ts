// The OpenAPI document against what it describes: the committed file is the generated one, every
// route has one operation and every operation a route, the error enum is every code the mapper
// can answer (read from the error classes and every ValidationError/ForbiddenError raised in
// functions/), the headers, and the response schemas against the domain's types and a real forward.
import * as fs from 'node:fs';
import * as path from 'node:path';
import ts from 'typescript';
import type * as z from 'zod/mini';
import { main as openapiCli, OPENAPI_FILE } from '../../cli/openapi/main';
import {
  buildOpenApiDocument,
  ERROR_CODES,
  errorBody,
  forwardPayloadSchema,
  type handoverRecordSchema,
  type handoverResultSchema,
  type messageResultSchema,
  type notificationPageSchema,
  type notificationViewSchema,
  OPERATIONS,
  openApiText,
  type ownerAtSchema,
  type ownerNowSchema,
  type reconcileResultSchema,
  type redeliverResultSchema,
  type releaseDryRunSchema,
  type releaseRunSchema,
  THROTTLED,
  type verifyReportSchema,
} from '../../functions/contracts/openapi';
import type { leaseExtendedSchema } from '../../functions/contracts/openapi-lease';
import {
  type FunctionName,
  functionSpecs,
  httpRoutes,
  routeKey,
} from '../../functions/contracts/routes';
import { parseCallback } from '../../functions/domain/delivery';
import { ParleyApiError } from '../../functions/domain/errors';
import { OfferRefusedError } from '../../functions/domain/lifecycle/errors';
import type { OfferRefusal } from '../../functions/domain/lifecycle/offer';
import type { extendOwnerLease } from '../../functions/domain/lifecycle/extend';
import type { HandoverResult } from '../../functions/domain/handover/deps';
import type { currentOwner, ownerAt } from '../../functions/domain/handover/owner';
import type { reconcile } from '../../functions/domain/handover/reconcile';
import type { sendUserMessage } from '../../functions/domain/messages';
import type {
  listNotifications,
  NotificationView,
  redeliverNotification,
} from '../../functions/domain/notify/routes';
import type { ReleaseDryRun, ReleaseRun } from '../../functions/domain/release';
import { forwardSigned } from '../../functions/domain/processor/forward';
import { verifyForwardSignature } from '../../functions/domain/signature';
import type { HandoverRecord } from '../../functions/domain/types';
import type { VerifyReport } from '../../functions/domain/verify';
import type { HttpResult } from '../../functions/platform/handler';
import { toHttpResponse } from '../../functions/platform/http';
import { QUERY_ERROR_CODES } from '../../functions/schemas/api';
import { messageCallback } from '../../local/parley-sim/callback-body';
import { type ApiEventInput, apiEvent } from '../support/events';
import { BOT, manualClock, recordingLog, recordingMetrics, seedServices } from '../support/fakes';
import { AGENT, type Harness, startHarness } from '../support/harness';

// Response schemas and domain types, held equal at compile time: a field added to one and not the
// other fails `tsc`. Mutual assignability alone lets an optional field on one side go unseen (the
// owner's `lease` did), so the keys are compared too, at every depth.
type Keys<T> = T extends readonly (infer E)[]
  ? Keys<E>
  : T extends object
    ? { [K in keyof T]-?: Keys<Exclude<T[K], undefined>> }
    : T;
type Same<A, B> = [A] extends [B]
  ? [B] extends [A]
    ? [Keys<A>] extends [Keys<B>]
      ? [Keys<B>] extends [Keys<A>]
        ? true
        : false
      : false
    : false
  : false;
const same = <T extends true>(): T => true as T;
type Out<S extends z.core.$ZodType> = z.output<S>;
same<Same<Out<typeof handoverRecordSchema>, HandoverRecord>>();
same<Same<Out<typeof handoverResultSchema>, HandoverResult>>();
same<Same<Out<typeof ownerNowSchema>, Awaited<ReturnType<typeof currentOwner>>>>();
same<Same<Out<typeof ownerAtSchema>, Awaited<ReturnType<typeof ownerAt>>>>();
same<Same<Out<typeof verifyReportSchema>, VerifyReport>>();
same<Same<Out<typeof reconcileResultSchema>, Awaited<ReturnType<typeof reconcile>>>>();
same<Same<Out<typeof messageResultSchema>, Awaited<ReturnType<typeof sendUserMessage>>>>();
same<Same<Out<typeof notificationViewSchema>, NotificationView>>();
same<
  Same<
    Out<typeof notificationPageSchema>,
    Omit<Awaited<ReturnType<typeof listNotifications>>, 'itemsRead'>
  >
>();
same<Same<Out<typeof redeliverResultSchema>, Awaited<ReturnType<typeof redeliverNotification>>>>();
same<Same<Out<typeof releaseDryRunSchema>, ReleaseDryRun>>();
same<Same<Out<typeof releaseRunSchema>, ReleaseRun>>();
same<Same<Out<typeof leaseExtendedSchema>, Awaited<ReturnType<typeof extendOwnerLease>>>>();

type Json = Record<string, any>;
const doc = buildOpenApiDocument() as Json;
const METHODS = ['get', 'head', 'post', 'put', 'patch', 'delete', 'options'];

describe('docs/openapi.json', () => {
  it('is the document the code generates (run npm run openapi when this fails)', () => {
    expect(fs.readFileSync(OPENAPI_FILE, 'utf8')).toBe(openApiText());
  });

  it('is written with sorted keys and 2-space indentation, the same on every build', () => {
    const text = openApiText();
    expect(text).toBe(`${JSON.stringify(JSON.parse(text), null, 2)}\n`);
    expect(Object.keys(doc)).toEqual([...Object.keys(doc)].sort());
    expect(openApiText()).toBe(text);
  });

  it('is checked by npm run openapi -- --check, and a wrong argument is refused', () => {
    const sink = { write: () => true };
    expect(openapiCli(['--check'], sink, sink)).toBe(0);
    expect(openapiCli(['--chek'], sink, sink)).toBe(2);
  });
});

describe('routes and operations', () => {
  it('has one operation for every route the stacks and the local gateway serve', () => {
    const missing = httpRoutes.filter((r) => !doc.paths[r.path]?.[r.method.toLowerCase()]);
    expect(missing.map(routeKey)).toEqual([]);
  });

  it('has no operation without a route', () => {
    const served = new Set(httpRoutes.map(routeKey));
    const documented = Object.entries(doc.paths as Json).flatMap(([p, item]) =>
      Object.keys(item)
        .filter((key) => METHODS.includes(key))
        .map((m) => `${m.toUpperCase()} ${p}`),
    );
    expect(documented.filter((key) => !served.has(key))).toEqual([]);
    expect(documented).toHaveLength(httpRoutes.length);
    // The operation table names declared routes only (HEAD is derived from GET).
    expect(Object.keys(OPERATIONS).filter((key) => !served.has(key))).toEqual([]);
  });

  it('gives operation ids that are unique', () => {
    const ids = Object.values(doc.paths as Json).flatMap((item) =>
      METHODS.filter((m) => item[m]).map((m) => item[m].operationId),
    );
    expect(new Set(ids).size).toBe(ids.length);
  });

  it('names a security scheme on every route but the public ones, and only defined ones', () => {
    const schemes = new Set(Object.keys(doc.components.securitySchemes));
    const publicRoutes: string[] = [];
    for (const route of httpRoutes) {
      const op = doc.paths[route.path][route.method.toLowerCase()];
      if (op.security.length === 0) publicRoutes.push(routeKey(route));
      for (const requirement of op.security) {
        for (const name of Object.keys(requirement)) expect(schemes).toContain(name);
      }
    }
    // The console's front door, its login form and its static files answer without a session;
    // the checkpoints' public key is there for anyone to verify their signatures with.
    expect(publicRoutes.sort()).toEqual([
      'GET /checkpoints/public-key',
      'GET /console',
      'GET /console/static/{file}',
      'GET /health',
      'GET /openapi.json',
      'HEAD /checkpoints/public-key',
      'HEAD /console',
      'HEAD /console/static/{file}',
      'HEAD /health',
      'HEAD /openapi.json',
      'POST /console/login',
    ]);
    expect(doc.paths['/webhooks/parley/{serviceId}'].post.security).toEqual([
      { callbackToken: [] },
    ]);
    expect(doc.paths['/handovers'].get.security).toEqual([
      { auditorToken: [] },
      { operatorToken: [] },
    ]);
    expect(doc.paths['/users/{userId}/owner'].get.security).toEqual([
      { apiToken: [] },
      { auditorToken: [] },
      { operatorToken: [] },
    ]);
    // The routes that act are the operators' alone.
    expect(doc.paths['/services/{serviceId}/release'].post.security).toEqual([
      { operatorToken: [] },
    ]);
    expect(doc.paths['/notifications/{id}/redeliver'].post.security).toEqual([
      { operatorToken: [] },
    ]);
  });

  it('answers HEAD with the headers of GET and no body', () => {
    for (const route of httpRoutes.filter((r) => r.method === 'HEAD')) {
      const head = doc.paths[route.path].head;
      const get = doc.paths[route.path].get;
      expect(Object.keys(head.responses)).toEqual(Object.keys(get.responses));
      for (const [status, response] of Object.entries(head.responses as Json)) {
        expect([status, response.content]).toEqual([status, undefined]);
        expect(response.headers).toEqual(get.responses[status].headers);
      }
    }
  });

  it('resolves every $ref', () => {
    const refs = JSON.stringify(doc).match(/"\$ref":"[^"]+"/g) ?? [];
    const broken = refs
      .map((r) => r.slice(8, -1))
      .filter((r) => {
        const [, , group, name] = r.split('/');
        return !r.startsWith('#/components/') || !doc.components[group!]?.[name!];
      });
    expect(refs.length).toBeGreaterThan(20);
    expect(broken).toEqual([]);
  });
});

// ---------------------------------------------------------------- error codes

const FUNCTIONS_DIR = path.join(__dirname, '..', '..', 'functions');
const sourceFiles = (dir: string): string[] =>
  fs.readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) return sourceFiles(full);
    return entry.name.endsWith('.ts') ? [full] : [];
  });

/**
 * The codes raised in functions/, read from the source: `code = '…'` members of error classes
 * (with their `httpStatus`), defaults of a `code` constructor parameter, and the code argument of
 * each `new ValidationError(…)` / `new ForbiddenError(…)`. A shape it cannot read is reported.
 */
function raisedCodes(): { codes: Map<string, number>; unreadable: string[] } {
  const codes = new Map<string, number>();
  const unreadable: string[] = [];
  const classStatus = new Map<string, number>();
  const codeParamClasses = new Set<string>();
  const files = sourceFiles(FUNCTIONS_DIR).map((file) =>
    ts.createSourceFile(file, fs.readFileSync(file, 'utf8'), ts.ScriptTarget.ES2022, true),
  );
  const where = (node: ts.Node) => {
    const sf = node.getSourceFile();
    const line = sf.getLineAndCharacterOfPosition(node.getStart()).line + 1;
    return `${path.relative(FUNCTIONS_DIR, sf.fileName)}:${line}`;
  };
  // Pass 1: classes, their status, their fixed codes and their default codes.
  for (const sf of files) {
    const visit = (node: ts.Node): void => {
      if (ts.isClassDeclaration(node) && node.name) {
        const name = node.name.text;
        let status: number | undefined;
        const fixed: string[] = [];
        for (const member of node.members) {
          const key = member.name && ts.isIdentifier(member.name) ? member.name.text : undefined;
          if (ts.isPropertyDeclaration(member) && member.initializer) {
            if (key === 'httpStatus' && ts.isNumericLiteral(member.initializer)) {
              status = Number(member.initializer.text);
            }
            if (key === 'code' && ts.isStringLiteral(member.initializer)) {
              fixed.push(member.initializer.text);
            }
          }
          if (ts.isConstructorDeclaration(member)) {
            for (const param of member.parameters) {
              if (ts.isIdentifier(param.name) && param.name.text === 'code') {
                codeParamClasses.add(name);
                if (param.initializer && ts.isStringLiteral(param.initializer)) {
                  fixed.push(param.initializer.text);
                }
              }
            }
          }
        }
        if (status !== undefined) {
          classStatus.set(name, status);
          for (const code of fixed) codes.set(code, status);
        }
      }
      ts.forEachChild(node, visit);
    };
    visit(sf);
  }
  // Pass 2: the code argument of each construction of a class that takes one.
  for (const sf of files) {
    const visit = (node: ts.Node): void => {
      if (
        ts.isNewExpression(node) &&
        ts.isIdentifier(node.expression) &&
        codeParamClasses.has(node.expression.text)
      ) {
        const status = classStatus.get(node.expression.text)!;
        const arg = node.arguments?.[1];
        if (arg === undefined) {
          // The default, read in pass 1.
        } else if (ts.isStringLiteral(arg)) {
          codes.set(arg.text, status);
        } else if (
          ts.isBinaryExpression(arg) &&
          arg.operatorToken.kind === ts.SyntaxKind.BarBarToken &&
          ts.isStringLiteral(arg.right) &&
          arg.left.getText().includes('QUERY_ERROR_CODES')
        ) {
          codes.set(arg.right.text, status);
          for (const code of Object.values(QUERY_ERROR_CODES)) codes.set(code, status);
        } else {
          unreadable.push(where(node));
        }
      }
      ts.forEachChild(node, visit);
    };
    visit(sf);
  }
  return { codes, unreadable };
}

/** Every refusal an answer to an offer can get (lifecycle/offer.ts OfferRefusal). */
const OFFER_REFUSALS: OfferRefusal[] = [
  { ok: false, httpStatus: 403, code: 'not_offeree' },
  { ok: false, httpStatus: 403, code: 'not_offerer' },
  ...(
    [
      'offer_expired',
      'offer_superseded',
      'offer_cancelled',
      'offer_declined',
      'offer_accepted',
    ] as const
  ).map((code): OfferRefusal => ({ ok: false, httpStatus: 409, code })),
];

describe('error codes', () => {
  it('lists every code the error mapper can answer, with its status, and no other', () => {
    const { codes, unreadable } = raisedCodes();
    // Codes that are computed, not written: Parley's refusal and unavailability, and the mapper's
    // own answer to anything unexpected.
    for (const status of [400, 503]) {
      const err = new ParleyApiError(status, null, 'GET', '/x', null, 1);
      codes.set(err.code, err.httpStatus);
    }
    const unexpected = toHttpResponse(new Error('boom'));
    codes.set(JSON.parse(unexpected.body as string).error.code, unexpected.statusCode!);
    // An offer's refusals carry the code of the refusal they were made from (lifecycle/offer.ts).
    for (const refusal of OFFER_REFUSALS) {
      const err = new OfferRefusedError(refusal);
      codes.set(err.code, err.httpStatus);
    }

    expect(unreadable).toEqual([]);
    expect(Object.fromEntries([...codes].sort())).toEqual(
      Object.fromEntries(Object.entries(ERROR_CODES).sort()),
    );
  });

  it("puts each status's codes in its error schema as an enum", () => {
    const documented: Record<string, number> = {};
    for (const [id, schema] of Object.entries(doc.components.schemas as Json)) {
      const status = /^Error(\d{3})$/.exec(id)?.[1];
      if (!status) continue;
      for (const code of schema.properties.error.properties.code.enum) {
        documented[code] = Number(status);
      }
    }
    expect(documented).toEqual(ERROR_CODES);
  });

  it('documents only error statuses whose schema exists, with Retry-After on 409 and 503', () => {
    for (const item of Object.values(doc.paths as Json)) {
      for (const method of METHODS.filter((m) => item[m])) {
        for (const [status, response] of Object.entries(item[method].responses as Json)) {
          // 2xx, and the console's 303 after a form: no error body.
          if (status.startsWith('2') || status === '303') continue;
          if (status === '429') {
            expect(response).toEqual({ description: THROTTLED });
            continue;
          }
          expect(doc.components.schemas[`Error${status}`]).toBeDefined();
          if (status === '409' || status === '503') {
            expect(response.headers['Retry-After']).toBeDefined();
          }
        }
      }
    }
  });
});

// ---------------------------------------------------------------- headers and webhooks

describe('headers', () => {
  it('takes Idempotency-Key on POST /handovers and on a release', () => {
    for (const p of ['/handovers', '/services/{serviceId}/release']) {
      const params = doc.paths[p].post.parameters as Json[];
      expect(params.find((param) => param.name === 'Idempotency-Key')).toMatchObject({
        in: 'header',
        required: false,
        schema: { type: 'string', maxLength: 200 },
      });
    }
  });

  it('answers a redelivery 202, and documents no 200 for it', () => {
    const responses = doc.paths['/notifications/{id}/redeliver'].post.responses;
    expect(responses['202'].content['application/json'].schema).toEqual({
      $ref: '#/components/schemas/RedeliverNotificationResponse',
    });
    expect(responses['200']).toBeUndefined();
  });

  it('documents the query of GET /notifications from its schema, every filter optional', () => {
    const params = doc.paths['/notifications'].get.parameters as Json[];
    const byName = Object.fromEntries(params.map((p) => [p.name, p]));
    expect(Object.keys(byName).sort()).toEqual(['cursor', 'limit', 'service', 'status']);
    expect(params.filter((p) => p.required)).toEqual([]);
    expect(byName.status.schema.enum).toEqual(['pending', 'sent', 'failed']);
    expect(byName.limit.description).toMatch(/^Page size, 1-100 \(default 50\)/);
  });

  it('answers X-Next-Cursor and CSV on both audit listings', () => {
    for (const p of ['/handovers', '/users/{userId}/handovers']) {
      const ok = doc.paths[p].get.responses['200'];
      expect(Object.keys(ok.content).sort()).toEqual(['application/json', 'text/csv']);
      expect(ok.headers['X-Next-Cursor']).toBeDefined();
    }
  });

  it('documents the query of GET /handovers from its schema, from and to required', () => {
    const params = doc.paths['/handovers'].get.parameters as Json[];
    const byName = Object.fromEntries(params.map((p) => [p.name, p]));
    expect(Object.keys(byName).sort()).toEqual(
      ['cursor', 'from', 'limit', 'reason', 'service', 'source', 'status', 'to'].sort(),
    );
    expect([byName.from.required, byName.to.required, byName.limit.required]).toEqual([
      true,
      true,
      false,
    ]);
    expect(byName.status.schema.enum).toEqual(['completed', 'failed']);
  });
});

describe('webhooks: the signed forward', () => {
  it('describes the body and headers a real forward carries, its signature matching the pattern', async () => {
    const sent: { body: string; headers: Record<string, string> }[] = [];
    const target = seedServices().find((s) => s.identification === BOT)!;
    const raw = JSON.stringify(messageCallback({ userId: '20', id: 7, text: 'hi' }));
    const parsed = parseCallback(raw);
    if (!parsed.ok) throw new Error('the sample callback does not parse');
    await forwardSigned(
      {
        clock: manualClock(),
        downstream: {
          post: async (_url, body, headers) => {
            sent.push({ body, headers });
            return { status: 200, body: '{}' };
          },
        },
        downstreamTimeoutMs: 1000,
        log: recordingLog(),
        metrics: recordingMetrics(),
        signingSecret: async () => 'forward-secret',
      },
      { deliveryId: `${BOT}#message#7`, userId: '20', parsed, ctx: {} },
      target,
      'https://bot.test/hook',
      { handover: { handoverId: 'h1', fromOwner: 'x' } },
    );
    const forward = doc.webhooks.forward.post;
    const [{ body, headers }] = sent as [(typeof sent)[0]];
    const payload = JSON.parse(body);
    const declared = Object.keys(doc.components.schemas.ForwardPayload.properties).sort();

    expect(forwardPayloadSchema.safeParse(payload).success).toBe(true);
    expect(Object.keys(payload).filter((key) => !declared.includes(key))).toEqual([]);
    const headerParams = (forward.parameters as Json[]).filter((p) => p.in === 'header');
    expect(headerParams.map((p) => p.name).sort()).toEqual(
      Object.keys(headers)
        .filter((name) => name.startsWith('X-'))
        .sort(),
    );
    for (const param of headerParams) {
      expect(headers[param.name]).toMatch(new RegExp(param.schema.pattern ?? '.'));
    }
    const ts = Number(headers['X-Handover-Timestamp']);
    expect(
      verifyForwardSignature('forward-secret', headers['X-Handover-Signature'], ts, body, ts),
    ).toBe(true);
  });

  it('describes no notification webhook (there are none yet)', () => {
    expect(Object.keys(doc.webhooks)).toEqual(['forward']);
  });
});

// ---------------------------------------------------------------- real answers

describe('answers of the real handlers (dynalite and the Parley simulator over HTTP)', () => {
  let h: Harness;
  const answered: { key: string; status: number; body: unknown }[] = [];

  beforeAll(async () => {
    h = await startHarness();
    const handlers = Object.fromEntries(
      (Object.keys(functionSpecs) as FunctionName[])
        .filter((name) => name !== 'processor')
        .map((name) => [
          name,
          // Each handler module, found through the function table (as the local stack does).
          require(`../../functions/handlers/${functionSpecs[name].entry}`).makeHandler(h.source),
        ]),
    ) as Record<string, (e: unknown) => Promise<HttpResult>>;
    const call = async (input: ApiEventInput) => {
      const event = apiEvent(input);
      const route = httpRoutes.find((r) => routeKey(r) === event.routeKey)!;
      const res = await handlers[route.fn]!(event);
      answered.push({
        key: event.routeKey,
        status: res.statusCode!,
        body: JSON.parse(res.body as string),
      });
    };
    const auditor = h.tokens.auditor;
    await call({ method: 'GET', path: '/health' });
    await call({ method: 'GET', path: '/services', token: h.tokens.bot.api });
    await call({
      method: 'POST',
      path: `/webhooks/parley/${BOT}`,
      token: h.tokens.bot.callback,
      body: messageCallback({ userId: 'oa-1', id: 1, text: 'hi' }),
    });
    await call({
      method: 'POST',
      path: '/handovers',
      token: h.tokens.bot.api,
      headers: { 'Idempotency-Key': 'oa-1' },
      body: { userId: 'oa-1', newOwner: AGENT, metadata: { topic: 'billing' } },
    });
    await call({
      method: 'POST',
      path: '/users/oa-1/messages',
      token: h.tokens.agent.api,
      body: { text: 'hello' },
    });
    await call({
      method: 'POST',
      path: '/users/oa-1/messages',
      token: h.tokens.bot.api,
      body: { text: 'x' },
    });
    // The desk's lease of its user (a day by default, at most 7): extended, by the wrong Service,
    // past the hard limit, and of a user with no owner item.
    const lease = (userId: string, token: string, extendSeconds: number) =>
      call({ method: 'POST', path: `/users/${userId}/lease`, token, body: { extendSeconds } });
    await lease('oa-1', h.tokens.agent.api, 3600);
    await lease('oa-1', h.tokens.bot.api, 3600);
    await lease('oa-1', h.tokens.agent.api, 8 * 86_400);
    await lease('oa-nobody', h.tokens.agent.api, 60);
    await call({ method: 'GET', path: '/users/oa-1/owner', token: auditor });
    await call({
      method: 'GET',
      path: '/users/oa-1/owner?at=2020-01-01T00:00:00Z',
      token: auditor,
    });
    await call({ method: 'GET', path: '/users/oa-1/handovers', token: auditor });
    await call({ method: 'GET', path: '/handovers?from=2020-01-01&to=2020-01-02', token: auditor });
    await call({ method: 'GET', path: '/handovers?from=2020-01-01', token: auditor });
    await call({ method: 'GET', path: '/users/oa-1/verify', token: auditor });
    await call({ method: 'GET', path: '/users/oa-nobody/verify', token: auditor });
    await call({ method: 'GET', path: '/verify', token: auditor });
    await call({ method: 'POST', path: '/reconcile', token: auditor });
    await call({ method: 'POST', path: '/reconcile', token: h.tokens.bot.api });
    await call({ method: 'GET', path: '/services' });
    const operator = h.tokens.operator;
    await call({ method: 'GET', path: '/notifications?status=failed', token: operator });
    await call({ method: 'POST', path: '/notifications/n-none/redeliver', token: operator });
    await call({ method: 'POST', path: '/notifications/n-none/redeliver', token: auditor });
    await call({
      method: 'POST',
      path: `/services/${AGENT}/release`,
      token: operator,
      body: { reason: 'walk', dryRun: true },
    });
    await call({
      method: 'POST',
      path: `/services/${AGENT}/release`,
      token: operator,
      body: { reason: 'walk' },
    });
    await call({
      method: 'POST',
      path: `/services/${BOT}/release`,
      token: operator,
      body: { reason: 'walk' },
    });
    await call({
      method: 'POST',
      path: '/handovers',
      token: h.tokens.bot.api,
      rawBody: 'userId=oa-1',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
    });
  }, 60_000);

  afterAll(async () => {
    await h?.close();
  });

  const responseSchema = (key: string, status: number): z.core.$ZodType => {
    const op = OPERATIONS[key]!;
    if (op.ok === 'openapi' || !('schema' in op.ok)) throw new Error(`${key} answers no JSON`);
    return status === (op.ok.status ?? 200) ? op.ok.schema : errorBody(status);
  };

  it('answered every status the walk meant to show', () => {
    expect(answered.map((a) => `${a.key} ${a.status}`)).toEqual([
      'GET /health 200',
      'GET /services 200',
      'POST /webhooks/parley/{serviceId} 200',
      'POST /handovers 200',
      'POST /users/{userId}/messages 200',
      'POST /users/{userId}/messages 403',
      'POST /users/{userId}/lease 200',
      'POST /users/{userId}/lease 403',
      'POST /users/{userId}/lease 422',
      'POST /users/{userId}/lease 404',
      'GET /users/{userId}/owner 200',
      'GET /users/{userId}/owner 200',
      'GET /users/{userId}/handovers 200',
      'GET /handovers 200',
      'GET /handovers 400',
      'GET /users/{userId}/verify 200',
      'GET /users/{userId}/verify 404',
      'GET /verify 200',
      'POST /reconcile 200',
      'POST /reconcile 403',
      'GET /services 401',
      'GET /notifications 200',
      'POST /notifications/{id}/redeliver 404',
      'POST /notifications/{id}/redeliver 403',
      'POST /services/{serviceId}/release 200',
      'POST /services/{serviceId}/release 200',
      'POST /services/{serviceId}/release 422',
      'POST /handovers 415',
    ]);
  });

  it('names the lease the owner answer shows, and the limit a refused extension would pass', () => {
    const [extended, , refused] = answered.filter((a) => a.key === 'POST /users/{userId}/lease');
    const owner = answered.find((a) => a.key === 'GET /users/{userId}/owner')!.body as Json;
    const documented = doc.components.schemas.LeaseView;

    expect(Object.keys(owner.lease).filter((k) => !(k in documented.properties))).toEqual([]);
    expect(documented.required.filter((k: string) => !(k in owner.lease))).toEqual([]);
    expect(owner.lease.expiresAt).toBe((extended!.body as Json).expiresAt);
    expect(refused!.body).toEqual({
      error: {
        code: 'lease_limit_exceeded',
        message: expect.any(String),
        hardExpiresAt: owner.lease.hardExpiresAt,
      },
    });
    expect(doc.components.schemas.Error422.properties.error.properties.hardExpiresAt).toEqual({
      type: 'string',
    });
  });

  it('answers each with a status its operation lists and a body its schema accepts', () => {
    const problems: string[] = [];
    for (const { key, status, body } of answered) {
      const [method, p] = key.split(' ') as [string, string];
      if (!doc.paths[p][method.toLowerCase()].responses[String(status)]) {
        problems.push(`${key} answered ${status}, which its operation does not list`);
      }
      const parsed = (responseSchema(key, status) as z.ZodMiniType).safeParse(body);
      if (!parsed.success) problems.push(`${key} ${status}: ${parsed.error.issues[0]?.message}`);
    }
    expect(problems).toEqual([]);
  });
});
