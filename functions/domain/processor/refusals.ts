// How a callback reads a refusal of the handover it asked for: which ones are final (logged, not
// retried) and what a log line may say about them.
import {
  HandoverInProgressError,
  IdempotencyKeyReusedError,
  NotOwnerError,
  OwnerChangedError,
  ParleyApiError,
  ParleyError,
  parleyErrorCode,
  UnknownServiceError,
  ValidationError,
} from '../errors';
import type { HandoverResult } from '../handover/deps';
import { isNotOwnerRefusal } from '../messages';

export type HandoverAttempt =
  | { kind: 'done'; result: HandoverResult }
  | { kind: 'refused'; reason: 'not_owner' | 'owner_changed' | 'invalid' | 'parley_rejected' };

/**
 * What a log line says about a refusal: for Parley's answer its HTTP status and its own code
 * (`parleyCode`, e.g. `user_not_owned`), else our error code (e.g. `not_owner`).
 */
export function refusalDetails(err: unknown): Record<string, string | number | null> {
  if (err instanceof ParleyApiError) return { status: err.status, parleyCode: err.parleyCode };
  // A rejected call that got no answer (never sent): `network_error`, not a code of Parley's.
  if (err instanceof ParleyError) return { error: parleyErrorCode(err) };
  const code = (err as { code?: unknown } | null)?.code;
  return { code: typeof code === 'string' ? code : null };
}

/** Which definite refusals of the handover use case are final for a callback (null: retry). */
export function refusalOf(
  err: unknown,
): Extract<HandoverAttempt, { kind: 'refused' }>['reason'] | null {
  if (err instanceof HandoverInProgressError) return null;
  if (err instanceof NotOwnerError || isNotOwnerRefusal(err)) return 'not_owner';
  if (err instanceof OwnerChangedError) return 'owner_changed';
  if (
    err instanceof ValidationError ||
    err instanceof UnknownServiceError ||
    err instanceof IdempotencyKeyReusedError
  ) {
    return 'invalid';
  }
  if (err instanceof ParleyError && err.outcome === 'rejected') return 'parley_rejected';
  return null;
}
