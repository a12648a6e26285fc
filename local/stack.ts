// The whole system on one machine, in one process: dynalite (tables from the shared definitions),
// the Parley simulator (unless a real Parley URL is given), the local queue feeding the processor
// handler, the local gateway serving the shared route table through the same handlers as AWS, the
// reconcile schedule, the notify queue feeding the notifier with the outbox relay on a timer, and
// the timers' sweep on a timer of its own.
// Used by `npm start`, the demo, the CLI's tests, the e2e tests and the
// benchmarks.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ScanCommand } from '@aws-sdk/lib-dynamodb';
import type { APIGatewayProxyEventV2, SQSBatchResponse, SQSEvent } from 'aws-lambda';
import { fileErasureKey } from '../functions/adapters/erasure-key';
import { createStaticSecretsProvider } from '../functions/adapters/secrets';
import {
  useErasureKey,
  useWritersDoneMs,
  WRITERS_DONE_MS,
} from '../functions/platform/erasure-deps';
import { type Clock, type Log, type MetricsSink, noMetrics } from '../functions/domain/ports';
import type { AppDeps, DepsSource } from '../functions/platform/deps';
import { type FunctionName, functionSpecs } from '../functions/contracts/routes';
import { buildDeps, type RuntimeOptions } from '../functions/platform/runtime';
import { historyTable, stateTable } from '../functions/contracts/tables';
import type { StageConfig } from '../functions/schemas/config';
import { type BundleFunctions, startBundleFunctions } from './bundles';
import { localCheckpoints } from './checkpoints';
import { type LocalDynamo, LocalSetupError, startLocalDynamo } from './dynamo';
import { type ExtraRoute, type HttpFunction, type LocalGateway, startGateway } from './gateway';
import {
  AGENT_SERVICE_ID,
  BOT_SERVICE_ID,
  type FaultRule,
  type LatencyRule,
  type ParleySimulator,
  SIM_ACCOUNT_ID,
  seedFixture,
  startParleySimulator,
} from './parley-sim';
import { NOTIFY_MAX_RECEIVE_COUNT } from '../functions/domain/notify/backoff';
import { localDeadLetterDepths } from './queue/depths';
import { createLocalQueue, type LocalQueue, type LocalQueueOptions } from './queue/local-queue';
import { queueTable } from './queue/store';
import {
  generateServicesFile,
  type LocalSettings,
  type LocalTokens,
  parseServicesFile,
  type StageOptions,
  type ServiceSpec,
  type ServicesFile,
  servicesForSeed,
  simulatorSeed,
  toStageConfig,
  tokensOf,
} from './services-file';

/**
 * The local queue's visibility timeout: shorter than AWS's 90 s, but longer than the 60 s lease a
 * delivery keeps when its attempt dies without releasing it (a crash, a Ctrl-C mid-attempt); a
 * retry inside that lease would only find it busy and use up a receive. (An attempt that fails
 * normally releases its lease.)
 */
export const LOCAL_VISIBILITY_TIMEOUT_MS = 65_000;

export const TABLES = {
  history: 'parley-handover-history',
  state: 'parley-handover-state',
  queue: 'parley-handover-queue',
} as const;

