// One OpenAPI operation per declared route (contracts/routes.ts; HEAD is derived from GET): who may
// call it, the zod schemas of its query, body and answer, and the error statuses it can answer.
import * as z from 'zod/mini';
import { VERIFY_PAGE_DEFAULT, VERIFY_PAGE_MAX } from '../domain/verify';
import {
  historyQuerySchema,
  messageRequestSchema,
  notificationsQuerySchema,
  pageQuerySchema,
  rangeQuerySchema,
  reconcileRequestSchema,
  redeliverRequestSchema,
  releaseRequestSchema,
} from '../schemas/api';
import { checkpointRequestSchema } from '../schemas/checkpoints';
import { metricsQuerySchema, stuckQuerySchema } from '../schemas/metrics-query';
import { handoverRequestShapesSchema } from '../schemas/handover-request';
import '../schemas/zod-config';
import {
  acceptedSchema,
  checkpointRunSchema,
  handoverPageSchema,
  handoverResultSchema,
  healthSchema,
  messageResultSchema,
  notificationPageSchema,
  ownerAtSchema,
  ownerNowSchema,
  reconcileResultSchema,
  redeliverResultSchema,
  releaseDryRunSchema,
  releaseRunSchema,
  servicesSchema,
  verifyPageSchema,
  verifyReportSchema,
} from './openapi-schemas';
import { LEASE_OPERATIONS } from './openapi-lease';
import { metricsAnswerSchema, stuckAnswerSchema } from './openapi-metrics';
import { OFFER_OPERATIONS, offerCreatedSchema } from './openapi-offers';
import { ERASURE_OPERATIONS } from './openapi-erasure';

// ---------------------------------------------------------------- operations

export type Security =
  | 'callbackToken'
  | 'apiToken'
  | 'auditorToken'
  | 'operatorToken'
  | 'consoleSession';

export interface Operation {
  operationId: string;
  summary: string;
  tag: string;
  /** Any one of these; none: public. */
  security: Security[];
  query?: z.core.$ZodType;
  /** `form`: sent as application/x-www-form-urlencoded (the console's forms). */
  body?: { schema: z.core.$ZodType; required: boolean; form?: boolean } | 'any-json';
  /** The Idempotency-Key header this operation takes: what a repeat under the same key does. */
  idempotencyKey?: string;
  /** A second success answer (POST /handovers answers an offer 202). */
  alsoOk?: { status: number; schema: z.core.$ZodType; description: string };
  /** The success status and its body. @default status 200 */
  ok:
    | { schema: z.core.$ZodType; csv?: boolean; status?: number }
    | 'openapi'
    /** The console: HTML pages (errors too), a 303 after a form, CSV for a search download. */
    | { html: true; csv?: boolean; status?: number }
    /** A PEM document, cacheable (the checkpoints' public key). */
    | { pem: true; status?: number }
    /** Static files of these content types, immutable (the console's scripts and stylesheet). */
    | { files: readonly string[]; status?: number };
  errors: number[];
}

const AUTH = [400, 401, 403, 500];
const BODY = [413, 415];
const PARLEY = [502, 503, 504];
/** An auditor's routes: an operator may do all an auditor may. */
const READERS: Security[] = ['auditorToken', 'operatorToken'];

/** The console's answers: pages (errors are pages too), 303 after a form. */
const PAGE_ERRORS = [400, 401, 404, 500, ...PARLEY];
const FORM_ERRORS = [400, 401, 403, 404, 409, 413, 415, 500, ...PARLEY];
const SESSION: Security[] = ['consoleSession'];
const consoleForm = (fields: Record<string, z.core.$ZodType>) => ({
  schema: z.object({ csrf: z.string(), ...fields }),
  required: true,
  form: true,
});
const reasonField = z.string().check(z.minLength(1), z.maxLength(100));

