// The eraser's work on one erasure (the only code that changes or deletes history items). Every
// step is idempotent and the register item records how far it got, so an erasure that dies
// halfway is resumed by the next run from where it stood:
// - metadata: each record still holding metadata or a salt loses both and is marked
//   `metadataErased: { at, erasureId }` (an update conditional on its hash); the new owner's copy
//   in the outbox bodies is set to null; the live offer's metadata on the owner item too.
// - full: the owner item becomes a fence (no owner write passes it: no record is added, no new
//   chain starts), the records' outbox items are deleted, each record is copied to
//   `ERASED#{erasureId}` (kept fields only) and then deleted, the records are listed again until
//   none is left and no stalled writer can append one any more (writersDoneMs after the newest),
//   the tombstone is written; then the state table is scanned for the user's idempotency,
//   delivery, outbox and metrics items, a page per step, the scan's place kept in the register
//   item (a delivery in flight is left and waited for: its retry needs it); the fence goes last.
// - done: the register item keeps `subjectRef` (HMAC of the user id under the erasure key) and
//   drops the user id; a lookup item by subjectRef lists the subject's erasures.
import { chainedViewOf, GENESIS_HASH, reasonCodeOf } from '../chain';
import type { HandoverRecord, OwnerItem } from '../types';
import { bodyHoldsMetadata, bodyWithoutMetadata, holdsMetadata, outboxIdsOf } from './gather';
import { userNotifications, userRecords } from './gather';
import { subjectRefOf } from './subject';
import type { EraserDeps, ErasedRecord, ErasureItem, Tombstone } from './types';

/**
 * What a full erasure keeps of a record: a v3 record's whole chained view (its hash can be computed
 * again), a v1 or v2 record's links and plain fields only (its hash covered the user id). A reason
 * is kept when it is a code; free text is not. A v3 record that lost its subject salt keeps no
 * subject digest: the erased chain then reports it (`hash_mismatch`) instead of stopping the eraser.
 */
export const erasedRecordOf = (record: HandoverRecord, erasureId: string): ErasedRecord => {
  const view = record.chain === 3 ? chainedViewOf(record) : null;
  return {
    erasureId,
    seq: record.seq,
    prevHash: record.prevHash,
    hash: record.hash,
    handoverId: record.handoverId,
    createdAt: record.createdAt,
    fromOwner: record.fromOwner,
    toOwner: record.toOwner,
    reason: reasonCodeOf(record.reason),
    source: record.source,
    status: record.status,
    requestedBy: record.requestedBy,
    ...(record.chain !== undefined ? { chain: record.chain } : {}),
    ...(view
      ? {
          parley: view.parley,
          ...(view.kind !== undefined ? { kind: view.kind } : {}),
          ...(view.offer !== undefined ? { offer: view.offer } : {}),
          metadataDigest: view.metadataDigest,
          subjectDigest: view.subjectDigest,
        }
      : {}),
  };
};

/** Why a step stopped short: the run ends and the next one resumes. */
export type Stop =
  | 'handover_in_flight'
  | 'out_of_time'
  | 'owner_changed'
  /** Records were moved; the last listing waits until no stalled writer can append any more. */
  | 'waiting_for_writers'
  /**
   * The state scan left a delivery not done (its retry needs what the item says an earlier
   * attempt did); the next run scans again from the start.
   */
  | 'delivery_in_flight';

/**
 * How long after its receipt a callback may still come back from the queue: its receives
 * (CALLBACK_MAX_RECEIVE_COUNT, 10), each at most a visibility timeout (90 s) after the one before,
 * and a minute for clocks. A delivery not done by then is in the dead-letter queue.
 */
export const DELIVERIES_DONE_MS = 10 * 90_000 + 60_000;

export interface StepClock {
  /** Whether the run still has time for another step. */
  hasTime(): boolean;
}

