// Segments (docs/METRICS.md): a user's time cut at each ownership record, clipped to a window, and
// the small arithmetic the figures share (nearest-rank percentiles, ratios, shares that sum to 1).
import type { MetricsRecord } from './types';

export interface Segment {
  userId: string;
  owner: string;
  /** Epoch ms, inclusive. */
  start: number;
  /** Epoch ms, exclusive. */
  end: number;
}

/** A record that changes (or confirms) the owner: completed, and no `kind` (offers are not). */
export const isOwnershipRecord = (r: MetricsRecord): boolean =>
  r.kind === undefined && r.status === 'completed';

/** Oldest first; a user's records by seq when two share an instant. */
export const byTime = (a: MetricsRecord, b: MetricsRecord): number =>
  a.createdAt < b.createdAt ? -1 : a.createdAt > b.createdAt ? 1 : a.seq - b.seq;

/** Records grouped by user, each group oldest first. */
export function byUser(records: readonly MetricsRecord[]): Map<string, MetricsRecord[]> {
  const users = new Map<string, MetricsRecord[]>();
  for (const r of records) {
    const list = users.get(r.userId) ?? [];
    list.push(r);
    users.set(r.userId, list);
  }
  for (const list of users.values()) list.sort(byTime);
  return users;
}

/**
 * The segments of every user with a record in [start, end): cut at each ownership record (owner =
 * its toOwner), the last one running to `end`; before the first ownership record the owner is the
 * first record's fromOwner (every record names the owner it found), from `start`; unknown (no
 * segment) when that is null, a user's first record. A user's segments tile [start, end) from
 * there on. Records outside the window and records with a `kind` are ignored; empty segments
 * (a record at `start`) are dropped.
 */
export function segmentsOf(
  records: readonly MetricsRecord[],
  start: number,
  end: number,
): Segment[] {
  const inWindow = records.filter((r) => {
    const t = Date.parse(r.createdAt);
    return r.kind === undefined && t >= start && t < end;
  });
  const out: Segment[] = [];
  for (const [userId, list] of byUser(inWindow)) {
    let owner = list[0]!.fromOwner;
    let from = start;
    const push = (to: number) => {
      if (owner !== null && to > from) out.push({ userId, owner, start: from, end: to });
    };
    for (const r of list) {
      if (!isOwnershipRecord(r)) continue;
      const t = Date.parse(r.createdAt);
      push(t);
      owner = r.toOwner;
      from = t;
    }
    push(end);
  }
  return out;
}

/** Nearest rank: the smallest value with at least `p` of the values at or below it; 0 for none. */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.max(1, Math.ceil(p * sorted.length));
  return sorted[rank - 1]!;
}

/** Milliseconds as seconds, to the millisecond. */
export const seconds = (ms: number): number => Math.round(ms) / 1000;

/** part / whole to 4 decimals; 0 when whole is 0. */
export const ratio = (part: number, whole: number): number =>
  whole === 0 ? 0 : Math.round((part / whole) * 10_000) / 10_000;

/**
 * Each count's share of their sum, in ten-thousandths by largest remainder (ties to the earlier
 * count), so that the shares add up to exactly 1; all 0 when the sum is 0.
 */
export function shares(counts: readonly number[]): number[] {
  const total = counts.reduce((a, b) => a + b, 0);
  if (total === 0) return counts.map(() => 0);
  const exact = counts.map((c) => (c * 10_000) / total);
  const units = exact.map(Math.floor);
  let left = 10_000 - units.reduce((a, b) => a + b, 0);
  const order = exact
    .map((value, index) => ({ index, remainder: value - Math.floor(value) }))
    .sort((a, b) => b.remainder - a.remainder || a.index - b.index);
  for (const { index } of order) {
    if (left === 0) break;
    units[index]! += 1;
    left -= 1;
  }
  return units.map((u) => u / 10_000);
}
