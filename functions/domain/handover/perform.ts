// The handover protocol (DESIGN.md, "The handover sequence"): one Service moves a user to another
// through Parley, with exactly one history record per ownership change made through this service.
import { sealMetadata } from '../chain';
import { withDeadline } from '../deadline';
import {
  ErasureInProgressError,
  ForbiddenError,
  NotOwnerError,
  OwnerChangedError,
} from '../errors';
import { TimerClaimLostError } from '../lifecycle/errors';
import { checkMetadata } from '../metadata';
import { offerAsHandover } from '../offers/create';
import type { DraftRecord, OwnerItem } from '../types';
import { assertUserId } from '../user-id';
import { completePending } from './complete';
import type { HandoverDeps, HandoverInput, HandoverResult } from './deps';
import { claimIdempotencyKey } from './idempotency';
import { toOwnerView } from './owner';
import { ownerItemAtRest } from './recover';
import { isoAt, nextCreatedAt } from './records';

/**
 * Performs a handover.
 * Input: the request (user, new owner and optional expected owner as identification, name or
 * 'default', metadata, caller, source, Idempotency-Key). Output: `{ changed, owner, handover? }`.
 * Steps (DESIGN.md): check the caller and resolve the services -> Idempotency-Key: replay an
 * earlier completed answer, or claim the key (a failed earlier attempt releases it) -> owner item
 * (ownerItemAtRest): a fresh marker 409, recover a stale one, refresh from Parley when
 * missing or not the caller (drift becomes an `observed` record) -> rules (expected owner 409,
 * already owner: unchanged, not owner 403) -> CAS a pending marker holding the full draft ->
 * complete it (PUT owner, settle unknown outcomes, one record, final CAS; a bot's agent/unset
 * is an outbox action).
 * A failed handover throws its error after it is recorded.
 */
export async function performHandover(
  input: HandoverInput,
  requestDeps: HandoverDeps,
): Promise<HandoverResult> {
  // A rule or a downstream answer asking for an offer: the offer's use case, answered as a result.
  if (input.offer) return offerAsHandover(input, requestDeps);
  const deps = withDeadline(requestDeps);
  const { userId, requestedBy } = input;
  assertUserId(userId);
  if (!deps.catalog.get(requestedBy)) {
    throw new ForbiddenError('The calling service is not configured in this deployment.');
  }
  const target = await deps.catalog.resolve(input.newOwner);
  const expected =
    input.expectedOwner === undefined ? undefined : await deps.catalog.resolve(input.expectedOwner);
  const meta = checkMetadata(input.metadata);

  let handoverId: string | undefined;
  if (input.idempotencyKey !== undefined) {
    const claim = await claimIdempotencyKey(input, deps);
    if ('answer' in claim) return claim.answer;
    handoverId = claim.handoverId;
  }

  const item = await ownerItemAtRest(userId, requestedBy, deps);
  if (item.erasing) throw new ErasureInProgressError();
  const timerClaim = input.expectedVersion !== undefined;
  if (timerClaim && item.version !== input.expectedVersion) {
    throw new TimerClaimLostError(item.owner);
  }

  if (expected && expected.identification !== item.owner) {
    throw new OwnerChangedError(item.owner, 'The user is not owned by the expected owner.');
  }
  if (target.identification === item.owner) {
    return { changed: false, owner: await toOwnerView(item.owner, deps.catalog) };
  }
  if (item.owner !== requestedBy) throw new NotOwnerError(requestedBy, item.owner);

  const nowMs = deps.clock.now();
  const draft: DraftRecord = {
    handoverId: handoverId ?? deps.ids.next(),
    userId,
    seq: item.lastSeq + 1,
    fromOwner: item.owner,
    toOwner: target.identification,
    reason: meta.reason,
    ...sealMetadata(meta.metadata, deps.salts),
    requestedBy: input.actor ?? (input.source === 'rule' ? `rule:${requestedBy}` : requestedBy),
    source: input.source,
    createdAt: nextCreatedAt(item.lastCreatedAt, nowMs),
    prevHash: item.lastHash,
  };
  const marked: OwnerItem = {
    ...item,
    version: item.version + 1,
    pending: {
      draft,
      markedAt: isoAt(nowMs),
      actingService: item.owner,
      ...(input.idempotencyKey !== undefined ? { idempotencyKey: input.idempotencyKey } : {}),
    },
  };
  if (!(await deps.state.compareAndSetOwner(marked, item.version))) {
    const now = await deps.state.getOwner(userId);
    // The marker's CAS is on the version read: for a timer, on the version it claimed.
    throw timerClaim
      ? new TimerClaimLostError(now?.owner ?? null)
      : new OwnerChangedError(now?.owner ?? null);
  }
  deps.log.info('handover started', {
    handoverId: draft.handoverId,
    userId,
    seq: draft.seq,
    source: draft.source,
  });

  const { record, error } = await completePending(marked, deps, 'put');
  if (error) throw error;
  return {
    changed: true,
    owner: await toOwnerView(record.toOwner, deps.catalog),
    handover: record,
  };
}
