// The composition root: builds every adapter once per container and hands the handlers an AppDeps.
// In AWS the settings come from the environment (depsFromEnvironment); the local runtime and the
// tests call buildDeps with their own adapters (a static secrets provider, the local queue).
import { randomUUID } from 'node:crypto';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { SQSClient } from '@aws-sdk/client-sqs';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { createAuthenticator } from '../adapters/auth';
import { createServiceCatalog } from '../adapters/catalog';
import { createCircuitStore } from '../adapters/circuit-store';
import { createConsoleStore } from '../adapters/console-store';
import { createDocumentClient } from '../adapters/dynamo';
import { createDownstream } from '../adapters/downstream';
import { createErasureStore } from '../adapters/erasure-store';
import { createMetricsStore } from '../adapters/metrics-store';
import { createHistoryStore } from '../adapters/history-store';
import { createParleyClient } from '../adapters/parley-client';
import { createSecretsManagerProvider, parleyCredentialsSource } from '../adapters/secrets';
import { createSqsQueue } from '../adapters/sqs-queue';
import { createSqsQueueDepths } from '../adapters/queue-depths';
import { createNotificationStore } from '../adapters/notification-store';
import { createStateStore } from '../adapters/state-store';
import type {
  CallbackQueue,
  Clock,
  Log,
  MetricsSink,
  ParleyClient,
  QueueDepths,
} from '../domain/ports';
import {
  ENV,
  type StageConfig,
  serviceSecretArnsSchema,
  stageConfigSchema,
} from '../schemas/config';
import type { SecretsProvider } from '../domain/ports';
import { readShardsOf } from '../domain/shards';
import type { CheckpointPorts } from '../domain/checkpoints/ports';
import type { AppDeps, DepsSource } from './deps';
import { parseJsonEnv, unsetQueue } from './env';
import { createLogger } from './logger';
import { createMetrics } from './metrics';

export interface RuntimeOptions {
  config: StageConfig;
  secrets: SecretsProvider;
  dynamo: {
    /** The client, or a function that makes it when a table is first needed. */
    client: DynamoDBDocumentClient | (() => DynamoDBDocumentClient);
    historyTable: string;
    stateTable: string;
  };
  queue: CallbackQueue;
  /** The FIFO notify queue. @default one that refuses every send (the relay sends later) */
  notifyQueue?: CallbackQueue;
  /** Used for Parley and the downstreams (tests and benchmarks count calls through it). */
  fetch?: typeof fetch;
  /** Timestamps and ages (markers, caches). @default system time */
  clock?: Clock;
  /**
   * Elapsed time of a request (Parley timeouts and budgets, a request's deadline). Tests that move
   * `clock` to age markers keep this one real. @default system time
   */
  timer?: Clock;
  log?: Log;
  metrics?: MetricsSink;
  /**
   * Signed checkpoints (the local runtime: a key file and a directory; in AWS, withCheckpoints of
   * platform/checkpoint-ports.ts, for the functions that keep them). @default none
   */
  checkpoints?: CheckpointPorts | null;
  /** The dead-letter queues' depths (the console's overview). @default none */
  queueDepths?: QueueDepths | null;
}

export const systemClock: Clock = { now: () => Date.now() };

/** `make()` on the first call, its value after. */
const once = <T>(make: () => T): (() => T) => {
  let made: { value: T } | undefined;
  return () => {
    made ??= { value: make() };
    return made.value;
  };
};

/** Powertools metrics, made at the first metric (a request that records none skips them). */
const lazyMetrics = (): MetricsSink & { flush(): void; coldStart(functionName: string): void } => {
  let sink: ReturnType<typeof createMetrics> | undefined;
  const metrics = () => {
    sink ??= createMetrics();
    return sink;
  };
  return {
    count: (...args) => metrics().count(...args),
    milliseconds: (...args) => metrics().milliseconds(...args),
    gauge: (...args) => metrics().gauge(...args),
    flush: () => sink?.flush(),
    coldStart: (functionName) => metrics().coldStart(functionName),
  };
};

