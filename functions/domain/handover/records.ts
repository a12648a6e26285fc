// The history records the handover use cases write, and the owner item after them: every writer
// (a handover, its recovery, an observer of drift) builds the same record key from the same draft.
import { finalizeRecord, metadataDigest } from '../chain';
import type { DraftRecord, HandoverRecord, OwnerItem } from '../types';
import type { HandoverDeps } from './deps';

export const isoAt = (ms: number): string => new Date(ms).toISOString();

/** createdAt of the next record: now, but always at least 1 ms after the previous one. */
export const nextCreatedAt = (lastCreatedAt: string | null, nowMs: number): string =>
  isoAt(lastCreatedAt === null ? nowMs : Math.max(nowMs, Date.parse(lastCreatedAt) + 1));

/** The owner item after `records` (ascending) were written; clears the pending marker. */
export function advanceItem(item: OwnerItem, records: HandoverRecord[], nowMs: number): OwnerItem {
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
    if (record.status === 'completed') {
      next.owner = record.toOwner;
      next.since = record.createdAt;
    }
  }
  return next;
}

/** The draft of the record that notes a change of owner made outside this service. */
export function observedDraft(
  after: { userId: string; seq: number; hash: string; createdAt: string | null },
  fromOwner: string,
  toOwner: string,
  handoverId: string,
  nowMs: number,
): DraftRecord {
  return {
    handoverId,
    userId: after.userId,
    seq: after.seq + 1,
    fromOwner,
    toOwner,
    reason: null,
    metadata: null,
    metadataDigest: metadataDigest(null),
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
