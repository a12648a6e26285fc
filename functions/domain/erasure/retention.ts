// Retention (`retention.metadataDays`, default 90): the metadata of records older than that is
// erased, level metadata, reason "retention", once a day. The days are walked through the history's
// day index from a watermark (`RETENTION#metadata`: every day through it is done) up to the last
// whole day before the cutoff, each record holding metadata erased as a user's erasure does it
// (and its outbox bodies); the watermark moves after each day, so a run that stops (time, a crash)
// is continued by the next. One register item per cutoff day names the run (`era_retention_{day}`).
import { bodyHoldsMetadata, bodyWithoutMetadata, holdsMetadata, outboxIdsOf } from './gather';
import type { StepClock } from './apply';
import type { EraserDeps, ErasureItem } from './types';

const DAY_MS = 86_400_000;
const PAGE = 1000;

const dayOf = (ms: number): string => new Date(ms).toISOString().slice(0, 10);
const nextDay = (day: string): string => dayOf(Date.parse(`${day}T00:00:00.000Z`) + DAY_MS);

export interface RetentionSummary {
  erasureId: string | null;
  /** Records whose metadata this run erased. */
  erased: number;
  /** The days this run finished. */
  days: number;
  /** Every day before the cutoff is done. */
  complete: boolean;
  /** The last whole day before the cutoff (records older than metadataDays). */
  throughDay: string;
}

/** The register item of the run for this cutoff day, made on first use. */
async function runItem(
  erasureId: string,
  scope: ErasureItem['scope'],
  deps: EraserDeps,
): Promise<ErasureItem> {
  const existing = await deps.store.getErasure(erasureId);
  if (existing) return existing;
  const now = new Date(deps.clock.now()).toISOString();
  const item: ErasureItem = {
    erasureId,
    level: 'metadata',
    status: 'erasing',
    reason: 'retention',
    legalBasis: `retention.metadataDays = ${deps.retention.metadataDays}`,
    requestedBy: 'system:retention',
    requestedAt: now,
    startedAt: now,
    counts: { records: 0, withMetadata: 0, ownerItem: 0, notifications: 0, stateItems: null },
    scope,
    version: 1,
  };
  if (await deps.store.putErasure(item)) return item;
  return (await deps.store.getErasure(erasureId))!;
}

/** One day's records: metadata erased where it is still held. */
async function eraseDay(
  day: string,
  item: ErasureItem,
  deps: EraserDeps,
): Promise<{ records: number; erased: number; notifications: number }> {
  const mark = { at: item.startedAt!, erasureId: item.erasureId };
  const out = { records: 0, erased: 0, notifications: 0 };
  let cursor: string | undefined;
  do {
    const page = await deps.history.listRange({
      from: `${day}T00:00:00.000Z`,
      to: `${day}T23:59:59.999Z`,
      limit: PAGE,
      cursor,
    });
    for (const record of page.items) {
      out.records++;
      if (holdsMetadata(record)) {
        const done = await deps.store.eraseRecordMetadata(
          record.userId,
          record.seq,
          record.hash,
          mark,
        );
        if (done === 'erased') out.erased++;
      }
      for (const id of outboxIdsOf(record)) {
        const ntf = await deps.notifications.get(id);
        if (!ntf || !bodyHoldsMetadata(ntf)) continue;
        const next = { ...ntf, body: bodyWithoutMetadata(ntf), version: ntf.version + 1 };
        if (await deps.notifications.compareAndSet(next, ntf.version)) out.notifications++;
      }
    }
    cursor = page.cursor;
  } while (cursor);
  return out;
}

/**
 * Input: the run's clock. Output: what it erased and whether every day before the cutoff is done.
 * Steps: the cutoff (now - metadataDays) -> the days from the watermark (or `retention.since`)
 * through the last whole day before it -> each day's records, then the watermark.
 */
export async function runRetention(deps: EraserDeps, clock: StepClock): Promise<RetentionSummary> {
  const cutoffMs = deps.clock.now() - deps.retention.metadataDays * DAY_MS;
  const throughDay = dayOf(Date.parse(`${dayOf(cutoffMs)}T00:00:00.000Z`) - DAY_MS);
  let mark = await deps.store.getRetention();
  let day = mark ? nextDay(mark.throughDay) : dayOf(Date.parse(deps.retention.since));
  const summary: RetentionSummary = {
    erasureId: null,
    erased: 0,
    days: 0,
    complete: day > throughDay,
    throughDay,
  };
  if (summary.complete) return summary;
  const erasureId = `era_retention_${throughDay}`;
  let item = await runItem(
    erasureId,
    { fromDay: day, throughDay, before: new Date(cutoffMs).toISOString() },
    deps,
  );
  summary.erasureId = erasureId;
  while (day <= throughDay && clock.hasTime()) {
    const done = await eraseDay(day, item, deps);
    summary.erased += done.erased;
    summary.days++;
    const next = { throughDay: day, version: (mark?.version ?? 0) + 1 };
    if (!(await deps.store.setRetention(next, mark?.version ?? 0))) {
      // Another run moved the watermark: it carries on from there.
      return summary;
    }
    mark = next;
    const counted: ErasureItem = {
      ...item,
      counts: {
        ...item.counts,
        records: item.counts.records + done.records,
        withMetadata: item.counts.withMetadata + done.erased,
        notifications: item.counts.notifications + done.notifications,
      },
      version: item.version + 1,
    };
    if (await deps.store.compareAndSetErasure(counted, item.version)) item = counted;
    day = nextDay(day);
  }
  summary.complete = day > throughDay;
  if (summary.complete && item.status !== 'done') {
    const finished: ErasureItem = {
      ...item,
      status: 'done',
      doneAt: new Date(deps.clock.now()).toISOString(),
      version: item.version + 1,
    };
    await deps.store.compareAndSetErasure(finished, item.version);
  }
  deps.log.info('retention run', {
    erasureId,
    erased: summary.erased,
    days: summary.days,
    complete: summary.complete,
  });
  return summary;
}
