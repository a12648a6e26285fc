// The composition root: builds every adapter once per container and hands the handlers an AppDeps.
// In AWS the settings come from the environment (depsFromEnvironment); the local runtime and the
// tests call buildDeps with their own adapters (a static secrets provider, the local queue).
import { randomUUID } from 'node:crypto';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { SQSClient } from '@aws-sdk/client-sqs';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { createAuthenticator } from '../adapters/auth';
import { createServiceCatalog } from '../adapters/catalog';
import { createDocumentClient } from '../adapters/dynamo';
import { createDownstream } from '../adapters/downstream';
import { createHistoryStore } from '../adapters/history-store';
import { createParleyClient } from '../adapters/parley-client';
import { createSecretsManagerProvider, parleyCredentialsSource } from '../adapters/secrets';
import { createSqsQueue } from '../adapters/sqs-queue';
import { createStateStore } from '../adapters/state-store';
import type { HandoverDeps } from '../domain/handover';
import type { CallbackQueue, Clock, Log, MetricsSink, ParleyClient } from '../domain/ports';
import { ENV, type StageConfig, stageConfigSchema } from '../schemas/config';
import type { AppDeps, DepsSource, SecretsProvider } from './deps';
import { createLogger } from './logger';
import { createMetrics } from './metrics';
import { z } from 'zod';

export interface RuntimeOptions {
  config: StageConfig;
  secrets: SecretsProvider;
  dynamo: { client: DynamoDBDocumentClient; historyTable: string; stateTable: string };
  queue: CallbackQueue;
  /** Used for Parley and the downstreams (tests and benchmarks count calls through it). */
  fetch?: typeof fetch;
  clock?: Clock;
  log?: Log;
  metrics?: MetricsSink;
}

export const systemClock: Clock = { now: () => Date.now() };

export const buildDeps = (options: RuntimeOptions): AppDeps => {
  const { config, secrets } = options;
  const clock = options.clock ?? systemClock;
  const log = options.log ?? createLogger();
  const metrics = options.metrics ?? createMetrics();
  const clients = new Map<string, ParleyClient>();
  const parley = (serviceId: string): ParleyClient => {
    let client = clients.get(serviceId);
    if (!client) {
      client = createParleyClient({
        baseUrl: config.parley.baseUrl,
        credentials: parleyCredentialsSource(secrets, serviceId),
        fetch: options.fetch,
        timeoutMs: config.parley.timeoutMs,
        budgetMs: config.parley.budgetMs,
        clock,
        log,
      });
      clients.set(serviceId, client);
    }
    return client;
  };
  return {
    config,
    clock,
    ids: { next: () => randomUUID() },
    log,
    metrics,
    history: createHistoryStore({
      client: options.dynamo.client,
      tableName: options.dynamo.historyTable,
    }),
    state: createStateStore({
      client: options.dynamo.client,
      tableName: options.dynamo.stateTable,
    }),
    queue: options.queue,
    parley,
    catalog: createServiceCatalog({ config, parley, clock }),
    downstream: createDownstream({ fetch: options.fetch }),
    secrets,
    auth: createAuthenticator({
      secrets,
      serviceIds: config.services.map((s) => s.identification),
      clock,
    }),
  };
};

/** The handover use case's view of the deps. */
export const handoverDeps = (deps: AppDeps): HandoverDeps => ({
  parley: deps.parley,
  history: deps.history,
  state: deps.state,
  catalog: deps.catalog,
  clock: deps.clock,
  ids: deps.ids,
  log: deps.log,
  metrics: deps.metrics,
  staleAfterMs: deps.config.staleAfterSeconds * 1000,
});

/** Thrown at the first invocation when the function's environment is wrong. */
export class EnvironmentError extends Error {}

const required = (name: string): string => {
  const value = process.env[name];
  if (!value) throw new EnvironmentError(`Environment variable ${name} is not set.`);
  return value;
};

const parseJsonEnv = <T>(name: string, schema: z.ZodType<T>): T => {
  let raw: unknown;
  try {
    raw = JSON.parse(required(name));
  } catch (err) {
    if (err instanceof EnvironmentError) throw err;
    throw new EnvironmentError(`Environment variable ${name} is not valid JSON.`);
  }
  const parsed = schema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new EnvironmentError(
      `Environment variable ${name} is invalid at ${issue?.path.join('.') || '(root)'}: ${issue?.message}.`,
    );
  }
  return parsed.data;
};

/** AWS: the deps, built once per container on first use (no I/O at module load). */
export const depsFromEnvironment = (): DepsSource => {
  let built: AppDeps | undefined;
  return async () => {
    if (built) return built;
    const config = parseJsonEnv(ENV.config, stageConfigSchema);
    const secretArns = parseJsonEnv(ENV.serviceSecretArns, z.record(z.string(), z.string()));
    const secrets = createSecretsManagerProvider({
      client: new SecretsManagerClient({}),
      serviceSecretArns: secretArns,
      auditorsSecretArn: process.env[ENV.auditorsSecretArn] ?? '',
      ttlMs: config.secretsTtlSeconds * 1000,
      expectedAccount: config.accountIdentification,
    });
    const queueUrl = process.env[ENV.queueUrl];
    const queue: CallbackQueue = queueUrl
      ? createSqsQueue({ client: new SQSClient({}), queueUrl })
      : {
          send: async () => {
            throw new EnvironmentError(`Environment variable ${ENV.queueUrl} is not set.`);
          },
        };
    built = buildDeps({
      config,
      secrets,
      dynamo: {
        client: createDocumentClient(),
        historyTable: process.env[ENV.historyTable] ?? '',
        stateTable: process.env[ENV.stateTable] ?? '',
      },
      queue,
    });
    return built;
  };
};
