// A fuzzer driven by the OpenAPI document: for each operation with a JSON request body, bodies
// derived from its request schema (with wrong types, extra keys and non-JSON mixed in) go through
// the real handlers (dynalite and the Parley simulator over HTTP). No answer may be a 5xx, and every
// answer must be one the document lists, with a body its schema for that status accepts.
import fc from 'fast-check';
import { performHandover } from '../../functions/domain/handover/perform';
import { makeOffer } from '../../functions/domain/offers/create';
import { handoverDeps } from '../../functions/platform/views';
import { AGENT, BOT, type Harness, startHarness } from '../support/harness';
import { openapiDocument, responseProblems } from '../support/openapi-check';
import { type Invoker, invoker } from '../support/reliability';

type Json = any;

// Fixed seed and a bounded number of runs per operation: a few seconds in every test run.
const RUNS = 40;
const SEED = 1313;

const resolve = (schema: Json): Json => {
  const ref: string | undefined = schema?.$ref;
  if (!ref) return schema;
  const name = ref.replace('#/components/schemas/', '');
  const target = openapiDocument.components.schemas[name];
  if (!target) throw new Error(`unresolved ${ref}`);
  return resolve(target);
};

/** Any JSON of a type the schema did not ask for (or of any type). */
const anyJson = fc.jsonValue({ maxDepth: 2 });

/** Values for the JSON Schema subset the document uses, now and then not what it asks for. */
const arbitraryOf = (input: Json): fc.Arbitrary<unknown> => {
  const conforming = conformingOf(input);
  return fc.oneof(
    { arbitrary: conforming, weight: 18 },
    { arbitrary: anyJson, weight: 1 },
    { arbitrary: fc.constant(null), weight: 1 },
  );
};

const conformingOf = (input: Json): fc.Arbitrary<unknown> => {
  const schema = resolve(input);
  if (schema === true || schema === undefined || Object.keys(schema).length === 0) return anyJson;
  if (schema.const !== undefined) return fc.constant(schema.const);
  if (schema.enum) return fc.constantFrom(...(schema.enum as unknown[]));
  const choices = schema.anyOf ?? schema.oneOf;
  if (choices) return fc.oneof(...(choices as Json[]).map(arbitraryOf));
  if (Array.isArray(schema.type)) {
    return fc.oneof(...(schema.type as string[]).map((type) => conformingOf({ ...schema, type })));
  }
  switch (schema.type) {
    case 'string':
      return stringOf(schema);
    case 'integer':
      return fc.integer({ min: schema.minimum, max: schema.maximum });
    case 'number':
      return fc.oneof(
        fc.integer({ min: schema.minimum, max: schema.maximum }),
        fc.double({ min: schema.minimum, max: schema.maximum, noNaN: true }),
      );
    case 'boolean':
      return fc.boolean();
    case 'null':
      return fc.constant(null);
    case 'array':
      return fc.array(arbitraryOf(schema.items ?? {}), {
        minLength: schema.minItems,
        maxLength: schema.maxItems ?? 5,
      });
    case 'object':
      return objectOf(schema);
    default:
      throw new Error(`no arbitrary for schema ${JSON.stringify(schema)}`);
  }
};

/** Strings the stack knows (its Services), so that derived bodies also reach the use cases. */
const known: string[] = [BOT, AGENT];

const stringOf = (schema: Json): fc.Arbitrary<string> =>
  fc.oneof(
    { arbitrary: fc.constantFrom(...known), weight: 1 },
    { arbitrary: anyStringOf(schema), weight: 2 },
  );

