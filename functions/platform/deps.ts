// What a handler needs, built once per container by the composition root (runtime.ts) in AWS, or
// by the local runtime with local adapters. Handlers are made from a `() => Promise<AppDeps>`.
import type {
  CallbackQueue,
  Clock,
  Downstream,
  HistoryStore,
  IdGenerator,
  Log,
  MetricsSink,
  ParleyClients,
  ServiceCatalog,
  StateStore,
} from '../domain/ports';
import type { AuditorsSecret, ServiceSecret, StageConfig } from '../schemas/config';

/** Who is calling an API route. */
export type Caller = { kind: 'service'; serviceId: string } | { kind: 'auditor'; name: string };

export interface Authenticator {
  /** Parley's callback header for a service; throws UnauthorizedError (also for unknown ids). */
  callback(serviceId: string, authorization: string | undefined): Promise<void>;
  /** A Service's apiToken or an auditor's token; throws UnauthorizedError. */
  caller(authorization: string | undefined): Promise<Caller>;
}

export interface SecretsProvider {
  /** A Service's secret values (cached for the TTL). */
  service(serviceId: string): Promise<ServiceSecret>;
  auditors(): Promise<AuditorsSecret['auditors']>;
  /** Drops a cached value (after Parley's 401 api_key_not_valid), or all of them. */
  invalidate(serviceId?: string): void;
}

export interface AppDeps {
  config: StageConfig;
  clock: Clock;
  ids: IdGenerator;
  log: Log;
  metrics: MetricsSink;
  history: HistoryStore;
  state: StateStore;
  queue: CallbackQueue;
  parley: ParleyClients;
  catalog: ServiceCatalog;
  downstream: Downstream;
  secrets: SecretsProvider;
  auth: Authenticator;
}

export type DepsSource = () => Promise<AppDeps>;
