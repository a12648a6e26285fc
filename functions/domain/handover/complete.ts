// Finishing a handover from its pending marker (steps 3-5 of DESIGN.md's sequence), shared by the
// request that wrote the marker and by recovery of a stale one, so that both write the same record
// key and a handover never gets a second record. Its only Parley calls settle the owner: the
// agent/unset after a hand-back to a bot is an outbox action (notify/build.ts), written with the
// record's notifications, so the request does not wait for it.
import { finalizeRecord } from '../chain';
import { callBudget } from '../deadline';
import {
  HandoverInProgressError,
  NotOwnerError,
  OwnerChangedError,
  ParleyApiError,
  ParleyError,
  parleyErrorCode,
} from '../errors';
import { completeOfferEvents, supersedeAfterHandover } from '../offers/records';
import type { HandoverRecord, OwnerItem, ParleyOutcomeInfo, PendingHandover } from '../types';
import type { HandoverDeps } from './deps';
import { advanceItem, appendOnce, observedRecord } from './records';

/**
 * Before a PUT owner made from a marker that is no longer fresh: a recoverer may have claimed it
 * (and the user may have been handed on since), so a late writer must not act on Parley again.
 * Only checked once the marker is this old, so the happy path pays no extra read.
 */
async function ensureStillOurs(marked: OwnerItem, deps: HandoverDeps): Promise<void> {
  const pending = marked.pending!;
  if (deps.clock.now() - Date.parse(pending.markedAt) < deps.staleAfterMs / 2) return;
  const now = await deps.state.getOwner(pending.draft.userId);
  if (
    now?.version === marked.version &&
    now.pending?.draft.handoverId === pending.draft.handoverId
  ) {
    return;
  }
  deps.log.warn('pending handover taken over by a recoverer; not acting on it again', {
    handoverId: pending.draft.handoverId,
    userId: pending.draft.userId,
  });
  throw new HandoverInProgressError(0);
}

/** PUT owner attempts per completion: the first and at most two more after an unknown outcome. */
const MAX_PUTS = 3;

/** The `parley` code of a record whose outcome only a `GET owner` established (no PUT answer). */
export const SETTLED_BY_GET = 'settled_by_get_owner';

type Settled =
  | { status: 'completed'; parley: ParleyOutcomeInfo }
  | {
      status: 'failed';
      parley: ParleyOutcomeInfo;
      /** What to throw to the requester once recorded. */
      error: Error;
      /** Parley shows this other owner: an `observed` record follows the failed one. */
      otherOwner?: string;
    };

const infoOf = (err: ParleyError): ParleyOutcomeInfo => ({
  status: err instanceof ParleyApiError ? err.status : null,
  code: parleyErrorCode(err),
  durationMs: err.durationMs,
});

/**
 * Makes Parley's owner the draft's target, or learns that it cannot be.
 * `startWith: 'put'` for a fresh handover; `'get'` for recovery, which first asks Parley whether
 * the earlier attempt applied. An unknown outcome is never retried blind: GET owner settles it.
 * Throws (leaving the marker) when the settling GET fails or on anything that is not Parley's.
 */
