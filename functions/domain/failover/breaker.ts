// The circuit breaker on its store (DESIGN.md "Failover"). Each forward asks for admission: a
// closed circuit this container read (or wrote) less than admissionCacheMs ago admits it without a
// read, an open one holds it until its probe is due (sightings.ts); anything else is read again.
// Outcomes are tallied in the container (tally.ts): a success writes nothing while the stored rate
// is low, a failure adds the tally to the stored window at once with an atomic add (no writer
// fails another's), and near the threshold every outcome writes. Changes of state (opening, the
// half-open probe, closing) are compare-and-set puts on the item's version (one winner), each on
// a fresh read. A circuit is advice, not a record: a store that fails lets the forward go and
// keeps the outcome in the tally for the next write (logged); it never fails a delivery.
import type { CircuitStore, Clock, Log, MetricsSink } from '../ports';
import type { CircuitItem, CircuitSettings } from '../types';
import { type Admission, admit, applyCounts, openingOf, record, windowCurrent } from './circuit';
import { countsAgainstCircuit, type ForwardOutcome } from './classify';
import { reusable, type Sightings, watched } from './sightings';
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
  /** This container's last sight of each Service's circuit. @default one map per circuit store */
  sightings?: Sightings;
  /**
   * How long a closed circuit's read (or write) admits this container's forwards without another
   * read; 0 reads on every forward. @default DEFAULT_ADMISSION_CACHE_MS
   */
  admissionCacheMs?: number;
}

/**
 * 5 s: at the bench's 6,250 processor containers, 1,250 consistent reads a second of the busiest
 * Service's item, within a partition's 3,000 (docs/CAPACITY.md); a circuit opened elsewhere is
 * seen at this container's first failed forward, or 5 s later at most.
 */
export const DEFAULT_ADMISSION_CACHE_MS = 5_000;

/** An admission and the item it was decided on (the first base of the outcome's write). */
export interface Gate {
  admission: Admission;
  read: CircuitItem | null;
  /** `read` is this container's earlier sight, not a read made for this forward. */
  reused?: boolean;
}

/** Attempts of one write (an add, or a compare-and-set) before its counts wait for the next. */
const WRITE_ATTEMPTS = 3;

/** What a container keeps per circuit store (the composition root builds one per container). */
interface ContainerState {
  tallies: Map<string, Tally>;
  sightings: Sightings;
}

const containers = new WeakMap<CircuitStore, ContainerState>();

const containerOf = (store: CircuitStore): ContainerState => {
  let state = containers.get(store);
  if (!state) {
    state = { tallies: new Map(), sightings: new Map() };
    containers.set(store, state);
  }
  return state;
};

const talliesOf = (deps: BreakerDeps) => deps.tallies ?? containerOf(deps.circuits).tallies;
const sightingsOf = (deps: BreakerDeps) => deps.sightings ?? containerOf(deps.circuits).sightings;

/** The deps with a store that keeps every item it returns as this container's sight. */
const watching = (deps: BreakerDeps): BreakerDeps => ({
  ...deps,
  circuits: watched(deps.circuits, sightingsOf(deps), () => deps.clock.now()),
});

const errorName = (err: unknown) => (err instanceof Error ? err.name : typeof err);

/**
 * Whether a forward to the Service may go now: on a recent sight without a read (sightings.ts),
 * else on a fresh read; a probe is claimed with a CAS (one winner).
 */
export async function admitForward(
  serviceId: string,
  settings: CircuitSettings,
  deps: BreakerDeps,
): Promise<Gate> {
  const cacheMs = deps.admissionCacheMs ?? DEFAULT_ADMISSION_CACHE_MS;
  const nowMs = deps.clock.now();
  const kept = reusable(sightingsOf(deps), serviceId, settings, nowMs, cacheMs);
  // A pass on a closed sight, or a hold on an open one: never a probe (that needs a fresh read).
  if (kept)
    return {
      admission: admit(kept.item, settings, nowMs).admission,
      read: kept.item,
      reused: true,
    };
  const { circuits } = watching(deps);
  try {
    const read = await circuits.get(serviceId);
    const { admission, next } = admit(read, settings, deps.clock.now());
    if (!next || !read) return { admission, read };
    if (await circuits.compareAndSet(next, read.version)) {
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
  const tallies = talliesOf(deps);
  const store = watching(deps);
  if (gate?.admission.kind === 'probe') {
    await recordProbe(serviceId, outcome, settings, store, gate.read, gate.admission.probeAt);
    return;
  }
  let read = gate?.read ?? null;
  try {
    if (!gate) read = await store.circuits.get(serviceId);
  } catch (err) {
    deps.log.warn('circuit not read; the outcome is kept', { serviceId, error: errorName(err) });
  }
  if (read && read.state !== 'closed') return;
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
    written = await writeCounts(serviceId, counts, settings, store, read, gate?.reused ?? false);
  } catch (err) {
    deps.log.warn('circuit outcome not recorded', { serviceId, outcome, error: errorName(err) });
  }
  if (!written) restoreCounts(tally, counts, settings);
}

/**
 * Adds the counts to the stored window: an atomic add when the current window is known, else a
 * compare-and-set that starts the item or a fresh window. False when every attempt lost. A reused
 * sight may serve the add (conditioned on its window and state); a compare-and-set is decided on
 * a fresh read.
 */
async function writeCounts(
  serviceId: string,
  counts: Counts,
  settings: CircuitSettings,
  deps: BreakerDeps,
  read: CircuitItem | null,
  reused: boolean,
): Promise<boolean> {
  let item = read;
  const addable = item?.state === 'closed' && windowCurrent(item, settings, deps.clock.now());
  if (reused && !addable) item = await deps.circuits.get(serviceId);
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
