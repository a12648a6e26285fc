// Idempotency-Key of POST /handovers (and of a callback's handovers): the same key and body give
// the same answer; another body is refused (422); a failed handover releases its key.
import { canonicalJson } from '../canonical';
import { sha256Hex } from '../chain';
import { HandoverInProgressError, IdempotencyKeyReusedError } from '../errors';
import type { HistoryStore } from '../ports';
import type { HandoverRecord, IdempotencyItem, OwnerItem } from '../types';
import type { HandoverDeps, HandoverInput, HandoverResult } from './deps';
import { toOwnerView } from './owner';
import { pendingRemainingMs } from './pending';
import { recoverPending } from './recover';

const DEFAULT_IDEMPOTENCY_TTL_SECONDS = 86_400;
/** How far back (records, newest first) an Idempotency-Key replay looks for its handover. */
const IDEMPOTENCY_LOOKBACK = 100;
/** Reads of an Idempotency-Key's item before giving up on a key that keeps changing hands. */
const CLAIM_ATTEMPTS = 3;

type Claim = { handoverId: string } | { answer: HandoverResult };

/**
 * Idempotency-Key: the same key and body give the same answer; another body is refused (422).
 * Input: the request. Output: the handoverId to proceed under, or the earlier answer.
 * Steps: no live item -> store one with a fresh handoverId (before any marker); an item with
 * another body -> 422; else replay: in flight -> 409 (a stale one is recovered first), completed
 * -> its answer, failed -> the key is released: its item is replaced with a fresh handoverId (a
 * CAS on the failed one's id) and the request proceeds as a new handover. A lost race re-reads
 * the item and follows these rules again.
 */
export async function claimIdempotencyKey(
  input: HandoverInput,
  deps: HandoverDeps,
  /** An offer's own settings (mode offer): part of the body, so a handover's key is not one. */
  offer?: Record<string, unknown>,
): Promise<Claim> {
  const key = input.idempotencyKey!;
  const bodyHash = sha256Hex(
    canonicalJson({
      userId: input.userId,
      newOwner: input.newOwner,
      metadata: input.metadata ?? null,
      expectedOwner: input.expectedOwner,
      offer,
    }),
  );
  const fresh = (nowMs: number): IdempotencyItem => ({
    callerServiceId: input.requestedBy,
    key,
    handoverId: deps.ids.next(),
    userId: input.userId,
    bodyHash,
    expiresAt:
      Math.floor(nowMs / 1000) +
      (input.idempotencyTtlSeconds ??
        deps.idempotencyTtlSeconds ??
        DEFAULT_IDEMPOTENCY_TTL_SECONDS),
  });
  for (let attempt = 0; attempt < CLAIM_ATTEMPTS; attempt++) {
    const nowMs = deps.clock.now();
    const existing = await deps.state.getIdempotency(input.requestedBy, key, nowMs);
    if (!existing) {
      const item = fresh(nowMs);
      if (await deps.state.putIdempotency(item, nowMs)) return { handoverId: item.handoverId };
      continue; // a concurrent request with the same key stored its item first
    }
    if (existing.bodyHash !== bodyHash) throw new IdempotencyKeyReusedError();
    const earlier = await replay(existing, deps);
    if (earlier !== 'failed') return earlier;
    // A failed handover changed nothing: the key is free for a new attempt.
    const retry = fresh(nowMs);
    if (await deps.state.replaceIdempotency(retry, existing.handoverId, nowMs)) {
      deps.log.info('idempotency key released by a failed handover', {
        handoverId: retry.handoverId,
        failedHandoverId: existing.handoverId,
      });
      return { handoverId: retry.handoverId };
    }
    // Another retry with the same key replaced it first: follow the rules with its item.
  }
  throw new HandoverInProgressError(1);
}

/**
 * Where an earlier request with this key got to: in flight (409; a stale one is recovered first),
 * completed (its answer), failed ('failed'), or not started (proceed under its handoverId).
 */
async function replay(existing: IdempotencyItem, deps: HandoverDeps): Promise<Claim | 'failed'> {
  const { userId, handoverId } = existing;
  let item = await deps.state.getOwner(userId);
  if (item?.pending?.draft.handoverId === handoverId) {
    const remainingMs = pendingRemainingMs(item, deps.clock.now(), deps.staleAfterMs);
    if (remainingMs > 0) throw new HandoverInProgressError(remainingMs / 1000);
    if ((await recoverPending(userId, deps)) === 'busy') {
      throw new HandoverInProgressError(deps.staleAfterMs / 1000);
    }
    item = await deps.state.getOwner(userId);
  }
  const record = await findRecord(userId, handoverId, item, deps.history);
  if (record?.status === 'failed') return 'failed';
  if (record) {
    return {
      answer: {
        changed: true,
        owner: await toOwnerView(record.toOwner, deps.catalog),
        handover: record,
      },
    };
  }
  // Not in flight and not recorded: the earlier request stopped before its marker (or found the
  // user already owned, or lost its seq to another record). Proceed as new under its handoverId.
  return { handoverId };
}

async function findRecord(
  userId: string,
  handoverId: string,
  item: OwnerItem | null,
  history: HistoryStore,
): Promise<HandoverRecord | null> {
  if (item && item.lastHandoverId === handoverId) {
    const last = await history.get(userId, item.lastSeq);
    if (last?.handoverId === handoverId) return last;
  }
  const page = await history.listUser(userId, { limit: IDEMPOTENCY_LOOKBACK, order: 'desc' });
  return page.items.find((r) => r.handoverId === handoverId) ?? null;
}
