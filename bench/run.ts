// `npm run bench`: measures DESIGN.md's budgets, each beside its floor measured in the same run,
// prints one table, writes the full JSON report to bench/reports/ and the table to bench/latest.md.
import './env';
import { mkdirSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import { join } from 'node:path';
import { DEFAULT_INDEX_SHARDS } from '../functions/domain/shards';
import { PROCESSOR_BATCH_SIZE } from '../lib/api-stack';
import { type BuiltBundles, buildBundles } from './bundles';
import { type ColdResult, measureColdStarts } from './cold-start';
import { PRICES } from './cost';
import { type CountRow, measureCounts } from './counts';
import { costRows, measureCost } from './cost-report';
import { type MeasuredSizes, measureItemSizes } from './item-sizes';
import { gapRows, measureGap } from './gap';
import { keyRows, measureKeys } from './keys-report';
import { loadSimRows, runLoadSim } from './load-sim';
import { BenchUsageError, HELP, parseOptions, SECTIONS, type Section } from './options';
import { measureRange, rangeRows } from './range';
import { measureScaling, type ScalingRow } from './scaling';
import { fmt, ratio } from './stats';
import { startBenchSystem } from './system';
import { renderTable, type TableRow, verdict } from './table';
import { gateRows, type PhaseResult, phases, runPhase, WARM_GATES } from './warm';

export { renderTable, type TableRow };

const kb = (bytes: number) => `${(bytes / 1024).toFixed(1)} KiB`;
const ms = (v: number) => `${fmt(v, 1)} ms`;
const log = (line: string) => process.stderr.write(`[bench] ${line}\n`);

const main = async () => {
  const options = parseOptions(process.argv.slice(2));
  if (options.help) {
    process.stdout.write(HELP);
    return;
  }
  const wants = (s: Section) => options.only.includes(s);
  const started = Date.now();
  const runId = `b${started.toString(36)}`;
  const rows: TableRow[] = [];
  const report: Record<string, unknown> = {
    startedAt: new Date(started).toISOString(),
    machine: {
      cpus: os.cpus().length,
      cpuModel: os.cpus()[0]?.model ?? 'unknown',
      memoryGb: Math.round(os.totalmem() / 2 ** 30),
      node: process.version,
      platform: `${os.platform()} ${os.arch()}`,
      loadAverageAtStart: os.loadavg(),
    },
    options,
  };

  // ------------------------------------------------------------- bundles and cold starts
  let built: BuiltBundles | undefined;
  let cold: ColdResult | undefined;
  try {
    if (wants('bundles') || wants('cold')) {
      log('building the bundles through the CDK app (esbuild, as cdk synth does)...');
      built = buildBundles();
      const floor = built.bundles.get('floor')!;
      report.bundles = [...built.bundles.values()].map(({ name, bytes, gzipBytes }) => ({
        name,
        bytes,
        gzipBytes,
      }));
      for (const b of built.bundles.values()) {
        if (b.name === 'floor' || b.name === 'hello') continue;
        rows.push({
          section: 'bundle',
          check: b.name,
          subject: `${kb(b.bytes)} (${kb(b.gzipBytes)} gz)`,
          floor: `${kb(floor.bytes)} (${kb(floor.gzipBytes)} gz)`,
          result: `+${kb(b.bytes - floor.bytes)}`,
          budget: '-',
          verdict: 'reported',
        });
      }
    }
    if (wants('cold') && built) {
      log(
        `cold starts: ${options.coldRounds} interleaved rounds of ${options.functions.length * 2 + 1} processes on ${options.node ?? 'this Node'}...`,
      );
      cold = await measureColdStarts(built.bundles, {
        rounds: options.coldRounds,
        functions: options.functions,
        node: options.node,
        onProgress: (r) => {
          if (r % 5 === 0 || r === options.coldRounds)
            log(`  cold round ${r}/${options.coldRounds}`);
        },
      });
      report.coldStart = cold;
      const hello = cold.hello;
      for (const { fn, subject, floor } of cold.pairs) {
        const readyDelta = subject.readyMedian - floor.readyMedian;
        const firstDelta = subject.firstMedian - floor.firstMedian;
        const bad = Object.keys(subject.statuses).some((s) => s !== '200');
        rows.push({
          section: 'cold start',
          check: `${fn}: spawn to ready`,
          subject: ms(subject.readyMedian),
          floor: ms(floor.readyMedian),
          result: `${readyDelta >= 0 ? '+' : ''}${ms(readyDelta)}; ${fmt(ratio(subject.readyMedian, hello.readyMedian))}x hello`,
          budget: '<= +40 ms',
          verdict: verdict(readyDelta <= 40),
        });
        rows.push({
          section: 'cold start',
          check: `${fn}: first response (${subject.firstIo.length} I/O calls)${bad ? ' NON-200' : ''}`,
          subject: ms(subject.firstMedian),
          floor: ms(floor.firstMedian),
          result: `${firstDelta >= 0 ? '+' : ''}${ms(firstDelta)}; ${fmt(ratio(subject.firstMedian, hello.firstMedian))}x hello`,
          budget: '<= +40 ms',
          verdict: verdict(firstDelta <= 40 && !bad),
        });
      }
      const atInit = cold.pairs.filter((p) => (p.subject.initCalls ?? 0) > 0);
      rows.push({
        section: 'cold start',
        check: 'network calls while a bundle is only required',
        subject: atInit.length
          ? atInit.map((p) => `${p.fn}: ${p.subject.initCalls}`).join(', ')
          : `0 in all ${cold.pairs.length}`,
        floor: '-',
        result: '-',
        budget: 'none at module init',
        verdict: verdict(atInit.length === 0),
      });
      rows.push({
        section: 'cold start',
        check: 'hello world (ready / first response)',
        subject: `${ms(hello.readyMedian)} / ${ms(hello.firstMedian)}`,
        floor: '-',
        result: `${cold.rounds} runs each`,
        budget: '-',
        verdict: 'reported',
      });
    }
  } finally {
    built?.dispose();
  }

  // ------------------------------------------------------------- warm runs, counts, cost
  const warm: PhaseResult[] = [];
  let counts: Awaited<ReturnType<typeof measureCounts>> | undefined;
  if (['warm', 'counts', 'cost', 'gap', 'keys', 'load'].some((x) => wants(x as Section))) {
    log(
      `starting the bench stack (dynalite, simulator at ${options.parleyLatencyMs} ms, gateway)...`,
    );
    const sys = await startBenchSystem({
      parleyLatencyMs: options.parleyLatencyMs,
      storeProcess: options.storeProcess,
    });
    try {
      if (wants('warm')) {
        const firstC = options.concurrencies[0]!;
        const historyUser = `${runId}-c${firstC}-handover-w0`;
        for (const c of options.concurrencies) {
          const p = phases(sys, runId, historyUser);
          const phaseRunId = `${runId}-c${c}`;
          for (const [name, phase] of [
            ['webhook', p.webhook],
            ['handover', p.handover],
            ['hand-back', p.handBack],
            ['reported', p.reported],
          ] as const) {
            const samples = name === 'reported' ? options.reportedSamples : options.samples;
            log(
              `warm ${name} at concurrency ${c}: ${samples} samples per arm, arms interleaved...`,
            );
            const t = Date.now();
            const result = await runPhase(sys, name, phase.arms, phase.functions, {
              concurrency: c,
              samples,
              warmupRounds: options.warmupRounds,
              runId: phaseRunId,
            });
            log(
              `  done in ${((Date.now() - t) / 1000).toFixed(1)} s, ${fmt(result.requestsPerSecond, 0)} req/s`,
            );
            warm.push(result);
          }
        }
        report.warm = warm;
        const find = (phase: string, c: number) =>
          warm.find((w) => w.phase === phase && w.concurrency === c);
        for (const gate of WARM_GATES) rows.push(...gateRows(warm, gate, options));
        for (const c of options.concurrencies) {
          for (const arm of find('reported', c)?.arms ?? []) {
            rows.push({
              section: `warm c=${c}`,
              check: `${arm.name} (n=${arm.n}${arm.errors ? `, ${arm.errors} errors` : ''})`,
              subject: `p50 ${ms(arm.p50)}`,
              floor: '-',
              result: `p99 ${ms(arm.p99)}`,
              budget: '-',
              verdict: 'reported',
            });
          }
        }
      }
      if (wants('counts') || wants('cost')) {
        log(`counts: ${options.countRequests} requests per scenario, one at a time...`);
        counts = await measureCounts(sys, {
          requests: options.countRequests,
          runId: `${runId}-counts`,
          processorBatchSize: PROCESSOR_BATCH_SIZE,
        });
        report.counts = counts;
        const row = (scenario: string) =>
          counts!.rows.find((r) => r.scenario.startsWith(scenario))!;
        const fmtCounts = (r: CountRow) =>
          `dynamo ${fmt(r.dynamo.mean, 1)} (${Object.entries(r.dynamo.byCommand)
            .map(([k, v]) => `${k} ${fmt(v, 1)}`)
            .join(', ')}); parley ${fmt(r.parley.mean, 1)}${
            Object.keys(r.parley.byRoute).length
              ? ` (${Object.entries(r.parley.byRoute)
                  .map(([k, v]) => `${k} ${fmt(v, 1)}`)
                  .join(', ')})`
              : ''
          }; enqueues ${fmt(r.enqueues.mean, 1)}; secrets ${r.secretFetchesMax}`;
        const webhook = row('webhook');
        rows.push({
          section: 'counts',
          check: `webhook, per request (n=${webhook.requests})`,
          subject: fmtCounts(webhook),
          floor: '-',
          result: `enqueues max ${webhook.enqueues.max}, parley max ${webhook.parley.max}, secret fetches max ${webhook.secretFetchesMax}`,
          budget: '1 enqueue, 0 Parley, 0 secret fetches',
          verdict: verdict(
            webhook.enqueues.max === 1 &&
              webhook.enqueues.mean === 1 &&
              webhook.parley.max === 0 &&
              webhook.secretFetchesMax === 0,
          ),
        });
        const happy = row('handover, desk to desk');
        rows.push({
          section: 'counts',
          check: `handover happy path, per request (n=${happy.requests})`,
          subject: fmtCounts(happy),
          floor: '-',
          result: `dynamo max ${happy.dynamo.max}, parley max ${happy.parley.max}, GET owner max ${happy.getOwnerMax}, secrets max ${happy.secretFetchesMax}`,
          budget: '<= 5 DynamoDB, 1 Parley, 0 GET owner, 0 secret fetches',
          verdict: verdict(
            happy.dynamo.max <= 5 &&
              happy.parley.max === 1 &&
              happy.getOwnerMax === 0 &&
              happy.secretFetchesMax === 0,
          ),
        });
        for (const r of counts.rows) {
          if (r === webhook || r === happy) continue;
          rows.push({
            section: 'counts',
            check: `${r.scenario} (n=${r.requests})`,
            subject: fmtCounts(r),
            floor: '-',
            result:
              r.durationMeanMs !== undefined ? `mean ${ms(r.durationMeanMs)} in the function` : '-',
            budget: r.scenario.startsWith('handover back') ? '(1 Parley on the happy path)' : '-',
            verdict: 'reported',
          });
        }
        const fr = counts.firstRequests;
        rows.push({
          section: 'counts',
          check: `new container: ${fr.requests} first requests, 8 at a time, ${fr.secrets} secrets`,
          subject: `fetches per secret: ${fr.fetchesBySecret.join(', ')}`,
          floor: '-',
          result: `max ${fr.maxFetchesPerSecret}`,
          budget: '<= 1 per secret per container per cache period',
          verdict: verdict(fr.maxFetchesPerSecret <= 1 && fr.statuses.every((s) => s === 200)),
        });
      }

      // Item sizes as the code writes them: the key check and the cost model charge by them.
      let sizes: MeasuredSizes | undefined;
      const measuredSizes = async () => {
        sizes ??= await measureItemSizes(sys, `${runId}-sizes`);
        return sizes;
      };
      if (wants('cost') && counts) {
        const c1 = options.concurrencies[0]!;
        const handlerP50 = (phase: string) =>
          warm.find((w) => w.phase === phase && w.concurrency === c1)?.arms[0]?.handlerP50;
        const cost = measureCost({
          counts: counts.rows,
          handlerP50: { inbound: handlerP50('webhook'), handover: handlerP50('handover') },
          sizes: await measuredSizes(),
          sys,
        });
        report.cost = cost;
        rows.push(...costRows(cost));
      }
      if (wants('gap')) {
        log(
          `handover gap: 3 arms interleaved at concurrency ${options.concurrencies.join(', ')}, then each alone, profiled...`,
        );
        const separate = await startBenchSystem({
          parleyLatencyMs: options.parleyLatencyMs,
          storeProcess: true,
        });
        const gap = await measureGap(
          sys,
          {
            concurrencies: options.concurrencies,
            samples: options.gapSamples,
            profileRequests: options.gapProfileRequests,
            warmupRounds: options.warmupRounds,
            runId: `${runId}-gap`,
          },
          separate,
        ).finally(() => separate.close());
        report.gap = gap;
        rows.push(...gapRows(gap));
      }
      if (wants('keys')) {
        log('keys: measuring item sizes on the stack, then simulating the key distribution...');
        const keys = measureKeys(await measuredSizes(), {
          handoversPerSecond: 10_000,
          webhooksPerSecond: 50_000,
          users: 1_000_000,
          seconds: options.keySeconds,
        });
        report.keys = keys;
        rows.push(...keyRows(keys));
      }
      if (wants('load')) {
        log(
          `load simulation: webhooks and handovers 10:1 at concurrency ${options.loadConcurrencies.join(', ')} (until throughput stops rising), ${options.loadSeconds} s each...`,
        );
        const sim = await runLoadSim(sys, {
          concurrencies: options.loadConcurrencies,
          seconds: options.loadSeconds,
          runId: `${runId}-load`,
          onLevel: (l) =>
            log(
              `  c=${l.concurrency}: ${fmt(l.throughput, 0)} req/s, stack CPU ${fmt(l.stackCpuPercent, 0)}%, ${l.errors} errors`,
            ),
        });
        report.load = sim;
        rows.push(...loadSimRows(sim));
      }
    } finally {
      await sys.close();
    }
  }

  // ------------------------------------------------------------- scaling
  if (wants('scaling')) {
    log(`scaling: seeding ${options.scaleSizes.join(' and ')} records with BatchWrite...`);
    const scaling: ScalingRow[] = await measureScaling({
      sizes: options.scaleSizes,
      reads: options.quick ? 5 : 20,
    });
    report.scaling = scaling;
    const queries = [...new Set(scaling.map((s) => s.query))];
    for (const q of queries) {
      const list = scaling.filter((s) => s.query === q);
      const first = list[0]!;
      const same = list.every(
        (s) => s.itemsRead === first.itemsRead && s.queries === first.queries,
      );
      rows.push({
        section: 'scaling',
        check: `${q}: items read at ${list.map((s) => s.records).join(' / ')} records`,
        subject: list.map((s) => `${s.itemsRead} read, ${s.queries} query`).join(' / '),
        floor: '-',
        result: `latency ${list.map((s) => ms(s.latencyMedianMs)).join(' / ')}`,
        budget: 'items read independent of table size',
        verdict: verdict(same),
      });
    }
  }

  // ------------------------------------------------------------- sharded range queries
  if (wants('range')) {
    log(`range: seeding ${options.rangeSizes.join(' and ')} records, sharded and unsharded...`);
    const range = await measureRange({
      sizes: options.rangeSizes,
      shards: DEFAULT_INDEX_SHARDS,
      reads: options.quick ? 5 : 20,
    });
    report.range = range;
    rows.push(...rangeRows(range, DEFAULT_INDEX_SHARDS));
  }

  const durationS = (Date.now() - started) / 1000;
  report.durationSeconds = durationS;
  report.rows = rows;
  const table = renderTable(rows);
  const command = `npm run bench${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(' ')}` : ''}`;
  const machine = report.machine as {
    cpus: number;
    cpuModel: string;
    node: string;
    platform: string;
  };
  const within = rows.filter((r) => r.verdict === 'within').length;
  const over = rows.filter((r) => r.verdict === 'over');
  const summary = [
    `# Benchmark: latest run`,
    '',
    `${new Date(started).toISOString()}, \`${command}\`, ${fmt(durationS / 60, 1)} min, on ${machine.cpus} x ${machine.cpuModel}, Node ${machine.node}, ${machine.platform}.`,
    `Budgets: ${within} within, ${over.length} over${over.length ? ` (${over.map((r) => `${r.section}: ${r.check}`).join('; ')})` : ''}.`,
    '',
    table,
    '',
    `Floors and subjects measured in the same run; warm p50 at c=${options.concurrencies[0]} gates, p99 reported. Prices: ${PRICES.region}, ${PRICES.asOf}.`,
    '',
  ].join('\n');
  const reportsDir = join(__dirname, 'reports');
  mkdirSync(reportsDir, { recursive: true });
  const file = join(
    reportsDir,
    `bench-${new Date(started).toISOString().replace(/[:.]/g, '-')}.json`,
  );
  writeFileSync(file, `${JSON.stringify(report, null, 2)}\n`);
  // bench/latest.md is the whole bench's; a run of some sections leaves it as it is.
  const full = SECTIONS.every((section) => options.only.includes(section));
  if (full) writeFileSync(join(__dirname, 'latest.md'), summary);
  process.stdout.write(`${summary}\nJSON report: bench/reports/${file.split('/').pop()}\n`);
};

if (require.main === module) {
  main().catch((err: unknown) => {
    if (err instanceof BenchUsageError) {
      process.stderr.write(`bench: ${err.message} (see --help)\n`);
      process.exit(2);
    }
    process.stderr.write(
      `bench failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`,
    );
    process.exit(2);
  });
}
