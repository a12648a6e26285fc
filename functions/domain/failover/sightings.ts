// A container's last sight of each Service's circuit item (DESIGN.md "Failover"): what its last
// read returned, or its last write left. Seen less than `admissionCacheMs` ago, a closed circuit
// (or none stored) admits a forward without a read, and an open one holds it until its probe is
// due (nothing changes an open circuit before then). A half-open one is always read again (its
// probe may have closed it), and so is a probe's claim. Nor is a window near the threshold that
// has ended reused: its successes were all being written, and the next window (likely near it
// too) must hear them from its start. A sight of an older version than the one kept is ignored:
// a slow read cannot undo what a later write of this container showed.
import type { CircuitStore } from '../ports';
import type { CircuitItem, CircuitSettings } from '../types';
import { windowCurrent } from './circuit';
import { nearThreshold } from './tally';

export interface Sighting {
  item: CircuitItem | null;
  /** When the read or write that showed it was sent (epoch ms). */
  seenAt: number;
}

/** Per Service identification. */
export type Sightings = Map<string, Sighting>;

const versionOf = (item: CircuitItem | null) => item?.version ?? 0;

/** Keeps what a read or a write showed at `seenAt`, unless a newer version is kept. */
export function remember(
  sightings: Sightings,
  serviceId: string,
  item: CircuitItem | null,
  seenAt: number,
): void {
  const kept = sightings.get(serviceId);
  if (kept && versionOf(kept.item) > versionOf(item)) return;
  sightings.set(serviceId, { item, seenAt });
}

/**
 * The kept sight that may decide an admission now, recent enough: closed (or none stored), or
 * open with its probe not yet due.
 */
export function reusable(
  sightings: Sightings,
  serviceId: string,
  settings: CircuitSettings,
  nowMs: number,
  cacheMs: number,
): Sighting | null {
  const kept = sightings.get(serviceId);
  if (!kept || nowMs - kept.seenAt >= cacheMs) return null;
  const item = kept.item;
  if (!item) return kept;
  if (item.state === 'open') {
    return item.openedAt !== null && nowMs < item.openedAt + settings.openSeconds * 1000
      ? kept
      : null;
  }
  if (item.state !== 'closed') return null;
  if (!windowCurrent(item, settings, nowMs) && nearThreshold(item, settings)) return null;
  return kept;
}

/** The store, keeping every item a read returns or a write leaves. */
export function watched(
  store: CircuitStore,
  sightings: Sightings,
  now: () => number,
): CircuitStore {
  return {
    async get(serviceId) {
      const at = now();
      const item = await store.get(serviceId);
      remember(sightings, serviceId, item, at);
      return item;
    },
    async compareAndSet(item, expectedVersion) {
      const at = now();
      const written = await store.compareAndSet(item, expectedVersion);
      if (written) remember(sightings, item.serviceId, item, at);
      return written;
    },
    async addCounts(serviceId, windowStart, counts) {
      const at = now();
      const added = await store.addCounts(serviceId, windowStart, counts);
      if (added) remember(sightings, serviceId, added, at);
      return added;
    },
  };
}