/** Writes the register item's next state (compare-and-set on its version). */
async function advance(
  item: ErasureItem,
  change: Partial<ErasureItem>,
  deps: EraserDeps,
): Promise<ErasureItem> {
  const next: ErasureItem = { ...item, ...change, version: item.version + 1 };
  if (!(await deps.store.compareAndSetErasure(next, item.version))) {
    throw new Error('The erasure register item changed under the eraser.');
  }
  return next;
}

/** Metadata level: the records, the outbox bodies, the live offer. Null when done. */
async function eraseMetadata(
  item: ErasureItem,
  userId: string,
  deps: EraserDeps,
): Promise<Stop | null> {
  const mark = { at: item.startedAt!, erasureId: item.erasureId };
  const owner = await deps.state.getOwner(userId, { consistent: true });
  // A handover in flight holds its metadata in the marker: its record is erased once written.
  if (owner?.pending) return 'handover_in_flight';
  const records = await userRecords(userId, deps.history);
  let erased = 0;
  for (const record of records) {
    if (!holdsMetadata(record)) continue;
    const outcome = await deps.store.eraseRecordMetadata(userId, record.seq, record.hash, mark);
    if (outcome === 'erased') erased++;
  }
  let rewritten = 0;
  for (const ntf of await userNotifications(records, owner, deps.notifications)) {
    if (!bodyHoldsMetadata(ntf)) continue;
    const next = { ...ntf, body: bodyWithoutMetadata(ntf), version: ntf.version + 1 };
    if (await deps.notifications.compareAndSet(next, ntf.version)) rewritten++;
  }
  if (owner?.offer?.metadata) {
    const next = {
      ...owner,
      offer: { ...owner.offer, metadata: null },
      version: owner.version + 1,
    };
    if (!(await deps.state.compareAndSetOwner(next, owner.version))) return 'owner_changed';
  }
  deps.log.info('erasure: metadata removed', {
    erasureId: item.erasureId,
    records: erased,
    notifications: rewritten,
  });
  return null;
}

/**
 * Makes the user's owner item a fence (DESIGN.md "Erasure and retention"): from then on no owner
 * write passes it (the state store refuses a compare-and-set of a fenced item, and creates no item
 * where one exists), so no handover, offer or timer adds a record, and no new chain starts, while
 * the records are moved. Where the user has records but no owner item, the fence is made from the
 * newest record. False when the item changed meanwhile (read it again).
 */
async function setFence(
  owner: OwnerItem | null,
  userId: string,
  item: ErasureItem,
  deps: EraserDeps,
): Promise<boolean> {
  const erasing = { erasureId: item.erasureId, since: item.startedAt! };
  if (owner) {
    // Its timers go: the sweep would claim them in vain until the fence is gone.
    const { dueAt: _dueAt, ...rest } = owner;
    const fenced: OwnerItem = {
      ...rest,
      lease: null,
      offer: null,
      erasing,
      version: owner.version + 1,
    };
    return deps.state.compareAndSetOwner(fenced, owner.version);
  }
  const last = (await userRecords(userId, deps.history)).at(-1);
  if (!last) return true; // nothing to fence: no owner item, no record
  return deps.state.createOwner({
    userId,
    owner: last.toOwner,
    version: 1,
    since: null,
    lastSeq: last.seq,
    lastHash: last.hash,
    lastCreatedAt: last.createdAt,
    lastHandoverId: last.handoverId,
    pending: null,
    refreshedAt: item.startedAt!,
    erasing,
  });
}

/**
 * Full level, the records: the owner item made a fence, each record copied to the erased
 * partition and deleted, then listed again until a listing finds none and the newest record is
 * older than writersDoneMs (a stalled writer may append its record again until then: such a late
 * record is moved like the others, or dropped when its seq was moved already with another hash, as
 * appendOnce keeps the first record of a seq). Null when done; the fence stays until the state
 * items are gone (dropFence).
 */
