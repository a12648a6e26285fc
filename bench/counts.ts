// Counts per request, by instrumentation (bench/instrument.ts), one request at a time so that each
// request's calls are its own: DynamoDB calls by command and the capacity units DynamoDB reports,
// Parley calls by route, Secrets Manager fetches, enqueues, log bytes. Also: secret fetches of a
// fresh container under concurrent first requests, and the queue consumer per message.
import type { SQSEvent } from 'aws-lambda';
import { deliveryIdFor, groupIdFor, parseCallback } from '../functions/domain/delivery';
import type { QueuedCallback } from '../functions/domain/ports';
import type { AppDeps, DepsSource } from '../functions/platform/deps';
import { functionSpecs } from '../functions/contracts/routes';
import { type HttpFunction, startGateway } from '../local/gateway';
import { callbackJson, messageCallback } from '../local/parley-sim/callback-body';
import { type Counts, totalDynamo, totalParley } from './instrument';
import { startReceiver } from './receiver';
import { mean } from './stats';
import { BENCH_SERVICES, type BenchSystem } from './system';

const [BOT, DESK_A, DESK_B] = BENCH_SERVICES.map((s) => s.identification) as [
  string,
  string,
  string,
];

export interface CountRow {
  scenario: string;
  requests: number;
  statuses: Record<string, number>;
  dynamo: { mean: number; max: number; byCommand: Record<string, number> };
  parley: { mean: number; max: number; byRoute: Record<string, number> };
  getOwnerMax: number;
  secretFetchesMax: number;
  enqueues: { mean: number; max: number };
  /** Mean capacity units per request, by table (table units as the local server reports them). */
  units: Record<string, { read: number; write: number }>;
  logBytesMean: number;
  /** Server-side duration per request (or per message), mean, ms. */
  durationMeanMs?: number;
}

const meanTable = (samples: Record<string, number>[]): Record<string, number> => {
  const out: Record<string, number> = {};
  for (const s of samples) for (const [k, v] of Object.entries(s)) out[k] = (out[k] ?? 0) + v;
  for (const k of Object.keys(out)) out[k] = out[k]! / samples.length;
  return out;
};

export const rowOf = (
  scenario: string,
  samples: Counts[],
  statuses: number[],
  perUnit = 1,
): CountRow => {
  const units: Record<string, { read: number; write: number }> = {};
  for (const s of samples) {
    for (const [t, u] of Object.entries(s.unitsByTable)) {
      const acc = units[t] ?? { read: 0, write: 0 };
      units[t] = acc;
      acc.read += u.read / samples.length / perUnit;
      acc.write += u.write / samples.length / perUnit;
    }
  }
  const statusTable: Record<string, number> = {};
  for (const st of statuses) statusTable[String(st)] = (statusTable[String(st)] ?? 0) + 1;
  const scale = (table: Record<string, number>) =>
    Object.fromEntries(Object.entries(table).map(([k, v]) => [k, v / perUnit]));
  return {
    scenario,
    requests: samples.length * perUnit,
    statuses: statusTable,
    dynamo: {
      mean: mean(samples.map(totalDynamo)) / perUnit,
      max: Math.max(...samples.map(totalDynamo)) / perUnit,
      byCommand: scale(meanTable(samples.map((s) => s.dynamo))),
    },
    parley: {
      mean: mean(samples.map(totalParley)) / perUnit,
      max: Math.max(...samples.map(totalParley)) / perUnit,
      byRoute: scale(meanTable(samples.map((s) => s.parley))),
    },
    getOwnerMax: Math.max(...samples.map((s) => s.parley['GET owner'] ?? 0)) / perUnit,
    secretFetchesMax: Math.max(...samples.map((s) => s.secretFetches)),
    enqueues: {
      mean: mean(samples.map((s) => s.enqueues)) / perUnit,
      max: Math.max(...samples.map((s) => s.enqueues)) / perUnit,
    },
    units,
    logBytesMean: mean(samples.map((s) => s.logBytes)) / perUnit,
  };
};

interface Call {
  method: string;
  path: string;
  token?: string;
  body?: unknown;
}

const call = async (base: string, c: Call): Promise<number> => {
  const res = await fetch(base + c.path, {
    method: c.method,
    headers: {
      ...(c.token ? { authorization: `Bearer ${c.token}` } : {}),
      ...(c.body !== undefined ? { 'content-type': 'application/json' } : {}),
    },
    body: c.body === undefined ? undefined : JSON.stringify(c.body),
  });
  await res.arrayBuffer();
  return res.status;
};

export const callbackBody = (userId: string, id: string) =>
  callbackJson(messageCallback({ userId, id, text: 'hello there' }));

export interface CountsOptions {
  requests: number;
  runId: string;
  processorBatchSize: number;
}

