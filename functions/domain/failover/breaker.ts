// The circuit breaker on its store (DESIGN.md "Failover"). Each forward asks for admission (one
// read of the item). Outcomes are tallied in the container (tally.ts): a success writes nothing
// while the stored rate is low, a failure adds the tally to the stored window at once with an
// atomic add (no writer fails another's), and near the threshold every outcome writes. Changes of state (opening, the half-open probe, closing) are compare-and-set
// puts on the item's version (one winner). A circuit is advice, not a record: a store that fails
// lets the forward go and keeps the outcome in the tally for the next write (logged); it never
// fails a delivery.
import type { CircuitStore, Clock, Log, MetricsSink } from '../ports';
import type { CircuitItem, CircuitSettings } from '../types';
import { type Admission, admit, applyCounts, openingOf, record, windowCurrent } from './circuit';
import { countsAgainstCircuit, type ForwardOutcome } from './classify';
import {
  type Counts,
  emptyTally,
  restoreCounts,
  type Tally,
  takeCounts,
  tallyOutcome,
  writeDue,
} from './tally';

export interface BreakerDeps {
  circuits: CircuitStore;
  clock: Clock;
  log: Log;
  metrics: MetricsSink;
  /**
   * This container's unwritten outcomes per Service. @default one map per circuit store (the
   * composition root builds one store per container, so the tally lives as long as it does)
   */
  tallies?: Map<string, Tally>;
}

/** An admission and the item it was decided on (the first base of the outcome's write). */
export interface Gate {
  admission: Admission;
  read: CircuitItem | null;
}

/** Attempts of one write (an add, or a compare-and-set) before its counts wait for the next. */
const WRITE_ATTEMPTS = 3;

const storeTallies = new WeakMap<CircuitStore, Map<string, Tally>>();

const talliesOf = (deps: BreakerDeps): Map<string, Tally> => {
  if (deps.tallies) return deps.tallies;
  let tallies = storeTallies.get(deps.circuits);
  if (!tallies) {
    tallies = new Map();
    storeTallies.set(deps.circuits, tallies);
  }
  return tallies;
};

const errorName = (err: unknown) => (err instanceof Error ? err.name : typeof err);

/** Whether a forward to the Service may go now; a probe is claimed with a CAS (one winner). */
export async function admitForward(
  serviceId: string,
  settings: CircuitSettings,
  deps: BreakerDeps,
): Promise<Gate> {
  try {
    const read = await deps.circuits.get(serviceId);
    const { admission, next } = admit(read, settings, deps.clock.now());
    if (!next || !read) return { admission, read };
    if (await deps.circuits.compareAndSet(next, read.version)) {
      deps.log.info('circuit half-open: a probe goes through', { serviceId });
      return { admission, read: next };
    }
    // Another forward took the probe (or changed the item) first.
    return { admission: { kind: 'hold' }, read: null };
  } catch (err) {
    deps.log.warn('circuit not read; the forward goes', { serviceId, error: errorName(err) });
    return { admission: { kind: 'pass' }, read: null };
  }
}

/**
 * A forward's outcome: the probe's is written (CAS) as it closes or reopens the circuit; any other
 * forward's is tallied and written when due (writeDue). Outcomes of forwards admitted while the
 * circuit was open or half-open change nothing. CircuitOpened when it opens.
 */
export async function recordForward(
  serviceId: string,
  outcome: ForwardOutcome,
  settings: CircuitSettings,
  deps: BreakerDeps,
  gate: Gate | null,
): Promise<void> {
  if (gate?.admission.kind === 'probe') {
    await recordProbe(serviceId, outcome, settings, deps, gate.read, gate.admission.probeAt);
    return;
  }
  let read = gate?.read ?? null;
  try {
    if (!gate) read = await deps.circuits.get(serviceId);
  } catch (err) {
    deps.log.warn('circuit not read; the outcome is kept', { serviceId, error: errorName(err) });
  }
  if (read && read.state !== 'closed') return;
  const tallies = talliesOf(deps);
  let tally = tallies.get(serviceId);
  if (!tally) {
    tally = emptyTally();
    tallies.set(serviceId, tally);
  }
  const failed = countsAgainstCircuit(outcome);
  const nowMs = deps.clock.now();
  tallyOutcome(tally, failed, settings, nowMs);
  if (!writeDue(read, failed, settings, nowMs)) return;
  // Taken before the write's first await: a concurrent outcome of this container starts afresh.
  const counts = takeCounts(tally, settings, nowMs);
  if (!counts) return;
  let written = false;
  try {
    written = await writeCounts(serviceId, counts, settings, deps, read);
  } catch (err) {
    deps.log.warn('circuit outcome not recorded', { serviceId, outcome, error: errorName(err) });
  }
  if (!written) restoreCounts(tally, counts, settings);
}