async function moveRecords(
  item: ErasureItem,
  userId: string,
  deps: EraserDeps,
  clock: StepClock,
): Promise<Stop | null> {
  for (;;) {
    if (!clock.hasTime()) return 'out_of_time';
    const owner = await deps.state.getOwner(userId, { consistent: true });
    if (owner?.pending) return 'handover_in_flight';
    if (owner?.erasing?.erasureId !== item.erasureId) {
      if (owner?.erasing) return 'owner_changed'; // another erasure's fence: it goes first
      if (!(await setFence(owner, userId, item, deps))) continue;
    }
    const moved = new Map(
      (await deps.store.readErased(item.erasureId)).records.map((r) => [r.seq, r]),
    );
    const records = await userRecords(userId, deps.history);
    for (const id of new Set(records.flatMap(outboxIdsOf))) {
      await deps.store.deleteStateItem(`NOTIFY#${id}`);
    }
    for (const record of records) {
      const kept = moved.get(record.seq);
      if (!kept) {
        await deps.store.putErasedRecord(erasedRecordOf(record, item.erasureId));
      } else if (kept.hash !== record.hash) {
        deps.log.warn('erasure: a late copy of an erased seq dropped', {
          erasureId: item.erasureId,
          seq: record.seq,
        });
      }
      await deps.store.deleteRecord(userId, record.seq, record.hash);
    }
    if (records.length > 0) continue;
    const newest = [...moved.values()].reduce(
      (at, r) => Math.max(at, Date.parse(r.createdAt)),
      Number.NEGATIVE_INFINITY,
    );
    if (deps.clock.now() < newest + deps.writersDoneMs) return 'waiting_for_writers';
    return null;
  }
}

/** The fence goes last, once nothing of the user is left: a returning user starts a new chain. */
async function dropFence(item: ErasureItem, userId: string, deps: EraserDeps): Promise<void> {
  for (;;) {
    const owner = await deps.state.getOwner(userId, { consistent: true });
    if (owner?.erasing?.erasureId !== item.erasureId) return;
    if (await deps.store.deleteOwner(userId, owner.version)) return;
  }
}

/** The tombstone, from what the erased partition holds (so a resumed run writes the same). */
async function writeTombstone(
  item: ErasureItem,
  userId: string,
  deps: EraserDeps,
): Promise<Tombstone> {
  const { records } = await deps.store.readErased(item.erasureId);
  const first = records[0];
  const last = records.at(-1);
  const checkpoint = deps.checkpointOf ? await deps.checkpointOf(userId) : null;
  const tombstone: Tombstone = {
    erasureId: item.erasureId,
    subjectRef: subjectRefOf(await deps.key.key(), userId),
    count: records.length,
    firstSeq: first?.seq ?? 0,
    lastSeq: last?.seq ?? 0,
    lastHash: last?.hash ?? GENESIS_HASH,
    requestedBy: item.requestedBy,
    reason: item.reason,
    legalBasis: item.legalBasis,
    at: item.startedAt!,
    ...(checkpoint ? { checkpoint } : {}),
  };
  await deps.store.putTombstone(tombstone);
  return tombstone;
}

/**
 * A delivery the state scan leaves for now: not done, and its callback may still come back from
 * the queue (DELIVERIES_DONE_MS after its receipt, or while an attempt holds its lease). Its
 * retry reads what an earlier attempt did (the Service it forwarded to, the handover it made);
 * deleted, the retry would start afresh and could send the message to a second Service.
 */
const inFlight = (found: Record<string, unknown>, nowMs: number, deliveriesDoneMs: number) => {
  if (!String(found.pk).startsWith('CB#') || found.state === 'done') return false;
  const receivedMs = Date.parse(String(found.receivedAt));
  const leaseUntil = typeof found.leaseUntil === 'number' ? found.leaseUntil : 0;
  const mayComeBack = Number.isFinite(receivedMs) && nowMs < receivedMs + deliveriesDoneMs;
  return nowMs < leaseUntil || mayComeBack;
};

/**
 * Full level, the state table: a page of the scan per step, its place kept. A delivery in flight
 * is left and waited for: once a pass has left one, the scan starts again from the top (at the
 * pass's end, or when the run is out of time), so none is skipped for good. Null when done.
 */