const anyStringOf = (schema: Json): fc.Arbitrary<string> => {
  const minLength: number = schema.minLength ?? 0;
  const maxLength: number = schema.maxLength ?? 64;
  const fits = (s: string) => s.length >= minLength && s.length <= maxLength;
  const pattern = schema.pattern ? new RegExp(schema.pattern, 'u') : undefined;
  const plain = fc.string({ minLength, maxLength: Math.min(maxLength, 64) });
  if (!pattern) {
    // Sometimes past the limit, sometimes at it, so the bounds are tried too.
    return fc.oneof(
      { arbitrary: plain, weight: 6 },
      { arbitrary: fc.constant('x'.repeat(maxLength)), weight: 1 },
      { arbitrary: fc.constant('x'.repeat(maxLength + 1)), weight: 1 },
    );
  }
  return fc.oneof(
    { arbitrary: fc.stringMatching(pattern).filter(fits), weight: 6 },
    // Strings the pattern may refuse (control characters among them).
    { arbitrary: fc.string({ unit: 'binary', maxLength: 16 }), weight: 1 },
    { arbitrary: fc.constant('x'.repeat(maxLength + 1)), weight: 1 },
  );
};

const objectOf = (schema: Json): fc.Arbitrary<Record<string, unknown>> => {
  const properties: Record<string, Json> = schema.properties ?? {};
  const required = new Set<string>(schema.required ?? []);
  const model: Record<string, fc.Arbitrary<unknown>> = {};
  for (const [name, property] of Object.entries(properties)) model[name] = arbitraryOf(property);
  const record = fc.record(model, {
    // Required keys are there most of the time; leaving one out is a case too.
    requiredKeys: Object.keys(properties).filter((k) => required.has(k)),
  });
  // A cursor is opaque: only an earlier answer gives a good one. A made-up one is a case now and
  // then; mostly it is left out, so the bodies also reach the first page.
  const known =
    'cursor' in properties && !required.has('cursor')
      ? fc
          .tuple(record, fc.integer({ min: 0, max: 4 }))
          .map(([k, n]) =>
            n === 0 ? k : Object.fromEntries(Object.entries(k).filter(([key]) => key !== 'cursor')),
          )
      : record;
  const extra = fc.dictionary(
    fc.string({ minLength: 1, maxLength: 8 }).filter((k) => !(k in properties)),
    anyJson,
    { maxKeys: 2 },
  );
  return fc.oneof(
    { arbitrary: known, weight: 6 },
    { arbitrary: fc.tuple(known, extra).map(([k, e]) => ({ ...e, ...k })), weight: 1 },
    {
      arbitrary: fc
        .tuple(known, fc.subarray([...required]))
        .map(([k, drop]) =>
          Object.fromEntries(Object.entries(k).filter(([n]) => !drop.includes(n))),
        ),
      weight: 1,
    },
  );
};

// ---------------------------------------------------------------- the operations

interface JsonOperation {
  method: 'POST';
  template: string;
  schema: Json;
  security: string;
  headers: Json[];
}

const jsonOperations: JsonOperation[] = Object.entries(openapiDocument.paths as Json).flatMap(
  ([template, item]: [string, Json]) =>
    Object.entries(item)
      .filter(([, op]: [string, Json]) => op?.requestBody?.content?.['application/json'])
      .map(([method, op]: [string, Json]) => ({
        method: method.toUpperCase() as 'POST',
        template,
        schema: op.requestBody.content['application/json'].schema,
        security: Object.keys(op.security?.[0] ?? {})[0] ?? 'none',
        headers: ((op.parameters ?? []) as Json[]).filter((p) => p.in === 'header'),
      })),
);

const segment = fc.stringMatching(/^[A-Za-z0-9_-]{1,12}$/);
const NOTIFICATION_ID = 'n-fuzz-0001';
/** A user the Agent Service owns, so holds a lease of (the bot, the default Service, holds none). */
const LEASED_USER = 'fuzz-lease';