/**
 * Adds the counts to the stored window: an atomic add when the current window is known, else a
 * compare-and-set that starts the item or a fresh window. False when every attempt lost.
 */
async function writeCounts(
  serviceId: string,
  counts: Counts,
  settings: CircuitSettings,
  deps: BreakerDeps,
  read: CircuitItem | null,
): Promise<boolean> {
  let item = read;
  for (let attempt = 0; attempt < WRITE_ATTEMPTS; attempt++) {
    const nowMs = deps.clock.now();
    if (item && item.state !== 'closed') return true; // opened meanwhile: nothing to count
    if (item && windowCurrent(item, settings, nowMs)) {
      const added = await deps.circuits.addCounts(serviceId, item.windowStart, counts);
      if (added) {
        await openIfOver(serviceId, added, settings, deps);
        return true;
      }
    } else {
      const { next, transition } = applyCounts(item, serviceId, counts, settings, nowMs);
      if (!next) return true;
      if (await deps.circuits.compareAndSet(next, item?.version ?? 0)) {
        if (transition === 'opened') opened(serviceId, next, false, deps);
        return true;
      }
    }
    item = await deps.circuits.get(serviceId);
  }
  deps.log.warn('circuit outcome kept: the item kept changing', { serviceId, ...counts });
  return false;
}

/** After an add: opens the circuit when the stored window is over the threshold (CAS, retried). */
async function openIfOver(
  serviceId: string,
  added: CircuitItem,
  settings: CircuitSettings,
  deps: BreakerDeps,
): Promise<void> {
  let item: CircuitItem | null = added;
  for (let attempt = 0; item && attempt < WRITE_ATTEMPTS; attempt++) {
    const next = openingOf(item, settings, deps.clock.now());
    if (!next) return;
    if (await deps.circuits.compareAndSet(next, item.version)) {
      opened(serviceId, next, false, deps);
      return;
    }
    // Another add (or another opener) came first: decide again on what is stored now.
    item = await deps.circuits.get(serviceId);
  }
}

/** The probe's outcome closes the circuit or opens it again (CAS, a few tries). */
async function recordProbe(
  serviceId: string,
  outcome: ForwardOutcome,
  settings: CircuitSettings,
  deps: BreakerDeps,
  read: CircuitItem | null,
  probeAt: number,
): Promise<void> {
  try {
    let item = read ?? (await deps.circuits.get(serviceId));
    for (let attempt = 0; attempt < WRITE_ATTEMPTS; attempt++) {
      const { next, transition } = record(
        item,
        serviceId,
        outcome,
        settings,
        deps.clock.now(),
        probeAt,
      );
      if (!next) return;
      if (await deps.circuits.compareAndSet(next, item?.version ?? 0)) {
        if (transition === 'opened') opened(serviceId, next, true, deps);
        else if (transition === 'closed') {
          deps.log.info('circuit closed: the probe succeeded', { serviceId });
        }
        return;
      }
      item = await deps.circuits.get(serviceId);
    }
    deps.log.warn('circuit outcome dropped: the item kept changing', { serviceId, outcome });
  } catch (err) {
    deps.log.warn('circuit outcome not recorded', { serviceId, outcome, error: errorName(err) });
  }
}

const opened = (serviceId: string, item: CircuitItem, probe: boolean, deps: BreakerDeps) => {
  deps.metrics.count('CircuitOpened');
  deps.log.warn('circuit opened', {
    serviceId,
    requests: item.requests,
    failures: item.failures,
    probe,
  });
};
