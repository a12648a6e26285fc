// Every error the service raises on purpose. Each carries what the HTTP mapper
// (functions/platform/http.ts) needs; that mapper is the only place they become responses.
// Messages are plain sentences for humans and never contain a token, a secret or message text.
// The plain Error classes (DeliveryDeferredError, DownstreamError, DeliveryBusyError) are the
// queue's: a callback that throws one is deferred or retried, never answered over HTTP.

export abstract class AppError extends Error {
  abstract readonly httpStatus: number;
  abstract readonly code: string;
  /** Extra fields merged into the error body (e.g. currentOwner). */
  readonly details: Record<string, unknown> = {};
  /** Seconds, sent as `Retry-After`. */
  readonly retryAfterSeconds?: number;
  constructor(message: string) {
    super(message);
    this.name = new.target.name;
  }
}

export class ValidationError extends AppError {
  readonly httpStatus = 400;
  readonly code: string;
  constructor(message: string, code = 'invalid_request') {
    super(message);
    this.code = code;
  }
}

export class UnknownServiceError extends AppError {
  readonly httpStatus = 400;
  readonly code = 'unknown_service';
  constructor(readonly ref: string) {
    super(`No service is known as "${ref.slice(0, 100)}".`);
  }
}

export class UnauthorizedError extends AppError {
  readonly httpStatus = 401;
  readonly code = 'unauthorized';
  constructor(message = 'Missing or invalid credentials.') {
    super(message);
  }
}

export class ForbiddenError extends AppError {
  readonly httpStatus = 403;
  readonly code: string;
  constructor(message: string, code = 'forbidden') {
    super(message);
    this.code = code;
  }
}

export class NotOwnerError extends AppError {
  readonly httpStatus = 403;
  readonly code = 'not_owner';
  override readonly details: { currentOwner: string };
  constructor(
    readonly caller: string,
    readonly currentOwner: string,
  ) {
    super('The calling service does not own this user.');
    this.details = { currentOwner };
  }
}

export class NotFoundError extends AppError {
  readonly httpStatus = 404;
  readonly code = 'not_found';
}

/** POST /notifications/{id}/redeliver: no notification has this id. */
export class NotificationNotFoundError extends AppError {
  readonly httpStatus = 404;
  readonly code = 'notification_not_found';
  constructor() {
    super('No notification has this id.');
  }
}

/** 409: the sender kept changing the notification while a redelivery tried to take it. */
export class NotificationBusyError extends AppError {
  readonly httpStatus = 409;
  readonly code = 'notification_busy';
  override readonly retryAfterSeconds = 1;
  constructor() {
    super('The notification is being sent right now; retry shortly.');
  }
}

/** 409: other checkpoint runs kept taking the next place in the chain (each is written once). */
export class CheckpointConflictError extends AppError {
  readonly httpStatus = 409;
  readonly code = 'checkpoint_in_progress';
  override readonly retryAfterSeconds = 5;
  constructor() {
    super('Another checkpoint run is writing the next checkpoint; retry shortly.');
  }
}

export class OwnerChangedError extends AppError {
  readonly httpStatus = 409;
  readonly code = 'owner_changed';
  override readonly details: { currentOwner: string | null };
  constructor(
    currentOwner: string | null,
    message = 'The owner changed; read it again and retry.',
  ) {
    super(message);
    this.details = { currentOwner };
  }
}

export class HandoverInProgressError extends AppError {
  readonly httpStatus = 409;
  readonly code = 'handover_in_progress';
  override readonly retryAfterSeconds: number;
  constructor(retryAfterSeconds: number) {
    super('A handover of this user is in progress; retry shortly.');
    this.retryAfterSeconds = Math.max(1, Math.ceil(retryAfterSeconds));
  }
}

/**
 * A callback that must wait: a handover of its user is in flight, so who should hear the message
 * is not known yet. Not a failure: the queue puts the message back with a short delay (not a whole
 * visibility timeout) and the next attempt forwards it to whoever owns the user by then.
 */
export class DeliveryDeferredError extends Error {
  constructor(
    readonly deliveryId: string,
    /** How long to wait before the next attempt, in milliseconds (at least 1 s is used). */
    readonly retryAfterMs: number,
  ) {
    super(`Delivery ${deliveryId} waits for a handover in flight.`);
    this.name = 'DeliveryDeferredError';
  }
}

export type DownstreamProblem = 'status' | 'timeout' | 'unreachable' | 'bad_body';

/**
 * A downstream answered with a non-2xx status, not in time, not at all, or with a body that is
 * not a valid answer. The queue retries the callback (and parks it in the DLQ after its limit).
 * The message names the host and the status only: never a path, a query or a body.
 */
export class DownstreamError extends Error {
  constructor(
    readonly host: string,
    readonly status: number | null,
    readonly problem: DownstreamProblem,
  ) {
    super(
      problem === 'status'
        ? `Downstream ${host} answered HTTP ${status}.`
        : problem === 'timeout'
          ? `Downstream ${host} did not answer in time.`
          : problem === 'unreachable'
            ? `Downstream ${host} could not be reached.`
            : `Downstream ${host} answered HTTP ${status} with a body that is not a valid answer.`,
    );
    this.name = 'DownstreamError';
  }
}

