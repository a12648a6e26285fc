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
import { type DynamoDBDocumentClient, PutCommand } from '@aws-sdk/lib-dynamodb';
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
import { startDynamoProcess } from './dynamo-process';
import { handoverCallsFloor, handoverFloor, putFloor } from './floors';
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
  handoverCalls: {
    method: 'POST',
    path: '/bench/floor/handover-calls',
    fn: 'benchFloorHandoverCalls',
  },
} as const;

/**
 * Bytes of the items a desk-to-desk handover writes (the owner item with its marker, the record,
 * the owner item at rest), as bench/item-sizes.ts measured them with a 169-byte metadata.
 */
export const HANDOVER_ITEM_BYTES = { marked: 1023, record: 808, rest: 327 };

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
  /**
   * Builds fresh deps (an empty secrets cache, as in a new container) for the same stores, with
   * the bench's configuration or another one (e.g. a Service given a downstream).
   */
  freshDeps(config?: StageConfig): AppDeps;
  /** Server-side duration of each function call, by function (cleared by the caller). */
  durations: Map<string, number[]>;
  /** The document client the functions use (counting). */
  client: DynamoDBDocumentClient;
  /** Points the webhook's queue at another table (created if missing), e.g. one per load level. */
  useQueueTable(name: string): Promise<void>;
  close(): Promise<void>;
}

export const startBenchSystem = async (options: {
  parleyLatencyMs: number;
  /** Run the local store in a process of its own (bench/dynamo-process.ts). @default false */
  storeProcess?: boolean;
}): Promise<BenchSystem> => {
  const counters = createCounters();
  const dynamo = options.storeProcess ? await startDynamoProcess() : await startLocalDynamo();
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
    // One mocked client instance per system (not the class), so two systems can run side by side.
    const secretsClient = new SecretsManagerClient({ region: 'us-east-1' });
    const sm = mockClient(secretsClient);
    sm.on(GetSecretValueCommand).callsFake(async (input: { SecretId?: string }) => {
      counters.current.secretFetches += 1;
      const id = input.SecretId ?? '?';
      counters.current.secretsById[id] = (counters.current.secretsById[id] ?? 0) + 1;
      return { SecretString: values.get(input.SecretId ?? '') };
    });
    closers.push(async () => sm.restore());

    let queueTable = TABLES.queue;
    const queue: CallbackQueue = {
      async send(message) {
        counters.current.enqueues += 1;
        try {
          await client.send(
            new PutCommand({
              TableName: queueTable,
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
    const freshDeps = (stageConfig: StageConfig = config) =>
      buildDeps({
        config: stageConfig,
        secrets: createSecretsManagerProvider({
          client: secretsClient,
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
    const routed = new Set<string>(httpRoutes.map((r) => r.fn));
    for (const [name, spec] of Object.entries(functionSpecs)) {
      if (!routed.has(name)) continue; // queue consumers and schedules: no route to serve
      const file = `../functions/handlers/${spec.entry.replace(/\.ts$/, '')}`;
      let mod: { makeHandler: (s: DepsSource) => HttpFunction };
      try {
        mod = require(file);
      } catch (err) {
        // A function declared before its handler is written: its routes are not served here.
        if ((err as NodeJS.ErrnoException).code !== 'MODULE_NOT_FOUND') throw err;
        if (!String((err as Error).message).includes(file.slice(3))) throw err;
        process.stderr.write(`[bench] ${name}: no handler at functions/handlers/${spec.entry}\n`);
        continue;
      }
      handlers[name] = timed(name, mod.makeHandler(source));
    }
    handlers[FLOOR_ROUTES.put.fn] = timed('floorPut', putFloor(client, TABLES.floor));
    const floorOptions = {
      client,
      tableName: TABLES.floor,
      parleyBaseUrl: sim.baseUrl,
      account: BENCH_ACCOUNT,
      services: settings.file.services.map((s) => ({
        identification: s.serviceIdentification,
        sharedServiceAccountSecret: s.sharedServiceAccountSecret,
      })),
      fetch: fetchFn,
    };
    handlers[FLOOR_ROUTES.handover.fn] = timed('floorHandover', handoverFloor(floorOptions));
    handlers[FLOOR_ROUTES.handoverCalls.fn] = timed(
      'floorHandoverCalls',
      handoverCallsFloor({ ...floorOptions, sizes: HANDOVER_ITEM_BYTES }),
    );
    // The gateway's handlers are keyed by function name; the floors' names are the bench's own.
    const routes = [
      ...httpRoutes,
      FLOOR_ROUTES.put,
      FLOOR_ROUTES.handover,
      FLOOR_ROUTES.handoverCalls,
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
      client,
      useQueueTable: async (name) => {
        await dynamo.ensureTable(pkOnly, name);
        queueTable = name;
      },
      close: async () => {
        for (const close of closers.reverse()) await close().catch(() => undefined);
      },
    };
  } catch (err) {
    for (const close of closers.reverse()) await close().catch(() => undefined);
    throw err;
  }
};
