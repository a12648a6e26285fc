// A delivery's forwards to the Services' downstreams, and what failover needs of them (DESIGN.md
// "Failover"): every forward asks its Service's circuit first and reports its outcome to it; a
// failed forward to the receiving Service is counted on the delivery item; the loop guard picks
// the target of a failover, or refuses it (FailoverTargetUnavailable).
import { DownstreamError } from '../errors';
import { admitForward, type BreakerDeps, type Gate, recordForward } from '../failover/breaker';
import { classifyForward } from '../failover/classify';
import { chooseFailoverTarget } from '../failover/guard';
import { failoverSettingsOf } from '../failover/settings';
import type { DownstreamResponse, StateStore } from '../ports';
import type { DeliveryItem, FailoverRequest, ServiceInfo } from '../types';
import type { CallbackDeps } from './deps';
import { type ForwardedCallback, forwardSigned } from './forward';

/** What the forwards need of their delivery (the run holds the lease). */
export interface ForwardsHost {
  deps: CallbackDeps;
  /** The claimed item: forwardedTo, failures, lastStatus and failover are kept on it. */
  item: DeliveryItem;
  callback: ForwardedCallback;
  /** Writes to the delivery item while the run holds its lease; else throws DeliveryBusyError. */
  update(patch: Parameters<StateStore['updateDelivery']>[1]): Promise<void>;
}

export class DeliveryForwards {
  /** Whether this attempt already asked the loop guard (it asks once per attempt). */
  tried = false;
  /** The guard found failover off for the Service (Parley's list named it the default). */
  disabled = false;

  constructor(private readonly host: ForwardsHost) {}

  private get deps(): CallbackDeps {
    return this.host.deps;
  }

  /** The circuits' deps, when failover is wired. */
  private get breaker(): BreakerDeps | null {
    const { failover, clock, log, metrics } = this.deps;
    return failover ? { circuits: failover.circuits, clock, log, metrics } : null;
  }

  /** Whether a Service's users may fail over: wired, enabled, not the default Service. */
  failoverOn(service: ServiceInfo): boolean {
    return this.deps.failover !== undefined && failoverSettingsOf(service).enabled;
  }

  /** The circuit's admission for a forward to `target` (null: no circuits kept). */
  async admit(target: ServiceInfo): Promise<Gate | null> {
    const breaker = this.breaker;
    if (!breaker) return null;
    return admitForward(target.identification, failoverSettingsOf(target).circuit, breaker);
  }

  /**
   * Posts the signed forward (forwardSigned) and reads its answer with `read`; a failure of
   * either throws DownstreamError. The first forward of a delivery names its Service on the
   * delivery item before it leaves. Every outcome goes to the Service's circuit.
   */
  async send<T>(
    target: ServiceInfo,
    url: string,
    read: (response: DownstreamResponse) => T,
    options: { extra?: Record<string, unknown>; gate?: Gate | null } = {},
  ): Promise<T> {
    const { item } = this.host;
    if (item.forwardedTo === undefined) {
      await this.host.update({ forwardedTo: target.identification });
      item.forwardedTo = target.identification;
    }
    const gate = options.gate === undefined ? await this.admit(target) : options.gate;
    let value: T;
    try {
      const response = await forwardSigned(
        this.deps,
        this.host.callback,
        target,
        url,
        options.extra ?? {},
      );
      value = read(response);
    } catch (err) {
      if (err instanceof DownstreamError) await this.recordOutcome(target, err, gate);
      throw err;
    }
    await this.recordOutcome(target, null, gate);
    return value;
  }

  /** The circuit hears the outcome; 401/403/404 also count DownstreamMisconfigured (an alarm). */
  private async recordOutcome(
    target: ServiceInfo,
    error: DownstreamError | null,
    gate: Gate | null,
  ): Promise<void> {
    const outcome = classifyForward(error);
    if (outcome === 'misconfiguration') {
      this.deps.metrics.count('DownstreamMisconfigured');
      this.deps.log.error('downstream misconfigured: check its URL and signing secret', {
        ...this.host.callback.ctx,
        to: target.identification,
        status: error?.status ?? null,
      });
    }
    const breaker = this.breaker;
    if (!breaker) return;
    const settings = failoverSettingsOf(target).circuit;
    await recordForward(target.identification, outcome, settings, breaker, gate);
  }

  /**
   * A failed forward to the receiving Service: a failure (not a misconfiguration) is counted on
   * the delivery. The failover request once `afterFailures` is reached (and may fail over), else
   * null.
   */
  async failed(service: ServiceInfo, err: unknown, mayFailOver: boolean) {
    if (!this.deps.failover || !(err instanceof DownstreamError)) return null;
    const error = err;
    if (classifyForward(error) !== 'failure') return null;
    const { item } = this.host;
    const failures = (item.failures ?? 0) + 1;
    await this.host.update({ failures, lastStatus: error.status });
    item.failures = failures;
    item.lastStatus = error.status;
    if (!mayFailOver || this.tried || failures < failoverSettingsOf(service).afterFailures) {
      return null;
    }
    return item.failover ?? { failures, lastStatus: error.status };
  }

  /** The request of a failover while the owner's circuit is open: nothing new was tried. */
  circuitRequest(): FailoverRequest {
    const { item } = this.host;
    return (
      item.failover ?? {
        failures: item.failures ?? 0,
        lastStatus: item.lastStatus ?? null,
        circuit: 'open',
      }
    );
  }

  /**
   * The loop guard: the failover target, or null (the refusal logged and counted). An allowed
   * request is written on the delivery first, so a retry asks for the same handover again.
   */
  async target(userId: string, serviceId: string, request: FailoverRequest) {
    this.tried = true;
    const { deps } = this;
    const verdict = await chooseFailoverTarget(userId, serviceId, {
      catalog: deps.catalog,
      history: deps.failover!.history,
      circuits: deps.failover!.circuits,
      clock: deps.clock,
    });
    if (!verdict.ok) {
      // `disabled`: the Service turned out to be the default one, which never fails over.
      this.disabled = verdict.reason === 'disabled';
      if (!this.disabled) deps.metrics.count('FailoverTargetUnavailable');
      deps.log.warn('failover refused: the user stays', {
        ...this.host.callback.ctx,
        reason: verdict.reason,
        target: verdict.target,
        failoversToday: verdict.failoversToday,
      });
      return null;
    }
    const { item } = this.host;
    if (!item.failover) {
      await this.host.update({ failover: request });
      item.failover = request;
    }
    return verdict.target.identification;
  }
}