/** Another attempt holds this delivery's lease: retry later (the queue does). */
export class DeliveryBusyError extends Error {
  constructor(
    readonly deliveryId: string,
    /** Epoch ms when the lease ends. */
    readonly leaseUntil: number,
  ) {
    super(`Delivery ${deliveryId} is being processed by another attempt.`);
    this.name = 'DeliveryBusyError';
  }
}

export class PayloadTooLargeError extends AppError {
  readonly httpStatus = 413;
  readonly code = 'payload_too_large';
}

export class IdempotencyKeyReusedError extends AppError {
  readonly httpStatus = 422;
  readonly code = 'idempotency_key_reused';
  constructor() {
    super('This Idempotency-Key was used with a different request body.');
  }
}

/** A bulk release of the default Service: its users have nowhere to go. */
export class CannotReleaseDefaultError extends AppError {
  readonly httpStatus = 422;
  readonly code = 'cannot_release_default';
  constructor() {
    super('The default Service cannot be released: released users go to it.');
  }
}

export class QueueUnavailableError extends AppError {
  readonly httpStatus = 503;
  readonly code = 'enqueue_failed';
  override readonly retryAfterSeconds = 5;
  constructor() {
    super('The callback could not be queued; retry.');
  }
}

// ---------------------------------------------------------------- Parley

/**
 * `rejected`: Parley certainly did not apply the call (a definite error envelope, or the request
 * never left). `unknown`: it may have (timeout, cut connection, 5xx, 429 after the budget).
 */
export type ParleyOutcome = 'rejected' | 'unknown';

export abstract class ParleyError extends AppError {
  abstract readonly outcome: ParleyOutcome;
  constructor(
    message: string,
    readonly method: string,
    readonly path: string,
    readonly durationMs: number,
  ) {
    super(message);
  }
}

/** Parley answered with an error (HTTP status and, when present, its error notification). */
export class ParleyApiError extends ParleyError {
  readonly outcome: ParleyOutcome;
  override readonly details: { parley: { status: number; code: string | null } };
  declare readonly retryAfterSeconds?: number;
  constructor(
    readonly status: number,
    readonly parleyCode: string | null,
    method: string,
    path: string,
    readonly apiVersion: string | null,
    durationMs: number,
    readonly retryAfterMs?: number,
    /** Overrides the outcome derived from the status (a 2xx whose body is unreadable: 'unknown'). */
    outcome?: ParleyOutcome,
  ) {
    super(
      `Parley answered ${method} ${path} with HTTP ${status}${parleyCode ? ` (${parleyCode})` : ''}.`,
      method,
      path,
      durationMs,
    );
    this.outcome =
      outcome ?? (status >= 500 || status === 429 || status === 408 ? 'unknown' : 'rejected');
    this.details = { parley: { status, code: parleyCode } };
    if (this.outcome === 'unknown') this.retryAfterSeconds = 5;
  }
  /** A definite refusal is 502 `parley_error`; a 5xx or 429 after the retry budget is 503. */
  get httpStatus(): number {
    return this.outcome === 'unknown' ? 503 : 502;
  }
  get code(): string {
    return this.outcome === 'unknown' ? 'parley_unavailable' : 'parley_error';
  }
}

export class ParleyTimeoutError extends ParleyError {
  readonly httpStatus = 504;
  readonly code = 'parley_timeout';
  readonly outcome: ParleyOutcome = 'unknown';
  constructor(method: string, path: string, durationMs: number) {
    super(`Parley did not answer ${method} ${path} in time.`, method, path, durationMs);
  }
}

export class ParleyNetworkError extends ParleyError {
  readonly httpStatus = 503;
  readonly code = 'parley_unavailable';
  readonly outcome: ParleyOutcome;
  override readonly retryAfterSeconds = 5;
  constructor(
    readonly sent: boolean,
    method: string,
    path: string,
    durationMs: number,
  ) {
    super(`Parley could not be reached for ${method} ${path}.`, method, path, durationMs);
    this.outcome = sent ? 'unknown' : 'rejected';
  }
}

/** The error code a Parley failure goes into the history with. */
export const parleyErrorCode = (err: ParleyError): string =>
  err instanceof ParleyApiError
    ? (err.parleyCode ?? `http_${err.status}`)
    : err instanceof ParleyTimeoutError
      ? 'timeout'
      : 'network_error';

/** 404: no erasure has this id. */
export class ErasureNotFoundError extends AppError {
  readonly httpStatus = 404;
  readonly code = 'erasure_not_found';
  constructor() {
    super('No erasure has this id.');
  }
}

/**
 * 409: a full erasure of the user is under way: its owner item is a fence that no handover, offer
 * or timer may change until the eraser is done (DESIGN.md "Erasure and retention").
 */
export class ErasureInProgressError extends AppError {
  readonly httpStatus = 409;
  readonly code = 'erasure_in_progress';
  override readonly retryAfterSeconds = 60;
  constructor() {
    super('The user is being erased; nothing about it can change until the erasure is done.');
  }
}

/** 503: the eraser's work list is full; the erasure was not registered. */
export class ErasureBacklogError extends AppError {
  readonly httpStatus = 503;
  readonly code = 'erasure_backlog';
  override readonly retryAfterSeconds = 60;
  constructor() {
    super('Too many erasures are waiting for the eraser; retry in a minute.');
  }
}
