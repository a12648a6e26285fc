// The bench's own wiring of the service, from the same pieces as the local stack (dynalite from
// local/dynamo, the Parley simulator, the local gateway, the shared route and table definitions,
// the production composition root buildDeps and the handlers' makeHandler), plus what the local
// stack has no place for: counters on every client, the floor routes on the same gateway, the real
// Secrets Manager provider over a mocked SDK client, and a one-call queue.
//
// The queue: in AWS the webhook's enqueue is one SQS SendMessage. The local FIFO queue
// (local/queue/) spends four table calls per send to survive Ctrl-C, which says nothing about
// AWS; here one enqueue is one conditional put into a queue table keyed by the deduplication id
// (a duplicate is accepted, as SQS FIFO does): one round trip, the same cost class as the floor's.
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { PutCommand } from '@aws-sdk/lib-dynamodb';
import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { mockClient } from 'aws-sdk-client-mock';
import { isConditionFailure } from '../functions/adapters/dynamo';
import { createSecretsManagerProvider } from '../functions/adapters/secrets';
import { type CallbackQueue, noMetrics } from '../functions/domain/ports';
import type { AppDeps, DepsSource } from '../functions/platform/deps';
import { createLogger } from '../functions/platform/logger';
import {
  type FunctionName,
  functionSpecs,
  type HttpRoute,
  httpRoutes,
} from '../functions/contracts/routes';
import { buildDeps } from '../functions/platform/runtime';
import { historyTable, stateTable, type TableDefinition } from '../functions/contracts/tables';
import type { StageConfig } from '../functions/schemas/config';
import { startLocalDynamo } from '../local/dynamo';
import { type HttpFunction, startGateway } from '../local/gateway';
import { type ParleySimulator, startParleySimulator } from '../local/parley-sim';
import {
  generateServicesFile,
  type LocalSettings,
  parseServicesFile,
  simulatorSeed,
  toStageConfig,
} from '../local/services-file';
import { handoverFloor, putFloor } from './floors';
import { type Counters, countingDocumentClient, countingFetch, createCounters } from './instrument';

export const BENCH_ACCOUNT = 'benchAccount00000001';
/** A bot (Parley's default) and two agent desks: handovers between the desks call Parley once. */
export const BENCH_SERVICES = [
  { identification: 'benchBot000000000001', name: 'Bench Bot', role: 'bot' as const },
  { identification: 'benchDeskA0000000001', name: 'Desk A', role: 'agent' as const },
  { identification: 'benchDeskB0000000001', name: 'Desk B', role: 'agent' as const },
];

export const TABLES = {
  history: 'bench-history',
  state: 'bench-state',
  queue: 'bench-queue',
  floor: 'bench-floor',
};

const pkOnly: TableDefinition = {
  partitionKey: { name: 'pk', type: 'S' },
  globalIndexes: [],
  localIndexes: [],
};

/** Extra routes on the same gateway, for the floors. */
export const FLOOR_ROUTES = {
  put: { method: 'POST', path: '/bench/floor/put', fn: 'benchFloorPut' },
  handover: { method: 'POST', path: '/bench/floor/handover', fn: 'benchFloorHandover' },
} as const;

export const benchSettings = (): LocalSettings =>
  parseServicesFile(
    generateServicesFile(BENCH_ACCOUNT, BENCH_SERVICES, { auditors: [{ name: 'bench-auditor' }] }),
  );

/** The simulator's seed for the bench's services (the first one is the account's default). */
export const benchSimSeed = (settings: LocalSettings) => simulatorSeed(settings);

export const secretArn = (name: string) =>
  `arn:aws:secretsmanager:us-east-1:000000000000:secret:bench-${name}-AbCdEf`;

export interface BenchSystem {
  url: string;
  counters: Counters;
  settings: LocalSettings;
  config: StageConfig;
  sim: ParleySimulator;
  dynamoEndpoint: string;
  deps: AppDeps;
  handlers: Partial<Record<FunctionName, HttpFunction>>;
  /** Builds fresh deps (an empty secrets cache, as in a new container) for the same stores. */
  freshDeps(): AppDeps;
  /** Server-side duration of each function call, by function (cleared by the caller). */
  durations: Map<string, number[]>;
  close(): Promise<void>;
}

