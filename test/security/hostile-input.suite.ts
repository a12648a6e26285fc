// Hostile input, property-based (fast-check), through the real handlers with dynalite and the
// simulator: webhook bodies, handover bodies, query parameters, path parameters and headers.
// Never a 5xx caused by input, never a crash, always DESIGN.md's error shape on a 4xx, and every
// authentic JSON callback accepted (200) and, after processing, done (quarantined if unparsable),
// never lost. Whether a body is JSON is decided by JSON.parse, not by the parser under test.
// Shared by the quick suite (npm test) and the full one (npm run test:reliability).
import { eventCallback, messageCallback } from '../../local/parley-sim/callback-body';
import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import fc from 'fast-check';
import { AGENT, BOT, type Harness, startHarness } from '../support/harness';
import { apiEvent, sqsEvent, sqsRecord } from '../support/events';
import {
  type DownstreamProgram,
  errorShapeProblem,
  type Invoker,
  invoker,
  movableClock,
  reportFigures,
  type Response,
  startDownstream,
} from '../support/reliability';

export interface HostileSizes {
  webhooks: number;
  handovers: number;
  queries: number;
  paths: number;
  headers: number;
}

const SEED = 20_260_601;
/** The full-size properties on a loaded 2-core machine: far above their usual run time. */
const LONG_MS = 180_000;
const DANGEROUS_KEYS = ['__proto__', 'constructor', 'prototype', 'toString', 'hasOwnProperty'];

/** Text with any code point, lone surrogates and control characters included. */
const anyText = (maxLength = 40) =>
  fc.oneof(
    fc.string({ maxLength }),
    fc.string({ unit: 'binary', maxLength }),
    fc.constantFrom('', ' ', '\u0000', '\ud800', '💬', '../..', '%00', '=cmd|', '#', 'default'),
  );

/** User ids that break the user id rule (domain/user-id): a callback naming one is quarantined. */
const badUserId = fc.constantFrom('.', '..', 'u'.repeat(3000), 'a/b', 'a\u0000', 'a\ud800', '');

/** A scalar where a string belongs (or the reverse). */
const wrongScalar = fc.oneof(
  fc.integer(),
  fc.double(),
  fc.boolean(),
  fc.constant(null),
  fc.constantFrom(1e308, -0, 2 ** 53 + 1, 1.2345678901234568e29),
  anyText(),
);

/** A JSON value that may carry dangerous keys at any depth. */
const hostileValue = fc.letrec((tie) => ({
  value: fc.oneof(
    { depthSize: 'small' },
    wrongScalar,
    fc.array(tie('value'), { maxLength: 4 }),
    fc.dictionary(fc.oneof(anyText(12), fc.constantFrom(...DANGEROUS_KEYS)), tie('value'), {
      maxKeys: 4,
    }),
  ),
})).value;

/** JSON text whose keys include `__proto__` literally (JSON.stringify would never write one). */
const protoText = (inner: string) =>
  fc
    .constantFrom(...DANGEROUS_KEYS)
    .map((key) => `{"${key}":{"polluted":true,"type":"message"},${inner.slice(1)}`);

/** The reference for "is this body JSON": the platform's own parser, not the one under test. */
const isJson = (raw: string): boolean => {
  try {
    JSON.parse(raw);
    return true;
  } catch {
    return false;
  }
};

const deep = (depth: number, open: string, close: string, core = '1') =>
  open.repeat(depth) + core + close.repeat(depth);

