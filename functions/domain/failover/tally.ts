// A container's unwritten forward outcomes for one Service's circuit (DESIGN.md "Failover"). A
// success is only counted here while the stored window is far from the threshold: a healthy desk
// costs no write. A failure writes at once, taking the tally with it, so the circuit item hears
// each failure with the successes that came before it in this container. Near the threshold
// every outcome writes, the tally with it: near a decision the stored window lacks no outcome but
// the successes of containers that have not forwarded since. Outcomes older than a window are
// forgotten, so a failure after a long quiet spell does not bring hours of successes with it.
import type { CircuitItem, CircuitSettings } from '../types';

export interface Tally {
  /** Unwritten outcomes by slice of a quarter window (`start`, epoch ms), oldest first. */
  slices: { start: number; requests: number; failures: number }[];
  /** When the oldest unwritten outcome happened (to a quarter window); null when none is. */
  since: number | null;
}

/** What a write adds to the circuit item, and when its oldest outcome happened. */
export interface Counts {
  requests: number;
  failures: number;
  since: number;
}

export const emptyTally = (): Tally => ({ slices: [], since: null });

const windowMs = (settings: CircuitSettings) => settings.windowSeconds * 1000;
/** The tally's granularity: a quarter window (so it holds at most five slices). */
const sliceMs = (settings: CircuitSettings) => windowMs(settings) / 4;

/** Drops the slices that ended a window or more ago. */
const prune = (tally: Tally, settings: CircuitSettings, nowMs: number): void => {
  const slice = sliceMs(settings);
  const keepFrom = nowMs - windowMs(settings);
  const first = tally.slices[0];
  if (first && first.start + slice <= keepFrom) {
    tally.slices = tally.slices.filter((s) => s.start + slice > keepFrom);
  }
  const oldest = tally.slices[0];
  tally.since = oldest ? Math.max(tally.since ?? oldest.start, oldest.start) : null;
};

/** Adds one outcome (in place). */
export function tallyOutcome(
  tally: Tally,
  failed: boolean,
  settings: CircuitSettings,
  nowMs: number,
): void {
  prune(tally, settings, nowMs);
  const slice = sliceMs(settings);
  const start = Math.floor(nowMs / slice) * slice;
  let last = tally.slices[tally.slices.length - 1];
  if (!last || last.start !== start) {
    last = { start, requests: 0, failures: 0 };
    tally.slices.push(last);
  }
  last.requests += 1;
  if (failed) last.failures += 1;
  tally.since ??= nowMs;
}

/**
 * Whether the outcome just tallied is written now. `read`: the circuit item as this forward's
 * admission read it. A failure always is; a success while the stored window (current, closed) is
 * near the threshold: its failure rate above half of it, or one more failure would cross it. So
 * no write made outside that band can open the circuit.
 */
export function writeDue(
  read: CircuitItem | null,
  failed: boolean,
  settings: CircuitSettings,
  nowMs: number,
): boolean {
  if (failed) return true;
  if (read?.state !== 'closed') return false;
  if (nowMs - read.windowStart >= windowMs(settings)) return false;
  return nearThreshold(read, settings);
}

/** A window's counts near the threshold: a failure rate above half of it, or one failure from it. */
export const nearThreshold = (
  { requests, failures }: { requests: number; failures: number },
  settings: CircuitSettings,
): boolean =>
  failures / requests > settings.failureRate / 2 ||
  (failures + 1) / (requests + 1) > settings.failureRate;

/** Takes every outcome of the last window out of the tally (in place), or null when none. */
export function takeCounts(tally: Tally, settings: CircuitSettings, nowMs: number): Counts | null {
  prune(tally, settings, nowMs);
  if (tally.since === null) return null;
  const counts: Counts = { requests: 0, failures: 0, since: tally.since };
  for (const slice of tally.slices) {
    counts.requests += slice.requests;
    counts.failures += slice.failures;
  }
  tally.slices = [];
  tally.since = null;
  return counts;
}

/** Puts counts back that could not be written (in place): the next write carries them. */
export function restoreCounts(tally: Tally, counts: Counts, settings: CircuitSettings): void {
  const slice = sliceMs(settings);
  const start = Math.floor(counts.since / slice) * slice;
  const at = tally.slices.findIndex((s) => s.start >= start);
  const existing = tally.slices[at];
  if (existing && existing.start === start) {
    existing.requests += counts.requests;
    existing.failures += counts.failures;
  } else {
    const restored = { start, requests: counts.requests, failures: counts.failures };
    if (at === -1) tally.slices.push(restored);
    else tally.slices.splice(at, 0, restored);
  }
  tally.since = Math.min(tally.since ?? counts.since, counts.since);
}