async function cleanState(
  item: ErasureItem,
  userId: string,
  deps: EraserDeps,
  clock: StepClock,
): Promise<{ item: ErasureItem; stop: Stop | null }> {
  let current = item;
  let left = 0;
  const again = async (stop: Stop) => {
    const { stateCursor: _top, ...rest } = current;
    if (current.stateCursor) current = await advance(rest as ErasureItem, {}, deps);
    deps.log.info('erasure: deliveries in flight left for the next run', {
      erasureId: item.erasureId,
      deliveries: left,
    });
    return { item: current, stop };
  };
  for (;;) {
    if (!clock.hasTime())
      return left > 0 ? again('out_of_time') : { item: current, stop: 'out_of_time' };
    const page = await deps.store.scanUserItems(userId, {
      ...(current.stateCursor ? { cursor: current.stateCursor } : {}),
      maxRead: deps.scanPageItems ?? 1000,
    });
    let deleted = 0;
    for (const found of page.items) {
      if (inFlight(found, deps.clock.now(), deps.deliveriesDoneMs ?? DELIVERIES_DONE_MS)) {
        left++;
        continue;
      }
      await deps.store.deleteStateItem(String(found.pk));
      deleted++;
    }
    const { stateCursor: _done, ...rest } = current;
    current = await advance(
      rest as ErasureItem,
      {
        counts: { ...current.counts, stateItems: (current.counts.stateItems ?? 0) + deleted },
        ...(page.cursor ? { stateCursor: page.cursor } : {}),
      },
      deps,
    );
    if (!page.cursor) return left > 0 ? again('delivery_in_flight') : { item: current, stop: null };
  }
}

/**
 * Takes one erasure as far as the run's time allows. Output: the register item as it stands and
 * why it stopped (null: done).
 */
export async function applyErasure(
  start: ErasureItem,
  deps: EraserDeps,
  clock: StepClock,
): Promise<{ item: ErasureItem; stop: Stop | null }> {
  let item = start;
  if (item.status === 'done') return { item, stop: null };
  const userId = item.subjectUserId;
  if (userId === undefined) return { item, stop: null }; // a reapply not matched yet: reapply.ts
  if (item.status === 'requested') {
    item = await advance(
      item,
      { status: 'erasing', startedAt: new Date(deps.clock.now()).toISOString() },
      deps,
    );
    deps.log.info('erasure started', { erasureId: item.erasureId, level: item.level });
  }
  if (item.status === 'erasing') {
    const stop =
      item.level === 'metadata'
        ? await eraseMetadata(item, userId, deps)
        : await moveRecords(item, userId, deps, clock);
    if (stop) return { item, stop };
    if (item.level === 'full') {
      const tombstone = await writeTombstone(item, userId, deps);
      item = await advance(
        item,
        { status: 'cleaning', counts: { ...item.counts, records: tombstone.count } },
        deps,
      );
    } else {
      item = await advance(item, { status: 'cleaning' }, deps);
    }
  }
  if (item.status === 'cleaning' && item.level === 'full') {
    const cleaned = await cleanState(item, userId, deps, clock);
    item = cleaned.item;
    if (cleaned.stop) return { item, stop: cleaned.stop };
    await dropFence(item, userId, deps);
  }
  const subjectRef = subjectRefOf(await deps.key.key(), userId);
  await deps.store.addSubjectErasure(subjectRef, item.erasureId);
  const { subjectUserId: _dropped, stateCursor: _cursor, ...kept } = item;
  item = await advance(
    kept as ErasureItem,
    { status: 'done', subjectRef, doneAt: new Date(deps.clock.now()).toISOString() },
    deps,
  );
  deps.log.info('erasure done', {
    erasureId: item.erasureId,
    level: item.level,
    records: item.counts.records,
    stateItems: item.counts.stateItems,
  });
  deps.metrics.count('ErasureDone', 1, { level: item.level });
  return { item, stop: null };
}