/** The operations console (functions/console/): HTML for browsers, a session cookie. */
const CONSOLE_OPERATIONS: Readonly<Record<string, Operation>> = {
  'GET /console': {
    operationId: 'consoleOverview',
    summary: 'Console: the overview, or the login form without a session',
    tag: 'console',
    security: [],
    ok: { html: true },
    errors: [500, ...PARLEY],
  },
  'GET /console/users/{userId}': {
    operationId: 'consoleUser',
    summary: "Console: a user's timeline, verify badge, owner now and at an instant",
    tag: 'console',
    security: SESSION,
    query: z.object({ at: z.optional(z.string()), before: z.optional(z.string()) }),
    ok: { html: true },
    errors: PAGE_ERRORS,
  },
  'GET /console/search': {
    operationId: 'consoleSearch',
    summary: 'Console: search the history (format=csv downloads it)',
    tag: 'console',
    security: SESSION,
    query: z.object({
      ...Object.fromEntries(
        ['from', 'to', 'service', 'reason', 'status', 'source', 'cursor'].map((name) => [
          name,
          z.optional(z.string()),
        ]),
      ),
      format: z.optional(z.enum(['csv'])),
    }),
    ok: { html: true, csv: true },
    errors: PAGE_ERRORS,
  },
  'GET /console/stuck': {
    operationId: 'consoleStuck',
    summary: 'Console: stuck owners and stale pending handovers, with actions',
    tag: 'console',
    security: SESSION,
    ok: { html: true },
    errors: PAGE_ERRORS,
  },
  'GET /console/static/{file}': {
    operationId: 'consoleStatic',
    summary: 'Console: its script, stylesheet and vendored htmx (immutable, cached a year)',
    tag: 'console',
    security: [],
    ok: { files: ['text/javascript', 'text/css'] },
    errors: [404, 500],
  },
  'POST /console/login': {
    operationId: 'consoleLogin',
    summary:
      "Console: trade an auditor's or operator's token for a session cookie (5 failed logins a minute per source: 429 with Retry-After)",
    tag: 'console',
    security: [],
    body: {
      schema: z.object({ token: z.string(), next: z.optional(z.string()) }),
      required: true,
      form: true,
    },
    ok: { html: true, status: 303 },
    errors: [400, 401, 403, 415, 500],
  },
  'POST /console/logout': {
    operationId: 'consoleLogout',
    summary: 'Console: end the session',
    tag: 'console',
    security: SESSION,
    body: consoleForm({}),
    ok: { html: true, status: 303 },
    errors: [401, 403, 415, 500],
  },
  'POST /console/users/{userId}/reconcile': {
    operationId: 'consoleReconcile',
    summary: "Console: reconcile one user (operators), the reason logged with the operator's name",
    tag: 'console',
    security: SESSION,
    body: consoleForm({ reason: reasonField }),
    ok: { html: true, status: 303 },
    errors: FORM_ERRORS,
  },
  'POST /console/users/{userId}/release': {
    operationId: 'consoleRelease',
    summary:
      'Console: release one user to the default Service (operators), recorded as operator:{name}',
    tag: 'console',
    security: SESSION,
    body: consoleForm({ reason: reasonField, key: z.string() }),
    ok: { html: true, status: 303 },
    errors: FORM_ERRORS,
  },
};

