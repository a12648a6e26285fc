// Cold start: each bundle in a fresh Node process, as Lambda starts a container: spawn -> the
// bundle is required ("ready") -> its handler answers a first request ("first response"). Against
// a floor bundle (same SDK clients, the same first I/O as recorded from the function's own first
// request) and a hello-world bundle; rounds interleave every bundle in a shuffled order.
// Every SDK client of a child goes to one local endpoint (bench/aws-stub.ts): Secrets Manager and
// SQS answered there, DynamoDB passed on to dynalite, Parley to the simulator.
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import type { FunctionName } from '../functions/contracts/routes';
import { historyTable, stateTable, type TableDefinition } from '../functions/contracts/tables';
import { startLocalDynamo } from '../local/dynamo';
import { startParleySimulator } from '../local/parley-sim';
import { ENV } from '../functions/schemas/config';
import { toStageConfig } from '../local/services-file';
import { startAwsStub } from './aws-stub';
import type { Bundle, BundleName } from './bundles';
import { callbackBody } from './counts';
import type { FloorCall } from './floors/floor-function';
import { median } from './stats';
import { BENCH_SERVICES, benchSettings, benchSimSeed, secretArn } from './system';
import type { ColdFunction } from './options';

const [BOT, DESK_A] = BENCH_SERVICES.map((s) => s.identification) as [string, string];

/** Runs in the child: require the bundle, say so, answer one event, say so, exit. */
const CHILD = `
const [file, eventJson] = process.argv.slice(1);
const mod = require(file);
process.send({ k: 'ready' });
if (eventJson === 'null') process.send({ k: 'done', status: 0 }, () => process.exit(0));
else {
const context = { functionName: process.env.AWS_LAMBDA_FUNCTION_NAME, awsRequestId: 'cold-1', getRemainingTimeInMillis: () => 15000 };
Promise.resolve(mod.handler(JSON.parse(eventJson), context)).then(
  (r) => process.send({ k: 'done', status: r && r.statusCode, failures: r && r.batchItemFailures ? r.batchItemFailures.length : undefined }, () => process.exit(0)),
  (e) => process.send({ k: 'error', error: String(e && e.name) }, () => process.exit(1)),
);
}`;

export interface ColdRun {
  readyMs: number;
  firstMs: number;
  status: number | undefined;
  calls: number;
}

export interface ColdRow {
  name: string;
  kind: 'function' | 'floor' | 'hello';
  runs: number;
  readyMedian: number;
  firstMedian: number;
  statuses: Record<string, number>;
  /** Calls the first request made (recorded): what the floor replays. */
  firstIo: string[];
  /** Network calls made while the bundle was only required (no invocation). */
  initCalls?: number;
}

export interface ColdResult {
  rounds: number;
  /** The Node version the bundles ran on. */
  nodeVersion: string;
  rows: ColdRow[];
  /** Per function: the subject, its floor. */
  pairs: { fn: FunctionName; subject: ColdRow; floor: ColdRow }[];
  hello: ColdRow;
}

const apiEvent = (
  method: string,
  rawPath: string,
  routeKey: string,
  options: {
    token?: string;
    body?: string;
    pathParameters?: Record<string, string>;
    query?: Record<string, string>;
  } = {},
) => ({
  version: '2.0',
  routeKey: `${method} ${routeKey}`,
  rawPath,
  rawQueryString: new URLSearchParams(options.query ?? {}).toString(),
  headers: {
    host: 'api.bench.local',
    'content-type': 'application/json',
    ...(options.token ? { authorization: `Bearer ${options.token}` } : {}),
  },
  ...(options.query ? { queryStringParameters: options.query } : {}),
  ...(options.pathParameters ? { pathParameters: options.pathParameters } : {}),
  ...(options.body !== undefined ? { body: options.body } : {}),
  isBase64Encoded: false,
  requestContext: {
    accountId: '000000000000',
    apiId: 'bench',
    domainName: 'api.bench.local',
    domainPrefix: 'api',
    http: {
      method,
      path: rawPath,
      protocol: 'HTTP/1.1',
      sourceIp: '127.0.0.1',
      userAgent: 'bench',
    },
    requestId: randomUUID(),
    routeKey: `${method} ${routeKey}`,
    stage: '$default',
    time: '01/Jan/2026:00:00:00 +0000',
    timeEpoch: Date.now(),
  },
});

