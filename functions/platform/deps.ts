// What a handler needs, built once per container by the composition root (runtime.ts) in AWS, or
// by the local runtime with local adapters. Handlers are made from a `() => Promise<AppDeps>`.
import type {
  Authenticator,
  CallbackQueue,
  Clock,
  Downstream,
  HistoryStore,
  IdGenerator,
  Log,
  MetricsSink,
  ParleyClients,
  SecretsProvider,
  ServiceCatalog,
  StateStore,
} from '../domain/ports';
import type { StageConfig } from '../schemas/config';

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
