// The load simulation: many users, webhooks and handovers mixed (10:1 by default), at rising
// concurrency through the bench stack, until throughput stops rising (the stack's process is one
// event loop: that is its CPU saturation). Per level: achieved rates, p50/p99, errors, the ratio to
// the floors measured in the same level, the CPU the stack's process used, and the stores held
// against the answers: the level's queue table holds one message per webhook answered 200, and
// the history one record per handover answered 200.
import * as os from 'node:os';
import { QueryCommand, ScanCommand } from '@aws-sdk/lib-dynamodb';
import { runInChild } from './load-client';
import type { MixKind, MixPlan, MixResult } from './load-mix';
import { fmt, ratio, summarize } from './stats';
import { BENCH_SERVICES, type BenchSystem, TABLES } from './system';
import { type TableRow, verdict } from './table';

export interface LoadSimOptions {
  concurrencies: number[];
  /** Measured seconds per level (four blocks, subjects and floors). */
  seconds: number;
  runId: string;
  webhooksPerRound?: number;
  usersPerWorker?: number;
  webhookUsers?: number;
  /** A level whose throughput rose less than this (fraction) over the last one ends the run. */
  minGain?: number;
  onLevel?: (level: LoadLevel) => void;
}

export interface KindSummary {
  n: number;
  ratePerSecond: number;
  p50: number;
  p99: number;
  errors: number;
  statuses: Record<string, number>;
}

export interface LoadLevel {
  concurrency: number;
  webhook: KindSummary;
  handover: KindSummary;
  floorPut: KindSummary;
  floorHandover: KindSummary;
  /** Subject requests answered per second (both kinds). */
  throughput: number;
  /** CPU of the stack's process (gateway, functions, local store, simulator), % of one core. */
  stackCpuPercent: number;
  generatorCpuPercent: number;
  /** Every core of the machine, others' work included. */
  machineBusyPercent: number;
  store: { queueItems: number; webhooksOk: number; records: number; handoversOk: number };
  errors: number;
}

const [BOT, DESK_A, DESK_B] = BENCH_SERVICES.map((s) => s.identification) as [
  string,
  string,
  string,
];

const busyTimes = () =>
  os.cpus().reduce(
    (acc, c) => {
      const total = Object.values(c.times).reduce((a, b) => a + b, 0);
      return { busy: acc.busy + total - c.times.idle, total: acc.total + total };
    },
    { busy: 0, total: 0 },
  );

const kindSummary = (r: MixResult, kind: MixKind, wallMs: number): KindSummary => {
  const k = r.measured[kind];
  const s = summarize(k.latenciesMs);
  const answered = k.statuses['200'] ?? 0;
  return {
    n: s.n,
    ratePerSecond: answered / (wallMs / 1000),
    p50: s.p50,
    p99: s.p99,
    errors: k.errors,
    statuses: k.statuses,
  };
};

const countQueue = async (sys: BenchSystem, table: string): Promise<number> => {
  let count = 0;
  let start: Record<string, unknown> | undefined;
  do {
    const out = await sys.client.send(
      new ScanCommand({ TableName: table, Select: 'COUNT', ExclusiveStartKey: start }),
    );
    count += out.Count ?? 0;
    start = out.LastEvaluatedKey;
  } while (start);
  return count;
};

const countRecords = async (sys: BenchSystem, userIds: string[]): Promise<number> => {
  let count = 0;
  for (const userId of userIds) {
    let start: Record<string, unknown> | undefined;
    do {
      const out = await sys.client.send(
        new QueryCommand({
          TableName: TABLES.history,
          KeyConditionExpression: 'pk = :pk',
          ExpressionAttributeValues: { ':pk': `USER#${userId}` },
          Select: 'COUNT',
          ExclusiveStartKey: start,
        }),
      );
      count += out.Count ?? 0;
      start = out.LastEvaluatedKey;
    } while (start);
  }
  return count;
};

