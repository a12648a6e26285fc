// The OpenAPI 3.1 document of the HTTP API, built from the route table (contracts/routes.ts), the
// operations (contracts/openapi-operations.ts) and the zod schemas the handlers parse with, so the
// document cannot drift from what is served. `npm run openapi` writes docs/openapi.json from
// this; GET /openapi.json serves it.
import * as z from 'zod/mini';
import { VERIFY_PAGE_DEFAULT, VERIFY_PAGE_MAX } from '../domain/verify';
import {
  AUDIT_PAGE_DEFAULT,
  AUDIT_PAGE_MAX,
  idempotencyKeySchema,
  NOTIFICATIONS_PAGE_DEFAULT,
  NOTIFICATIONS_PAGE_MAX,
  QUERY_ERROR_CODES,
} from '../schemas/api';
import { downstreamAnswerSchema } from '../schemas/downstream';
import { OFFERS_PAGE_DEFAULT, OFFERS_PAGE_MAX } from '../schemas/handover-request';
import '../schemas/zod-config';
import { type Operation, OPERATIONS } from './openapi-operations';
import {
  ERROR_CODES,
  errorBody,
  forwardPayloadSchema,
  handoverRecordSchema,
  leaseViewSchema,
  ownerView,
  RETRY_AFTER_STATUSES,
  STATUS_TEXT,
  verifyReportSchema,
} from './openapi-schemas';
import { type HttpRoute, httpRoutes, routeKey } from './routes';
import { WEBHOOKS } from './openapi-webhooks';
import { SESSION_COOKIE } from '../console/session';

export { OPERATIONS } from './openapi-operations';
export * from './openapi-schemas';

// ---------------------------------------------------------------- building

type Json = Record<string, unknown>;
const REF = '#/components/schemas/';

/** JSON Schemas (2020-12, as OpenAPI 3.1 takes them) of the named schemas, sharing $refs. */
function componentSchemas(named: Record<string, z.core.$ZodType>): Record<string, Json> {
  const registry = z.registry<{ id: string }>();
  for (const [id, schema] of Object.entries(named)) registry.add(schema, { id });
  // io 'input': a request is described as the client writes it (before any transform). Checks
  // written as code (the user-id rule, instants) cannot be expressed and are left to descriptions.
  const { schemas } = z.toJSONSchema(registry, {
    target: 'draft-2020-12',
    io: 'input',
    unrepresentable: 'any',
    uri: (id) => `${REF}${id}`,
  });
  const out: Record<string, Json> = {};
  for (const [id, schema] of Object.entries(schemas)) {
    const { $schema: _s, $id: _i, ...rest } = schema as Json;
    out[id] = rest;
  }
  return out;
}

export const THROTTLED = 'Throttled by API Gateway (its own body, not the error shape)';

const TAGS: Readonly<Record<string, string>> = {
  webhook: "Parley's callbacks",
  handovers: 'Handing a user over to another Service',
  messages: 'Sending text to a user as the owning Service',
  owners: 'Who owns a user, now or at an instant',
  services: "The account's Services",
  audit: 'The history, its verification and recovery (auditors and operators)',
  notifications: 'What Services were told about their users (the outbox), and redelivery',
  operators: 'Actions that move users (operators)',
  offers: 'Offers of a user to another Service, with a deadline: read, accept, decline, cancel',
  console: 'The operations console: HTML pages for browsers, a session cookie from a login form',
  meta: 'Liveness and this document (public)',
};

const ref = (id: string): Json => ({ $ref: `${REF}${id}` });

const pascal = (id: string): string => id.charAt(0).toUpperCase() + id.slice(1);