/** One operation per declared route (HEAD ones are derived from GET), keyed by route key. */
export const OPERATIONS: Readonly<Record<string, Operation>> = {
  'POST /webhooks/parley/{serviceId}': {
    operationId: 'acceptCallback',
    summary: "Parley's callback: authenticated, queued, answered 200 (duplicates included)",
    tag: 'webhook',
    security: ['callbackToken'],
    body: 'any-json',
    ok: { schema: acceptedSchema },
    errors: [400, 401, 413, 500, 503],
  },
  'POST /handovers': {
    operationId: 'createHandover',
    summary: 'Hand a user over to another Service, or offer it (`mode: "offer"`: 202)',
    tag: 'handovers',
    security: ['apiToken'],
    body: { schema: handoverRequestShapesSchema, required: true },
    idempotencyKey:
      'A repeat with the same body answers the same result; with another body 422. Kept 24 h.',
    ok: { schema: handoverResultSchema },
    alsoOk: {
      status: 202,
      schema: offerCreatedSchema,
      description: 'An offer (`mode: "offer"`): made, pending until answered or expired',
    },
    errors: [...AUTH, ...BODY, 409, 422, ...PARLEY],
  },
  'POST /users/{userId}/messages': {
    operationId: 'sendMessage',
    summary: 'The owning Service sends text to its user through Parley',
    tag: 'messages',
    security: ['apiToken'],
    body: { schema: messageRequestSchema, required: true },
    ok: { schema: messageResultSchema },
    // 409: a handover of the user is in flight (handover_in_progress, Retry-After).
    errors: [...AUTH, ...BODY, 409, ...PARLEY],
  },
  'GET /users/{userId}/owner': {
    operationId: 'getOwner',
    summary: 'The owner now (from Parley), or at an instant (`at`, from the history)',
    tag: 'owners',
    security: ['apiToken', ...READERS],
    query: z.object({ at: z.optional(z.string()) }),
    ok: { schema: z.union([ownerNowSchema, ownerAtSchema]) },
    errors: [...AUTH, ...PARLEY],
  },
  'GET /services': {
    operationId: 'listServices',
    summary: "Parley's services of this account, `default` as a boolean (cached 60 s)",
    tag: 'services',
    security: ['apiToken', ...READERS],
    ok: { schema: servicesSchema },
    errors: [...AUTH, ...PARLEY],
  },
  'GET /users/{userId}/handovers': {
    operationId: 'listUserHandovers',
    summary: "A user's history, newest first",
    tag: 'audit',
    security: READERS,
    query: historyQuerySchema,
    ok: { schema: handoverPageSchema, csv: true },
    errors: AUTH,
  },
  'GET /handovers': {
    operationId: 'listHandovers',
    summary: 'Handovers in a time range, oldest first, with filters',
    tag: 'audit',
    security: READERS,
    query: rangeQuerySchema,
    ok: { schema: handoverPageSchema, csv: true },
    errors: [...AUTH, ...PARLEY],
  },
  'POST /reconcile': {
    operationId: 'reconcile',
    summary: 'Resolve stale pending handovers (all, or one user)',
    tag: 'audit',
    security: READERS,
    body: { schema: reconcileRequestSchema, required: false },
    ok: { schema: reconcileResultSchema },
    errors: [...AUTH, ...BODY, ...PARLEY],
  },
  'GET /users/{userId}/verify': {
    operationId: 'verifyUser',
    summary: "The user's hash chain against its owner item (reads only)",
    tag: 'audit',
    security: READERS,
    ok: { schema: verifyReportSchema },
    errors: [...AUTH, 404],
  },
  'GET /verify': {
    operationId: 'verifyUsers',
    summary: 'A page of users, each verified whole',
    tag: 'audit',
    security: READERS,
    query: pageQuerySchema(VERIFY_PAGE_DEFAULT, VERIFY_PAGE_MAX),
    ok: { schema: verifyPageSchema },
    errors: AUTH,
  },
  'GET /notifications': {
    operationId: 'listNotifications',
    summary: 'The outbox, newest first: who was told what, and how it went (never a body)',
    tag: 'notifications',
    security: READERS,
    query: notificationsQuerySchema,
    ok: { schema: notificationPageSchema },
    errors: AUTH,
  },
  'POST /notifications/{id}/redeliver': {
    operationId: 'redeliverNotification',
    summary: 'Send a notification again, sent or failed (202: pending, queued)',
    tag: 'notifications',
    security: ['operatorToken'],
    body: { schema: redeliverRequestSchema, required: false },
    ok: { schema: redeliverResultSchema, status: 202 },
    // 409: the sender kept changing the item (notification_busy, Retry-After).
    errors: [...AUTH, ...BODY, 404, 409],
  },
  'POST /services/{serviceId}/release': {
    operationId: 'releaseService',
    summary: 'Hand every user of a Service to the default Service (or count them: dryRun)',
    tag: 'operators',
    security: ['operatorToken'],
    body: { schema: releaseRequestSchema, required: true },
    idempotencyKey:
      "Names the release: a repeat of the call replays each user's move instead of trying it again (the cursor carries it on). Kept 24 h.",
    ok: { schema: z.union([releaseDryRunSchema, releaseRunSchema]) },
    errors: [...AUTH, ...BODY, 422, ...PARLEY],
  },
  ...CONSOLE_OPERATIONS,
  ...OFFER_OPERATIONS,
  ...LEASE_OPERATIONS,
  ...ERASURE_OPERATIONS,
  'GET /metrics': {
    operationId: 'getMetrics',
    summary:
      'Ownership metrics per UTC day (docs/METRICS.md): rollups for mature days, the rest computed now and provisional',
    tag: 'metrics',
    security: READERS,
    query: metricsQuerySchema,
    ok: { schema: metricsAnswerSchema, csv: true },
    errors: [...AUTH, ...PARLEY],
  },
  'GET /metrics/stuck': {
    operationId: 'listStuckOwners',
    summary: 'Users who wrote last and have waited on a non-default owner past stuckAfterMinutes',
    tag: 'metrics',
    security: READERS,
    query: stuckQuerySchema,
    ok: { schema: stuckAnswerSchema },
    errors: [...AUTH, ...PARLEY],
  },
  'POST /checkpoints': {
    operationId: 'createCheckpoint',
    summary: 'Sign and store a checkpoint of the chain heads changed since the last one',
    tag: 'audit',
    security: ['operatorToken'],
    body: { schema: checkpointRequestSchema, required: false },
    ok: { schema: checkpointRunSchema, status: 201 },
    alsoOk: {
      status: 200,
      schema: checkpointRunSchema,
      description:
        'No history changed since the last checkpoint: nothing written (`checkpoint: null`)',
    },
    // 409: other runs kept taking the next place in the chain (checkpoint_in_progress).
    errors: [...AUTH, ...BODY, 409],
  },
  'GET /checkpoints/public-key': {
    operationId: 'checkpointPublicKey',
    summary: "The checkpoints' public key (PEM, ECDSA P-256): what verifies their signatures",
    tag: 'audit',
    security: [],
    ok: { pem: true },
    errors: [500],
  },
  'GET /health': {
    operationId: 'health',
    summary: 'Liveness: no secrets, no I/O beyond the configuration',
    tag: 'meta',
    security: [],
    ok: { schema: healthSchema },
    errors: [500],
  },
  'GET /openapi.json': {
    operationId: 'openapi',
    summary: 'This document',
    tag: 'meta',
    security: [],
    ok: 'openapi',
    errors: [500],
  },
};