/** A few big and deep bodies, made once (generating them per case would dominate the run). */
const HUGE = `{"type":"message","body":{"user":{"id":"1"},"message":"${'x'.repeat(270 * 1024)}"}}`;
const NEAR_LIMIT = `{"type":"event","body":{"user":{"id":"2"},"pad":"${'y'.repeat(250 * 1024)}"}}`;
const special = fc.constantFrom(
  HUGE,
  NEAR_LIMIT,
  `{"type":"message","body":{"user":{"id":"3"},"deep":${deep(5000, '[', ']')}}}`,
  `{"type":"message","body":{"user":{"id":"4"},"deep":${deep(3000, '{"a":', '}')}}}`,
  deep(20_000, '[', ']'),
  `{"type":"message","body":{"user":{"id":"5"},"id":"${'#'.repeat(300)}"}}`,
  '{"type":"message","body":{"user":{"id":1e400},"message":"big number"}}',
  '{"type":"message","body":{"user":{"id":"6"},"message":"dup","message":"keys"}}',
);

/** Callback bodies: Parley's kinds with hostile fields, garbage, JSON that is not an object. */
const webhookBody = fc.oneof(
  {
    weight: 4,
    arbitrary: fc
      .record({
        type: fc.oneof(fc.constantFrom('message', 'event', 'action', 'client-merge'), wrongScalar),
        body: fc.oneof(
          fc.record(
            {
              id: fc.oneof(fc.integer({ min: 1, max: 1e9 }), wrongScalar),
              message: fc.oneof(anyText(200), wrongScalar),
              time: wrongScalar,
              user: fc.oneof(
                fc.record({
                  id: fc.oneof(fc.constantFrom('1', '2', '3', 7), wrongScalar, badUserId),
                }),
                hostileValue,
              ),
              extra: hostileValue,
            },
            { requiredKeys: [] },
          ),
          hostileValue,
        ),
      })
      .map((v) => JSON.stringify(v)),
  },
  { weight: 1, arbitrary: fc.json().chain((text) => fc.oneof(fc.constant(text), protoText('{}'))) },
  { weight: 1, arbitrary: anyText(200) },
  { weight: 1, arbitrary: special },
);

/** Handover request bodies: plausible ones with hostile parts, and garbage. */
const handoverBody = fc.oneof(
  {
    weight: 4,
    arbitrary: fc
      .record(
        {
          userId: fc.oneof(fc.constantFrom('h-1', 'h-2', 'h-3'), wrongScalar),
          newOwner: fc.oneof(
            fc.constantFrom(AGENT, BOT, 'Agent Service', 'bot service', 'default', 'DEFAULT'),
            wrongScalar,
          ),
          expectedOwner: fc.oneof(fc.constantFrom(AGENT, BOT, 'default'), wrongScalar),
          metadata: fc.oneof(
            fc.dictionary(fc.oneof(anyText(8), fc.constantFrom(...DANGEROUS_KEYS)), hostileValue, {
              maxKeys: 5,
            }),
            fc.record({ reason: fc.oneof(anyText(150), wrongScalar) }),
            hostileValue,
          ),
          unexpected: hostileValue,
        },
        { requiredKeys: [] },
      )
      .map((v) => JSON.stringify(v))
      .chain((text) => fc.oneof({ weight: 3, arbitrary: fc.constant(text) }, protoText(text))),
  },
  { weight: 1, arbitrary: fc.oneof(fc.json(), anyText(100), special) },
);

const queryValue = fc.oneof(
  anyText(60),
  fc.constantFrom(
    '2026-01-01T00:00:00Z',
    '2026-13-45T99:99:99Z',
    '0000-01-01T00:00:00Z',
    '-1',
    '0',
    '1001',
    '1e3',
    'NaN',
    'eyJwayI6IlVTRVIjMSJ9',
    'bm90IGpzb24',
    'text/csv',
  ),
  fc.base64String({ maxLength: 80 }),
);

/** Query strings of the three GET routes that read parameters. */
const queryCase = fc.record({
  route: fc.constantFrom('range', 'user', 'owner-at'),
  params: fc.dictionary(
    fc.oneof(
      fc.constantFrom('from', 'to', 'limit', 'cursor', 'service', 'reason', 'status', 'source'),
      fc.constantFrom('at', ...DANGEROUS_KEYS),
      anyText(10),
    ),
    queryValue,
    { maxKeys: 6 },
  ),
  csv: fc.boolean(),
});