const PARAM_TEXT: Readonly<Record<string, string>> = {
  userId: 'A user id (1-128 UTF-16 code units, no `/`, no control or invisible characters).',
  serviceId: "The Service's identification (as registered with Parley).",
  id: 'A notification id, as GET /notifications lists it.',
  offerId: 'An offer id, as POST /handovers with `mode: "offer"` answered it.',
  at: 'An RFC 3339 instant with a zone, inclusive at the precision written (`…:05Z` reads `…:05.999Z`).',
  from: 'Start of the range: an RFC 3339 date or date-time with a zone (`+` written %2B).',
  to: 'End of the range (inclusive): a date (its last millisecond) or a date-time with a zone.',
  limit: 'Page size.',
  cursor: 'Opaque cursor from the previous page.',
  status: 'Only records of this status.',
  source: 'Only records of this source.',
  reason: 'Only records with this reason (at most 100 characters).',
  service: 'Only handovers to this Service (identification, name or "default").',
};

/** A parameter's text where an operation reads it otherwise. */
const OPERATION_PARAM_TEXT: Readonly<Record<string, Readonly<Record<string, string>>>> = {
  listNotifications: {
    service: 'Only notifications to this Service (identification, name or "default").',
    status: 'Only notifications of this status: pending, sent or failed.',
  },
  releaseService: {
    serviceId: 'The released Service: its identification or name (not the default Service).',
  },
};

const LIMIT_TEXT: Readonly<Record<string, string>> = {
  listUserHandovers: `Page size, 1-${AUDIT_PAGE_MAX} (default ${AUDIT_PAGE_DEFAULT}).`,
  listHandovers: `Page size, 1-${AUDIT_PAGE_MAX} (default ${AUDIT_PAGE_DEFAULT}).`,
  verifyUsers: `Users per page, 1-${VERIFY_PAGE_MAX} (default ${VERIFY_PAGE_DEFAULT}).`,
  listNotifications: `Page size, 1-${NOTIFICATIONS_PAGE_MAX} (default ${NOTIFICATIONS_PAGE_DEFAULT}).`,
  listUserOffers: `Offers per answer, 1-${OFFERS_PAGE_MAX} (default ${OFFERS_PAGE_DEFAULT}).`,
};

function queryParameters(op: Operation, schemas: Record<string, Json>): Json[] {
  const schema = schemas[`${pascal(op.operationId)}Query`];
  if (!schema) return [];
  const properties = (schema.properties ?? {}) as Record<string, Json>;
  const required = new Set((schema.required ?? []) as string[]);
  return Object.entries(properties).map(([name, property]) => {
    const code = Object.hasOwn(QUERY_ERROR_CODES, name) ? QUERY_ERROR_CODES[name] : undefined;
    const text =
      (name === 'limit' ? LIMIT_TEXT[op.operationId] : undefined) ??
      OPERATION_PARAM_TEXT[op.operationId]?.[name] ??
      PARAM_TEXT[name] ??
      name;
    return {
      name,
      in: 'query',
      required: required.has(name),
      description: code ? `${text} A bad value answers 400 \`${code}\`.` : text,
      schema: property,
    };
  });
}

const pathParameters = (path: string, op: Operation): Json[] =>
  [...path.matchAll(/\{(\w+)\}/g)].map(([, name]) => ({
    name,
    in: 'path',
    required: true,
    description:
      OPERATION_PARAM_TEXT[op.operationId]?.[name ?? ''] ?? PARAM_TEXT[name ?? ''] ?? name,
    schema: { type: 'string', minLength: 1 },
  }));

const header = (description: string, schema: Json = { type: 'string' }): Json => ({
  description,
  schema,
});