export interface LocalStackOptions {
  /** The Services, their secrets and the auditors. Default: fresh ones for the simulator. */
  settings?: LocalSettings;
  /** Gateway port. @default 0 (a free port) */
  port?: number;
  /** Gateway address. @default '127.0.0.1' */
  host?: string;
  /** Where dynalite keeps its data (LevelDB); omit for a throwaway in-memory run. */
  dataDir?: string;
  /** A real Parley's Service API base URL (may carry a path): then no simulator starts. */
  parleyApiUrl?: string;
  simulator?: {
    port?: number;
    faults?: FaultRule[];
    randomSeed?: number;
    /** Request and response latency per Service API route (a slow Parley). */
    latency?: LatencyRule[];
    latencySeed?: number;
    callbackRetryDelayMs?: number;
  };
  /** Downstream URLs by service identification or name, over those of the settings. */
  downstreamUrls?: Record<string, string>;
  /** Routes outside the service's table (the benchmarks' floors), served by the same gateway. */
  extraRoutes?: readonly ExtraRoute[];
  /** Extra stage configuration (timeouts). */
  config?: StageOptions['overrides'];
  queue?: Pick<
    LocalQueueOptions,
    'visibilityTimeoutMs' | 'maxReceiveCount' | 'pollIntervalMs' | 'concurrency' | 'batchSize'
  > & {
    /** False: callbacks are accepted and kept, but nothing is delivered (tests). @default true */
    deliver?: boolean;
  };
  /**
   * The bundle mode: the functions run from the esbuild bundles of this `cdk synth` output folder,
   * each in a Node process of its own (`node`: another binary, e.g. the Lambda runtime's major;
   * `quiet`: their log lines dropped). Without it the handlers are loaded from the sources.
   */
  bundles?: { dir: string; node?: string; quiet?: boolean };
  /**
   * Gives each function runtime options of its own (tests: the strict IAM mode checks each one's
   * AWS calls against its role). Without it the functions share one set of deps. Source mode only.
   */
  perFunction?: (
    fn: FunctionName,
    runtime: RuntimeOptions,
    dynamoEndpoint: string,
  ) => Promise<RuntimeOptions>;
  /** The reconcile schedule. 0 turns it off. @default 300000 (5 minutes, like AWS) */
  reconcileIntervalMs?: number;
  /**
   * The notify queue (its own table partition and DLQ). `deliver: false` keeps notifications
   * queued, undelivered. @default deliver as `queue.deliver`
   */
  notifyQueue?: Pick<
    LocalQueueOptions,
    'visibilityTimeoutMs' | 'maxReceiveCount' | 'pollIntervalMs' | 'concurrency' | 'batchSize'
  > & { deliver?: boolean };
  /**
   * The outbox relay's schedule. 0 turns it off.
   * @default PARLEY_RELAY_INTERVAL_MS, else 60000 (every minute, like AWS)
   */
  relayIntervalMs?: number;
  /**
   * The timers' sweep (lease warnings and expiries, offer expiries). 0 turns it off.
   * @default PARLEY_SWEEP_INTERVAL_MS, else 60000 (every minute, like AWS)
   */
  sweepIntervalMs?: number;
  /**
   * The metrics' schedules on one timer (the rollup of mature days, written once, and the
   * stuck-owner count). 0 turns it off. @default 300000 (5 minutes)
   */
  metricsIntervalMs?: number;
  /**
   * The signed checkpoints' schedule (the file signer, `{dataDir}/checkpoints/` as the bucket; a
   * temporary folder with --memory). 0 turns it off.
   * @default PARLEY_CHECKPOINT_INTERVAL_MS, else the stage's checkpoints.intervalMinutes (15)
   */
  checkpointIntervalMs?: number;
  /**
   * The eraser's schedule (open erasures; `eraserNow(true)` or `erasure retention` for a retention
   * run). 0 turns it off. @default PARLEY_ERASER_INTERVAL_MS, else 60000 (every minute, like AWS)
   */
  eraserIntervalMs?: number;
  /**
   * How long after a user's newest record a full erasure lists the records a last time (a stalled
   * writer may append until then; DESIGN.md "The fence"). @default PARLEY_ERASER_WRITERS_DONE_MS,
   * else WRITERS_DONE_MS (180 s, as in AWS)
   */
  eraserWritersDoneMs?: number;
  log?: Log;
  /** Metrics in embedded metric format are for CloudWatch; locally they are off by default. */
  metrics?: MetricsSink;
  fetch?: typeof fetch;
  clock?: Clock;
}

export interface LocalStack {
  /** The gateway, e.g. `http://127.0.0.1:3000`. */
  url: string;
  port: number;
  /** The simulator, or null when a real Parley is used. */
  parley: ParleySimulator | null;
  parleyBaseUrl: string;
  tokens: LocalTokens;
  settings: LocalSettings;
  config: StageConfig;
  dataDir: string | null;
  /** The bundle mode's folder, Node version and template runtime; null with the sources. */
  bundles: Pick<BundleFunctions, 'dir' | 'nodeVersion' | 'runtime'> | null;
  queue: LocalQueue;
  /** The notify queue the notifier consumes (its DLQ: `notifyQueue.listDlq()`). */
  notifyQueue: LocalQueue;
  dynamo: LocalDynamo;
  deps: AppDeps;
  /** Runs the reconcile function as the schedule would. */
  reconcileNow(): Promise<unknown>;
  /** Runs the outbox relay (the notifier's scheduled run) as the schedule would. */
  relayNow(): Promise<unknown>;
  /** Runs the metrics function's scheduled work (rollup and stuck owners) as a schedule would. */
  metricsNow(): Promise<unknown>;
  /** Runs the eraser as its schedules would (`retention`: the daily run); its summary. */
  eraserNow(retention?: boolean): Promise<unknown>;
  /** Runs the timers' sweep as the schedule would (its summary). */
  sweepNow(): Promise<unknown>;
  /** Runs the checkpoint job as its schedule would (its answer). */
  checkpointNow(): Promise<unknown>;
  /** Where the checkpoints and their key are kept (`.local/` with a data folder). */
  checkpointDir: string;
  /** Stops the queue (waiting for batches in flight), the gateway, the simulator and dynalite. */
  close(): Promise<void>;
}