describe('the OpenAPI fuzzer (bodies from the document through the real handlers)', () => {
  let h: Harness;
  let api: Invoker;
  let offerId = '';

  beforeAll(async () => {
    // Checkpoints kept in a temporary folder, so that POST /checkpoints reaches its job.
    h = await startHarness({ checkpoints: true });
    api = invoker(h.source);
    // One notification in the outbox, so that redeliveries reach past the lookup.
    await h.deps.notifications.put({
      id: NOTIFICATION_ID,
      kind: 'notification',
      type: 'handover.completed',
      recipient: AGENT,
      userId: 'fuzz-1',
      seq: 1,
      handoverId: 'h-fuzz-1',
      body: '{}',
      status: 'failed',
      attempts: 1,
      lastStatus: 404,
      lastError: 'the receiver answered 404',
      createdAt: '2026-03-10T14:00:00.000Z',
      updatedAt: '2026-03-10T14:00:00.000Z',
      sentAt: null,
      version: 1,
    });
    // An open offer of a user the agent owns, to the bot (the fuzzer's apiToken), to decline.
    const deps = handoverDeps(h.deps);
    await performHandover(
      { userId: 'fuzz-offer', newOwner: AGENT, requestedBy: BOT, source: 'api' },
      deps,
    );
    const made = await makeOffer(
      { userId: 'fuzz-offer', newOwner: BOT, offerTimeoutSeconds: 3600, requestedBy: AGENT },
      deps,
    );
    offerId = made.offer.offerId;
  });

  afterAll(async () => {
    await h?.close();
  });

  /** The lease route's caller is the desk that owns the user; every other Service call the bot. */
  const tokenOf = (security: string, template: string): string | undefined =>
    ({
      apiToken: template.endsWith('/lease') ? h.tokens.agent.api : h.tokens.bot.api,
      auditorToken: h.tokens.auditor,
      operatorToken: h.tokens.operator,
      callbackToken: h.tokens.bot.callback,
    })[security];

  /** A path parameter: mostly one the stack knows (a Service, a notification), else any segment. */
  const parameterOf = (template: string): fc.Arbitrary<string> =>
    template.startsWith('/services/')
      ? fc.oneof({ arbitrary: fc.constant(AGENT), weight: 3 }, { arbitrary: segment, weight: 1 })
      : template.startsWith('/notifications/')
        ? fc.oneof(
            { arbitrary: fc.constant(NOTIFICATION_ID), weight: 3 },
            { arbitrary: segment, weight: 1 },
          )
        : template.startsWith('/offers/')
          ? fc.oneof(
              { arbitrary: fc.constant(offerId), weight: 3 },
              { arbitrary: segment, weight: 1 },
            )
          : template.endsWith('/lease')
            ? fc.oneof(
                { arbitrary: fc.constant(LEASED_USER), weight: 3 },
                { arbitrary: segment, weight: 1 },
              )
            : segment;

  it('finds the operations with JSON bodies in the document', () => {
    expect(jsonOperations.map((op) => `${op.method} ${op.template} ${op.security}`)).toEqual([
      'POST /checkpoints operatorToken',
      'POST /erasures/reapply operatorToken',
      'POST /handovers apiToken',
      'POST /notifications/{id}/redeliver operatorToken',
      'POST /offers/{offerId}/decline apiToken',
      'POST /reconcile auditorToken',
      'POST /services/{serviceId}/release operatorToken',
      'POST /users/{userId}/erasure operatorToken',
      'POST /users/{userId}/lease apiToken',
      'POST /users/{userId}/messages apiToken',
      'POST /webhooks/parley/{serviceId} callbackToken',
    ]);
  });

  /** What an operation's runs need first, made just before them (a release moves the desk's users). */
  const arrange: Record<string, () => Promise<unknown>> = {
    'POST /users/{userId}/lease': () =>
      performHandover(
        { userId: LEASED_USER, newOwner: AGENT, requestedBy: BOT, source: 'api' },
        handoverDeps(h.deps),
      ),
  };

  it.each(jsonOperations.map((op) => [`${op.method} ${op.template}`, op] as const))(
    '%s answers no 5xx and only what the document lists',
    async (name, op) => {
      await arrange[name]?.();
      const statuses: number[] = [];
      const answers: string[] = [];
      const body = fc.oneof(
        { arbitrary: arbitraryOf(op.schema).map((v) => JSON.stringify(v)), weight: 9 },
        { arbitrary: fc.string({ maxLength: 20 }), weight: 1 },
      );
      const headers = fc.record(
        Object.fromEntries(op.headers.map((p) => [p.name as string, anyStringOf(p.schema)])),
        { requiredKeys: [] },
      );
      // Mostly authorised, so that the runs reach validation and the use cases.
      const authorised = fc.integer({ min: 0, max: 4 }).map((n) => n > 0);
      await fc.assert(
        fc.asyncProperty(
          body,
          parameterOf(op.template),
          authorised,
          headers,
          async (rawBody, param, ok, extra) => {
            const path = op.template.replace(/\{[^}]+\}/, () =>
              op.template.startsWith('/webhooks/') ? BOT : param,
            );
            const token = ok ? tokenOf(op.security, op.template) : 'not-a-token';
            const res = await api.call({
              method: op.method,
              path,
              token,
              rawBody,
              headers: extra as Record<string, string>,
            });
            statuses.push(res.statusCode ?? 0);
            answers.push(`${res.statusCode} ${res.json?.error?.code ?? ''}`.trim());
            expect(res.statusCode).toBeLessThan(500);
            expect(
              responseProblems(op.method, path, res.statusCode!, res.headers, res.body),
            ).toEqual([]);
          },
        ),
        { seed: SEED, numRuns: RUNS, endOnFailure: true },
      );
      const counts: Record<number, number> = {};
      for (const status of statuses) counts[status] = (counts[status] ?? 0) + 1;
      const byAnswer: Record<string, number> = {};
      for (const answer of answers) byAnswer[answer] = (byAnswer[answer] ?? 0) + 1;
      console.log(
        `[figures] openapi-fuzz ${op.method} ${op.template}: ${JSON.stringify(byAnswer)}`,
      );
      // The runs reached past authentication and validation, not only the first refusals.
      expect(statuses.length).toBeGreaterThanOrEqual(RUNS);
      const accepted = statuses.filter((s) => s >= 200 && s < 300).length;
      expect(accepted).toBeGreaterThan(0);
      expect(counts[401]).toBeGreaterThan(0);
      expect(statuses.length - accepted - (counts[401] ?? 0)).toBeGreaterThan(0);
    },
    30_000,
  );
});