export const buildDeps = (options: RuntimeOptions): AppDeps => {
  const { config, secrets } = options;
  const clock = options.clock ?? systemClock;
  const timer = options.timer ?? systemClock;
  const log = options.log ?? createLogger();
  const metrics = options.metrics ?? lazyMetrics();
  const { client, historyTable, stateTable } = options.dynamo;
  const dynamo = typeof client === 'function' ? once(client) : () => client;
  const clients = new Map<string, ParleyClient>();
  const parley = (serviceId: string): ParleyClient => {
    let parleyClient = clients.get(serviceId);
    if (!parleyClient) {
      parleyClient = createParleyClient({
        baseUrl: config.parley.baseUrl,
        credentials: parleyCredentialsSource(secrets, serviceId),
        fetch: options.fetch,
        timeoutMs: config.parley.timeoutMs,
        budgetMs: config.parley.budgetMs,
        clock: timer,
        log,
        onCall: ({ method, path, status, durationMs }) => {
          // One dimension per Parley call kind (the user id is not a dimension).
          const call = `${method} ${path.replace(/^users\/[^/]+/, 'users/{userId}')}`;
          metrics.milliseconds('ParleyLatency', durationMs, { call });
          if (status === null || status >= 400) {
            metrics.count('ParleyError', 1, {
              call,
              status: status === null ? 'none' : String(status),
            });
          }
        },
      });
      clients.set(serviceId, parleyClient);
    }
    return parleyClient;
  };
  // Each adapter is built at its first read: each function uses a few of them (health none, the
  // webhook the authenticator and the queue). A test that needs another one spreads the deps.
  // Every writer of a sharded index uses the stage's shard count; readers fan out over it, or
  // over indexShardsFrom while it is being lowered (DESIGN.md "Changing N").
  const shards = config.indexShards;
  const readShards = readShardsOf(config);
  const history = once(() =>
    createHistoryStore({ client: dynamo(), tableName: historyTable, shards, readShards }),
  );
  const state = once(() =>
    createStateStore({ client: dynamo(), tableName: stateTable, shards, readShards }),
  );
  const notifications = once(() =>
    createNotificationStore({ client: dynamo(), tableName: stateTable, shards, readShards }),
  );
  const catalog = once(() => createServiceCatalog({ config, parley, clock, log }));
  const circuits = once(() => createCircuitStore({ client: dynamo(), tableName: stateTable }));
  const downstream = once(() => createDownstream({ fetch: options.fetch }));
  const metricsStore = once(() =>
    createMetricsStore({
      client: dynamo(),
      tableName: stateTable,
      shards,
      readShards,
      now: clock.now,
    }),
  );
  const consoleStore = once(() => createConsoleStore({ client: dynamo(), tableName: stateTable }));
  const auth = once(() =>
    createAuthenticator({
      secrets,
      serviceIds: config.services.map((s) => s.identification),
      clock,
    }),
  );
  return {
    config,
    clock,
    timer,
    ids: { next: () => randomUUID() },
    log,
    metrics,
    queue: options.queue,
    notifyQueue: options.notifyQueue ?? unsetQueue(ENV.notifyQueueUrl),
    parley,
    secrets,
    checkpoints: options.checkpoints ?? null,
    queueDepths: options.queueDepths ?? null,
    get notifications() {
      return notifications();
    },
    get history() {
      return history();
    },
    get state() {
      return state();
    },
    get catalog() {
      return catalog();
    },
    get circuits() {
      return circuits();
    },
    get downstream() {
      return downstream();
    },
    get auth() {
      return auth();
    },
    get metricsStore() {
      return metricsStore();
    },
    get consoleStore() {
      return consoleStore();
    },
    get erasureStore() {
      return createErasureStore({ client: dynamo(), historyTable, stateTable });
    },
  };
};

/** AWS: the deps, built once per container on first use (no I/O at module load). */
export const depsFromEnvironment = (): DepsSource => {
  let built: AppDeps | undefined;
  return async () => {
    if (built) return built;
    const config = parseJsonEnv(ENV.config, stageConfigSchema);
    const secretArns = parseJsonEnv(ENV.serviceSecretArns, serviceSecretArnsSchema);
    // Only the webhook function has callback-token secrets; the others are not given the name.
    const callbackTokenSecretArns = process.env[ENV.callbackTokenSecretArns]
      ? parseJsonEnv(ENV.callbackTokenSecretArns, serviceSecretArnsSchema)
      : {};
    const log = createLogger();
    const metrics = lazyMetrics();
    // The SDK clients are made at their first call: a function that never reads a secret,
    // never enqueues or never touches a table does not pay for their construction.
    const secrets = createSecretsManagerProvider({
      client: () => new SecretsManagerClient({}),
      serviceSecretArns: secretArns,
      callbackTokenSecretArns,
      auditorsSecretArn: process.env[ENV.auditorsSecretArn] ?? '',
      ttlMs: config.secretsTtlSeconds * 1000,
      expectedAccount: config.accountIdentification,
      log,
      metrics,
    });
    const sqs = once(() => new SQSClient({}));
    const queueUrl = process.env[ENV.queueUrl];
    const queue: CallbackQueue = queueUrl
      ? createSqsQueue({ client: sqs, queueUrl })
      : unsetQueue(ENV.queueUrl);
    const notifyQueueUrl = process.env[ENV.notifyQueueUrl];
    const notifyQueue: CallbackQueue = notifyQueueUrl
      ? createSqsQueue({ client: sqs, queueUrl: notifyQueueUrl })
      : unsetQueue(ENV.notifyQueueUrl);
    // Only the console is given the dead-letter queues' URLs.
    const deadLetterQueues = [
      { name: 'callbacks', url: process.env[ENV.deadLetterQueueUrl] },
      { name: 'notify', url: process.env[ENV.notifyDeadLetterQueueUrl] },
    ].filter((q): q is { name: string; url: string } => Boolean(q.url));
    built = buildDeps({
      config,
      secrets,
      dynamo: {
        client: () => createDocumentClient(),
        historyTable: process.env[ENV.historyTable] ?? '',
        stateTable: process.env[ENV.stateTable] ?? '',
      },
      queue,
      notifyQueue,
      log,
      metrics,
      queueDepths:
        deadLetterQueues.length > 0
          ? createSqsQueueDepths({ client: sqs, queues: deadLetterQueues })
          : null,
    });
    return built;
  };
};