/**
 * The simulator's seed services, with the roles the services file gives them, and the example rule
 * (EXAMPLE_RULE) for the bot: a user asking for a human is handed to the Agent Service.
 */
export const simulatorServices = (): ServiceSpec[] => servicesForSeed(seedFixture());

/** A services file with fresh tokens for the simulator's account and services. */
export const generateSimulatorServicesFile = (): ServicesFile =>
  generateServicesFile(SIM_ACCOUNT_ID, simulatorServices());

export { AGENT_SERVICE_ID, BOT_SERVICE_ID };

type Module = { makeHandler?: (deps: DepsSource) => unknown };

/** Each function's `makeHandler`, found through the shared function table. */
const loadHandlers = (sourceOf: (fn: FunctionName) => DepsSource) => {
  const dir = join(__dirname, '..', 'functions', 'handlers');
  const made = {} as Record<FunctionName, unknown>;
  for (const [name, spec] of Object.entries(functionSpecs) as [FunctionName, { entry: string }][]) {
    const mod = require(join(dir, spec.entry)) as Module;
    if (typeof mod.makeHandler !== 'function') {
      throw new Error(`functions/handlers/${spec.entry} exports no makeHandler.`);
    }
    made[name] = mod.makeHandler(sourceOf(name));
  }
  return made;
};

/** The owners the local store last knew, so that a restarted simulator agrees with the history. */
const knownOwners = async (dynamo: LocalDynamo, serviceIds: Set<string>) => {
  const owners: Record<string, string> = {};
  let startKey: Record<string, unknown> | undefined;
  do {
    const out = await dynamo.client.send(
      new ScanCommand({
        TableName: TABLES.state,
        FilterExpression: 'begins_with(pk, :user)',
        ExpressionAttributeValues: { ':user': 'USER#' },
        ExclusiveStartKey: startKey,
      }),
    );
    for (const item of out.Items ?? []) {
      const { userId, owner } = item as { userId?: unknown; owner?: unknown };
      if (typeof userId === 'string' && typeof owner === 'string' && serviceIds.has(owner)) {
        owners[userId] = owner;
      }
    }
    startKey = out.LastEvaluatedKey;
  } while (startKey);
  return owners;
};

const scheduledEvent = (now: number) => ({
  version: '0',
  id: `local-${now}`,
  'detail-type': 'Scheduled Event',
  source: 'aws.events',
  account: '000000000000',
  time: new Date(now).toISOString().replace(/\.\d{3}Z$/, 'Z'),
  region: 'local',
  resources: ['arn:aws:events:local:000000000000:rule/parley-handover-reconcile'],
  detail: {},
});

/** An interval variable: whole milliseconds, 0 to turn its timer off; unset: every minute. */
const intervalFromEnv = (name: string, what: string, unset = 60_000): number => {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return unset;
  if (!/^\d{1,9}$/.test(raw)) {
    throw new LocalSetupError(
      `${name} must be a whole number of milliseconds (0 turns the ${what} off).`,
    );
  }
  return Number(raw);
};

/** PARLEY_ERASER_WRITERS_DONE_MS, else the AWS value (DESIGN.md "The fence"). */
const writersDoneFromEnv = (): number => {
  const raw = process.env.PARLEY_ERASER_WRITERS_DONE_MS;
  if (raw === undefined || raw === '') return WRITERS_DONE_MS;
  if (!/^\d{1,9}$/.test(raw)) {
    throw new LocalSetupError(
      'PARLEY_ERASER_WRITERS_DONE_MS must be a whole number of milliseconds.',
    );
  }
  return Number(raw);
};

const relayIntervalFromEnv = () => intervalFromEnv('PARLEY_RELAY_INTERVAL_MS', 'relay');
const sweepIntervalFromEnv = () => intervalFromEnv('PARLEY_SWEEP_INTERVAL_MS', 'sweep');