describe('the response check (docs/openapi.json with ajv)', () => {
  const json = { 'content-type': 'application/json' };

  it('accepts an error body of a listed status', () => {
    const body = JSON.stringify({ error: { code: 'unauthorized', message: 'No token.' } });
    expect(responseProblems('POST', '/handovers', 401, json, body)).toEqual([]);
  });

  it('accepts the 409 a message gets while a handover of its user is in flight', () => {
    const body = JSON.stringify({
      error: { code: 'handover_in_progress', message: 'A handover is in progress.' },
    });
    const headers = { ...json, 'Retry-After': '12' };
    expect(responseProblems('POST', '/users/u1/messages', 409, headers, body)).toEqual([]);
  });

  it('refuses a status the operation does not list', () => {
    expect(responseProblems('GET', '/health', 404, json, '{}')).toEqual([
      'GET /health 404: a status the operation does not list',
    ]);
  });

  it('refuses an error code the status does not list', () => {
    const body = JSON.stringify({ error: { code: 'conflict', message: 'No.' } });
    expect(responseProblems('POST', '/handovers', 401, json, body)).toHaveLength(1);
  });

  it('refuses a Retry-After that is not a number of seconds', () => {
    const body = JSON.stringify({ error: { code: 'parley_unavailable', message: 'Later.' } });
    const problems = responseProblems(
      'GET',
      '/users/u1/owner',
      503,
      { ...json, 'Retry-After': 'soon' },
      body,
    );
    expect(problems.some((p) => p.includes('header Retry-After'))).toBe(true);
  });

  it('passes the CSV form, HEAD, and requests that reach no operation', () => {
    expect(
      responseProblems('GET', '/handovers', 200, { 'content-type': 'text/csv' }, 'a,b'),
    ).toEqual([]);
    expect(responseProblems('HEAD', '/health', 200, {}, '')).toEqual([]);
    expect(responseProblems('PUT', '/serviceApi/v2.5/users/1/owner', 500, {}, 'x')).toEqual([]);
  });
});
