// The history records the handover use cases write, and the owner item after them: every writer
// (a handover, its recovery, an observer of drift) builds the same record key from the same draft.
import { finalizeRecord, randomSalts, type SaltSource, sealMetadata } from '../chain';
import { leaseSettingsOf, startOwnerLease, withDueAt } from '../lifecycle/owner-lease';
import type { ServiceCatalog } from '../ports';
import type { DraftRecord, HandoverRecord, OwnerItem } from '../types';
import type { HandoverDeps } from './deps';

export const isoAt = (ms: number): string => new Date(ms).toISOString();

/** createdAt of the next record: now, but always at least 1 ms after the previous one. */
export const nextCreatedAt = (lastCreatedAt: string | null, nowMs: number): string =>
  isoAt(lastCreatedAt === null ? nowMs : Math.max(nowMs, Date.parse(lastCreatedAt) + 1));

/**
 * The owner item after `records` (ascending) were written; clears the pending marker. An offer's
 * own record moves no owner; a record that ends the live offer (its `offer.offerId`) clears it.
 * A change of owner starts the new owner's lease from `services` (none without them): the old
 * owner's never carries over.
 */
export function advanceItem(
  item: OwnerItem,
  records: HandoverRecord[],
  nowMs: number,
  services: Pick<ServiceCatalog, 'get'> = { get: () => undefined },
): OwnerItem {
  const next: OwnerItem = {
    ...item,
    version: item.version + 1,
    pending: null,
    refreshedAt: isoAt(nowMs),
  };
  for (const record of records) {
    next.lastSeq = record.seq;
    next.lastHash = record.hash;
    next.lastCreatedAt = record.createdAt;
    next.lastHandoverId = record.handoverId;
    if (record.offer && record.offer.event !== 'created') {
      if (next.offer?.offerId === record.offer.offerId) next.offer = null;
    }
    if (record.status === 'completed' && record.kind !== 'offer') {
      next.owner = record.toOwner;
      next.since = record.createdAt;
    }
  }
  if (next.owner !== item.owner) return startOwnerLease(next, nowMs, services);
  // The same owner: its timers as they stand (an ended offer no longer counts).
  return withDueAt(next, leaseSettingsOf(services.get(next.owner)));
}

/** The draft of the record that notes a change of owner made outside this service. */
export function observedDraft(
  after: { userId: string; seq: number; hash: string; createdAt: string | null },
  fromOwner: string,
  toOwner: string,
  handoverId: string,
  nowMs: number,
  salts: SaltSource = randomSalts,
): DraftRecord {
  return {
    handoverId,
    userId: after.userId,
    seq: after.seq + 1,
    fromOwner,
    toOwner,
    reason: null,
    ...sealMetadata(null, salts),
    requestedBy: 'parley',
    source: 'observed',
    createdAt: nextCreatedAt(after.createdAt, nowMs),
    prevHash: after.hash,
  };
}

/** The record that notes a change of owner made outside this service. */
export const observedRecord = (...args: Parameters<typeof observedDraft>): HandoverRecord =>
  finalizeRecord(observedDraft(...args), 'completed', null);

/**
 * Appends a record; when its seq is already written (a recoverer, a zombie or a concurrent
 * observer got there first) the stored record is the truth and is returned instead. Then the
 * notifications of the stored record are written (deps.notify): every writer, a retry after a
 * crash included, writes the same ones, so none is lost and none doubled.
 */
export async function appendOnce(
  record: HandoverRecord,
  deps: Pick<HandoverDeps, 'history' | 'log' | 'metrics' | 'notify'>,
): Promise<HandoverRecord> {
  const stored = await appendOrRead(record, deps);
  await deps.notify?.(stored);
  return stored;
}

async function appendOrRead(
  record: HandoverRecord,
  deps: Pick<HandoverDeps, 'history' | 'log' | 'metrics'>,
): Promise<HandoverRecord> {
  const outcome = await deps.history.append(record);
  if (outcome === 'appended' && record.kind === 'offer') {
    // An offer's own event is no handover: the handover metrics skip it.
    deps.metrics.count('OfferEvent', 1, { event: record.offer?.event ?? 'unknown' });
    deps.log.info('offer recorded', {
      handoverId: record.handoverId,
      userId: record.userId,
      seq: record.seq,
      offerId: record.offer?.offerId,
      event: record.offer?.event,
    });
    return record;
  }
  if (outcome === 'appended') {
    deps.metrics.count('Handover', 1, { source: record.source, status: record.status });
    if (record.status === 'failed')
      deps.metrics.count('HandoverFailed', 1, { source: record.source });
    if (record.source === 'observed') deps.metrics.count('ObservedDrift', 1);
    deps.log.info('handover recorded', {
      handoverId: record.handoverId,
      userId: record.userId,
      seq: record.seq,
      source: record.source,
      status: record.status,
    });
    return record;
  }
  const stored = await deps.history.get(record.userId, record.seq);
  if (!stored) throw new Error('The history reported an existing record it cannot return.');
  if (stored.handoverId !== record.handoverId) {
    deps.log.warn('history seq already taken by another record', {
      handoverId: record.handoverId,
      storedHandoverId: stored.handoverId,
      userId: record.userId,
      seq: record.seq,
    });
  }
  return stored;
}
