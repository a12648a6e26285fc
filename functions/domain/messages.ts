// An owning Service sends text to its user through Parley (`POST /users/{userId}/messages`).
import { HandoverInProgressError, NotOwnerError, ParleyApiError, ValidationError } from './errors';
import type { HandoverDeps } from './handover/deps';
import { refreshOwner } from './handover/owner';
import { isPendingFresh } from './handover/pending';
import { ownerItemAtRest } from './handover/recover';
import { recordActivity } from './lifecycle/activity';
import type { OwnerItem } from './types';
import { assertUserId } from './user-id';

/** Longest text accepted, in characters (code points), after trimming. */
export const MAX_MESSAGE_CHARS = 4096;

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

/**
 * sendUserMessage
 * Input: the user, the text, the calling Service's identification.
 * Output: `{ userId, sent: true }` once Parley accepted the message.
 * Steps: validate the user id and the text; a fresh pending handover between two other services
 * -> NotOwnerError (whoever ends up owning the user, it is not the caller); else the owner item
 * with no handover in flight (ownerItemAtRest: a fresh marker -> HandoverInProgressError, its
 * target owns the user only once it completed; a stale one is recovered; a missing item or one
 * naming someone else is refreshed from Parley) -> any other owner: NotOwnerError -> the
 * owner's activity resets its lease (recordActivity) -> send as the caller. Parley refusing
 * because the caller is not the owner (the cache was stale) -> refresh, NotOwnerError with the
 * real owner.
 */
export async function sendUserMessage(
  input: { userId: string; text: string; serviceId: string },
  deps: HandoverDeps,
): Promise<{ userId: string; sent: true }> {
  const { userId, serviceId } = input;
  assertUserId(userId);
  const text = normalizeMessageText(input.text);

  const cached = await deps.state.getOwner(userId);
  if (
    cached?.pending &&
    isPendingFresh(cached, deps.clock.now(), deps.staleAfterMs) &&
    cached.owner !== serviceId &&
    cached.pending.draft.toOwner !== serviceId
  ) {
    throw refused(userId, serviceId, cached.owner, deps);
  }
  let owner: OwnerItem;
  try {
    owner = await ownerItemAtRest(userId, serviceId, deps, cached);
  } catch (err) {
    if (err instanceof HandoverInProgressError) {
      deps.log.info('user message refused: handover in progress', { userId, serviceId });
    }
    throw err;
  }
  if (owner.owner !== serviceId) throw refused(userId, serviceId, owner.owner, deps);
  // The owner's message resets its lease before it leaves (a CAS that bumps the version: it wins
  // a tie with the sweep). A handover marked first (the sweep's expiry among them): the message
  // follows it (409 while in flight, then whoever owns the user sends).
  if ((await recordActivity(userId, serviceId, 'owner', deps, owner)) === 'moved') {
    const now = await ownerItemAtRest(userId, serviceId, deps);
    if (now.owner !== serviceId) throw refused(userId, serviceId, now.owner, deps);
  }

  try {
    await deps.parley(serviceId).sendMessage(userId, text);
  } catch (err) {
    if (!isNotOwnerRefusal(err)) throw err;
    const refreshed = await refreshOwner(userId, serviceId, deps);
    deps.log.warn('user message refused by Parley: not the owner', {
      userId,
      serviceId,
      owner: refreshed.owner,
    });
    // Parley's word wins; if the refresh still names the caller, report Parley's refusal as is.
    if (refreshed.owner === serviceId) throw err;
    throw new NotOwnerError(serviceId, refreshed.owner);
  }
  await deps.noteOwnerMessage?.({ userId, serviceId, since: owner.since });
  deps.log.info('user message sent', { userId, serviceId, length: [...text].length });
  return { userId, sent: true };
}

function refused(userId: string, serviceId: string, owner: string, deps: HandoverDeps): Error {
  deps.log.info('user message refused: not the owner', { userId, serviceId, owner });
  return new NotOwnerError(serviceId, owner);
}
