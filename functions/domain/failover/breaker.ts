// The circuit breaker on its store: each forward asks for admission and records its outcome, the
// item changed only by a compare-and-set on its version (concurrent processors, one probe). A
// circuit is advice, not a record: a store that fails lets the forward go and loses the sample
// (logged), it never fails a delivery.
import type { CircuitStore, Clock, Log, MetricsSink } from '../ports';
import type { CircuitItem, CircuitSettings } from '../types';
import { type Admission, admit, record } from './circuit';
import type { ForwardOutcome } from './classify';

export interface BreakerDeps {
  circuits: CircuitStore;
  clock: Clock;
  log: Log;
  metrics: MetricsSink;
}

/** An admission and the item it was decided on (the first base of the outcome's write). */
export interface Gate {
  admission: Admission;
  read: CircuitItem | null;
}

/** Attempts of one outcome's compare-and-set before the sample is dropped. */
const WRITE_ATTEMPTS = 3;

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

/** Records a forward's outcome (CAS, a few tries); CircuitOpened when it opens. */
export async function recordForward(
  serviceId: string,
  outcome: ForwardOutcome,
  settings: CircuitSettings,
  deps: BreakerDeps,
  gate: Gate | null,
): Promise<void> {
  const probeAt = gate?.admission.kind === 'probe' ? gate.admission.probeAt : null;
  try {
    let item = gate?.read ?? (await deps.circuits.get(serviceId));
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
        if (transition === 'opened') {
          deps.metrics.count('CircuitOpened');
          deps.log.warn('circuit opened', {
            serviceId,
            requests: next.requests,
            failures: next.failures,
            probe: probeAt !== null,
          });
        } else if (transition === 'closed') {
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
