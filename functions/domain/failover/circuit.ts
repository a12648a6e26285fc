// A Service's circuit breaker as pure functions of its item and the time (DESIGN.md "Failover").
// closed: forwards pass and are counted in a fixed window (the processors write failures at once
// and successes later, tally.ts); when the window holds at least minRequests and its failure rate
// is above failureRate, it opens. open: forwards are held back
// (the owner's users fail over at once) for openSeconds; then half-open: one forward goes through
// as a probe (another one per openSeconds if a probe never reports). The probe's success closes
// it with a fresh window; its failure opens it again. Outcomes of forwards that were not the
// probe change nothing while it is open or half-open.
import type { CircuitItem, CircuitSettings } from '../types';
import { countsAgainstCircuit, type ForwardOutcome } from './classify';

export type Admission =
  | { kind: 'pass' }
  /** This forward is the probe; `probeAt` identifies it when its outcome is recorded. */
  | { kind: 'probe'; probeAt: number }
  | { kind: 'hold' };

/** A fresh closed circuit (not yet stored: version 0). */
export const closedCircuit = (serviceId: string, nowMs: number): CircuitItem => ({
  serviceId,
  state: 'closed',
  windowStart: nowMs,
  requests: 0,
  failures: 0,
  openedAt: null,
  probeAt: null,
  version: 0,
});

/**
 * Whether a forward may go now. A probe changes the item (`next`, to be written with a CAS on the
 * item's version: only one caller wins the probe).
 */
export function admit(
  item: CircuitItem | null,
  settings: CircuitSettings,
  nowMs: number,
): { admission: Admission; next?: CircuitItem } {
  if (!item || item.state === 'closed') return { admission: { kind: 'pass' } };
  const openMs = settings.openSeconds * 1000;
  const since = item.state === 'open' ? item.openedAt : item.probeAt;
  if (since !== null && nowMs < since + openMs) return { admission: { kind: 'hold' } };
  return {
    admission: { kind: 'probe', probeAt: nowMs },
    next: { ...item, state: 'half_open', probeAt: nowMs, version: item.version + 1 },
  };
}

export interface Recorded {
  /** The item to write (CAS on the given item's version), or null: nothing changes. */
  next: CircuitItem | null;
  transition: 'opened' | 'closed' | null;
}

/** The opening rule on a window's counts. */
const overThreshold = (requests: number, failures: number, settings: CircuitSettings) =>
  requests >= settings.minRequests && failures / requests > settings.failureRate;

/** Whether the closed item's window (if it has not ended by `nowMs`) is still the current one. */
export const windowCurrent = (item: CircuitItem, settings: CircuitSettings, nowMs: number) =>
  nowMs - item.windowStart < settings.windowSeconds * 1000;

/**
 * Outcomes added to a closed circuit's window (a fresh one when it has ended): the item to write
 * and whether it opens. Nothing changes while it is open or half-open.
 */
export function applyCounts(
  item: CircuitItem | null,
  serviceId: string,
  counts: { requests: number; failures: number },
  settings: CircuitSettings,
  nowMs: number,
): Recorded {
  const current = item ?? closedCircuit(serviceId, nowMs);
  if (current.state !== 'closed') return { next: null, transition: null };
  const version = current.version + 1;
  const fresh = !windowCurrent(current, settings, nowMs);
  const requests = (fresh ? 0 : current.requests) + counts.requests;
  const failures = (fresh ? 0 : current.failures) + counts.failures;
  const windowStart = fresh ? nowMs : current.windowStart;
  if (overThreshold(requests, failures, settings)) {
    return {
      next: { ...open(current, nowMs), windowStart, requests, failures, version },
      transition: 'opened',
    };
  }
  return { next: { ...current, windowStart, requests, failures, version }, transition: null };
}

/**
 * The opened item when a stored closed window is over the threshold (counts added by another
 * writer's atomic add), else null.
 */
export function openingOf(
  item: CircuitItem,
  settings: CircuitSettings,
  nowMs: number,
): CircuitItem | null {
  if (item.state !== 'closed' || !windowCurrent(item, settings, nowMs)) return null;
  if (!overThreshold(item.requests, item.failures, settings)) return null;
  return { ...open(item, nowMs), version: item.version + 1 };
}

/** A forward's outcome. `probeAt`: the probe's admission, when this forward was the probe. */
export function record(
  item: CircuitItem | null,
  serviceId: string,
  outcome: ForwardOutcome,
  settings: CircuitSettings,
  nowMs: number,
  probeAt: number | null = null,
): Recorded {
  const failed = countsAgainstCircuit(outcome);
  const current = item ?? closedCircuit(serviceId, nowMs);
  const version = current.version + 1;
  if (current.state === 'closed') {
    return applyCounts(
      current,
      serviceId,
      { requests: 1, failures: failed ? 1 : 0 },
      settings,
      nowMs,
    );
  }
  if (current.state === 'half_open' && probeAt !== null && current.probeAt === probeAt) {
    if (failed) return { next: { ...open(current, nowMs), version }, transition: 'opened' };
    return { next: { ...closedCircuit(serviceId, nowMs), version }, transition: 'closed' };
  }
  return { next: null, transition: null };
}

const open = (item: CircuitItem, nowMs: number): CircuitItem => ({
  ...item,
  state: 'open',
  openedAt: nowMs,
  probeAt: null,
});

/** A failover target must have a closed circuit: open or half-open, it is not known healthy. */
export const isHealthy = (item: CircuitItem | null): boolean => !item || item.state === 'closed';
