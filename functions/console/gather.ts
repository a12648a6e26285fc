// The console's figures, counted from what the stores answer, each read bounded so a page costs
// the same whatever the tables hold. A figure that stopped at its bound says so (`complete:
// false`: a lower bound) rather than pretending. What the metrics count (the stuck owners, the
// handovers per day) comes from their use cases (GET /metrics, GET /metrics/stuck), not from here.
import type { DayMetrics } from '../domain/metrics/types';
import type { HandoverRecord, OwnerItem, ServiceInfo } from '../domain/types';
import type { DailyCounts } from './chart';
import type { ConsoleDeps } from './deps';

export const BOUNDS = {
  /** Users counted per Service (the byOwner index, a page of 100 at a time). */
  usersPerService: 1000,
  /** Owner items read for pending, offers and leases (non-default Services). */
  ownerItems: 200,
  /** Records read for the failovers of the last 24 h. */
  records: 5000,
} as const;

/** A lease due within this is counted as due soon. */
export const DUE_SOON_MS = 15 * 60_000;
const DAY_MS = 86_400_000;

export interface Counted {
  count: number;
  /** False when the count stopped at its bound: then it is a lower bound. */
  complete: boolean;
}

export const countOwned = async (deps: ConsoleDeps, serviceId: string): Promise<Counted> => {
  let count = 0;
  let cursor: string | undefined;
  do {
    const page = await deps.state.listOwnedBy(serviceId, {
      limit: Math.min(100, BOUNDS.usersPerService - count),
      ...(cursor ? { cursor } : {}),
    });
    count += page.items.length;
    cursor = page.cursor;
  } while (cursor && count < BOUNDS.usersPerService);
  return { count, complete: cursor === undefined };
};

/** Owner items of the users the non-default Services own, up to BOUNDS.ownerItems. */
export const ownerItemsOf = async (
  deps: ConsoleDeps,
  services: readonly ServiceInfo[],
): Promise<{ items: OwnerItem[]; complete: boolean }> => {
  const ids: string[] = [];
  let complete = true;
  for (const service of services) {
    let cursor: string | undefined;
    do {
      const page = await deps.state.listOwnedBy(service.identification, {
        limit: Math.min(100, BOUNDS.ownerItems - ids.length),
        ...(cursor ? { cursor } : {}),
      });
      ids.push(...page.items.map((u) => u.userId));
      cursor = page.cursor;
    } while (cursor && ids.length < BOUNDS.ownerItems);
    if (cursor) complete = false;
    if (ids.length >= BOUNDS.ownerItems) break;
  }
  const items: OwnerItem[] = [];
  for (let i = 0; i < ids.length; i += 10) {
    const batch = await Promise.all(
      ids.slice(i, i + 10).map((id) => deps.state.getOwner(id, { consistent: false })),
    );
    for (const item of batch) if (item) items.push(item);
  }
  return { items, complete };
};

/** A record of an ownership change (records of other kinds, e.g. offers, are events beside it). */
export const isOwnershipRecord = (r: HandoverRecord): boolean => {
  const kind = (r as { kind?: unknown }).kind;
  return kind === undefined || kind === 'handover';
};

/** Records in [from, to], oldest first, up to BOUNDS.records. */
const recordsBetween = async (
  deps: ConsoleDeps,
  from: string,
  to: string,
  filters: { status?: 'completed'; source?: 'failover' },
): Promise<{ records: HandoverRecord[]; complete: boolean }> => {
  const records: HandoverRecord[] = [];
  let cursor: string | undefined;
  do {
    const page = await deps.history.listRange({
      from,
      to,
      limit: Math.min(1000, BOUNDS.records - records.length),
      filters,
      ...(cursor ? { cursor } : {}),
    });
    records.push(...page.items);
    cursor = page.cursor;
  } while (cursor && records.length < BOUNDS.records);
  return { records, complete: cursor === undefined };
};

export const utcDay = (ms: number): string => new Date(ms).toISOString().slice(0, 10);

/**
 * Completed handovers (from != to) per UTC day and reason, from the metrics' days (rollups where
 * stored, computed otherwise): the chart's counts are theirs, not recounted here.
 */
export const dailyCounts = (days: readonly DayMetrics[]): DailyCounts & { handovers: number } => {
  const byReason = new Map<string, number[]>();
  let handovers = 0;
  days.forEach((day, d) => {
    for (const row of day.handovers) {
      const reason = row.reason ?? '(none)';
      const per = byReason.get(reason) ?? days.map(() => 0);
      per[d]! += row.count;
      byReason.set(reason, per);
      handovers += row.count;
    }
  });
  return { days: days.map((d) => d.day), byReason, handovers };
};

/** Completed failover records of the last 24 hours. */
export const failoversSince = async (deps: ConsoleDeps, now: number): Promise<Counted> => {
  const { records, complete } = await recordsBetween(
    deps,
    new Date(now - DAY_MS).toISOString(),
    new Date(now).toISOString(),
    { status: 'completed', source: 'failover' },
  );
  return { count: records.length, complete };
};

/** Timers and markers among the items read. */
export const timersOf = (items: readonly OwnerItem[], now: number) => ({
  pending: items.filter((i) => i.pending).length,
  offered: items.filter((i) => i.offer).length,
  leasesDueSoon: items.filter((i) => i.lease && Date.parse(i.lease.expiresAt) - now <= DUE_SOON_MS)
    .length,
});