export const runLoadSim = async (sys: BenchSystem, options: LoadSimOptions) => {
  const usersPerWorker = options.usersPerWorker ?? 10;
  const tokens = Object.fromEntries(
    Object.entries(sys.settings.secrets).map(([id, s]) => [id, s.apiTokens[0]!]),
  );
  const levels: LoadLevel[] = [];
  let saturatedAt: number | null = null;
  for (const concurrency of options.concurrencies) {
    const levelId = `${options.runId}-c${concurrency}`;
    await sys.useQueueTable(`bench-queue-${levelId}`);
    const plan: MixPlan = {
      url: sys.url,
      concurrency,
      runId: levelId,
      warmupMs: 2000,
      blockMs: (options.seconds * 1000) / 4,
      webhooksPerRound: options.webhooksPerRound ?? 10,
      webhookUsers: options.webhookUsers ?? 100_000,
      usersPerWorker,
      webhook: { serviceId: BOT, token: sys.settings.secrets[BOT]!.callbackTokens[0]! },
      ring: { first: BOT, a: DESK_A, b: DESK_B, tokens },
    };
    const cpu0 = process.cpuUsage();
    const machine0 = busyTimes();
    const t0 = performance.now();
    const result = await runInChild<MixPlan, MixResult>('load-mix.ts', plan);
    const wallMs = performance.now() - t0;
    const cpu = process.cpuUsage(cpu0);
    const machine1 = busyTimes();
    await sys.useQueueTable(TABLES.queue);

    const users = Array.from({ length: concurrency * usersPerWorker }, (_, i) => {
      const w = Math.floor(i / usersPerWorker);
      return `${levelId}-h${w}-${i % usersPerWorker}`;
    });
    const store = {
      queueItems: await countQueue(sys, `bench-queue-${levelId}`),
      webhooksOk: result.ok.webhook,
      records: await countRecords(sys, users),
      handoversOk: result.ok.handover,
    };
    const webhook = kindSummary(result, 'webhook', result.subjectMs);
    const handover = kindSummary(result, 'handover', result.subjectMs);
    const level: LoadLevel = {
      concurrency,
      webhook,
      handover,
      floorPut: kindSummary(result, 'floorPut', result.floorMs),
      floorHandover: kindSummary(result, 'floorHandover', result.floorMs),
      throughput: webhook.ratePerSecond + handover.ratePerSecond,
      stackCpuPercent: ((cpu.user + cpu.system) / 1000 / wallMs) * 100,
      generatorCpuPercent: (result.cpuMs / wallMs) * 100,
      machineBusyPercent:
        ((machine1.busy - machine0.busy) / (machine1.total - machine0.total)) * 100,
      store,
      errors:
        webhook.errors +
        handover.errors +
        result.measured.floorPut.errors +
        result.measured.floorHandover.errors +
        (store.queueItems === store.webhooksOk ? 0 : 1) +
        (store.records === store.handoversOk ? 0 : 1),
    };
    levels.push(level);
    options.onLevel?.(level);
    const previous = levels[levels.length - 2];
    if (previous && level.throughput < previous.throughput * (1 + (options.minGain ?? 0.05))) {
      saturatedAt = previous.concurrency;
      break;
    }
  }
  return { levels, saturatedAt, usersPerWorker, webhookUsers: options.webhookUsers ?? 100_000 };
};

export type LoadSimReport = Awaited<ReturnType<typeof runLoadSim>>;

const ms = (v: number) => `${fmt(v, 1)} ms`;
const rate = (v: number) => `${fmt(v, 0)}/s`;

export const loadSimRows = (r: LoadSimReport): TableRow[] => {
  const rows: TableRow[] = [];
  for (const l of r.levels) {
    const errs = (k: KindSummary) => (k.errors ? `, ${k.errors} errors` : '');
    rows.push({
      section: `load c=${l.concurrency}`,
      check: `webhooks (10:1 mix, ${r.webhookUsers.toLocaleString('en-US')} users; n=${l.webhook.n}${errs(l.webhook)})`,
      subject: `${rate(l.webhook.ratePerSecond)}, p50 ${ms(l.webhook.p50)}, p99 ${ms(l.webhook.p99)}`,
      floor: `p50 ${ms(l.floorPut.p50)}, p99 ${ms(l.floorPut.p99)}`,
      result: `${fmt(ratio(l.webhook.p50, l.floorPut.p50))}x p50; queue items ${l.store.queueItems} for ${l.store.webhooksOk} answered 200`,
      budget: '-',
      verdict: 'reported',
    });
    rows.push({
      section: `load c=${l.concurrency}`,
      check: `handovers (${l.concurrency * r.usersPerWorker} users; n=${l.handover.n}${errs(l.handover)})`,
      subject: `${rate(l.handover.ratePerSecond)}, p50 ${ms(l.handover.p50)}, p99 ${ms(l.handover.p99)}`,
      floor: `p50 ${ms(l.floorHandover.p50)}, p99 ${ms(l.floorHandover.p99)}`,
      result: `${fmt(ratio(l.handover.p50, l.floorHandover.p50))}x p50; records ${l.store.records} for ${l.store.handoversOk} answered 200; stack CPU ${fmt(l.stackCpuPercent, 0)}% of a core, machine ${fmt(l.machineBusyPercent, 0)}%`,
      budget: '-',
      verdict: 'reported',
    });
  }
  const upTo = r.levels.filter((l) => r.saturatedAt === null || l.concurrency <= r.saturatedAt);
  const errors = upTo.reduce((sum, l) => sum + l.errors, 0);
  const best = r.levels.reduce((a, b) => (b.throughput > a.throughput ? b : a));
  rows.push({
    section: 'load',
    check: `no errors up to CPU saturation (throughput stops rising: ${r.saturatedAt === null ? 'not reached' : `c=${r.saturatedAt}`})`,
    subject: `${errors} errors in ${upTo.length} levels`,
    floor: '-',
    result: `peak ${rate(best.throughput)} at c=${best.concurrency} (${rate(best.webhook.ratePerSecond)} webhooks + ${rate(best.handover.ratePerSecond)} handovers)`,
    budget: 'no errors, stores match the answers',
    verdict: verdict(errors === 0),
  });
  return rows;
};
