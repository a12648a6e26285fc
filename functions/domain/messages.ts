// An owning Service sends text to its user through Parley (`POST /users/{userId}/messages`).
import { HandoverInProgressError, NotOwnerError, ParleyApiError, ValidationError } from './errors';
import type { Clock, Log, ParleyClients, StateStore } from './ports';
import type { OwnerItem } from './types';

/** Longest text accepted, in characters (code points), after trimming. */
export const MAX_MESSAGE_CHARS = 4096;
const MAX_USER_ID_CHARS = 256;
/** DESIGN.md's `staleAfter`: a pending marker younger than this is a handover in flight. */
const DEFAULT_STALE_AFTER_MS = 60_000;

/**
 * True when Parley refused a call because the calling Service does not own the user. PARLEY.md
 * only says a non-owner gets an ERROR envelope; we read it as a definite 403, or an error code
 * naming the owner (the simulator's `service_is_not_owner`). The one place to change that reading.
 */
export function isNotOwnerRefusal(err: unknown): boolean {
  return (
    err instanceof ParleyApiError &&
    err.outcome === 'rejected' &&
    (err.status === 403 || /not_?owner/i.test(err.parleyCode ?? ''))
  );
}

/** The text to send, trimmed: 1..4096 characters, else ValidationError (no text in the error). */
export function normalizeMessageText(text: unknown): string {
  if (typeof text !== 'string')
    throw new ValidationError('`text` must be a string.', 'invalid_text');
  const trimmed = text.trim();
  const length = [...trimmed].length;
  if (length === 0 || length > MAX_MESSAGE_CHARS) {
    throw new ValidationError(
      `\`text\` must hold 1 to ${MAX_MESSAGE_CHARS} characters (got ${length}).`,
      'invalid_text',
    );
  }
  return trimmed;
}

export interface SendUserMessageDeps {
  state: StateStore;
  parley: ParleyClients;
  refreshOwner: (userId: string, asService: string) => Promise<OwnerItem>;
  clock: Clock;
  log: Log;
  /** @default 60000 */
  staleAfterMs?: number;
}

/**
 * sendUserMessage
 * Input: the user, the text, the calling Service's identification.
 * Output: `{ userId, sent: true }` once Parley accepted the message.
 * Steps: validate the text; read the owner cache, refreshing it from Parley when it is missing or
 * names someone else (not during a fresh pending handover: that one is about to settle); a fresh
 * pending handover from or to the caller -> HandoverInProgressError (its target owns the user only
 * once it completed); any other owner -> NotOwnerError; send as the caller. Parley refusing because
 * the caller is not the owner (the cache was stale) -> refresh, NotOwnerError with the real owner.
 */
export async function sendUserMessage(
  input: { userId: string; text: string; serviceId: string },
  deps: SendUserMessageDeps,
): Promise<{ userId: string; sent: true }> {
  const { userId, serviceId } = input;
  if (typeof userId !== 'string' || userId.trim() === '' || userId.length > MAX_USER_ID_CHARS) {
    throw new ValidationError('A user id is required.', 'invalid_user_id');
  }
  const text = normalizeMessageText(input.text);
  const staleAfterMs = deps.staleAfterMs ?? DEFAULT_STALE_AFTER_MS;

  const pendingAgeMs = (item: OwnerItem): number | null =>
    item.pending ? deps.clock.now() - Date.parse(item.pending.markedAt) : null;
  const inFlight = (item: OwnerItem): boolean => {
    const age = pendingAgeMs(item);
    return age !== null && age < staleAfterMs;
  };

  let owner = await deps.state.getOwner(userId);
  if (!owner || (owner.owner !== serviceId && !inFlight(owner))) {
    owner = await deps.refreshOwner(userId, serviceId);
  }
  if (
    inFlight(owner) &&
    (owner.owner === serviceId || owner.pending!.draft.toOwner === serviceId)
  ) {
    deps.log.info('user message refused: handover in progress', { userId, serviceId });
    throw new HandoverInProgressError((staleAfterMs - pendingAgeMs(owner)!) / 1000);
  }
  if (owner.owner !== serviceId) {
    deps.log.info('user message refused: not the owner', {
      userId,
      serviceId,
      owner: owner.owner,
    });
    throw new NotOwnerError(serviceId, owner.owner);
  }

  try {
    await deps.parley(serviceId).sendMessage(userId, text);
  } catch (err) {
    if (!isNotOwnerRefusal(err)) throw err;
    const refreshed = await deps.refreshOwner(userId, serviceId);
    deps.log.warn('user message refused by Parley: not the owner', {
      userId,
      serviceId,
      owner: refreshed.owner,
    });
    // Parley's word wins; if the refresh still names the caller, report Parley's refusal as is.
    if (refreshed.owner === serviceId) throw err;
    throw new NotOwnerError(serviceId, refreshed.owner);
  }
  deps.log.info('user message sent', { userId, serviceId, length: [...text].length });
  return { userId, sent: true };
}
