// Warm latency and throughput: subjects and their floors through the same local gateway, driven by
// the load generator in its own process at each concurrency, interleaved, after a warm-up.
import type { ArmSpec, LoadResult } from './load';
import { runLoadInChild } from './load-client';
import { fmt, type LatencySummary, ratio, summarize } from './stats';
import { BENCH_SERVICES, type BenchSystem } from './system';
import { type TableRow, verdict } from './table';

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
  /** Statuses of the arm's unmeasured set-up requests (the hand-back's move to the desk). */
  setupStatuses?: Record<string, number>;
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
    // A handover from a desk back to the bot (issue 12), against the same floor in the same
    // rounds. Its user is moved to the desk first, unmeasured; that move runs on the handover
    // function too, so the arm names no function (no handler time of its own to report).
    handBack: {
      arms: [
        { name: 'hand-back', kind: 'handBack', pair: { bot: BOT, agent: DESK_A, tokens } },
        {
          name: 'floor: PUT owner + conditional put',
          kind: 'floorHandover',
          ring,
          // Not the handover phase's floor user, whose owner that phase left where it left it.
          user: 'handBackFloor',
        },
      ] as ArmSpec[],
      functions: { 'floor: PUT owner + conditional put': 'floorHandover' } as Record<
        string,
        string
      >,
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

export const summarizeLoad = (
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
      ...(a.setupStatuses ? { setupStatuses: a.setupStatuses } : {}),
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

/** A gated warm phase: its first arm against its second (the floor), p50 at the first concurrency. */
export interface WarmGate {
  phase: string;
  budget: number;
  label(parleyLatencyMs: number): string;
}

export const WARM_GATES: WarmGate[] = [
  { phase: 'webhook', budget: 1.3, label: () => 'webhook vs 1 conditional put' },
  {
    phase: 'handover',
    budget: 1.15,
    label: (l) => `handover (Parley ${l} ms) vs PUT owner + conditional put`,
  },
  {
    phase: 'hand-back',
    budget: 1.15,
    label: (l) => `hand-back, agent to bot (Parley ${l} ms) vs PUT owner + conditional put`,
  },
];

const ms = (v: number) => `${fmt(v, 1)} ms`;

/** The gate's rows at each concurrency: p50 (the verdict at the first), then p99 and throughput. */
export const gateRows = (
  warm: PhaseResult[],
  gate: WarmGate,
  options: { concurrencies: number[]; parleyLatencyMs: number },
): TableRow[] => {
  const label = gate.label(options.parleyLatencyMs);
  const rows: TableRow[] = [];
  for (const c of options.concurrencies) {
    const r = warm.find((w) => w.phase === gate.phase && w.concurrency === c);
    if (!r) continue;
    const [subject, floor] = r.arms as [ArmSummary, ArmSummary];
    const errors = subject.errors + floor.errors;
    const x = ratio(subject.p50, floor.p50);
    const gates = c === options.concurrencies[0];
    rows.push({
      section: `warm c=${c}`,
      check: `${label} p50 (n=${subject.n}${errors ? `, ${errors} errors` : ''})`,
      subject: ms(subject.p50),
      floor: ms(floor.p50),
      result: `${fmt(x)}x`,
      budget: gates ? `<= ${gate.budget}x` : `(${gate.budget}x at c=1)`,
      verdict: gates ? verdict(x <= gate.budget && errors === 0) : 'reported',
    });
    rows.push({
      section: `warm c=${c}`,
      check: `${label} p99; throughput`,
      subject: ms(subject.p99),
      floor: ms(floor.p99),
      result: `${fmt(ratio(subject.p99, floor.p99))}x; ${fmt(r.requestsPerSecond, 0)} req/s all arms`,
      budget: '-',
      verdict: 'reported',
    });
  }
  return rows;
};
