// A real stack for handler tests: dynalite over HTTP, the Parley simulator over HTTP, the static
// secrets provider, and the production composition root (buildDeps). Only the queue is captured in
// memory, so a test can hand the queued callbacks to the processor handler itself.
import { generateServicesFile, parseServicesFile } from '../../local/services-file';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { localCheckpoints } from '../../local/checkpoints';
import { fileErasureKey } from '../../functions/adapters/erasure-key';
import { useErasureKey } from '../../functions/platform/subject-key';
import { createStaticSecretsProvider } from '../../functions/adapters/secrets';
import type { Clock, LogAttributes, Log } from '../../functions/domain/ports';
import { noMetrics } from '../../functions/domain/ports';
import type { AppDeps } from '../../functions/platform/deps';
import { buildDeps, type RuntimeOptions } from '../../functions/platform/runtime';
import { type ServiceConfig, stageConfigSchema } from '../../functions/schemas/config';
import { type FaultRule, type ParleySimulator, startParleySimulator } from '../../local/parley-sim';
import { type LocalDynamo, startDynalite } from './dynalite';
import { sqsEvent, sqsRecord } from './events';
import { strictRuntime } from './iam';

export const BOT = 'as272d6g2ds766fcdfgh';
export const AGENT = 'Jlk9e7cSf9g3FFsaqe39';

const token = () => randomBytes(24).toString('base64url');

export interface CapturedLog {
  level: string;
  message: string;
  attributes?: LogAttributes;
}

export interface Harness {
  deps: AppDeps;
  /**
   * The deps as one source. Under strict IAM, `forFunction(name)` gives a function deps of its own
   * whose calls are checked against that function's role (the invoker uses it).
   */
  source: (() => Promise<AppDeps>) & { forFunction?: (fn: string) => () => Promise<AppDeps> };
  sim: ParleySimulator;
  tokens: {
    bot: { callback: string; api: string; signing: string };
    agent: { callback: string; api: string; signing: string };
    auditor: string;
    operator: string;
  };
  /** The document client and the table names, to reach the stored items directly. */
  dynamo: {
    client: LocalDynamo['client'];
    tables: { history: string; state: string };
    /** dynalite's URL (for clients of a test's own). */
    endpoint: string;
  };
  queued: { groupId: string; dedupId: string; body: string }[];
  logs: CapturedLog[];
  /** The queued messages as one SQS event (and clears the capture). */
  drainQueue(): ReturnType<typeof sqsEvent>;
  close(): Promise<void>;
}