function operationObject(route: HttpRoute, op: Operation, schemas: Record<string, Json>): Json {
  const head = route.method === 'HEAD';
  const okHeaders: Json = {};
  const okContent: Json = {};
  // The console's pages and files answer their errors as HTML pages.
  const page = op.ok !== 'openapi' && ('html' in op.ok || 'files' in op.ok);
  if (op.ok === 'openapi') {
    okHeaders['Cache-Control'] = header('The document is cached (public).');
    okContent['application/json'] = { schema: { type: 'object' } };
  } else if ('pem' in op.ok) {
    okHeaders['Cache-Control'] = header('The key is cached (public).');
    okContent['application/x-pem-file'] = { schema: { type: 'string' } };
  } else if ('files' in op.ok) {
    okHeaders['Cache-Control'] = header(
      'Cached a year, immutable: the name changes with the content.',
    );
    for (const type of op.ok.files) okContent[type] = { schema: { type: 'string' } };
  } else if ('html' in op.ok) {
    if (op.ok.status === 303) {
      okHeaders.Location = header('Where the browser goes next (a console page).');
    } else {
      okContent['text/html'] = { schema: { type: 'string' } };
    }
    if (op.ok.csv) okContent['text/csv'] = { schema: { type: 'string' } };
  } else {
    okContent['application/json'] = { schema: ref(`${pascal(op.operationId)}Response`) };
    if (op.ok.csv) {
      okContent['text/csv'] = { schema: { type: 'string' } };
      okHeaders['X-Next-Cursor'] = header(
        'With `Accept: text/csv`: the cursor of the next page, when there may be more.',
      );
    }
  }
  const okStatus = op.ok === 'openapi' ? 200 : (op.ok.status ?? 200);
  const responses: Json = {
    [String(okStatus)]: {
      description: okStatus === 202 ? 'Accepted' : okStatus === 303 ? 'See Other' : 'OK',
      ...(Object.keys(okHeaders).length ? { headers: okHeaders } : {}),
      ...(head || Object.keys(okContent).length === 0 ? {} : { content: okContent }),
    },
  };
  if (op.alsoOk) {
    responses[String(op.alsoOk.status)] = {
      description: op.alsoOk.description,
      ...(head
        ? {}
        : {
            content: {
              'application/json': {
                schema: ref(`${pascal(op.operationId)}${op.alsoOk.status}Response`),
              },
            },
          }),
    };
  }
  for (const status of [...new Set(op.errors)].sort((a, b) => a - b)) {
    responses[String(status)] = {
      description: STATUS_TEXT[status] ?? String(status),
      ...(RETRY_AFTER_STATUSES.has(status)
        ? {
            headers: {
              'Retry-After': header('Seconds to wait before retrying.', {
                type: 'string',
                pattern: '^[0-9]+$',
              }),
            },
          }
        : {}),
      ...(head
        ? {}
        : page
          ? { content: { 'text/html': { schema: { type: 'string' } } } }
          : { content: { 'application/json': { schema: ref(`Error${status}`) } } }),
    };
  }
  // API Gateway throttles every route (infra.*Throttle) and answers 429 itself, in its own body.
  responses['429'] = { description: THROTTLED };
  const parameters = [...pathParameters(route.path, op), ...queryParameters(op, schemas)];
  if (op.idempotencyKey) {
    parameters.push({
      name: 'Idempotency-Key',
      in: 'header',
      required: false,
      description: op.idempotencyKey,
      schema: schemas.IdempotencyKey,
    });
  }
  const body =
    head || op.body === undefined
      ? undefined
      : op.body === 'any-json'
        ? {
            required: true,
            description: "Parley's callback as sent, any JSON (taken whatever its Content-Type).",
            content: { 'application/json': { schema: {} } },
          }
        : {
            required: op.body.required,
            content: {
              [op.body.form ? 'application/x-www-form-urlencoded' : 'application/json']: {
                schema: ref(`${pascal(op.operationId)}Request`),
              },
            },
          };
  return {
    operationId: head ? `${op.operationId}Head` : op.operationId,
    summary: head ? `${op.summary} (headers only)` : op.summary,
    tags: [op.tag],
    security: op.security.map((scheme) => ({ [scheme]: [] })),
    ...(parameters.length ? { parameters } : {}),
    ...(body ? { requestBody: body } : {}),
    responses,
  };
}

/** The route an operation of the table stands for, by route key (HEAD shares GET's). */
export const operationFor = (route: HttpRoute): Operation | undefined =>
  OPERATIONS[routeKey(route.method === 'HEAD' ? { ...route, method: 'GET' } : route)];