/** A path parameter as API Gateway would hand it over (already decoded). */
const pathCase = fc.record({
  route: fc.constantFrom('owner', 'handovers', 'messages', 'webhook'),
  value: fc.oneof(anyText(300), fc.constantFrom(...DANGEROUS_KEYS), fc.constant('x'.repeat(5000))),
});

const headerCase = fc.record({
  route: fc.constantFrom('handover', 'services', 'webhook', 'audit'),
  authorization: fc.oneof(
    anyText(80),
    fc.constantFrom(
      'Bearer',
      'Bearer ',
      'bearer  x',
      'Basic dXNlcjpwYXNz',
      `Bearer ${'a'.repeat(600)}`,
    ),
    fc.constant(undefined),
  ),
  extra: fc.dictionary(
    fc.oneof(
      fc.constantFrom('Idempotency-Key', 'accept', 'content-type', 'AUTHORIZATION'),
      anyText(12),
    ),
    anyText(80),
    { maxKeys: 4 },
  ),
  base64: fc.boolean(),
});

export const defineHostileInputSuite = (sizes: HostileSizes, label: string): void => {
  let h: Harness;
  let api: Invoker;
  let program: DownstreamProgram;
  type Property = 'webhook' | 'handover' | 'query' | 'path' | 'header';
  /** Every answer to a generated case, and every processor run, as they happened. */
  const answers: { property: Property; status: number }[] = [];
  const processorRuns: { failed: boolean }[] = [];
  /** The delivery ids of the callbacks the webhook accepted, as the queue carried them. */
  const acceptedDeliveries: string[] = [];
  const clock = movableClock();

  beforeAll(async () => {
    program = await startDownstream(() => ({ status: 200, body: {} }));
    h = await startHarness({
      clock,
      services: {
        [BOT]: {
          downstreamUrl: program.url,
          rules: [{ match: '\\b(human|agent)\\b', newOwner: 'Agent Service', reason: 'human' }],
        },
      },
    });
    api = invoker(h.source);
  });

  afterAll(async () => {
    try {
      await report();
    } finally {
      await h.close();
      await program.close();
    }
  });

  /** The figures, from the answers, the processor runs and the state table's delivery items. */
  const report = async () => {
    const items = await Promise.all(
      acceptedDeliveries.map((id) => h.deps.state.getDelivery(id, clock.now())),
    );
    const done = items.filter((item) => item?.state === 'done');
    const per = (property: Property) => answers.filter((a) => a.property === property).length;
    const figures = {
      cases: answers.length,
      webhooks: per('webhook'),
      handovers: per('handover'),
      queries: per('query'),
      paths: per('path'),
      headers: per('header'),
      answered5xx: answers.filter((a) => a.status >= 500).length,
      answered4xx: answers.filter((a) => a.status >= 400 && a.status < 500).length,
      accepted: acceptedDeliveries.length,
      processed: done.length,
      quarantined: done.filter((item) => item?.disposition === 'quarantined').length,
      processorRuns: processorRuns.length,
      queueRetries: processorRuns.filter((r) => r.failed).length,
      lost: acceptedDeliveries.length - done.length,
    };
    reportFigures(label, figures, {
      drives: `${figures.cases} property-based cases (fast-check, fixed seed): ${figures.webhooks} webhook bodies, ${figures.handovers} handover bodies, ${figures.queries} query strings, ${figures.paths} path parameters, ${figures.headers} header sets (huge, deep, unicode, wrong types, \`__proto__\`)`,
      proved: `${figures.answered5xx} answers were 5xx; all ${figures.answered4xx} 4xx in the error shape; every body JSON.parse accepts was accepted: ${figures.accepted} callbacks, ${figures.processed} done (${figures.quarantined} quarantined), ${figures.lost} lost`,
    });
  };

  /** The properties every answer to hostile input has. */
  const expectSane = (property: Property, res: Response) => {
    const status = res.statusCode ?? 0;
    answers.push({ property, status });
    if (status >= 500 || status < 200) {
      throw new Error(`answered ${status}: ${String(res.body).slice(0, 200)}`);
    }
    if (status >= 400) {
      const problem = errorShapeProblem(res);
      if (problem) throw new Error(`${status} without the error shape (${problem})`);
    }
  };

  const runProcessor = async (event: ReturnType<typeof sqsEvent>) => {
    const out = await api.processor(event);
    processorRuns.push({ failed: out.batchItemFailures.length > 0 });
    return out;
  };

  const withToken = (token: string | undefined, headers: Record<string, string> = {}) =>
    token === undefined ? headers : { ...headers, authorization: `Bearer ${token}` };

  it(
    'accepts every authentic JSON callback and processes it without losing one',
    async () => {
      await fc.assert(
        fc.asyncProperty(webhookBody, async (raw) => {
          const res = await api.call({
            method: 'POST',
            path: `/webhooks/parley/${BOT}`,
            headers: { Authorization: `Bearer ${h.tokens.bot.callback}` },
            rawBody: raw,
          });
          expectSane('webhook', res);
          if (Buffer.byteLength(raw) > 256 * 1024) {
            expect(res.statusCode).toBe(413);
            return;
          }
          if (!isJson(raw)) {
            expect(res.statusCode).toBe(400);
            return;
          }
          expect(res.statusCode).toBe(200);
          const copies = h.queued.splice(0);
          expect(copies).toHaveLength(1);
          // The queue's deduplication id is the delivery id (DESIGN.md).
          const deliveryId = copies[0]!.dedupId;
          acceptedDeliveries.push(deliveryId);
          const event = sqsEvent(copies.map((m) => sqsRecord(m)));
          let out = await runProcessor(event);
          // The queue delivers a failed message again after its visibility timeout (a Parley or
          // downstream call can time out on a loaded machine); by then the lease has passed.
          for (let retry = 0; out.batchItemFailures.length > 0 && retry < 3; retry++) {
            clock.advance(91_000);
            out = await runProcessor(event);
          }
          const item = await h.deps.state.getDelivery(deliveryId, clock.now());
          if (out.batchItemFailures.length > 0 || item?.state !== 'done') {
            throw new Error(`callback not done (${item?.state ?? 'no delivery item'})`);
          }
        }),
        { numRuns: sizes.webhooks, seed: SEED },
      );
    },
    LONG_MS,
  );

  it.each([
    ['".."', '..'],
    ['3,000 characters', '9'.repeat(3000)],
  ])(
    'quarantines a callback whose user id has %s at its first attempt (no retry, no DLQ)',
    async (_case, userId) => {
      const raw = JSON.stringify(messageCallback({ userId, id: 99, text: 'hi' }));
      const res = await api.call({
        method: 'POST',
        path: `/webhooks/parley/${BOT}`,
        headers: { Authorization: `Bearer ${h.tokens.bot.callback}` },
        rawBody: raw,
      });
      const copies = h.queued.splice(0);

      const out = await api.processor(sqsEvent(copies.map((m) => sqsRecord(m))));

      const item = await h.deps.state.getDelivery(copies[0]?.dedupId ?? '', clock.now());
      expect([res.statusCode, copies.length, out.batchItemFailures]).toEqual([200, 1, []]);
      expect([item?.state, item?.disposition]).toEqual(['done', 'quarantined']);
    },
  );

  it(
    'answers every handover body with 2xx or a 4xx in the error shape',
    async () => {
      await fc.assert(
        fc.asyncProperty(
          handoverBody,
          fc.constantFrom(h.tokens.bot.api, h.tokens.agent.api),
          fc.option(anyText(40), { nil: undefined }),
          async (raw, token, key) => {
            const headers: Record<string, string> =
              key === undefined ? {} : { 'Idempotency-Key': key };
            expectSane(
              'handover',
              await api.call({ method: 'POST', path: '/handovers', token, headers, rawBody: raw }),
            );
          },
        ),
        { numRuns: sizes.handovers, seed: SEED + 1 },
      );
    },
    LONG_MS,
  );

  it(
    'answers every query string with 2xx or a 4xx in the error shape',
    async () => {
      await fc.assert(
        fc.asyncProperty(queryCase, async ({ route, params, csv }) => {
          const path =
            route === 'range'
              ? '/handovers'
              : route === 'user'
                ? '/users/h-1/handovers'
                : '/users/h-1/owner';
          const event = apiEvent({
            method: 'GET',
            path,
            headers: withToken(h.tokens.auditor, csv ? { accept: 'text/csv' } : {}),
          });
          // API Gateway hands over decoded parameters; any key and value can arrive.
          const query: Record<string, string> = {};
          for (const [k, v] of Object.entries(params)) {
            Object.defineProperty(query, k, { value: v, enumerable: true, writable: true });
          }
          if (route === 'owner-at' && !('at' in params)) query.at = params.from ?? 'x';
          event.queryStringParameters = query;
          event.rawQueryString = new URLSearchParams(query).toString();
          expectSane('query', await api.send(event));
        }),
        { numRuns: sizes.queries, seed: SEED + 2 },
      );
    },
    LONG_MS,
  );

  it(
    'answers every path parameter with 2xx or a 4xx in the error shape',
    async () => {
      await fc.assert(
        fc.asyncProperty(pathCase, async ({ route, value }) => {
          let event: APIGatewayProxyEventV2;
          if (route === 'webhook') {
            event = apiEvent({
              method: 'POST',
              path: `/webhooks/parley/${BOT}`,
              headers: { authorization: `Bearer ${h.tokens.bot.callback}` },
              body: eventCallback({ userId: '1', name: 'startTyping' }),
            });
            event.pathParameters = { serviceId: value };
          } else {
            event = apiEvent(
              route === 'messages'
                ? {
                    method: 'POST',
                    path: '/users/1/messages',
                    token: h.tokens.bot.api,
                    body: { text: 'hi' },
                  }
                : {
                    method: 'GET',
                    path: route === 'owner' ? '/users/1/owner' : '/users/1/handovers',
                    token: h.tokens.auditor,
                  },
            );
            event.pathParameters = { userId: value };
          }
          const res = await api.send(event);
          expectSane('path', res);
          h.queued.splice(0);
        }),
        { numRuns: sizes.paths, seed: SEED + 3 },
      );
    },
    LONG_MS,
  );

  it(
    'answers every header set with 2xx or a 4xx in the error shape',
    async () => {
      await fc.assert(
        fc.asyncProperty(headerCase, async ({ route, authorization, extra, base64 }) => {
          const input =
            route === 'handover'
              ? {
                  method: 'POST' as const,
                  path: '/handovers',
                  body: { userId: 'h-4', newOwner: 'default' },
                }
              : route === 'webhook'
                ? {
                    method: 'POST' as const,
                    path: `/webhooks/parley/${BOT}`,
                    body: { type: 'event' },
                  }
                : route === 'audit'
                  ? { method: 'GET' as const, path: '/users/h-4/handovers' }
                  : { method: 'GET' as const, path: '/services' };
          const event = apiEvent(input);
          const headers: Record<string, string> = {};
          for (const [k, v] of Object.entries(extra)) {
            Object.defineProperty(headers, k.toLowerCase(), {
              value: v,
              enumerable: true,
              writable: true,
            });
          }
          if (authorization !== undefined) headers.authorization = authorization;
          event.headers = headers;
          if (base64 && event.body !== undefined) {
            event.body = Buffer.from(event.body).toString('base64');
            event.isBase64Encoded = true;
          }
          expectSane('header', await api.send(event));
          h.queued.splice(0);
        }),
        { numRuns: sizes.headers, seed: SEED + 4 },
      );
    },
    LONG_MS,
  );
};