export const measureCounts = async (sys: BenchSystem, options: CountsOptions) => {
  const { counters } = sys;
  const api = (id: string) => sys.settings.secrets[id]!.apiTokens[0]!;
  const auditor = sys.settings.auditors[0]!.token;
  const n = options.requests;
  const rid = options.runId;
  const rows: CountRow[] = [];

  const measure = async (
    scenario: string,
    count: number,
    make: (i: number) => Promise<Call>,
    functionName: string,
  ) => {
    const samples: Counts[] = [];
    const statuses: number[] = [];
    sys.durations.delete(functionName);
    for (let i = 0; i < count; i += 1) {
      const c = await make(i); // set-up calls happen here, before the reset
      counters.reset();
      statuses.push(await call(sys.url, c));
      samples.push(counters.reset());
    }
    const row = rowOf(scenario, samples, statuses);
    row.durationMeanMs = mean(sys.durations.get(functionName) ?? []);
    rows.push(row);
  };

  counters.capacity = true;
  try {
    // warm-up: every secret, the service list, connections
    for (const id of [BOT, DESK_A, DESK_B]) {
      await call(sys.url, { method: 'GET', path: `/users/${rid}-warm/owner`, token: api(id) });
    }
    await call(sys.url, { method: 'GET', path: `/users/${rid}-warm/handovers`, token: auditor });
    await call(sys.url, {
      method: 'POST',
      path: `/webhooks/parley/${BOT}`,
      token: sys.settings.secrets[BOT]!.callbackTokens[0],
      body: JSON.parse(callbackBody(`${rid}-warm`, `${rid}-warm`)),
    });

    await measure(
      'webhook (1 callback)',
      n,
      async (i) => ({
        method: 'POST',
        path: `/webhooks/parley/${BOT}`,
        token: sys.settings.secrets[BOT]!.callbackTokens[0],
        body: JSON.parse(callbackBody(`${rid}-cb`, `${rid}-cb-${i}`)),
      }),
      'inbound',
    );

    // The handover happy path: the caller owns the user and the owner item is cached.
    let owner = BOT;
    const ringUser = `${rid}-ring`;
    const first = await call(sys.url, {
      method: 'POST',
      path: '/handovers',
      token: api(BOT),
      body: { userId: ringUser, newOwner: DESK_A },
    });
    if (first !== 200) throw new Error(`handover set-up answered ${first}`);
    owner = DESK_A;
    await measure(
      'handover, desk to desk (happy path)',
      n,
      async () => {
        const from = owner;
        owner = from === DESK_A ? DESK_B : DESK_A;
        return {
          method: 'POST',
          path: '/handovers',
          token: api(from),
          body: { userId: ringUser, newOwner: owner },
        };
      },
      'handover',
    );

    await measure(
      'handover back to the bot (+ agent/unset)',
      Math.max(3, Math.ceil(n / 4)),
      async (i) => {
        const userId = `${rid}-tobot-${i}`;
        await call(sys.url, {
          method: 'POST',
          path: '/handovers',
          token: api(BOT),
          body: { userId, newOwner: DESK_A },
        });
        return {
          method: 'POST',
          path: '/handovers',
          token: api(DESK_A),
          body: { userId, newOwner: BOT },
        };
      },
      'handover',
    );

    await measure(
      'handover, user not cached yet (first handover of a user)',
      Math.max(3, Math.ceil(n / 4)),
      async (i) => ({
        method: 'POST',
        path: '/handovers',
        token: api(BOT),
        body: { userId: `${rid}-fresh-${i}`, newOwner: DESK_A },
      }),
      'handover',
    );

    await measure(
      'owner (GET, from Parley)',
      n,
      async () => ({ method: 'GET', path: `/users/${ringUser}/owner`, token: api(owner) }),
      'owner',
    );
    await measure(
      'audit: user history page (limit 100)',
      n,
      async () => ({
        method: 'GET',
        path: `/users/${ringUser}/handovers?limit=100`,
        token: auditor,
      }),
      'audit',
    );
    const day = new Date().toISOString().slice(0, 10);
    await measure(
      'audit: day page (limit 100)',
      n,
      async () => ({
        method: 'GET',
        path: `/handovers?from=${day}T00:00:00Z&to=${day}T23:59:59Z&limit=100`,
        token: auditor,
      }),
      'audit',
    );
    await measure(
      'floor: 1 conditional put',
      n,
      async () => ({ method: 'POST', path: '/bench/floor/put', body: {} }),
      'floorPut',
    );

    const processor = await measureProcessor(sys, options);
    rows.push(processor);
    // The same with the bot given a downstream: each message is forwarded (forwardedTo, then done).
    const receiver = await startReceiver();
    try {
      const config = {
        ...sys.config,
        services: sys.config.services.map((s) =>
          s.identification === BOT ? { ...s, downstreamUrl: receiver.url } : s,
        ),
      };
      rows.push(
        await measureProcessor(sys, options, {
          deps: sys.freshDeps(config),
          label: 'processor, forwarded, per message',
          tag: 'fwd',
        }),
      );
    } finally {
      await new Promise((resolve) => receiver.server.close(resolve));
    }
    const firstRequests = await freshContainerSecrets(sys, rid);
    return { rows, firstRequests, ringUser };
  } finally {
    counters.capacity = false;
  }
};

