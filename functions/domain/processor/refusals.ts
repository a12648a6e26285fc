// How a callback asks for a handover and reads its refusal: which ones are final (logged, not
// retried) and what a log line may say about them.
import {
  ErasureInProgressError,
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
import type { HandoverInput, HandoverResult } from '../handover/deps';
import { isNotOwnerRefusal } from '../messages';
import { deferred, type OwnerLookup } from './owner-at-rest';

export type HandoverAttempt =
  | { kind: 'done'; result: HandoverResult }
  | {
      kind: 'refused';
      reason: 'not_owner' | 'owner_changed' | 'invalid' | 'parley_rejected' | 'erasure_in_progress';
    };

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
  // The user is being erased: no handover of it, while its messages still reach its owner.
  if (err instanceof ErasureInProgressError) return 'erasure_in_progress';
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

/**
 * Asks the handover use case for a callback's handover: definite refusals are logged, counted
 * and answered (not retried); a handover in flight defers the message; the rest throws.
 */
export async function askHandover(
  run: OwnerLookup,
  input: HandoverInput,
): Promise<HandoverAttempt> {
  const { deps, ctx } = run;
  try {
    const result = await deps.handover(input);
    deps.log.info('handover requested by callback', {
      ...ctx,
      source: input.source,
      changed: result.changed,
      handoverId: result.handover?.handoverId,
      owner: result.owner.identification,
    });
    return { kind: 'done', result };
  } catch (err) {
    // Another handover of the user is in flight: wait for it as at the owner check, a second
    // or so, not a whole visibility timeout (the user's later callbacks wait behind this one).
    if (err instanceof HandoverInProgressError) {
      throw deferred(run, null, err.retryAfterSeconds * 1000);
    }
    const reason = refusalOf(err);
    if (reason === null) throw err;
    deps.metrics.count('CallbackHandoverRefused', 1, { reason });
    deps.log.warn('handover requested by callback was refused', {
      ...ctx,
      source: input.source,
      reason,
      ...refusalDetails(err),
    });
    return { kind: 'refused', reason };
  }
}