/** Keys sorted at every depth, so the written document is stable. */
function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (value === null || typeof value !== 'object') return value;
  const out: Json = {};
  for (const key of Object.keys(value).sort()) out[key] = sortKeys((value as Json)[key]);
  return out;
}

export interface OpenApiOptions {
  /** `info.version`. @default '0.1.0' */
  version?: string;
}

/** The whole document, keys sorted. Throws when a route has no operation. */
export function buildOpenApiDocument(options: OpenApiOptions = {}): Json {
  const named: Record<string, z.core.$ZodType> = { IdempotencyKey: idempotencyKeySchema };
  for (const op of Object.values(OPERATIONS)) {
    const base = pascal(op.operationId);
    if (op.query) named[`${base}Query`] = op.query;
    if (op.body && op.body !== 'any-json') named[`${base}Request`] = op.body.schema;
    if (op.ok !== 'openapi' && 'schema' in op.ok) named[`${base}Response`] = op.ok.schema;
    if (op.alsoOk) named[`${base}${op.alsoOk.status}Response`] = op.alsoOk.schema;
  }
  for (const status of new Set(Object.values(ERROR_CODES))) {
    named[`Error${status}`] = errorBody(status);
  }
  Object.assign(named, {
    HandoverRecord: handoverRecordSchema,
    OwnerView: ownerView,
    LeaseView: leaseViewSchema,
    VerifyReport: verifyReportSchema,
    ForwardPayload: forwardPayloadSchema,
    DownstreamAnswer: downstreamAnswerSchema,
  });
  const schemas = componentSchemas(named);

  const paths: Record<string, Json> = {};
  for (const route of httpRoutes) {
    const op = operationFor(route);
    if (!op) throw new Error(`The route ${routeKey(route)} has no operation in OPERATIONS.`);
    paths[route.path] ??= {};
    paths[route.path]![route.method.toLowerCase()] = operationObject(route, op, schemas);
  }
  // Query schemas become parameters: keep only the ones something else refers to.
  for (const id of Object.keys(schemas)) {
    if (id.endsWith('Query') || id === 'IdempotencyKey') delete schemas[id];
  }

  const bearer = (description: string): Json => ({ type: 'http', scheme: 'bearer', description });
  return sortKeys({
    openapi: '3.1.0',
    jsonSchemaDialect: 'https://json-schema.org/draft/2020-12/schema',
    info: {
      title: 'parley-handover',
      version: options.version ?? '0.1.0',
      description:
        "Parley's webhook target, handovers of users between Services, and the append-only, hash-chained history for audits. Errors are `{ error: { code, message } }`; 413 and 429 answered by API Gateway itself are outside that shape.",
      license: { name: 'MIT', identifier: 'MIT' },
    },
    servers: [{ url: '/', description: 'The API of one stage (API Gateway URL, or npm start)' }],
    tags: Object.entries(TAGS).map(([name, description]) => ({ name, description })),
    paths,
    webhooks: WEBHOOKS,
    components: {
      schemas,
      securitySchemes: {
        callbackToken: bearer(
          "A Service's callback token (Parley's callback header); a bare token is accepted too.",
        ),
        apiToken: bearer("A Service's API token."),
        auditorToken: bearer("An auditor's token from the auditors' secret (reads)."),
        consoleSession: {
          type: 'apiKey',
          in: 'cookie',
          name: SESSION_COOKIE,
          description:
            'The console session from POST /console/login (HttpOnly, Secure, SameSite=Strict; 30 min idle, 8 h at most). Every POST also needs Sec-Fetch-Site: same-origin (or a matching Origin) and the CSRF token of the form.',
        },
        operatorToken: bearer(
          "An operator's token from the auditors' secret: all an auditor may, and actions that move users or resend notifications.",
        ),
      },
    },
  }) as Json;
}

/** The document as written to docs/openapi.json: 2-space JSON and a final newline. */
export const openApiText = (options?: OpenApiOptions): string =>
  `${JSON.stringify(buildOpenApiDocument(options), null, 2)}\n`;