async function settle(
  marked: OwnerItem,
  deps: HandoverDeps,
  startWith: 'put' | 'get',
): Promise<Settled> {
  const pending = marked.pending!;
  const { draft, actingService } = pending;
  const client = deps.parley(actingService);
  let mode = startWith;
  let puts = 0;
  let lastUnknown: ParleyError | null = null;
  // Recovery starts from a marker whose earlier attempt may have been sent: its outcome is unknown
  // and it may land late, as any attempt of this call whose outcome was unknown may.
  const earlierMayLand = startWith === 'get';
  // Out of the request's time: the marker stays, with what is known of the attempts so far.
  const budgetOrLeave = (method: string) => {
    try {
      return callBudget(deps, method, 'owner');
    } catch (err) {
      throw lastUnknown ?? err;
    }
  };
  for (;;) {
    if (mode === 'get') {
      const read = await client.getOwner(draft.userId, budgetOrLeave('GET'));
      const owner = read.data.owner;
      const info = lastUnknown
        ? infoOf(lastUnknown)
        : { status: null, code: SETTLED_BY_GET, durationMs: read.durationMs };
      if (owner === draft.toOwner) return { status: 'completed', parley: info };
      if (owner !== actingService) {
        return {
          status: 'failed',
          parley: info,
          error: new OwnerChangedError(owner, 'Another service took the user over meanwhile.'),
          otherOwner: owner,
        };
      }
      if (puts >= MAX_PUTS) {
        // Parley still shows the acting service after attempts whose outcome was unknown: one of
        // them may yet land. Not a definite failure: the marker stays, and recovery settles it
        // with GET owner once it is stale (by then a late attempt has landed or never will).
        throw lastUnknown ?? new Error('PUT owner was never attempted.');
      }
      mode = 'put';
      continue;
    }
    await ensureStillOurs(marked, deps);
    const budget = budgetOrLeave('PUT');
    puts++;
    try {
      const done = await client.setOwner(draft.userId, draft.toOwner, draft.metadata ?? {}, budget);
      return {
        status: 'completed',
        parley: { status: done.status, code: null, durationMs: done.durationMs },
      };
    } catch (err) {
      if (!(err instanceof ParleyError)) throw err;
      deps.log.warn('parley PUT owner failed', {
        handoverId: draft.handoverId,
        outcome: err.outcome,
        code: parleyErrorCode(err),
        attempt: puts,
      });
      if (err.outcome === 'rejected') {
        const seen =
          err instanceof ParleyApiError && err.status === 403 ? await whoOwns(pending, deps) : {};
        const mayHaveLanded = lastUnknown !== null || earlierMayLand;
        if (mayHaveLanded && seen.otherOwner === draft.toOwner) {
          // Refused because the target owns the user already: an earlier attempt of ours whose
          // outcome was unknown did land (late). That is this handover, completed.
          return {
            status: 'completed',
            parley: lastUnknown
              ? infoOf(lastUnknown)
              : { status: null, code: SETTLED_BY_GET, durationMs: err.durationMs },
          };
        }
        if (mayHaveLanded && seen.unread) {
          // Refused as not the owner after an attempt whose outcome is unknown, and Parley could
          // not say who owns the user: that attempt may have landed. Not a definite failure:
          // leave the marker for recovery to settle with GET owner.
          throw lastUnknown ?? err;
        }
        const { otherOwner } = seen;
        return {
          status: 'failed',
          parley: infoOf(err),
          // Refused because another service owns the user (the cache was stale): answer as 403.
          error: otherOwner ? new NotOwnerError(actingService, otherOwner) : err,
          ...(otherOwner ? { otherOwner } : {}),
        };
      }
      lastUnknown = err;
      mode = 'get';
    }
  }
}

/**
 * After a 403 refusal (e.g. "not the owner": the cache was stale), a best-effort look at who owns
 * the user, so the drift is recorded (an `observed` record after the failed one) and the cache
 * heals. A failing look changes nothing.
 */
async function whoOwns(
  pending: PendingHandover,
  deps: HandoverDeps,
): Promise<{ otherOwner?: string; unread?: true }> {
  try {
    const client = deps.parley(pending.actingService);
    const owner = (await client.getOwner(pending.draft.userId, callBudget(deps, 'GET', 'owner')))
      .data.owner;
    return owner !== pending.actingService ? { otherOwner: owner } : {};
  } catch {
    return { unread: true };
  }
}

export interface Completion {
  record: HandoverRecord;
  /** Set when the handover failed: what the requester gets (thrown after recording). */
  error?: Error;
  /** The owner item after the final CAS, or null when a recoverer had taken over meanwhile. */
  item: OwnerItem | null;
}

