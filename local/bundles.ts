// The bundle mode of the local runtime (`npm start -- --bundles cdk.out`): the functions run from
// the esbuild bundles of a `cdk synth` output, the code the stacks deploy, instead of the
// TypeScript sources. Each function gets a Node process of its own, as a Lambda container: the
// environment its template sets (deploy-time names replaced by the local ones: a variable the
// template does not set stays unset), its bundle required at start, its exported handler called
// with each event, killed past the function's timeout and started again at the next event. The
// bundled SDK clients reach dynalite directly and the local AWS endpoint (aws-endpoint.ts) for
// Secrets Manager and SQS. One process serves concurrent events (a Lambda container takes one at a
// time); Node is this one unless `node` names another binary (the Lambda runtime's major).
import { type ChildProcess, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { fileErasureKey } from '../functions/adapters/erasure-key';
import { type FunctionName, functionSpecs } from '../functions/contracts/routes';
import type { CallbackQueue, Log } from '../functions/domain/ports';
import { ENV, type StageConfig } from '../functions/schemas/config';
import { startLocalAwsEndpoint } from './aws-endpoint';
import { checkpointPaths } from './checkpoints';
import { LocalSetupError } from './dynamo';
import type { LocalSettings } from './services-file';

/** One function as the synthesized template declares it. */
export interface SynthesizedFunction {
  name: FunctionName;
  /** The bundle (the asset folder's entry file). */
  file: string;
  /** The export the template's `Handler` names. */
  exportName: string;
  /** e.g. `nodejs22.x` */
  runtime: string;
  /** The template's environment; values resolved at deploy time are objects. */
  env: Record<string, unknown>;
  memoryMb: number;
  timeoutSeconds: number;
}

interface FunctionProperties {
  Handler?: string;
  Runtime?: string;
  MemorySize?: number;
  Timeout?: number;
  Code?: { S3Key?: unknown };
  Environment?: { Variables?: Record<string, unknown> };
}
type Resource = {
  Type: string;
  Properties?: FunctionProperties;
  Metadata?: Record<string, unknown>;
};
type Manifest = {
  artifacts?: Record<string, { type: string; properties?: { templateFile?: string } }>;
};

const readJson = <T>(file: string): T => JSON.parse(readFileSync(file, 'utf8')) as T;

/**
 * Every function of the route table, found in the stacks of a `cdk synth` output folder by its
 * construct path (`<stack>/<Name>/Function/Resource`; without path metadata, an app synthesized in
 * a program, by its logical id `<Name>Function…`) and its asset folder (named by the asset's hash,
 * which is also its zip's key).
 */
export const readSynthOutput = (dir: string): Map<FunctionName, SynthesizedFunction> => {
  const root = resolve(dir);
  const manifestFile = join(root, 'manifest.json');
  if (!existsSync(manifestFile)) {
    throw new LocalSetupError(
      `${root} holds no cdk synth output (no manifest.json): run "npx cdk synth" first, or name its output folder.`,
    );
  }
  const artifacts = Object.values(readJson<Manifest>(manifestFile).artifacts ?? {});
  const found = new Map<FunctionName, SynthesizedFunction>();
  for (const artifact of artifacts) {
    if (artifact.type !== 'aws:cloudformation:stack') continue;
    const template = readJson<{ Resources?: Record<string, Resource> }>(
      join(root, String(artifact.properties?.templateFile)),
    );
    for (const [id, r] of Object.entries(template.Resources ?? {})) {
      if (r.Type !== 'AWS::Lambda::Function' || !r.Properties) continue;
      const path = r.Metadata?.['aws:cdk:path'] as string | undefined;
      const name = (Object.keys(functionSpecs) as FunctionName[]).find((n) => {
        const construct = `${n[0]!.toUpperCase()}${n.slice(1)}`;
        return path
          ? path.endsWith(`/${construct}/Function/Resource`)
          : id.startsWith(`${construct}Function`);
      });
      if (!name) continue;
      if (found.has(name)) {
        throw new LocalSetupError(
          `${root} holds the ${name} function of more than one stack: synthesize one stage into it.`,
        );
      }
      const [base, exportName] = String(r.Properties.Handler ?? '').split('.');
      const key = r.Properties.Code?.S3Key;
      const asset =
        r.Metadata?.['aws:asset:path'] ??
        (typeof key === 'string' ? `asset.${key.replace(/\.zip$/, '')}` : '');
      const file = join(root, String(asset), `${base}.js`);
      if (!asset || !exportName || !existsSync(file)) {
        throw new LocalSetupError(
          `The ${name} function's bundle is missing from ${root}: run "npx cdk synth" again.`,
        );
      }
      found.set(name, {
        name,
        file,
        exportName,
        runtime: String(r.Properties.Runtime),
        env: r.Properties.Environment?.Variables ?? {},
        memoryMb: Number(r.Properties.MemorySize ?? functionSpecs[name].memoryMb),
        timeoutSeconds: Number(r.Properties.Timeout ?? functionSpecs[name].timeoutSeconds),
      });
    }
  }
  const missing = (Object.keys(functionSpecs) as FunctionName[]).filter((n) => !found.has(n));
  if (missing.length) {
    throw new LocalSetupError(
      `${root} has no function ${missing.join(', ')} (an older synth?): run "npx cdk synth" again.`,
    );
  }
  return found;
};

/** What the local stack puts where the template has deploy-time names. */
export interface LocalNames {
  config: StageConfig;
  serviceSecretArns: Record<string, string>;
  callbackTokenSecretArns: Record<string, string>;
  auditorsSecretArn: string;
  historyTable: string;
  stateTable: string;
  queueUrl: string;
  notifyQueueUrl?: string;
  /** The checkpoints' folder and key file, as file: URLs (the runtime reads them locally). */
  checkpoints?: { bucket: string; keyId: string };
  /** The subject key's secret (the erasure key secret: the functions that name users by it). */
  erasureKeySecretArn?: string;
}

const LEFT_UNSET_LOCALLY = new Set<string>([ENV.deadLetterQueueUrl, ENV.notifyDeadLetterQueueUrl]);

/**
 * The function's environment with local names: exactly the variables its template sets, the
 * configuration and the names of tables, queue and secrets replaced; a deploy-time value of any
 * other variable cannot be resolved here and stops the start.
 */
export const localEnvironment = (
  fn: SynthesizedFunction,
  names: LocalNames,
): Record<string, string> => {
  const local: Record<string, string> = {
    [ENV.config]: JSON.stringify(names.config),
    [ENV.serviceSecretArns]: JSON.stringify(names.serviceSecretArns),
    [ENV.callbackTokenSecretArns]: JSON.stringify(names.callbackTokenSecretArns),
    [ENV.auditorsSecretArn]: names.auditorsSecretArn,
    [ENV.historyTable]: names.historyTable,
    [ENV.stateTable]: names.stateTable,
    [ENV.queueUrl]: names.queueUrl,
    ...(names.notifyQueueUrl ? { [ENV.notifyQueueUrl]: names.notifyQueueUrl } : {}),
    ...(names.checkpoints
      ? {
          [ENV.checkpointBucket]: names.checkpoints.bucket,
          [ENV.checkpointKeyId]: names.checkpoints.keyId,
        }
      : {}),
    ...(names.erasureKeySecretArn ? { [ENV.erasureKeySecretArn]: names.erasureKeySecretArn } : {}),
  };
  const env: Record<string, string> = {};
  for (const [key, value] of Object.entries(fn.env)) {
    // The console's dead-letter depths read SQS queue attributes, which the local endpoint does
    // not serve: left unset, the console shows its marked slot instead of a number.
    if (LEFT_UNSET_LOCALLY.has(key)) continue;
    // "No secrets" is written as a plain '{}' in the template (health): kept as it is.
    if (key === ENV.serviceSecretArns && value === '{}') env[key] = value;
    else if (key in local) env[key] = local[key]!;
    else if (typeof value === 'string') env[key] = value;
    else {
      throw new LocalSetupError(
        `The ${fn.name} function's ${key} is resolved at deploy time; the local runtime has no value for it.`,
      );
    }
  }
  return env;
};

/** Thrown to the caller of an event the function did not finish (timeout, crash). */
export class FunctionFailedError extends Error {
  override name = 'FunctionFailedError';
}

/** Runs in each function's process: require the bundle, then call its handler per message. */
const CHILD = `
const [file, exportName, functionName, memory] = process.argv.slice(1);
let fn;
try {
  fn = require(file)[exportName];
  if (typeof fn !== 'function') throw new Error('it exports no ' + exportName);
} catch (e) {
  process.send({ k: 'failed', error: String((e && e.message) || e).split('\\n')[0] }, () => process.exit(1));
}
if (fn) {
// The runtime stops its functions itself (Ctrl-C reaches the whole process group); a runtime that
// is gone leaves no function behind.
process.on('SIGINT', () => {});
process.on('disconnect', () => process.exit(0));
process.on('message', (m) => {
  const deadline = Date.now() + m.timeoutMs;
  const context = {
    functionName, functionVersion: '$LATEST', memoryLimitInMB: memory, awsRequestId: m.requestId,
    invokedFunctionArn: 'arn:aws:lambda:local:000000000000:function:' + functionName,
    logGroupName: '/aws/lambda/' + functionName, logStreamName: 'local',
    callbackWaitsForEmptyEventLoop: true,
    getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
  };
  Promise.resolve().then(() => fn(m.event, context)).then(
    (result) => process.send({ k: 'result', id: m.id, result: result === undefined ? null : result }),
    (e) => process.send({ k: 'error', id: m.id, error: String((e && e.name) || 'Error') }),
  );
});
process.send({ k: 'ready', node: process.versions.node });
}`;

type Pending = { resolve(v: unknown): void; reject(e: Error): void; timer: NodeJS.Timeout };

interface Container {
  child: ChildProcess;
  pending: Map<number, Pending>;
  ready: Promise<string>;
  exited: Promise<void>;
}

export interface BundleFunctionsOptions {
  /** A `cdk synth` output folder (cdk.out). */
  dir: string;
  /** The Node binary that runs the bundles. @default this process's */
  node?: string;
  settings: LocalSettings;
  config: StageConfig;
  dynamoEndpoint: string;
  tables: { history: string; state: string };
  queue: Required<CallbackQueue>;
  /** The notify queue (NOTIFY_QUEUE_URL of the functions that queue notifications). */
  notifyQueue?: Required<CallbackQueue>;
  /** The checkpoints' folder (local/checkpoints.ts): the functions reach it by file: URLs. */
  checkpointDir?: string;
  /** The subject key's file (made on first use): served as its secret. */
  erasureKeyFile?: string;
  /** True: the functions' own output (their log lines) is dropped. @default false */
  quiet?: boolean;
  log: Log;
}

export interface BundleFunctions {
  handlers: Record<FunctionName, (event: unknown) => Promise<unknown>>;
  dir: string;
  /** The Node version the bundles run on, e.g. `22.23.5`. */
  nodeVersion: string;
  /** The Lambda runtime the template names, e.g. `nodejs22.x`. */
  runtime: string;
  close(): Promise<void>;
}

const secretArn = (name: string) =>
  `arn:aws:secretsmanager:local:000000000000:secret:parley-handover-${name}-local`;

export const startBundleFunctions = async (
  options: BundleFunctionsOptions,
): Promise<BundleFunctions> => {
  const node = options.node ?? process.execPath;
  if (!existsSync(node)) throw new LocalSetupError(`The Node binary ${node} does not exist.`);
  const functions = readSynthOutput(options.dir);

  // Each Service's two secrets and the auditors' (auditors and operators), as the data stack splits them.
  const secrets = new Map<string, string>();
  const serviceSecretArns: Record<string, string> = {};
  const callbackTokenSecretArns: Record<string, string> = {};
  for (const [id, { callbackTokens, ...main }] of Object.entries(options.settings.secrets)) {
    serviceSecretArns[id] = secretArn(`service-${id}`);
    callbackTokenSecretArns[id] = secretArn(`callback-${id}`);
    secrets.set(serviceSecretArns[id], JSON.stringify(main));
    secrets.set(callbackTokenSecretArns[id], JSON.stringify({ callbackTokens }));
  }
  const auditorsSecretArn = secretArn('auditors');
  const { auditors, operators } = options.settings;
  secrets.set(auditorsSecretArn, JSON.stringify({ auditors, operators }));
  // The same key the sources use: the file's text is the secret's `erasureKey`.
  const erasureKeySecretArn = secretArn('erasure-key');
  if (options.erasureKeyFile) {
    await fileErasureKey(options.erasureKeyFile).key();
    const erasureKey = readFileSync(options.erasureKeyFile, 'utf8').trim();
    secrets.set(erasureKeySecretArn, JSON.stringify({ erasureKey }));
  }
  const queuePath = '/000000000000/parley-handover-callbacks.fifo';
  const notifyQueuePath = '/000000000000/parley-handover-notify.fifo';
  const endpoint = await startLocalAwsEndpoint({
    secrets,
    queuePath,
    queue: options.queue,
    ...(options.notifyQueue
      ? { notify: { queuePath: notifyQueuePath, queue: options.notifyQueue } }
      : {}),
  });
  const queueUrl = `${endpoint.url}${queuePath}`;
  const names: LocalNames = {
    config: options.config,
    serviceSecretArns,
    callbackTokenSecretArns,
    auditorsSecretArn,
    historyTable: options.tables.history,
    stateTable: options.tables.state,
    queueUrl,
    ...(options.erasureKeyFile ? { erasureKeySecretArn } : {}),
    ...(options.notifyQueue ? { notifyQueueUrl: `${endpoint.url}${notifyQueuePath}` } : {}),
    ...(options.checkpointDir
      ? {
          checkpoints: {
            bucket: pathToFileURL(checkpointPaths(options.checkpointDir).bucket).href,
            keyId: pathToFileURL(checkpointPaths(options.checkpointDir).keyFile).href,
          },
        }
      : {}),
  };

  const containers = new Map<FunctionName, Container>();
  const spawnContainer = (fn: SynthesizedFunction): Container => {
    const child = spawn(node, ['-e', CHILD, fn.file, fn.exportName, fn.name, String(fn.memoryMb)], {
      env: {
        PATH: process.env.PATH,
        TZ: 'UTC',
        ...localEnvironment(fn, names),
        AWS_REGION: 'us-east-1',
        AWS_DEFAULT_REGION: 'us-east-1',
        AWS_ACCESS_KEY_ID: 'local',
        AWS_SECRET_ACCESS_KEY: 'local',
        AWS_ENDPOINT_URL: endpoint.url,
        AWS_ENDPOINT_URL_DYNAMODB: options.dynamoEndpoint,
        AWS_LAMBDA_FUNCTION_NAME: fn.name,
        AWS_LAMBDA_FUNCTION_VERSION: '$LATEST',
        AWS_LAMBDA_FUNCTION_MEMORY_SIZE: String(fn.memoryMb),
        AWS_LAMBDA_INITIALIZATION_TYPE: 'on-demand',
        AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
      },
      stdio: ['ignore', options.quiet ? 'ignore' : 'inherit', 'pipe', 'ipc'],
    });
    let stderr = '';
    child.stderr?.on('data', (d: Buffer) => {
      if (!options.quiet) process.stderr.write(d);
      stderr = (stderr + d.toString('utf8')).slice(-2000);
    });
    const pending = new Map<number, Pending>();
    const exited = new Promise<void>((done) => {
      child.once('exit', () => done());
      child.once('error', () => done());
    });
    const ready = new Promise<string>((ok, fail) => {
      child.on(
        'message',
        (m: { k: string; id?: number; node?: string; result?: unknown; error?: string }) => {
          if (m.k === 'ready') return ok(m.node ?? '');
          if (m.k === 'failed') {
            return fail(
              new LocalSetupError(`The ${fn.name} function's bundle did not load: ${m.error}`),
            );
          }
          const p = pending.get(m.id ?? -1);
          if (!p) return;
          pending.delete(m.id!);
          clearTimeout(p.timer);
          if (m.k === 'result') p.resolve(m.result);
          else p.reject(new FunctionFailedError(`The ${fn.name} function threw ${m.error}.`));
        },
      );
      child.once('error', (err) =>
        fail(new LocalSetupError(`${node} could not start: ${err.message}.`)),
      );
      child.once('exit', (code, signal) => {
        if (containers.get(fn.name)?.child === child) containers.delete(fn.name);
        fail(
          new LocalSetupError(
            `The ${fn.name} function's bundle did not load (exit ${code ?? signal}): ${stderr.trim().split('\n').slice(-3).join(' ')}`,
          ),
        );
        for (const p of pending.values()) {
          clearTimeout(p.timer);
          p.reject(
            new FunctionFailedError(`The ${fn.name} function's process ended (${code ?? signal}).`),
          );
        }
        pending.clear();
      });
    });
    const container = { child, pending, ready, exited };
    containers.set(fn.name, container);
    return container;
  };

  let requests = 0;
  const invoke = (fn: SynthesizedFunction) => async (event: unknown) => {
    const container = containers.get(fn.name) ?? spawnContainer(fn);
    await container.ready;
    const id = ++requests;
    const timeoutMs = fn.timeoutSeconds * 1000;
    return new Promise<unknown>((ok, fail) => {
      const timer = setTimeout(() => {
        container.pending.delete(id);
        // Lambda ends the container of a function that ran out of time; the next event starts one.
        options.log.warn('local function timed out', { function: fn.name, timeoutMs });
        if (containers.get(fn.name) === container) containers.delete(fn.name);
        container.child.kill('SIGKILL');
        fail(new FunctionFailedError(`The ${fn.name} function timed out after ${timeoutMs} ms.`));
      }, timeoutMs);
      container.pending.set(id, { resolve: ok, reject: fail, timer });
      container.child.send({ id, event, requestId: randomUUID(), timeoutMs });
    });
  };

  const close = async () => {
    const all = [...containers.values()];
    containers.clear();
    for (const c of all) c.child.kill('SIGTERM');
    await Promise.all(all.map((c) => c.exited));
    await endpoint.close();
  };

  // Every bundle is loaded now, so that one that cannot load stops the start with its error.
  let versions: string[];
  try {
    const started = [...functions.values()].map(spawnContainer);
    versions = await Promise.all(started.map((c) => c.ready));
  } catch (err) {
    await close();
    throw err;
  }
  const handlers = {} as BundleFunctions['handlers'];
  for (const fn of functions.values()) handlers[fn.name] = invoke(fn);
  return {
    handlers,
    dir: resolve(options.dir),
    nodeVersion: versions[0] ?? '',
    runtime: functions.get('health')?.runtime ?? '',
    close,
  };
};
