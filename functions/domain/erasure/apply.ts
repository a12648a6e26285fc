// The eraser's work on one erasure (the only code that changes or deletes history items). Every
// step is idempotent and the register item records how far it got, so an erasure that dies
// halfway is resumed by the next run from where it stood:
// - metadata: each record still holding metadata or a salt loses both and is marked
//   `metadataErased: { at, erasureId }` (an update conditional on its hash); the new owner's copy
//   in the outbox bodies is set to null; the live offer's metadata on the owner item too.
// - full: the records' outbox items are deleted, each record is copied to `ERASED#{erasureId}`
//   (kept fields only) and then deleted, the owner item is deleted, the user's records are listed
//   once more (a handover that landed meanwhile is moved too), the tombstone is written; then the
//   state table is scanned for the user's idempotency, delivery, outbox and metrics items, a page
//   per step, the scan's place kept in the register item.
// - done: the register item keeps `subjectRef` (HMAC of the user id under the erasure key) and
//   drops the user id; a lookup item by subjectRef lists the subject's erasures.
import { GENESIS_HASH } from '../chain';
import type { HandoverRecord } from '../types';
import { bodyHoldsMetadata, bodyWithoutMetadata, holdsMetadata, outboxIdsOf } from './gather';
import { userNotifications, userRecords } from './gather';
import { subjectRefOf } from './subject';
import type { EraserDeps, ErasedRecord, ErasureItem, Tombstone } from './types';

/** A reason that is a code (`user_requested_human`), kept after a full erasure; text is not. */
const REASON_CODE = /^[a-z][a-z0-9_.-]{0,63}$/;

export const erasedRecordOf = (record: HandoverRecord, erasureId: string): ErasedRecord => ({
  erasureId,
  seq: record.seq,
  prevHash: record.prevHash,
  hash: record.hash,
  handoverId: record.handoverId,
  createdAt: record.createdAt,
  fromOwner: record.fromOwner,
  toOwner: record.toOwner,
  reason: record.reason !== null && REASON_CODE.test(record.reason) ? record.reason : null,
  source: record.source,
  status: record.status,
  requestedBy: record.requestedBy,
});

/** Why a step stopped short: the run ends and the next one resumes. */
export type Stop = 'handover_in_flight' | 'out_of_time' | 'owner_changed';

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

/** Full level, the records and owner item: moved, deleted, listed again. Null when done. */
async function moveRecords(
  item: ErasureItem,
  userId: string,
  deps: EraserDeps,
  clock: StepClock,
): Promise<Stop | null> {
  for (;;) {
    if (!clock.hasTime()) return 'out_of_time';
    const records = await userRecords(userId, deps.history);
    for (const id of new Set(records.flatMap(outboxIdsOf))) {
      await deps.store.deleteStateItem(`NOTIFY#${id}`);
    }
    for (const record of records) {
      await deps.store.putErasedRecord(erasedRecordOf(record, item.erasureId));
      await deps.store.deleteRecord(userId, record.seq, record.hash);
    }
    const owner = await deps.state.getOwner(userId, { consistent: true });
    if (owner?.pending) return 'handover_in_flight';
    if (owner && !(await deps.store.deleteOwner(userId, owner.version))) continue;
    // A record appended after the listing (its writer read the item before it went): once more.
    if ((await userRecords(userId, deps.history)).length === 0) return null;
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

/** Full level, the state table: a page of the scan per step, its place kept. Null when done. */
async function cleanState(
  item: ErasureItem,
  userId: string,
  deps: EraserDeps,
  clock: StepClock,
): Promise<{ item: ErasureItem; stop: Stop | null }> {
  let current = item;
  for (;;) {
    if (!clock.hasTime()) return { item: current, stop: 'out_of_time' };
    const page = await deps.store.scanUserItems(userId, {
      ...(current.stateCursor ? { cursor: current.stateCursor } : {}),
      maxRead: deps.scanPageItems ?? 1000,
    });
    for (const found of page.items) await deps.store.deleteStateItem(String(found.pk));
    const { stateCursor: _done, ...rest } = current;
    current = await advance(
      rest as ErasureItem,
      {
        counts: {
          ...current.counts,
          stateItems: (current.counts.stateItems ?? 0) + page.items.length,
        },
        ...(page.cursor ? { stateCursor: page.cursor } : {}),
      },
      deps,
    );
    if (!page.cursor) return { item: current, stop: null };
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
