// One OpenAPI operation per declared route (contracts/routes.ts; HEAD is derived from GET): who may
// call it, the zod schemas of its query, body and answer, and the error statuses it can answer.
import * as z from 'zod/mini';
import { VERIFY_PAGE_DEFAULT, VERIFY_PAGE_MAX } from '../domain/verify';
import {
  handoverRequestSchema,
  historyQuerySchema,
  messageRequestSchema,
  notificationsQuerySchema,
  pageQuerySchema,
  rangeQuerySchema,
  reconcileRequestSchema,
  redeliverRequestSchema,
  releaseRequestSchema,
} from '../schemas/api';
import '../schemas/zod-config';
import {
  acceptedSchema,
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

// ---------------------------------------------------------------- operations

export type Security = 'callbackToken' | 'apiToken' | 'auditorToken' | 'operatorToken';

export interface Operation {
  operationId: string;
  summary: string;
  tag: string;
  /** Any one of these; none: public. */
  security: Security[];
  query?: z.core.$ZodType;
  body?: { schema: z.core.$ZodType; required: boolean } | 'any-json';
  /** The Idempotency-Key header this operation takes: what a repeat under the same key does. */
  idempotencyKey?: string;
  /** The success status and its body. @default status 200 */
  ok: { schema: z.core.$ZodType; csv?: boolean; status?: number } | 'openapi';
  errors: number[];
}

const AUTH = [400, 401, 403, 500];
const BODY = [413, 415];
const PARLEY = [502, 503, 504];
/** An auditor's routes: an operator may do all an auditor may. */
const READERS: Security[] = ['auditorToken', 'operatorToken'];

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
    summary: 'Hand a user over to another Service',
    tag: 'handovers',
    security: ['apiToken'],
    body: { schema: handoverRequestSchema, required: true },
    idempotencyKey:
      'A repeat with the same body answers the same result; with another body 422. Kept 24 h.',
    ok: { schema: handoverResultSchema },
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
