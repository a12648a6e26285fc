// The functions and the HTTP routes, declared once. The CDK API stack and the local gateway both
// read this table, so what is deployed and what runs locally serve the same routes.

export type FunctionName =
  | 'inbound'
  | 'processor'
  | 'handover'
  | 'messages'
  | 'owner'
  | 'services'
  | 'audit'
  | 'reconcile'
  | 'verify'
  | 'health'
  | 'openapi'
  | 'notifier'
  | 'notifications'
  | 'release'
  | 'lease'
  | 'offers'
  | 'sweep'
  | 'console'
  | 'metrics'
  | 'checkpoint'
  | 'erasure'
  | 'eraser';

export interface FunctionSpec {
  /** File under functions/handlers/ that exports `handler`. */
  entry: string;
  description: string;
  memoryMb: number;
  timeoutSeconds: number;
}

/**
 * Timeouts form one chain (DESIGN.md): Parley budget (8 s) < handover timeout (15 s) < staleAfter
 * (60 s) < queue visibility timeout (90 s). The processor may perform a handover and a downstream
 * forward, so it gets the handover's timeout plus the downstream's.
 */
export const functionSpecs: Record<FunctionName, FunctionSpec> = {
  inbound: {
    entry: 'inbound.ts',
    description: 'Parley webhook: authenticate, enqueue',
    memoryMb: 512,
    timeoutSeconds: 5,
  },
  processor: {
    entry: 'processor.ts',
    description: 'Queue consumer: owner check, rules, forward, handover',
    memoryMb: 512,
    timeoutSeconds: 30,
  },
  handover: {
    entry: 'handover.ts',
    description: 'POST /handovers',
    memoryMb: 512,
    timeoutSeconds: 15,
  },
  messages: {
    entry: 'messages.ts',
    description: 'POST /users/{userId}/messages',
    memoryMb: 512,
    timeoutSeconds: 15,
  },
  owner: {
    entry: 'owner.ts',
    description: 'GET /users/{userId}/owner',
    memoryMb: 512,
    timeoutSeconds: 15,
  },
  services: {
    entry: 'services.ts',
    description: 'GET /services',
    memoryMb: 512,
    timeoutSeconds: 15,
  },
  audit: {
    entry: 'audit.ts',
    description: 'Audit queries over the history',
    memoryMb: 512,
    timeoutSeconds: 15,
  },
  reconcile: {
    entry: 'reconcile.ts',
    description: 'Recover stale pending handovers (route and schedule)',
    memoryMb: 512,
    timeoutSeconds: 45,
  },
  // A page verifies up to 100 users whole: reads only, but possibly many of them.
  verify: {
    entry: 'verify.ts',
    description: 'Hash chain verification against the owner item (read-only)',
    memoryMb: 512,
    timeoutSeconds: 30,
  },
  // Sends the outbox: the notify queue's consumer, and (on a schedule) the relay that re-queues
  // items a crashed writer left pending. One attempt is one HTTP POST to a Service.
  notifier: {
    entry: 'notifier.ts',
    description: 'Notify queue consumer and outbox relay: signed notifications to Services',
    memoryMb: 512,
    timeoutSeconds: 30,
  },
  notifications: {
    entry: 'notifications.ts',
    description: 'GET /notifications, POST /notifications/{id}/redeliver',
    memoryMb: 512,
    timeoutSeconds: 15,
  },
  // Bulk release: pages of handovers to the default Service within Parley's budget, resumable.
  release: {
    entry: 'release.ts',
    description: 'POST /services/{serviceId}/release (operator bulk release)',
    memoryMb: 512,
    timeoutSeconds: 60,
  },
  lease: {
    entry: 'lease.ts',
    description: 'POST /users/{userId}/lease (the owner extends its lease)',
    memoryMb: 512,
    timeoutSeconds: 15,
  },
  // Accepting an offer runs a handover (Parley PUT owner): the handover's timeout.
  offers: {
    entry: 'offers.ts',
    description: 'Offers: accept, decline, cancel, read',
    memoryMb: 512,
    timeoutSeconds: 15,
  },
  // One run every minute: bounded by page size and a time budget under its timeout.
  sweep: {
    entry: 'sweep.ts',
    description: 'The sweep: lease warnings and expiries, offer expiries (schedule)',
    memoryMb: 512,
    timeoutSeconds: 60,
  },
  // The operations console (HTML): a page reads bounded pages of the stores; an operator's
  // release is one handover (the handover's timeout).
  console: {
    entry: 'console.ts',
    description: 'The operations console (server-rendered HTML, sessions)',
    memoryMb: 512,
    timeoutSeconds: 15,
  },
  // Ownership metrics: the route computes the days without a rollup from their records (at most
  // 31), the schedules build the rollups and the stuck-owner gauge. API Gateway answers by 30 s.
  metrics: {
    entry: 'metrics.ts',
    description: 'GET /metrics, GET /metrics/stuck; the daily rollup and stuck owners (schedules)',
    memoryMb: 1024,
    timeoutSeconds: 30,
  },
  // Signed checkpoints (schedule and operators): a listing of the window's records, then a KMS
  // signature and a few S3 writes per checkpoint, bounded per run.
  checkpoint: {
    entry: 'checkpoints.ts',
    description: 'Signed checkpoints of the chain heads (schedule, POST /checkpoints, public key)',
    memoryMb: 512,
    timeoutSeconds: 120,
  },
  // Erasure requests, the register and its verification (reads, register puts): one user's
  // records and outbox items read by key, a page of the register scanned.
  erasure: {
    entry: 'erasure.ts',
    description: 'POST /users/{userId}/erasure, the erasure register (operators, auditors)',
    memoryMb: 512,
    timeoutSeconds: 30,
  },
  // The only function that changes or deletes history items: every minute the open erasures, once
  // a day retention, a run bounded by its timeout less a margin; and the export (it alone holds
  // the erasure key that finds a subject's tombstones).
  eraser: {
    entry: 'eraser.ts',
    description: 'The eraser (schedules) and GET /users/{userId}/export',
    memoryMb: 512,
    timeoutSeconds: 300,
  },
  health: { entry: 'health.ts', description: 'GET /health', memoryMb: 256, timeoutSeconds: 3 },
  openapi: {
    entry: 'openapi.ts',
    description: 'GET /openapi.json',
    memoryMb: 256,
    timeoutSeconds: 3,
  },
};

