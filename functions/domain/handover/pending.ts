// How fresh a pending marker is: the one place that reads DESIGN.md's `staleAfter`.
import type { OwnerItem } from '../types';

/** Milliseconds until the item's pending marker turns stale: 0 without a marker or once stale. */
export const pendingRemainingMs = (
  item: Pick<OwnerItem, 'pending'> | null,
  nowMs: number,
  staleAfterMs: number,
): number =>
  item?.pending ? Math.max(0, Date.parse(item.pending.markedAt) + staleAfterMs - nowMs) : 0;

/** True while the item holds a marker younger than `staleAfterMs`: a handover in flight. */
export const isPendingFresh = (
  item: Pick<OwnerItem, 'pending'> | null,
  nowMs: number,
  staleAfterMs: number,
): boolean => pendingRemainingMs(item, nowMs, staleAfterMs) > 0;
