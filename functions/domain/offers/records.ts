// An offer's own records (`kind: "offer"`), written the way a handover writes its record: a CAS on
// the owner item stores the offer's change and a pending marker holding the drafts, then the
// records are appended (conditional on their key) and the marker cleared. A crash anywhere leaves
// either nothing (before the CAS) or the marker, which any later writer (recovery, the next request
// for the user, reconcile) finishes from the drafts: every event is recorded exactly once.
import { finalizeRecord, randomSalts, type SaltSource, saltFrom, sealMetadata } from '../chain';
import { OwnerChangedError } from '../errors';
import type { HandoverDeps } from '../handover/deps';
import { advanceItem, appendOnce, nextCreatedAt } from '../handover/records';
import { leaseSettingsOf, withDueAt } from '../lifecycle/owner-lease';
import type { LiveOffer } from '../lifecycle/types';
import type { DraftRecord, HandoverRecord, OfferEvent, OfferRef, OwnerItem } from '../types';

/** The reference a record keeps of its offer. */
export const offerRef = (offer: LiveOffer, event: OfferEvent): OfferRef => ({
  offerId: offer.offerId,
  event,
  from: offer.from,
  to: offer.to,
  expiresAt: offer.expiresAt,
  ...(event === 'created' ? { onTimeout: offer.onTimeout } : {}),
});

/** One offer event to record; `reason` and `metadata` as a handover record keeps them. */
export interface OfferEventSpec {
  handoverId: string;
  offer: LiveOffer;
  event: OfferEvent;
  requestedBy: string;
  reason: string | null;
  metadata: Record<string, unknown> | null;
}

/** Where the next record goes: the owner item's head. */
type Head = Pick<OwnerItem, 'userId' | 'owner' | 'lastSeq' | 'lastHash' | 'lastCreatedAt'>;

/**
 * The drafts of `specs`, chained after `head` in order: each one's seq, prevHash and createdAt
 * follow the one before, as if it were already written (an offer record's outcome is fixed:
 * `completed`, no Parley call), so every writer builds the same keys and hashes.
 */
export function chainOfferDrafts(
  head: Head,
  specs: OfferEventSpec[],
  nowMs: number,
  salts: SaltSource = randomSalts,
): DraftRecord[] {
  const drafts: DraftRecord[] = [];
  let at = { seq: head.lastSeq, hash: head.lastHash, createdAt: head.lastCreatedAt };
  for (const spec of specs) {
    const draft: DraftRecord = {
      handoverId: spec.handoverId,
      userId: head.userId,
      seq: at.seq + 1,
      fromOwner: head.owner,
      toOwner: head.owner,
      reason: spec.reason,
      ...sealMetadata(spec.metadata, salts),
      requestedBy: spec.requestedBy,
      source: 'offer',
      createdAt: nextCreatedAt(at.createdAt, nowMs),
      prevHash: at.hash,
      kind: 'offer',
      offer: offerRef(spec.offer, spec.event),
    };
    drafts.push(draft);
    const record = finalizeRecord(draft, 'completed', null);
    at = { seq: record.seq, hash: record.hash, createdAt: record.createdAt };
  }
  return drafts;
}

/** `item` (its offer change made) with a marker holding `drafts` (at least one), one version on. */
export function markOfferEvents(
  item: OwnerItem,
  drafts: DraftRecord[],
  nowMs: number,
  idempotencyKey?: string,
): OwnerItem {
  const [draft, ...then] = drafts;
  if (!draft) throw new Error('An offer marker needs at least one record.');
  return {
    ...item,
    version: item.version + 1,
    pending: {
      draft,
      markedAt: new Date(nowMs).toISOString(),
      actingService: item.owner,
      ...(idempotencyKey !== undefined ? { idempotencyKey } : {}),
      ...(then.length > 0 ? { then } : {}),
    },
  };
}

/**
 * Finishes an offer marker (`marked`, as stored): appends its records in order (a record already
 * stored wins, its notifications written again) and clears the marker with a CAS. Shared by the
 * request that wrote the marker and by recovery (completePending hands such markers here).
 * Output as completePending's: the first record, the item afterwards (null when a recoverer got
 * there first), and an error when a record's seq holds another record (nothing to do but move on).
 */
export async function completeOfferEvents(
  marked: OwnerItem,
  deps: HandoverDeps,
): Promise<{
  record: HandoverRecord;
  records: HandoverRecord[];
  item: OwnerItem | null;
  error?: Error;
}> {
  const pending = marked.pending;
  if (!pending) throw new Error('completeOfferEvents needs an item with a pending marker.');
  const records: HandoverRecord[] = [];
  let error: Error | undefined;
  for (const draft of [pending.draft, ...(pending.then ?? [])]) {
    const stored = await appendOnce(finalizeRecord(draft, 'completed', null), deps);
    records.push(stored);
    if (stored.handoverId !== draft.handoverId) {
      // Cannot happen while the marker holds the seq; if it does, the chain goes on from what is
      // stored and the rest of the drafts (chained to this one) are dropped.
      error = new OwnerChangedError(marked.owner, 'Another record took the offer event’s place.');
      break;
    }
  }
  const next = advanceItem(marked, records, deps.clock.now(), deps.catalog);
  const won = await deps.state.compareAndSetOwner(next, marked.version);
  if (!won) deps.log.info('offer events finished by another writer', { userId: marked.userId });
  return { record: records[0]!, records, item: won ? next : null, ...(error ? { error } : {}) };
}

/**
 * After a completed handover (any source) of a user with a live offer: the offer is superseded.
 * The record is derived from the handover's record alone (id, seq, time), so a recoverer that
 * finishes the handover writes the very same one. Returns the record to add to the item's
 * advance, or none (no live offer, a failed handover, an offer's own record).
 */
export async function supersedeAfterHandover(
  marked: OwnerItem,
  record: HandoverRecord,
  deps: HandoverDeps,
): Promise<HandoverRecord[]> {
  const offer = marked.offer;
  if (!offer || record.status !== 'completed' || record.kind === 'offer') return [];
  if (record.offer?.offerId === offer.offerId) return [];
  const [draft] = chainOfferDrafts(
    {
      userId: record.userId,
      owner: record.toOwner,
      lastSeq: record.seq,
      lastHash: record.hash,
      lastCreatedAt: record.createdAt,
    },
    [
      {
        handoverId: `${record.handoverId}.superseded`,
        offer,
        event: 'superseded',
        requestedBy: record.requestedBy,
        reason: 'offer_superseded',
        metadata: null,
      },
    ],
    Date.parse(record.createdAt),
    // Derived salts keep the record the very same from every writer. Its metadata is null, so the
    // metadata salt may come from the handover's hash; the subject salt comes from the handover's
    // subject salt, which a full erasure removes with it (the kept hash would let a guessed user
    // id be tested). A v2 handover has none: its hash then, as before v3.
    saltFrom(`${record.hash}#superseded`, `${record.subjectSalt ?? record.hash}#superseded`),
  );
  return [await appendOnce(finalizeRecord(draft!, 'completed', null), deps)];
}

/** The owner item with its live offer set to `offer` (null: none), `dueAt` derived again. */
export const withOffer = (
  item: OwnerItem,
  offer: LiveOffer | null,
  deps: HandoverDeps,
): OwnerItem => withDueAt({ ...item, offer }, leaseSettingsOf(deps.catalog.get(item.owner)));