export type HttpMethod = 'GET' | 'HEAD' | 'POST';

export interface HttpRoute {
  method: HttpMethod;
  /** API Gateway route path, with `{param}` placeholders. */
  path: string;
  fn: FunctionName;
}

const declaredRoutes: readonly HttpRoute[] = [
  { method: 'POST', path: '/webhooks/parley/{serviceId}', fn: 'inbound' },
  { method: 'POST', path: '/handovers', fn: 'handover' },
  { method: 'POST', path: '/users/{userId}/messages', fn: 'messages' },
  { method: 'GET', path: '/users/{userId}/owner', fn: 'owner' },
  { method: 'GET', path: '/services', fn: 'services' },
  { method: 'GET', path: '/users/{userId}/handovers', fn: 'audit' },
  { method: 'GET', path: '/handovers', fn: 'audit' },
  { method: 'POST', path: '/reconcile', fn: 'reconcile' },
  { method: 'GET', path: '/users/{userId}/verify', fn: 'verify' },
  { method: 'GET', path: '/verify', fn: 'verify' },
  { method: 'GET', path: '/notifications', fn: 'notifications' },
  { method: 'POST', path: '/notifications/{id}/redeliver', fn: 'notifications' },
  { method: 'POST', path: '/services/{serviceId}/release', fn: 'release' },
  { method: 'POST', path: '/users/{userId}/lease', fn: 'lease' },
  { method: 'GET', path: '/offers/{offerId}', fn: 'offers' },
  { method: 'POST', path: '/offers/{offerId}/accept', fn: 'offers' },
  { method: 'POST', path: '/offers/{offerId}/decline', fn: 'offers' },
  { method: 'POST', path: '/offers/{offerId}/cancel', fn: 'offers' },
  { method: 'GET', path: '/users/{userId}/offers', fn: 'offers' },
  { method: 'GET', path: '/console', fn: 'console' },
  { method: 'GET', path: '/console/users/{userId}', fn: 'console' },
  { method: 'GET', path: '/console/search', fn: 'console' },
  { method: 'GET', path: '/console/stuck', fn: 'console' },
  { method: 'GET', path: '/console/static/{file}', fn: 'console' },
  { method: 'POST', path: '/console/login', fn: 'console' },
  { method: 'POST', path: '/console/logout', fn: 'console' },
  { method: 'POST', path: '/console/users/{userId}/reconcile', fn: 'console' },
  { method: 'POST', path: '/console/users/{userId}/release', fn: 'console' },
  { method: 'GET', path: '/metrics', fn: 'metrics' },
  { method: 'GET', path: '/metrics/stuck', fn: 'metrics' },
  { method: 'POST', path: '/checkpoints', fn: 'checkpoint' },
  { method: 'GET', path: '/checkpoints/public-key', fn: 'checkpoint' },
  { method: 'POST', path: '/users/{userId}/erasure', fn: 'erasure' },
  { method: 'GET', path: '/users/{userId}/export', fn: 'eraser' },
  { method: 'GET', path: '/erasures', fn: 'erasure' },
  { method: 'GET', path: '/erasures/{erasureId}', fn: 'erasure' },
  { method: 'POST', path: '/erasures/reapply', fn: 'erasure' },
  { method: 'POST', path: '/erasures/retention', fn: 'erasure' },
  { method: 'GET', path: '/health', fn: 'health' },
  { method: 'GET', path: '/openapi.json', fn: 'openapi' },
];

/**
 * The routes served: the declared ones, and HEAD wherever GET is, on the same function. The
 * function answers HEAD as it answers GET; the HTTP server (API Gateway, the local gateway) sends
 * the status and headers without the body.
 */
export const httpRoutes: readonly HttpRoute[] = [
  ...declaredRoutes,
  ...declaredRoutes
    .filter((route) => route.method === 'GET')
    .map((route): HttpRoute => ({ ...route, method: 'HEAD' })),
];

/** Bodies above this are refused with 413 by the functions themselves. */
export const MAX_BODY_BYTES = 256 * 1024;

/** The API Gateway route key of a route, e.g. "POST /handovers". */
export const routeKey = (r: HttpRoute): string => `${r.method} ${r.path}`;