/**
 * Completes the handover in `marked` (an owner item holding a pending marker, as stored).
 * Input: the marked item; `startWith` as for settle; `stored` when the record is already written.
 * Output: the record (exactly one per handover), the error for a failed one, the final item.
 * Steps: settle with Parley (unless stored) -> append the record (an existing one wins; its
 * outbox items written) -> an `observed` record when another service owns the user -> CAS the
 * item to its new state.
 */
export async function completePending(
  marked: OwnerItem,
  deps: HandoverDeps,
  startWith: 'put' | 'get',
  stored?: HandoverRecord,
): Promise<Completion> {
  const pending = marked.pending;
  if (!pending) throw new Error('completePending needs an item with a pending marker.');
  const { draft } = pending;
  // An offer's own events: records to write, nothing to settle with Parley.
  if (draft.kind === 'offer') return completeOfferEvents(marked, deps);

  let record: HandoverRecord;
  let error: Error | undefined;
  let otherOwner: string | undefined;
  // Whether another writer may already have written records after this one.
  let maybeFollowed = true;
  if (stored) {
    record = stored;
    // Its writer may have died before the record's notifications were written (the same ids).
    await deps.notify?.(stored);
  } else if (draft.source === 'observed') {
    // A change seen at Parley, claimed by its marker: a fact to record, nothing to settle.
    record = await appendOnce(finalizeRecord(draft, 'completed', null), deps);
  } else {
    const settled = await settle(marked, deps, startWith);
    const built = finalizeRecord(draft, settled.status, settled.parley);
    record = await appendOnce(built, deps);
    maybeFollowed = record !== built || settled.status === 'failed';
    if (settled.status === 'failed') {
      error = settled.error;
      otherOwner = settled.otherOwner;
    }
  }
  if (record.handoverId !== draft.handoverId) return seqTaken(marked, record, deps);
  if (record.status === 'completed') error = undefined;
  else error ??= new OwnerChangedError(marked.owner, 'The handover did not take place.');

  const records = [record];
  const nowMs = deps.clock.now();
  const next = maybeFollowed ? await deps.history.get(draft.userId, record.seq + 1) : null;
  if (next) {
    records.push(next); // written before a crash, by us or a recoverer
    await deps.notify?.(next);
  } else if (record.status === 'failed' && otherOwner) {
    records.push(
      await appendOnce(
        observedRecord(
          record,
          record.fromOwner ?? marked.owner,
          otherOwner,
          deps.ids.next(),
          nowMs,
          deps.salts,
        ),
        deps,
      ),
    );
  } else {
    // A change of owner ends the user's live offer: superseded, recorded right after it.
    records.push(...(await supersedeAfterHandover(marked, record, deps)));
  }

  const finalItem = advanceItem(marked, records, nowMs, deps.catalog);
  const won = await deps.state.compareAndSetOwner(finalItem, marked.version);
  if (!won) {
    deps.log.info('handover finished by another writer', { handoverId: record.handoverId });
  }
  return { record, error, item: won ? finalItem : null };
}

/**
 * The draft's seq holds another handover's record (an observer or a concurrent writer got there):
 * that record is not this handover's outcome. The item moves past it (clearing the marker, so
 * nothing stays stuck on it) and the requester gets a conflict with the owner it now names.
 */
async function seqTaken(
  marked: OwnerItem,
  stored: HandoverRecord,
  deps: HandoverDeps,
): Promise<Completion> {
  const { draft } = marked.pending!;
  deps.log.warn('handover seq taken by another record; not this handover', {
    handoverId: draft.handoverId,
    storedHandoverId: stored.handoverId,
    userId: draft.userId,
    seq: draft.seq,
  });
  const records = [stored];
  const next = await deps.history.get(draft.userId, stored.seq + 1);
  if (next) records.push(next);
  const finalItem = advanceItem(marked, records, deps.clock.now(), deps.catalog);
  const won = await deps.state.compareAndSetOwner(finalItem, marked.version);
  return {
    record: stored,
    error: new OwnerChangedError(
      finalItem.owner,
      'Another change of owner was recorded while this handover was in flight.',
    ),
    item: won ? finalItem : null,
  };
}