/** The queue consumer, per message: batches of the CDK stack's batch size, users already known. */
const measureProcessor = async (
  sys: BenchSystem,
  options: CountsOptions,
  variant: { deps: AppDeps; label: string; tag: string } = {
    deps: sys.deps,
    label: 'processor, per message',
    tag: 'proc',
  },
): Promise<CountRow> => {
  const mod = require('../functions/handlers/processor') as {
    makeHandler: (s: DepsSource) => (e: SQSEvent) => Promise<unknown>;
  };
  const handler = mod.makeHandler(async () => variant.deps);
  const size = options.processorBatchSize;
  let seq = 0;
  const batch = (): SQSEvent => ({
    Records: Array.from({ length: size }, (_, i) => {
      seq += 1;
      const userId = `${options.runId}-${variant.tag}-${i}`;
      const raw = callbackBody(userId, `${options.runId}-${variant.tag}-${seq}`);
      const parsed = parseCallback(raw);
      const message: QueuedCallback = {
        serviceId: BOT,
        deliveryId: deliveryIdFor(BOT, raw, parsed),
        receivedAt: new Date().toISOString(),
        body: raw,
      };
      return {
        messageId: `m-${seq}`,
        receiptHandle: `r-${seq}`,
        body: JSON.stringify(message),
        attributes: {
          ApproximateReceiveCount: '1',
          SentTimestamp: String(Date.now()),
          SenderId: 'bench',
          ApproximateFirstReceiveTimestamp: String(Date.now()),
          MessageGroupId: groupIdFor(parsed),
          MessageDeduplicationId: message.deliveryId,
        },
        messageAttributes: {},
        md5OfBody: '',
        eventSource: 'aws:sqs',
        eventSourceARN: 'arn:aws:sqs:us-east-1:000000000000:bench.fifo',
        awsRegion: 'us-east-1',
      };
    }),
  });
  await handler(batch()); // warm-up: the users' owners are learnt from Parley once
  const samples: Counts[] = [];
  const durations: number[] = [];
  const batches = Math.max(3, Math.ceil(options.requests / size));
  for (let b = 0; b < batches; b += 1) {
    const event = batch();
    sys.counters.reset();
    const started = performance.now();
    const out = (await handler(event)) as { batchItemFailures: unknown[] };
    durations.push(performance.now() - started);
    if (out.batchItemFailures.length)
      throw new Error('the processor failed records during the bench');
    samples.push(sys.counters.reset());
  }
  const row = rowOf(
    `${variant.label} (batches of ${size})`,
    samples,
    samples.map(() => 200),
    size,
  );
  row.durationMeanMs = mean(durations) / size;
  return row;
};

/**
 * A new container (fresh deps, empty secret cache) takes 24 first requests, 8 at a time, across
 * every secret: Secrets Manager is asked at most once per secret.
 */
const freshContainerSecrets = async (sys: BenchSystem, rid: string) => {
  const deps = sys.freshDeps();
  const source: DepsSource = async () => deps;
  const handlers: Record<string, HttpFunction> = {};
  for (const name of ['inbound', 'handover', 'owner', 'audit'] as const) {
    const mod = require(
      `../functions/handlers/${functionSpecs[name].entry.replace(/\.ts$/, '')}`,
    ) as {
      makeHandler: (s: DepsSource) => HttpFunction;
    };
    handlers[name] = mod.makeHandler(source);
  }
  const gateway = await startGateway({ handlers });
  try {
    sys.counters.reset();
    const calls: Call[] = [];
    for (let i = 0; i < 6; i += 1) {
      for (const id of [BOT, DESK_A, DESK_B]) {
        calls.push({
          method: 'POST',
          path: `/webhooks/parley/${id}`,
          token: sys.settings.secrets[id]!.callbackTokens[0],
          body: JSON.parse(callbackBody(`${rid}-fresh-cb`, `${rid}-fresh-${id}-${i}`)),
        });
      }
      calls.push({
        method: 'GET',
        path: `/users/${rid}-fresh-audit/handovers`,
        token: sys.settings.auditors[0]!.token,
      });
    }
    const statuses: number[] = [];
    for (let i = 0; i < calls.length; i += 8) {
      statuses.push(...(await Promise.all(calls.slice(i, i + 8).map((c) => call(gateway.url, c)))));
    }
    const counts = sys.counters.reset();
    return {
      requests: calls.length,
      statuses,
      secrets: Object.keys(sys.settings.secrets).length + 1,
      fetchesBySecret: Object.values(counts.secretsById),
      maxFetchesPerSecret: Math.max(0, ...Object.values(counts.secretsById)),
    };
  } finally {
    await gateway.close();
  }
};