const shuffle = <T>(items: T[]): T[] => {
  const out = [...items];
  for (let i = out.length - 1; i > 0; i -= 1) {
    const j = Math.floor(Math.random() * (i + 1));
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
};

const runChild = (
  node: string,
  file: string,
  event: unknown,
  env: NodeJS.ProcessEnv,
): Promise<Omit<ColdRun, 'calls'>> =>
  new Promise((resolve, reject) => {
    const started = performance.now();
    let readyMs = Number.NaN;
    const child: ChildProcess = spawn(node, ['-e', CHILD, file, JSON.stringify(event)], {
      env,
      stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
    });
    let stderr = '';
    child.stderr?.on('data', (d: Buffer) => {
      if (stderr.length < 4000) stderr += d.toString('utf8');
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    let answered = false;
    child.on(
      'message',
      (msg: { k: string; status?: number; failures?: number; error?: string }) => {
        if (msg.k === 'ready') readyMs = performance.now() - started;
        else {
          answered = true;
          clearTimeout(timer);
          const firstMs = performance.now() - started;
          if (msg.k === 'error') reject(new Error(`${file}: handler threw ${msg.error}`));
          else resolve({ readyMs, firstMs, status: msg.failures ? 500 : (msg.status ?? 200) });
        }
      },
    );
    child.on('exit', (code) => {
      clearTimeout(timer);
      if (!answered)
        reject(new Error(`${file} exited with ${code} before answering: ${stderr.slice(0, 500)}`));
    });
  });

export const measureColdStarts = async (
  bundles: Map<BundleName, Bundle>,
  options: {
    rounds: number;
    functions: ColdFunction[];
    /** The Node binary of the children. @default this process's */
    node?: string;
    onProgress?: (round: number) => void;
  },
): Promise<ColdResult> => {
  const node = options.node ?? process.execPath;
  const nodeVersion = spawnSync(node, ['-p', 'process.versions.node'], {
    encoding: 'utf8',
  }).stdout.trim();
  const dynamo = await startLocalDynamo();
  const closers: (() => Promise<unknown>)[] = [() => dynamo.close()];
  try {
    const floorTable: TableDefinition = {
      partitionKey: { name: 'pk', type: 'S' },
      globalIndexes: [],
      localIndexes: [],
    };
    await dynamo.ensureTable(historyTable, 'cold-history');
    await dynamo.ensureTable(stateTable, 'cold-state');
    await dynamo.ensureTable(floorTable, 'cold-floor');
    const settings = benchSettings();
    const sim = await startParleySimulator({
      port: 0,
      seed: benchSimSeed(settings),
    });
    closers.push(() => sim.close());
    const basePath = new URL(sim.baseUrl).pathname.replace(/\/+$/, '');
    const secrets = new Map<string, string>();
    for (const [id, s] of Object.entries(settings.secrets)) {
      secrets.set(secretArn(id), JSON.stringify(s));
      secrets.set(
        secretArn(`${id}-callback`),
        JSON.stringify({ callbackTokens: s.callbackTokens }),
      );
    }
    secrets.set(secretArn('auditors'), JSON.stringify({ auditors: settings.auditors }));
    const stub = await startAwsStub({
      secrets,
      dynamoEndpoint: dynamo.endpoint,
      parleyOrigin: new URL(sim.url).origin,
      parleyBasePath: basePath,
    });
    closers.push(() => stub.close());
    const config = toStageConfig(settings, {
      parleyBaseUrl: `${stub.url}${basePath}`,
      stage: 'bench',
    });

    const baseEnv = (bundle: Bundle): NodeJS.ProcessEnv => {
      const fromTemplate = Object.fromEntries(
        Object.entries(bundle.env).filter(([, v]) => typeof v === 'string') as [string, string][],
      );
      return {
        PATH: process.env.PATH,
        ...fromTemplate,
        HANDOVER_CONFIG: JSON.stringify(config),
        SERVICE_SECRET_ARNS: JSON.stringify(
          Object.fromEntries(Object.keys(settings.secrets).map((id) => [id, secretArn(id)])),
        ),
        AUDITORS_SECRET_ARN: secretArn('auditors'),
        // Only the functions the stack gives callback-token secrets (the webhook) get them here.
        ...(ENV.callbackTokenSecretArns in bundle.env
          ? {
              [ENV.callbackTokenSecretArns]: JSON.stringify(
                Object.fromEntries(
                  Object.keys(settings.secrets).map((id) => [id, secretArn(`${id}-callback`)]),
                ),
              ),
            }
          : {}),
        HISTORY_TABLE_NAME: 'cold-history',
        STATE_TABLE_NAME: 'cold-state',
        CALLBACK_QUEUE_URL: `${stub.url}/000000000000/bench-callbacks.fifo`,
        AWS_REGION: 'us-east-1',
        AWS_ACCESS_KEY_ID: 'bench',
        AWS_SECRET_ACCESS_KEY: 'bench',
        AWS_ENDPOINT_URL: stub.url,
        AWS_LAMBDA_FUNCTION_NAME: bundle.name,
        AWS_LAMBDA_FUNCTION_MEMORY_SIZE: String(bundle.memoryMb),
        // As Lambda sets it for a container started by a request (Powertools' cold start).
        AWS_LAMBDA_INITIALIZATION_TYPE: 'on-demand',
        AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
      };
    };
    const botApi = settings.secrets[BOT]!.apiTokens[0]!;
    const auditor = settings.auditors[0]!.token;
    const eventFor = (fn: ColdFunction): unknown => {
      const user = `cold-${randomUUID().slice(0, 8)}`;
      switch (fn) {
        case 'inbound':
          return apiEvent('POST', `/webhooks/parley/${BOT}`, '/webhooks/parley/{serviceId}', {
            token: settings.secrets[BOT]!.callbackTokens[0]!,
            body: callbackBody(user, user),
            pathParameters: { serviceId: BOT },
          });
        case 'processor': {
          const raw = callbackBody(user, user);
          return {
            Records: [
              {
                messageId: user,
                receiptHandle: user,
                body: JSON.stringify({
                  serviceId: BOT,
                  deliveryId: `${BOT}#message#${user}`,
                  receivedAt: new Date().toISOString(),
                  body: raw,
                }),
                attributes: {
                  ApproximateReceiveCount: '1',
                  SentTimestamp: String(Date.now()),
                  SenderId: 'bench',
                  ApproximateFirstReceiveTimestamp: String(Date.now()),
                  MessageGroupId: user,
                  MessageDeduplicationId: user,
                },
                messageAttributes: {},
                md5OfBody: '',
                eventSource: 'aws:sqs',
                eventSourceARN: 'arn:aws:sqs:us-east-1:000000000000:bench-callbacks.fifo',
                awsRegion: 'us-east-1',
              },
            ],
          };
        }
        case 'handover':
          return apiEvent('POST', '/handovers', '/handovers', {
            token: botApi,
            body: JSON.stringify({ userId: user, newOwner: DESK_A }),
          });
        case 'messages':
          return apiEvent('POST', `/users/${user}/messages`, '/users/{userId}/messages', {
            token: botApi,
            body: JSON.stringify({ text: 'hello' }),
            pathParameters: { userId: user },
          });
        case 'owner':
          return apiEvent('GET', `/users/${user}/owner`, '/users/{userId}/owner', {
            token: botApi,
            pathParameters: { userId: user },
          });
        case 'services':
          return apiEvent('GET', '/services', '/services', { token: botApi });
        case 'audit':
          return apiEvent('GET', `/users/${user}/handovers`, '/users/{userId}/handovers', {
            token: auditor,
            pathParameters: { userId: user },
          });
        case 'reconcile':
          return {
            version: '0',
            id: user,
            'detail-type': 'Scheduled Event',
            source: 'aws.events',
            account: '000000000000',
            time: new Date().toISOString(),
            region: 'us-east-1',
            resources: [],
            detail: {},
          };
        case 'verify':
          return apiEvent('GET', `/users/${user}/verify`, '/users/{userId}/verify', {
            token: auditor,
            pathParameters: { userId: user },
          });
        case 'health':
          return apiEvent('GET', '/health', '/health');
        case 'openapi':
          return apiEvent('GET', '/openapi.json', '/openapi.json');
      }
    };

    const bundle = (name: BundleName) => {
      const b = bundles.get(name);
      if (!b) throw new Error(`No bundle ${name}.`);
      return b;
    };
    // Calibration: each function's first request, once, to record the I/O its floor replays.
    const recipes = new Map<FunctionName, FloorCall[]>();
    const initCalls = new Map<FunctionName, number>();
    for (const fn of options.functions) {
      stub.take();
      await runChild(node, bundle(fn).file, null, baseEnv(bundle(fn)));
      initCalls.set(fn, stub.take().length);
      await runChild(node, bundle(fn).file, eventFor(fn), baseEnv(bundle(fn)));
      recipes.set(fn, stub.take());
    }
    const floorEnv = (fn: FunctionName): NodeJS.ProcessEnv => ({
      ...baseEnv(bundle('floor')),
      AWS_LAMBDA_FUNCTION_NAME: `floor-${fn}`,
      BENCH_FLOOR_IO: JSON.stringify(recipes.get(fn)),
      BENCH_FLOOR_TABLE: 'cold-floor',
      BENCH_FLOOR_PARLEY_URL: `${stub.url}${basePath}`,
    });

    type Job = { key: string; file: string; event: () => unknown; env: NodeJS.ProcessEnv };
    const jobs: Job[] = [
      {
        key: 'hello',
        file: bundle('hello').file,
        event: () => ({}),
        env: baseEnv(bundle('hello')),
      },
    ];
    for (const fn of options.functions) {
      jobs.push({
        key: fn,
        file: bundle(fn).file,
        event: () => eventFor(fn),
        env: baseEnv(bundle(fn)),
      });
      jobs.push({
        key: `floor:${fn}`,
        file: bundle('floor').file,
        event: () => ({}),
        env: floorEnv(fn),
      });
    }
    const runs = new Map<string, ColdRun[]>();
    for (let round = 0; round < options.rounds; round += 1) {
      for (const job of shuffle(jobs)) {
        stub.take();
        const run = await runChild(node, job.file, job.event(), job.env);
        const list = runs.get(job.key) ?? [];
        list.push({ ...run, calls: stub.take().length });
        runs.set(job.key, list);
      }
      options.onProgress?.(round + 1);
    }
    const row = (key: string, name: string, kind: ColdRow['kind'], io: FloorCall[]): ColdRow => {
      const list = runs.get(key) ?? [];
      const statuses: Record<string, number> = {};
      for (const r of list) statuses[String(r.status)] = (statuses[String(r.status)] ?? 0) + 1;
      return {
        name,
        kind,
        runs: list.length,
        readyMedian: median(list.map((r) => r.readyMs)),
        firstMedian: median(list.map((r) => r.firstMs)),
        statuses,
        firstIo: io.map((c) =>
          c.kind === 'dynamo'
            ? `dynamo ${c.op}`
            : c.kind === 'parley'
              ? `parley ${c.method} ${c.path.replace(/cold-[0-9a-f]+/, '{user}')}`
              : c.kind,
        ),
      };
    };
    const hello = row('hello', 'hello world', 'hello', []);
    const pairs = options.functions.map((fn) => ({
      fn,
      subject: { ...row(fn, fn, 'function', recipes.get(fn)!), initCalls: initCalls.get(fn) ?? 0 },
      floor: row(`floor:${fn}`, `floor for ${fn}`, 'floor', recipes.get(fn)!),
    }));
    return {
      rounds: options.rounds,
      nodeVersion,
      rows: [hello, ...pairs.flatMap((p) => [p.subject, p.floor])],
      pairs,
      hello,
    };
  } finally {
    for (const close of closers.reverse()) await close().catch(() => undefined);
  }
};
