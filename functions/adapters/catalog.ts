// The Services of this deployment (the `ServiceCatalog` port): the stage configuration (name,
// role, rules, downstream) merged with Parley's `GET services` (which one is the default, and any
// Service Parley knows that the configuration does not: listed as an `agent` without downstream).
// Parley's list is asked for as the first configured Service and cached for the TTL; when a
// refresh fails, the previous list keeps serving.
import { UnknownServiceError } from '../domain/errors';
import { resolveFailover } from '../domain/failover/settings';
import { resolveLeaseConfig } from '../domain/lifecycle/lease';
import type { Clock, Log, ParleyClients, ParleyService, ServiceCatalog } from '../domain/ports';
import type { ServiceInfo, ServiceNotify } from '../domain/types';
import type { StageConfig } from '../schemas/config';

export interface ServiceCatalogOptions {
  config: StageConfig;
  parley: ParleyClients;
  clock: Clock;
  /** @default config.servicesCacheSeconds * 1000 */
  ttlMs?: number;
  /** Warns when the configuration asks failover or a lease of the default Service (ignored). */
  log?: Log;
}

const copyNotify = (n: ServiceNotify): ServiceNotify => ({
  ...(n.url ? { url: n.url } : {}),
  ...(n.events ? { events: [...n.events] } : {}),
});

const copy = (s: ServiceInfo): ServiceInfo => ({
  ...s,
  rules: s.rules.map((r) => ({ ...r })),
  ...(s.notify ? { notify: copyNotify(s.notify) } : {}),
  ...(s.failover ? { failover: { ...s.failover, circuit: { ...s.failover.circuit } } } : {}),
  ...(s.lease !== undefined ? { lease: s.lease && { ...s.lease } } : {}),
});

/**
 * Parley names the default Service: it never fails over and holds no lease, whatever its
 * configuration says.
 */
const asDefault = (s: ServiceInfo, isDefault: boolean): ServiceInfo => ({
  ...s,
  default: isDefault,
  ...(s.failover ? { failover: { ...s.failover, enabled: s.failover.enabled && !isDefault } } : {}),
  ...(s.lease !== undefined && isDefault ? { lease: null } : {}),
});

/** Configured services first (configuration order), then Parley's others (Parley's order). */
export function mergeServices(config: StageConfig, parleyServices: ParleyService[]): ServiceInfo[] {
  const fromParley = new Map(parleyServices.map((s) => [s.identification, s]));
  const configured = config.services.map(
    (s): ServiceInfo =>
      asDefault(
        {
          identification: s.identification,
          name: s.name,
          role: s.role,
          default: false,
          ...(s.downstreamUrl ? { downstreamUrl: s.downstreamUrl } : {}),
          rules: s.rules.map((r) => ({ ...r })),
          ...(s.notify ? { notify: copyNotify(s.notify) } : {}),
          // Absent: the role's defaults (failoverSettingsOf).
          ...(s.failover ? { failover: resolveFailover(s.failover, s.role) } : {}),
          // Absent: the role's default (leaseSettingsOf); null: none (a bot without idleSeconds).
          ...(s.lease ? { lease: resolveLeaseConfig(s.role, false, s.lease, s.name) } : {}),
        },
        fromParley.get(s.identification)?.default ?? false,
      ),
  );
  const ids = new Set(configured.map((s) => s.identification));
  const others = parleyServices
    .filter((s) => !ids.has(s.identification))
    .map(
      (s): ServiceInfo => ({
        identification: s.identification,
        name: s.name,
        role: 'agent',
        default: s.default,
        rules: [],
      }),
    );
  return [...configured, ...others];
}

export function createServiceCatalog(options: ServiceCatalogOptions): ServiceCatalog {
  const { config, parley, clock } = options;
  const ttlMs = options.ttlMs ?? config.servicesCacheSeconds * 1000;
  const asService = config.services[0]!.identification;
  // Known only once Parley names the default: the configuration cannot be refused at load.
  const warned = new Set<string>();
  const warnDefaultFailover = (services: ServiceInfo[]) => {
    for (const s of services) {
      const asked = config.services.find((c) => c.identification === s.identification);
      if (!s.default) continue;
      if (asked?.failover?.enabled === true && !warned.has(s.identification)) {
        warned.add(s.identification);
        options.log?.warn('failover of the default Service ignored: it never fails over', {
          serviceId: s.identification,
        });
      }
      if (asked?.lease !== undefined && !warned.has(`lease:${s.identification}`)) {
        warned.add(`lease:${s.identification}`);
        options.log?.warn('lease of the default Service ignored: it never holds one', {
          serviceId: s.identification,
        });
      }
    }
  };
  let cached: { services: ServiceInfo[]; fetchedAt: number } | null = null;
  let inFlight: Promise<ServiceInfo[]> | null = null;

  const load = (): Promise<ServiceInfo[]> => {
    if (cached && clock.now() - cached.fetchedAt < ttlMs) return Promise.resolve(cached.services);
    if (!inFlight) {
      inFlight = parley(asService)
        .listServices()
        .then(
          (call) => {
            const services = mergeServices(config, call.data);
            warnDefaultFailover(services);
            cached = { services, fetchedAt: clock.now() };
            return services;
          },
          (err: unknown) => {
            // Parley unavailable: a list we had is still the best answer; without one, fail.
            if (cached) return cached.services;
            throw err;
          },
        )
        .finally(() => {
          inFlight = null;
        });
    }
    return inFlight;
  };

  const configured = new Map(
    config.services.map((s) => [
      s.identification,
      mergeServices({ ...config, services: [s] }, [])[0]!,
    ]),
  );

  return {
    async list() {
      return (await load()).map(copy);
    },

    async resolve(ref) {
      const services = await load();
      const wanted = ref.toLowerCase();
      const found =
        services.find((s) => s.identification === ref) ??
        (wanted === 'default' ? services.find((s) => s.default) : undefined) ??
        services.find((s) => s.name.toLowerCase() === wanted);
      if (!found) throw new UnknownServiceError(ref);
      return copy(found);
    },

    get(identification) {
      // The configuration without I/O; `default` as Parley last said (false before any list).
      const base = configured.get(identification);
      if (!base) return undefined;
      const known = cached?.services.find((s) => s.identification === identification);
      return copy(asDefault(base, known?.default ?? false));
    },
  };
}