export const startLocalStack = async (options: LocalStackOptions = {}): Promise<LocalStack> => {
  const settings = options.settings ?? parseServicesFile(generateSimulatorServicesFile());
  const cleanup: (() => Promise<unknown>)[] = [];
  const undo = async () => {
    for (const step of cleanup.reverse()) await step().catch(() => undefined);
  };
  try {
    const dynamo = await startLocalDynamo(
      options.dataDir ? { path: join(options.dataDir, 'dynamo') } : {},
    );
    cleanup.push(() => dynamo.close());
    await dynamo.ensureTable(historyTable, TABLES.history);
    await dynamo.ensureTable(stateTable, TABLES.state);
    await dynamo.ensureTable(queueTable, TABLES.queue);

    let parley: ParleySimulator | null = null;
    let parleyBaseUrl: string;
    if (options.parleyApiUrl) {
      parleyBaseUrl = options.parleyApiUrl;
    } else {
      const ids = settings.file.services.map((s) => s.serviceIdentification);
      try {
        parley = await startParleySimulator({
          port: options.simulator?.port ?? 0,
          faults: options.simulator?.faults,
          randomSeed: options.simulator?.randomSeed,
          latency: options.simulator?.latency,
          latencySeed: options.simulator?.latencySeed,
          callbackRetryDelayMs: options.simulator?.callbackRetryDelayMs,
          seed: simulatorSeed(settings, await knownOwners(dynamo, new Set(ids))),
        });
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'EADDRINUSE') {
          throw new LocalSetupError(
            `Port ${options.simulator?.port} for the Parley simulator is in use: stop the other program or set PARLEY_SIM_PORT.`,
          );
        }
        throw err;
      }
      const sim = parley;
      cleanup.push(() => sim.close());
      parleyBaseUrl = sim.baseUrl;
    }

    const config = toStageConfig(settings, {
      parleyBaseUrl,
      downstreamUrls: options.downstreamUrls,
      overrides: options.config,
    });
    const secrets = createStaticSecretsProvider({
      services: settings.secrets,
      auditors: settings.auditors,
      operators: settings.operators,
      expectedAccount: settings.accountIdentification,
    });
    const queue = createLocalQueue({
      client: dynamo.client,
      tableName: TABLES.queue,
      clock: options.clock,
      log: options.log,
      visibilityTimeoutMs: LOCAL_VISIBILITY_TIMEOUT_MS,
      ...options.queue,
    });
    const { deliver: deliverNotifications, ...notifyQueueOptions } = options.notifyQueue ?? {};
    const notifyQueue = createLocalQueue({
      client: dynamo.client,
      tableName: TABLES.queue,
      name: 'notify',
      clock: options.clock,
      log: options.log,
      visibilityTimeoutMs: LOCAL_VISIBILITY_TIMEOUT_MS,
      maxReceiveCount: NOTIFY_MAX_RECEIVE_COUNT,
      ...notifyQueueOptions,
    });
    // A throwaway run keeps its checkpoints in a folder of its own, removed with it.
    const checkpointDir = options.dataDir ?? mkdtempSync(join(tmpdir(), 'parley-checkpoints-'));
    if (!options.dataDir) {
      cleanup.push(async () => rmSync(checkpointDir, { recursive: true, force: true }));
    }
    // The subject key beside them (`.local/erasure-key`; it names users in the checkpoints and
    // tombstones): made on first use, kept between runs.
    const erasureKeyFile = join(checkpointDir, 'erasure-key');
    useErasureKey(config, fileErasureKey(erasureKeyFile));
    useWritersDoneMs(config, options.eraserWritersDoneMs ?? writersDoneFromEnv());
    const runtime: RuntimeOptions = {
      config,
      secrets,
      dynamo: { client: dynamo.client, historyTable: TABLES.history, stateTable: TABLES.state },
      queue,
      notifyQueue,
      fetch: options.fetch,
      clock: options.clock,
      log: options.log,
      metrics: options.metrics ?? noMetrics,
      checkpoints: localCheckpoints(checkpointDir),
      // The console's overview reads both DLQs' depths.
      queueDepths: localDeadLetterDepths([
        { name: 'callbacks', queue },
        { name: 'notify', queue: notifyQueue },
      ]),
    };
    const deps = buildDeps(runtime);
    const source: DepsSource = async () => deps;
    const perFunction = options.perFunction;
    const sourceOf = (fn: FunctionName): DepsSource => {
      if (!perFunction) return source;
      let made: Promise<AppDeps> | undefined;
      return () => {
        made ??= perFunction(fn, runtime, dynamo.endpoint).then(buildDeps);
        return made;
      };
    };
    let bundled: BundleFunctions | null = null;
    if (options.bundles) {
      const run = await startBundleFunctions({
        ...options.bundles,
        settings,
        config,
        dynamoEndpoint: dynamo.endpoint,
        tables: { history: TABLES.history, state: TABLES.state },
        queue,
        notifyQueue,
        checkpointDir,
        erasureKeyFile,
        log: deps.log,
      });
      cleanup.push(() => run.close());
      bundled = run;
    }
    const fns = bundled ? bundled.handlers : loadHandlers(sourceOf);
    const processor = fns.processor as (event: SQSEvent) => Promise<SQSBatchResponse>;
    // Absent in a bundle mode whose template has no notifier.
    const notifier = fns.notifier as ((event: unknown) => Promise<unknown>) | undefined;
    const reconcileFn = fns.reconcile as (event: unknown) => Promise<unknown>;
    // Absent in a bundle mode whose template has no sweep.
    const sweepFn = fns.sweep as ((event: unknown) => Promise<unknown>) | undefined;
    const http: Partial<Record<FunctionName, HttpFunction>> = {};
    for (const [name, fn] of Object.entries(fns) as [FunctionName, unknown][]) {
      // The sweep has no route: only its timer calls it.
      if (name !== 'processor' && name !== 'notifier' && name !== 'sweep') {
        http[name] = fn as (event: APIGatewayProxyEventV2) => Promise<never>;
      }
    }

    let gateway: LocalGateway;
    try {
      gateway = await startGateway({
        handlers: http,
        extraRoutes: options.extraRoutes,
        port: options.port ?? 0,
        host: options.host ?? '127.0.0.1',
        log: options.log,
      });
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'EADDRINUSE') {
        throw new LocalSetupError(
          `Port ${options.port} is in use: stop the other program or set PORT.`,
        );
      }
      if (code === 'EACCES') {
        throw new LocalSetupError(`Port ${options.port} may not be opened by this user: set PORT.`);
      }
      throw err;
    }
    cleanup.push(() => gateway.close());
    // Parley reaches the gateway on the loopback address even when it listens on all of them.
    const callbackBase = `http://127.0.0.1:${gateway.port}`;

    const tokens = tokensOf(settings);
    if (parley) {
      for (const [id, t] of Object.entries(tokens.services)) {
        parley.setCallback(id, `${callbackBase}/webhooks/parley/${encodeURIComponent(id)}`, {
          Authorization: `Bearer ${t.callbackToken}`,
        });
      }
    }

    if (options.queue?.deliver !== false) queue.start(processor);
    cleanup.push(() => queue.stop());
    if (notifier && (deliverNotifications ?? options.queue?.deliver) !== false) {
      notifyQueue.start(notifier as (event: SQSEvent) => Promise<SQSBatchResponse>);
    }
    cleanup.push(() => notifyQueue.stop());

    const clock = options.clock ?? { now: () => Date.now() };
    const reconcileNow = () => reconcileFn(scheduledEvent(clock.now()));
    const interval = options.reconcileIntervalMs ?? 300_000;
    let timer: NodeJS.Timeout | null = null;
    if (interval > 0) {
      timer = setInterval(() => {
        reconcileNow().catch((err) =>
          deps.log.warn('scheduled reconcile failed', {
            error: err instanceof Error ? err.name : typeof err,
          }),
        );
      }, interval);
      timer.unref();
    }

    const relayNow = async () => (notifier ? notifier(scheduledEvent(clock.now())) : undefined);
    const relayInterval = options.relayIntervalMs ?? relayIntervalFromEnv();
    let relayTimer: NodeJS.Timeout | null = null;
    if (notifier && relayInterval > 0) {
      relayTimer = setInterval(() => {
        relayNow().catch((err) =>
          deps.log.warn('scheduled notification relay failed', {
            error: err instanceof Error ? err.name : typeof err,
          }),
        );
      }, relayInterval);
      relayTimer.unref();
    }

    const sweepNow = async () => (sweepFn ? sweepFn(scheduledEvent(clock.now())) : undefined);
    const sweepInterval = options.sweepIntervalMs ?? sweepIntervalFromEnv();
    let sweepTimer: NodeJS.Timeout | null = null;
    let sweeping: Promise<unknown> | null = null;
    if (sweepFn && sweepInterval > 0) {
      sweepTimer = setInterval(() => {
        // One run at a time: a short test interval must not overlap runs.
        if (sweeping) return;
        sweeping = sweepNow()
          .catch((err) =>
            deps.log.warn('scheduled sweep failed', {
              error: err instanceof Error ? err.name : typeof err,
            }),
          )
          .finally(() => {
            sweeping = null;
          });
      }, sweepInterval);
      sweepTimer.unref();
    }

    const metricsFn = fns.metrics as ((event: unknown) => Promise<unknown>) | undefined;
    const metricsNow = async () => metricsFn?.(scheduledEvent(clock.now()));
    const metricsInterval = options.metricsIntervalMs ?? 300_000;
    let metricsTimer: NodeJS.Timeout | null = null;
    if (metricsFn && metricsInterval > 0) {
      metricsTimer = setInterval(() => {
        metricsNow().catch((err) =>
          deps.log.warn('scheduled metrics run failed', {
            error: err instanceof Error ? err.name : typeof err,
          }),
        );
      }, metricsInterval);
      metricsTimer.unref();
    }

    const checkpointFn = fns.checkpoint as ((event: unknown) => Promise<unknown>) | undefined;
    const checkpointNow = async () => checkpointFn?.(scheduledEvent(clock.now()));
    const checkpointInterval =
      options.checkpointIntervalMs ??
      intervalFromEnv(
        'PARLEY_CHECKPOINT_INTERVAL_MS',
        'checkpoints',
        config.checkpoints.intervalMinutes * 60_000,
      );
    let checkpointTimer: NodeJS.Timeout | null = null;
    let checkpointing: Promise<unknown> | null = null;
    if (checkpointFn && checkpointInterval > 0) {
      checkpointTimer = setInterval(() => {
        // One run at a time (each chains to the one before).
        if (checkpointing) return;
        checkpointing = checkpointNow()
          .catch((err) =>
            deps.log.warn('scheduled checkpoint failed', {
              error: err instanceof Error ? err.name : typeof err,
            }),
          )
          .finally(() => {
            checkpointing = null;
          });
      }, checkpointInterval);
      checkpointTimer.unref();
    }

    const eraserFn = fns.eraser as ((event: unknown) => Promise<unknown>) | undefined;
    const eraserNow = async (retention = false) =>
      eraserFn?.({ ...scheduledEvent(clock.now()), ...(retention ? { task: 'retention' } : {}) });
    const eraserInterval =
      options.eraserIntervalMs ?? intervalFromEnv('PARLEY_ERASER_INTERVAL_MS', 'eraser');
    let eraserTimer: NodeJS.Timeout | null = null;
    let erasing: Promise<unknown> | null = null;
    if (eraserFn && eraserInterval > 0) {
      eraserTimer = setInterval(() => {
        if (erasing) return;
        erasing = eraserNow()
          .catch((err) =>
            deps.log.warn('scheduled eraser run failed', {
              error: err instanceof Error ? err.name : typeof err,
            }),
          )
          .finally(() => {
            erasing = null;
          });
      }, eraserInterval);
      eraserTimer.unref();
    }

    let closing: Promise<void> | null = null;
    return {
      url: gateway.url,
      port: gateway.port,
      parley,
      parleyBaseUrl,
      tokens,
      settings,
      config,
      dataDir: options.dataDir ?? null,
      bundles: bundled && {
        dir: bundled.dir,
        nodeVersion: bundled.nodeVersion,
        runtime: bundled.runtime,
      },
      queue,
      notifyQueue,
      dynamo,
      deps,
      reconcileNow,
      relayNow,
      metricsNow,
      sweepNow,
      eraserNow,
      checkpointNow,
      checkpointDir,
      close: () => {
        closing ??= (async () => {
          if (timer) clearInterval(timer);
          if (relayTimer) clearInterval(relayTimer);
          if (metricsTimer) clearInterval(metricsTimer);
          if (sweepTimer) clearInterval(sweepTimer);
          if (checkpointTimer) clearInterval(checkpointTimer);
          if (eraserTimer) clearInterval(eraserTimer);
          // A run in flight still talks to the tables and Parley.
          await sweeping;
          await checkpointing;
          await erasing;
          // Batches in flight may still talk to the gateway (a desk replying) and to Parley:
          // the queue stops first, then what it needed.
          await queue.stop().catch(() => undefined);
          await notifyQueue.stop().catch(() => undefined);
          await gateway.close();
          await bundled?.close();
          if (parley) await parley.close();
          await dynamo.close();
          if (!options.dataDir) rmSync(checkpointDir, { recursive: true, force: true });
        })();
        return closing;
      },
    };
  } catch (err) {
    await undo();
    throw err;
  }
};
