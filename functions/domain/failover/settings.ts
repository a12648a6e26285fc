// A Service's failover settings (DESIGN.md "Failover"): the stage configuration gives any subset
// of the fields, the rest take the defaults here (so the configuration stays short in the
// functions' environment). Failover is on by default for agents, off for bots, and never for the
// account's default Service: Parley names it, so that is settled where Parley's list is known.
import type { CircuitSettings, FailoverSettings, ServiceInfo, ServiceRole } from '../types';

export const DEFAULT_CIRCUIT: Readonly<CircuitSettings> = {
  windowSeconds: 60,
  minRequests: 10,
  failureRate: 0.5,
  openSeconds: 120,
};

export const DEFAULT_FAILOVER: Readonly<Omit<FailoverSettings, 'enabled' | 'circuit'>> = {
  afterFailures: 3,
  target: 'default',
  maxPerUserPerDay: 2,
};

/** What the configuration may give: every field optional. */
export interface FailoverConfig {
  enabled?: boolean;
  afterFailures?: number;
  target?: string;
  maxPerUserPerDay?: number;
  circuit?: Partial<CircuitSettings>;
}

/** The configured fields over the defaults; `enabled` defaults by role (agents on, bots off). */
export function resolveFailover(
  config: FailoverConfig | undefined,
  role: ServiceRole,
): FailoverSettings {
  const c = config ?? {};
  return {
    enabled: c.enabled ?? role === 'agent',
    afterFailures: c.afterFailures ?? DEFAULT_FAILOVER.afterFailures,
    target: c.target ?? DEFAULT_FAILOVER.target,
    maxPerUserPerDay: c.maxPerUserPerDay ?? DEFAULT_FAILOVER.maxPerUserPerDay,
    circuit: { ...DEFAULT_CIRCUIT, ...definedOnly(c.circuit ?? {}) },
  };
}

const definedOnly = <T extends object>(value: T): Partial<T> =>
  Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;

/**
 * The settings a Service fails over with: its own (or its role's defaults), never enabled for
 * the default Service.
 */
export function failoverSettingsOf(service: ServiceInfo): FailoverSettings {
  const settings = service.failover ?? resolveFailover(undefined, service.role);
  return service.default && settings.enabled ? { ...settings, enabled: false } : settings;
}
