// Where the handover's time goes under concurrency. The gated floor (PUT owner + one conditional
// put) makes one store call where the handover makes four, and in the bench the local store runs
// in the stack's own process, on the same event loop as the function: its CPU is the function's
// latency once requests queue. Two measurements tell that apart from our code:
// - a third arm, the handover-calls floor (the handover's four store calls around the same PUT
//   owner, items of the same sizes, none of our code), interleaved with the two others;
// - a CPU profile of the stack's process (node:inspector, in process) while one arm runs alone,
//   its self time per request split by where the code lives: the local store (dynalite and its
//   LevelDB layers), the AWS SDK, our functions, the floors, the local runtime (gateway, Parley
//   simulator), Node itself (HTTP, streams, timers) and the garbage collector.
import { Session } from 'node:inspector';
import type { ArmSpec } from './load';
import { runLoadInChild } from './load-client';
import { fmt, ratio, summarize } from './stats';
import { BENCH_SERVICES, type BenchSystem } from './system';
import { type TableRow, verdict } from './table';

const [BOT, DESK_A, DESK_B] = BENCH_SERVICES.map((s) => s.identification) as [
  string,
  string,
  string,
];

export const CATEGORIES = ['store', 'sdk', 'ours', 'floor', 'local runtime', 'node', 'gc'] as const;
export type Category = (typeof CATEGORIES)[number];

const STORE =
  /\/node_modules\/(dynalite|async|big\.js|buffer-crc32|lazy|level|memory-level|abstract-level|level-[\w-]+|classic-level|functional-red-black-tree|module-error|catering|lock|once|queue-microtask|maybe-combine-errors)\//;
const SDK = /\/node_modules\/(@aws-sdk|@smithy|@aws-crypto|@aws|fast-xml-parser|tslib|uuid)\//;

/**
 * Where a profiled frame's code lives. The bench's own wrappers (counting fetch and client, the
 * timing wrapper) count as Node's, so their callees go to whoever called them.
 */