export const startHarness = async (
  options: {
    faults?: FaultRule[];
    services?: Partial<Record<string, Partial<ServiceConfig>>>;
    staleAfterSeconds?: number;
    /** Seeds the simulator's fault generator. @default 7 */
    randomSeed?: number;
    /** The functions' clock (e.g. one that can be moved past staleAfter). @default system time */
    clock?: Clock;
    /** Parley client timeouts. @default { timeoutMs: 1000, budgetMs: 3000 } */
    parley?: { timeoutMs?: number; budgetMs?: number };
    /** Also receives every log call (e.g. the production logger, to see what it prints). */
    log?: Log;
    /** Used for Parley and the downstreams. @default globalThis.fetch */
    fetch?: typeof fetch;
    /**
     * Each function's table, secret and queue calls checked against its role in the template, as
     * in AWS (test/support/iam.ts). @default true
     */
    strictIam?: boolean;
    /** Signed checkpoints: a key file and a directory of a temporary folder. @default none */
    checkpoints?: boolean;
  } = {},
): Promise<Harness> => {
  const dynalite = await startDynalite();
  const tables = await dynalite.createTables();
  const sim = await startParleySimulator({
    port: 0,
    faults: options.faults,
    randomSeed: options.randomSeed ?? 7,
  });
  const tokens = {
    bot: { callback: token(), api: token(), signing: token() },
    agent: { callback: token(), api: token(), signing: token() },
    auditor: token(),
    operator: token(),
  };
  const account = sim.seed.accountIdentification;
  const secretOf = (id: string) =>
    sim.seed.services.find((s) => s.identification === id)!.sharedSecret;
  // The same document the local runtime reads: one builder for services files.
  const settings = parseServicesFile(
    generateServicesFile(
      account,
      [
        { id: BOT, name: 'Bot Service', t: tokens.bot },
        { id: AGENT, name: 'Agent Service', t: tokens.agent },
      ].map(({ id, name, t }) => ({
        identification: id,
        name,
        sharedSecret: secretOf(id),
        callbackTokens: [t.callback],
        apiTokens: [t.api],
        signingSecret: t.signing,
      })),
      {
        auditors: [{ name: 'auditor', token: tokens.auditor }],
        operators: [{ name: 'operator', token: tokens.operator }],
      },
    ),
  );
  const secrets = createStaticSecretsProvider({
    services: settings.secrets,
    auditors: settings.auditors,
    operators: settings.operators,
  });
  const config = stageConfigSchema.parse({
    stage: 'test',
    accountIdentification: account,
    parley: {
      baseUrl: sim.baseUrl,
      timeoutMs: options.parley?.timeoutMs ?? 1000,
      budgetMs: options.parley?.budgetMs ?? 3000,
    },
    staleAfterSeconds: options.staleAfterSeconds ?? 60,
    downstreamTimeoutMs: 2000,
    services: [
      { identification: BOT, name: 'Bot Service', role: 'bot', ...options.services?.[BOT] },
      { identification: AGENT, name: 'Agent Service', role: 'agent', ...options.services?.[AGENT] },
    ],
  });
  const logs: CapturedLog[] = [];
  const capture =
    (level: string) =>
    (message: string, attributes?: LogAttributes): void => {
      logs.push({ level, message, attributes });
      options.log?.[level as keyof Log](message, attributes);
    };
  const log: Log = {
    debug: capture('debug'),
    info: capture('info'),
    warn: capture('warn'),
    error: capture('error'),
  };
  const queued: Harness['queued'] = [];
  const checkpointDir = options.checkpoints ? mkdtempSync(join(tmpdir(), 'checkpoints-')) : null;
  // The subject key names users in the checkpoints (a test may give its own with useErasureKey).
  if (checkpointDir) useErasureKey(config, fileErasureKey(join(checkpointDir, 'erasure-key')));
  const runtime: RuntimeOptions = {
    config,
    secrets,
    dynamo: { client: dynalite.client, historyTable: tables.history, stateTable: tables.state },
    queue: {
      send: async (m) => {
        queued.push(m);
      },
    },
    log,
    metrics: noMetrics,
    checkpoints: checkpointDir ? localCheckpoints(checkpointDir) : null,
    clock: options.clock,
    fetch: options.fetch,
  };
  const deps = buildDeps(runtime);
  const strict = new Map<string, Promise<AppDeps>>();
  const strictClients: { destroy(): void }[] = [];
  const strictDeps = async (fn: string): Promise<AppDeps> => {
    const made = await strictRuntime(fn, runtime, dynalite.endpoint);
    strictClients.push(made.client);
    return buildDeps(made.runtime);
  };
  const forFunction = (fn: string) => () => {
    const made = strict.get(fn) ?? strictDeps(fn);
    strict.set(fn, made);
    return made;
  };
  return {
    deps,
    source: Object.assign(async () => deps, options.strictIam === false ? {} : { forFunction }),
    sim,
    tokens,
    dynamo: { client: dynalite.client, tables, endpoint: dynalite.endpoint },
    queued,
    logs,
    drainQueue: () => sqsEvent(queued.splice(0).map((m) => sqsRecord(m))),
    close: async () => {
      await sim.close();
      for (const client of strictClients) client.destroy();
      await dynalite.close();
      if (checkpointDir) rmSync(checkpointDir, { recursive: true, force: true });
    },
  };
};