export const startBenchSystem = async (options: {
  parleyLatencyMs: number;
}): Promise<BenchSystem> => {
  const counters = createCounters();
  const dynamo = await startLocalDynamo();
  const closers: (() => Promise<unknown>)[] = [() => dynamo.close()];
  try {
    await dynamo.ensureTable(historyTable, TABLES.history);
    await dynamo.ensureTable(stateTable, TABLES.state);
    await dynamo.ensureTable(pkOnly, TABLES.queue);
    await dynamo.ensureTable(pkOnly, TABLES.floor);
    const client = countingDocumentClient(dynamo.endpoint, counters);
    closers.push(async () => client.destroy());

    const settings = benchSettings();
    const sim = await startParleySimulator({
      port: 0,
      faults:
        options.parleyLatencyMs > 0 ? [{ route: '*', latencyMs: options.parleyLatencyMs }] : [],
      seed: benchSimSeed(settings),
    });
    closers.push(() => sim.close());
    const config = toStageConfig(settings, { parleyBaseUrl: sim.baseUrl, stage: 'bench' });

    // Secrets Manager at the SDK boundary: the production provider over a mocked client.
    const values = new Map<string, string>();
    for (const [id, secret] of Object.entries(settings.secrets)) {
      values.set(secretArn(id), JSON.stringify(secret));
      // Each Service's callback tokens live in a secret of their own (what inbound reads).
      values.set(
        secretArn(`${id}-callback`),
        JSON.stringify({ callbackTokens: secret.callbackTokens }),
      );
    }
    values.set(secretArn('auditors'), JSON.stringify({ auditors: settings.auditors }));
    const sm = mockClient(SecretsManagerClient);
    sm.on(GetSecretValueCommand).callsFake(async (input: { SecretId?: string }) => {
      counters.current.secretFetches += 1;
      const id = input.SecretId ?? '?';
      counters.current.secretsById[id] = (counters.current.secretsById[id] ?? 0) + 1;
      return { SecretString: values.get(input.SecretId ?? '') };
    });
    closers.push(async () => sm.restore());

    const queue: CallbackQueue = {
      async send(message) {
        counters.current.enqueues += 1;
        try {
          await client.send(
            new PutCommand({
              TableName: TABLES.queue,
              Item: {
                pk: `MSG#${message.dedupId}`,
                groupId: message.groupId,
                body: message.body,
                ...(message.attributes ? { attributes: message.attributes } : {}),
              },
              ConditionExpression: 'attribute_not_exists(pk)',
            }),
          );
        } catch (err) {
          if (!isConditionFailure(err)) throw err;
        }
      },
    };

    const fetchFn = countingFetch(counters);
    const log = createLogger({
      level: 'INFO',
      sink: (line: string) => {
        counters.current.logBytes += line.length + 1;
        counters.current.logLines += 1;
      },
    });
    const freshDeps = () =>
      buildDeps({
        config,
        secrets: createSecretsManagerProvider({
          client: new SecretsManagerClient({ region: 'us-east-1' }),
          serviceSecretArns: Object.fromEntries(
            Object.keys(settings.secrets).map((id) => [id, secretArn(id)]),
          ),
          callbackTokenSecretArns: Object.fromEntries(
            Object.keys(settings.secrets).map((id) => [id, secretArn(`${id}-callback`)]),
          ),
          auditorsSecretArn: secretArn('auditors'),
          ttlMs: config.secretsTtlSeconds * 1000,
          expectedAccount: config.accountIdentification,
        }),
        dynamo: { client, historyTable: TABLES.history, stateTable: TABLES.state },
        queue,
        fetch: fetchFn,
        log,
        metrics: noMetrics,
      });
    const deps = freshDeps();
    const source: DepsSource = async () => deps;

    const durations = new Map<string, number[]>();
    const timed =
      (name: string, fn: HttpFunction): HttpFunction =>
      async (event: APIGatewayProxyEventV2) => {
        const started = performance.now();
        try {
          return await fn(event);
        } finally {
          const list = durations.get(name) ?? [];
          list.push(performance.now() - started);
          durations.set(name, list);
        }
      };

    const handlers: Record<string, HttpFunction> = {};
    for (const [name, spec] of Object.entries(functionSpecs)) {
      if (name === 'processor') continue;
      const mod = require(`../functions/handlers/${spec.entry.replace(/\.ts$/, '')}`) as {
        makeHandler: (s: DepsSource) => HttpFunction;
      };
      handlers[name] = timed(name, mod.makeHandler(source));
    }
    handlers[FLOOR_ROUTES.put.fn] = timed('floorPut', putFloor(client, TABLES.floor));
    handlers[FLOOR_ROUTES.handover.fn] = timed(
      'floorHandover',
      handoverFloor({
        client,
        tableName: TABLES.floor,
        parleyBaseUrl: sim.baseUrl,
        account: BENCH_ACCOUNT,
        services: settings.file.services.map((s) => ({
          identification: s.serviceIdentification,
          sharedServiceAccountSecret: s.sharedServiceAccountSecret,
        })),
        fetch: fetchFn,
      }),
    );
    // The gateway's handlers are keyed by function name; the floors' names are the bench's own.
    const routes = [
      ...httpRoutes,
      FLOOR_ROUTES.put,
      FLOOR_ROUTES.handover,
    ] as unknown as HttpRoute[];
    const gateway = await startGateway({
      handlers: handlers as Partial<Record<FunctionName, HttpFunction>>,
      routes,
    });
    closers.push(() => gateway.close());
    return {
      url: gateway.url,
      counters,
      settings,
      config,
      sim,
      dynamoEndpoint: dynamo.endpoint,
      deps,
      handlers: handlers as Partial<Record<FunctionName, HttpFunction>>,
      freshDeps,
      durations,
      close: async () => {
        for (const close of closers.reverse()) await close().catch(() => undefined);
      },
    };
  } catch (err) {
    for (const close of closers.reverse()) await close().catch(() => undefined);
    throw err;
  }
};