export const categoryOf = (url: string, functionName: string): Category | null => {
  if (functionName === '(idle)') return null;
  if (functionName === '(garbage collector)') return 'gc';
  if (STORE.test(url)) return 'store';
  if (SDK.test(url)) return 'sdk';
  if (/\/functions\//.test(url) || /\/node_modules\/(zod|re2js|@aws-lambda-powertools)\//.test(url))
    return 'ours';
  if (/\/bench\/floors\.ts$/.test(url)) return 'floor';
  if (/\/local\//.test(url)) return 'local runtime';
  return 'node';
};

interface ProfileNode {
  id: number;
  callFrame: { url: string; functionName: string };
  children?: number[];
}

interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

/**
 * Self time per category of a V8 CPU profile, as shares (summing to 1). Node's own frames (HTTP,
 * streams, promises) count for the nearest caller whose code is known (the SDK's HTTP client for
 * the SDK); those with none (a server parsing a request, the event loop) stay `node`.
 */
export const selfShareByCategory = (profile: Profile): Record<Category, number> => {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const resolved = new Map<number, Category | null>();
  const categoryOfNode = (id: number): Category | null => {
    const known = resolved.get(id);
    if (known !== undefined) return known;
    const node = byId.get(id)!;
    let category = categoryOf(node.callFrame.url, node.callFrame.functionName);
    if (category === 'node') {
      for (let up = parent.get(id); up !== undefined; up = parent.get(up)) {
        const p = byId.get(up)!;
        const c = categoryOf(p.callFrame.url, p.callFrame.functionName);
        if (c !== null && c !== 'node' && c !== 'gc') {
          category = c;
          break;
        }
      }
    }
    resolved.set(id, category);
    return category;
  };
  const out = Object.fromEntries(CATEGORIES.map((c) => [c, 0])) as Record<Category, number>;
  let total = 0;
  for (const [i, id] of profile.samples.entries()) {
    if (!byId.has(id)) continue;
    const category = categoryOfNode(id);
    if (!category) continue;
    const dt = profile.timeDeltas[i] ?? 0;
    out[category] += dt;
    total += dt;
  }
  for (const c of CATEGORIES) out[c] = total > 0 ? out[c] / total : 0;
  return out;
};

const profiled = async <T>(run: () => Promise<T>): Promise<{ result: T; profile: Profile }> => {
  const session = new Session();
  session.connect();
  const post = <R>(method: string, params?: object) =>
    new Promise<R>((resolve, reject) =>
      session.post(method, params, (err, res) => (err ? reject(err) : resolve(res as R))),
    );
  try {
    await post('Profiler.enable');
    await post('Profiler.setSamplingInterval', { interval: 250 });
    await post('Profiler.start');
    const result = await run();
    const { profile } = await post<{ profile: Profile }>('Profiler.stop');
    return { result, profile };
  } finally {
    session.disconnect();
  }
};

export interface GapOptions {
  concurrencies: number[];
  samples: number;
  profileRequests: number;
  warmupRounds: number;
  runId: string;
}

const arms = (sys: BenchSystem): ArmSpec[] => {
  const tokens = Object.fromEntries(
    Object.entries(sys.settings.secrets).map(([id, s]) => [id, s.apiTokens[0]!]),
  );
  const ring = { first: BOT, a: DESK_A, b: DESK_B, tokens };
  return [
    { name: 'handover', kind: 'handover', ring },
    { name: 'floor: PUT owner + 1 put', kind: 'floorHandover', ring },
    { name: "floor: PUT owner + the handover's 4 store calls", kind: 'floorHandoverCalls', ring },
  ];
};

/** The three arms interleaved at each concurrency, on one system. */
const interleave = async (sys: BenchSystem, options: GapOptions, tag: string) => {
  const levels = [];
  for (const c of options.concurrencies) {
    const r = await runLoadInChild({
      url: sys.url,
      concurrency: c,
      warmupRounds: options.warmupRounds,
      samples: options.samples,
      arms: arms(sys),
      runId: `${options.runId}-${tag}-c${c}`,
    });
    levels.push({
      concurrency: c,
      requestsPerSecond: r.requestsPerSecond,
      arms: r.arms.map((a) => ({ name: a.name, errors: a.errors, ...summarize(a.latenciesMs) })),
    });
  }
  return levels;
};

/**
 * `separate`: the same stack with its store in a process of its own, where the arms run
 * interleaved as well.
 */
export const measureGap = async (sys: BenchSystem, options: GapOptions, separate?: BenchSystem) => {
  const list = arms(sys);
  const interleaved = await interleave(sys, options, 'in');
  const storeProcess = separate ? await interleave(separate, options, 'out') : [];
  // Each arm alone at the highest concurrency, profiled: CPU per request by where it ran.
  const c = Math.max(...options.concurrencies);
  const profiles = [];
  for (const arm of list) {
    const cpu0 = process.cpuUsage();
    const { result, profile } = await profiled(() =>
      runLoadInChild({
        url: sys.url,
        concurrency: c,
        warmupRounds: 2,
        samples: options.profileRequests,
        arms: [arm],
        runId: `${options.runId}-prof-${arm.kind}`,
      }),
    );
    const cpu = process.cpuUsage(cpu0);
    const requests = result.arms[0]!.latenciesMs.length + 2 * c; // the warm-up rounds ran too
    const shares = selfShareByCategory(profile);
    const cpuMsPerRequest = (cpu.user + cpu.system) / 1000 / requests;
    profiles.push({
      name: arm.name,
      concurrency: c,
      requests,
      errors: result.arms[0]!.errors,
      p50: summarize(result.arms[0]!.latenciesMs).p50,
      cpuMsPerRequest,
      // The process's CPU time, split by the profile's shares (wall-clock sampling on a busy
      // machine over-counts a frame that was descheduled; the shares are what it can tell).
      msPerRequest: Object.fromEntries(
        CATEGORIES.map((k) => [k, shares[k] * cpuMsPerRequest]),
      ) as Record<Category, number>,
    });
  }
  return { interleaved, storeProcess, profiles };
};

export type GapReport = Awaited<ReturnType<typeof measureGap>>;
type Arm = GapReport['interleaved'][number]['arms'][number];

const ms = (v: number) => `${fmt(v, 1)} ms`;

export const gapRows = (g: GapReport): TableRow[] => {
  const rows: TableRow[] = [];
  const levelRows = (levels: GapReport['interleaved'], where: string) => {
    for (const level of levels) {
      const [handover, floor1, floor4] = level.arms as [Arm, Arm, Arm];
      const errors = handover.errors + floor1.errors + floor4.errors;
      rows.push({
        section: `gap c=${level.concurrency}`,
        check: `handover vs a floor with its 4 store calls, store ${where} (n=${handover.n}${errors ? `, ${errors} errors` : ''})`,
        subject: ms(handover.p50),
        floor: `${ms(floor4.p50)} (1-put floor ${ms(floor1.p50)})`,
        result: `${fmt(ratio(handover.p50, floor4.p50))}x (${fmt(ratio(handover.p50, floor1.p50))}x the 1-put floor)`,
        budget: '-',
        verdict: errors ? verdict(false) : 'reported',
      });
    }
  };
  levelRows(g.interleaved, 'in process');
  levelRows(g.storeProcess, 'in its own process');
  for (const p of g.profiles) {
    const parts = Object.entries(p.msPerRequest)
      .map(([k, v]) => `${k} ${fmt(v, 2)}`)
      .join(', ');
    rows.push({
      section: `gap c=${p.concurrency}`,
      check: `stack CPU per request, alone: ${p.name} (n=${p.requests})`,
      subject: ms(p.cpuMsPerRequest),
      floor: '-',
      result: `ms: ${parts}`,
      budget: '-',
      verdict: 'reported',
    });
  }
  return rows;
};
