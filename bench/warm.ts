// Warm latency and throughput: subjects and their floors through the same local gateway, driven by
// the load generator in its own process at each concurrency, interleaved, after a warm-up.
import type { ArmSpec, LoadResult } from './load';
import { runLoadInChild } from './load-client';
import { type LatencySummary, summarize } from './stats';
import { BENCH_SERVICES, type BenchSystem } from './system';

export interface WarmOptions {
  concurrencies: number[];
  samples: number;
  reportedSamples: number;
  warmupRounds: number;
}

export interface ArmSummary extends LatencySummary {
  name: string;
  errors: number;
  statuses: Record<string, number>;
  /** Server-side time in the handler (gateway excluded), p50. */
  handlerP50?: number;
}

export interface PhaseResult {
  phase: string;
  concurrency: number;
  requestsPerSecond: number;
  wallMs: number;
  arms: ArmSummary[];
}

const [BOT, DESK_A, DESK_B] = BENCH_SERVICES.map((s) => s.identification) as [
  string,
  string,
  string,
];

export const phases = (sys: BenchSystem, runId: string, historyUser: string) => {
  const tokens = Object.fromEntries(
    Object.entries(sys.settings.secrets).map(([id, s]) => [id, s.apiTokens[0]!]),
  );
  const ring = { first: BOT, a: DESK_A, b: DESK_B, tokens };
  const auditor = `Bearer ${sys.settings.auditors[0]!.token}`;
  const day = new Date().toISOString().slice(0, 10);
  return {
    webhook: {
      arms: [
        {
          name: 'webhook',
          kind: 'webhook',
          serviceId: BOT,
          token: sys.settings.secrets[BOT]!.callbackTokens[0]!,
        },
        { name: 'floor: 1 conditional put', kind: 'floorPut' },
      ] as ArmSpec[],
      functions: { webhook: 'inbound', 'floor: 1 conditional put': 'floorPut' } as Record<
        string,
        string
      >,
    },
    handover: {
      arms: [
        { name: 'handover', kind: 'handover', ring },
        { name: 'floor: PUT owner + conditional put', kind: 'floorHandover', ring },
      ] as ArmSpec[],
      functions: {
        handover: 'handover',
        'floor: PUT owner + conditional put': 'floorHandover',
      } as Record<string, string>,
    },
    reported: {
      arms: [
        {
          name: 'owner (GET, from Parley)',
          kind: 'get',
          path: `/users/${runId}-owner-w{worker}/owner`,
          authorization: `Bearer ${tokens[BOT]}`,
        },
        {
          name: 'audit: user history page',
          kind: 'get',
          path: `/users/${historyUser}/handovers?limit=100`,
          authorization: auditor,
        },
        {
          name: 'audit: day page',
          kind: 'get',
          path: `/handovers?from=${day}T00:00:00Z&to=${day}T23:59:59Z&limit=100`,
          authorization: auditor,
        },
      ] as ArmSpec[],
      functions: {
        'owner (GET, from Parley)': 'owner',
        'audit: user history page': 'audit',
        'audit: day page': 'audit',
      } as Record<string, string>,
      /** The audit arms read the history that this many handovers of one user left. */
      historyUser,
    },
  };
};

const summarizeLoad = (
  phase: string,
  result: LoadResult,
  handlerTimes: Map<string, number[]>,
  functions: Record<string, string>,
): PhaseResult => ({
  phase,
  concurrency: result.concurrency,
  requestsPerSecond: result.requestsPerSecond,
  wallMs: result.wallMs,
  arms: result.arms.map((a) => {
    const fn = functions[a.name];
    const times = fn ? handlerTimes.get(fn) : undefined;
    // Two arms on one function (the audit routes) share its timings: report none then.
    const shared = fn ? Object.values(functions).filter((f) => f === fn).length > 1 : true;
    return {
      name: a.name,
      ...summarize(a.latenciesMs),
      errors: a.errors,
      statuses: a.statuses,
      ...(times && !shared ? { handlerP50: summarize(times).p50 } : {}),
    };
  }),
});

export const runPhase = async (
  sys: BenchSystem,
  phase: string,
  arms: ArmSpec[],
  functions: Record<string, string>,
  options: { concurrency: number; samples: number; warmupRounds: number; runId: string },
): Promise<PhaseResult> => {
  sys.durations.clear();
  const result = await runLoadInChild({
    url: sys.url,
    concurrency: options.concurrency,
    warmupRounds: options.warmupRounds,
    samples: options.samples,
    arms,
    runId: options.runId,
  });
  return summarizeLoad(phase, result, sys.durations, functions);
};
