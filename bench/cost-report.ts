// The cost section: per million webhooks, handovers, notifications and sweeps, at the price table
// of bench/cost.ts. Durations, reads and calls are this run's counts; write units come from the
// key model (bench/keys.ts), which charges every index write the code's items cause by their
// measured size (the local store reports the table's units only), and are held against the table
// units the local store reported for the same requests.
import { functionSpecs } from '../functions/contracts/routes';
import { DEFAULT_INDEX_SHARDS } from '../functions/domain/shards';
import { notifierBatchSize, PROCESSOR_BATCH_SIZE } from '../lib/api-stack';
import { type CostEstimate, estimateCost, PRICES, secretsFixedPerMonth } from './cost';
import type { CountRow } from './counts';
import type { MeasuredSizes } from './item-sizes';
import { unitsPerEvent } from './keys';
import { fmt } from './stats';
import { BENCH_SERVICES, type BenchSystem, TABLES } from './system';
import type { TableRow } from './table';

/** What a notification's POST waits for: the receiver's answer, assumed (no receiver here). */
export const ASSUMED_NOTIFY_MS = 100;
/** One sweep that finds nothing due: the shards' queries and little else, assumed. */
export const ASSUMED_SWEEP_MS = 50;

export interface CostInputs {
  counts: CountRow[];
  /** Handler p50 per function at the first concurrency, when the warm runs measured it. */
  handlerP50: { inbound?: number; handover?: number };
  sizes: MeasuredSizes;
  sys: BenchSystem;
}

export const measureCost = ({ counts, handlerP50, sizes, sys }: CostInputs) => {
  const row = (scenario: string) => {
    const found = counts.find((r) => r.scenario.startsWith(scenario));
    if (!found) throw new Error(`the counts have no scenario "${scenario}"`);
    return found;
  };
  const webhook = row('webhook');
  const happy = row('handover, desk to desk');
  const forwarded = row('processor, forwarded');
  const units = (r: CountRow, table: string) => r.units[table] ?? { read: 0, write: 0 };
  const reads = (r: CountRow) => units(r, TABLES.state).read + units(r, TABLES.history).read;
  const batch = PROCESSOR_BATCH_SIZE;
  const notifyBatch = notifierBatchSize(sys.config.downstreamTimeoutMs);
  const model = {
    webhook: unitsPerEvent(sizes.sizes, 'webhook'),
    handover: unitsPerEvent(sizes.sizes, 'handover'),
    notification: unitsPerEvent(sizes.sizes, 'notification'),
  };
  const tableWrites = {
    webhook: units(forwarded, TABLES.state).write + units(forwarded, TABLES.history).write,
    handover: units(happy, TABLES.state).write + units(happy, TABLES.history).write,
  };
  const inbound: CostEstimate = estimateCost({
    label: 'per million webhooks (inbound, queue, processor, one forward; no handover)',
    apiRequests: 1,
    lambdas: [
      {
        function: 'inbound',
        memoryMb: functionSpecs.inbound.memoryMb,
        durationMs: handlerP50.inbound ?? webhook.durationMeanMs ?? 0,
        invocations: 1,
      },
      {
        function: `processor (batch ${batch})`,
        memoryMb: functionSpecs.processor.memoryMb,
        durationMs: (forwarded.durationMeanMs ?? 0) * batch,
        invocations: 1 / batch,
      },
    ],
    sqsRequests: 1 + 2 / batch,
    wru: model.webhook,
    rru: reads(forwarded),
    secretFetches: webhook.secretFetchesMax + forwarded.secretFetchesMax,
  });
  const handover: CostEstimate = estimateCost({
    label: 'per million handovers (POST /handovers, happy path, desk to desk; outbox apart)',
    apiRequests: 1,
    lambdas: [
      {
        function: 'handover',
        memoryMb: functionSpecs.handover.memoryMb,
        durationMs: handlerP50.handover ?? happy.durationMeanMs ?? 0,
        invocations: 1,
      },
    ],
    sqsRequests: 0,
    wru: model.handover,
    rru: reads(happy),
    secretFetches: happy.secretFetchesMax,
  });
  const notification: CostEstimate = estimateCost({
    label: `per million notifications (outbox item, notify queue, one POST answered in ${ASSUMED_NOTIFY_MS} ms)`,
    apiRequests: 0,
    lambdas: [
      {
        function: `notifier (batch ${notifyBatch})`,
        memoryMb: functionSpecs.notifier.memoryMb,
        durationMs: ASSUMED_NOTIFY_MS * notifyBatch,
        invocations: 1 / notifyBatch,
      },
    ],
    sqsRequests: 1 + 2 / notifyBatch,
    wru: model.notification,
    // The sender reads the item (strongly consistent, under 4 KB) before it posts.
    rru: 1,
    secretFetches: 0,
  });
  const sweep: CostEstimate = estimateCost({
    label: `per million sweeps (one run, nothing due: a query per byDue shard, N=${DEFAULT_INDEX_SHARDS})`,
    apiRequests: 0,
    lambdas: [
      {
        function: 'sweep',
        memoryMb: functionSpecs.reconcile.memoryMb,
        durationMs: ASSUMED_SWEEP_MS,
        invocations: 1,
      },
    ],
    sqsRequests: 0,
    wru: 0,
    // An index query is eventually consistent: half a unit at least, per shard.
    rru: DEFAULT_INDEX_SHARDS * 0.5,
    secretFetches: 0,
  });
  const fixed = secretsFixedPerMonth({
    secrets: BENCH_SERVICES.length + 1,
    warmContainers: Object.keys(functionSpecs).length,
    ttlSeconds: sys.config.secretsTtlSeconds,
    secretsPerContainer: BENCH_SERVICES.length + 1,
  });
  return {
    prices: PRICES,
    estimates: { inbound, handover, notification, sweep },
    secretsFixed: fixed,
    writeUnits: { model, tableWrites },
    notificationsPerHandover: sizes.notificationsPerHandover,
    assumptions: {
      durations: `handler p50 at the first concurrency on this machine (x86, Node ${process.version}), not Lambda arm64`,
      writes:
        'write units from the key model (table, local and global indexes, by measured item size)',
      notifier: `${ASSUMED_NOTIFY_MS} ms per notification (the receiver's answer), batches of ${notifyBatch}`,
      sweep: `${ASSUMED_SWEEP_MS} ms at ${functionSpecs.reconcile.memoryMb} MB; the schedule's own events not counted`,
      sqs: `1 SendMessage + (ReceiveMessage + DeleteMessageBatch) per batch; empty long polls not counted`,
    },
  };
};

export type CostReport = ReturnType<typeof measureCost>;

export const costRows = (c: CostReport): TableRow[] => {
  const rows: TableRow[] = Object.values(c.estimates).map((est) => ({
    section: 'cost',
    check: est.label,
    subject: `$${fmt(est.perMillion, 2)}`,
    floor: '-',
    result: est.lines.map((l) => `${l.item} $${fmt(l.perMillion, 3)}`).join('; '),
    budget: '-',
    verdict: 'reported' as const,
  }));
  const { model, tableWrites } = c.writeUnits;
  rows.push({
    section: 'cost',
    check: 'write units per event: the model vs the table units the local store reported',
    subject: `webhook ${fmt(model.webhook, 1)}, handover ${fmt(model.handover, 1)}, notification ${fmt(model.notification, 1)} WRU`,
    floor: `table only: webhook ${fmt(tableWrites.webhook, 1)}, handover ${fmt(tableWrites.handover, 1)}`,
    result: `a handover's ${c.notificationsPerHandover} notifications add $${fmt(c.notificationsPerHandover * c.estimates.notification.perMillion, 2)} per million handovers`,
    budget: '-',
    verdict: 'reported',
  });
  rows.push({
    section: 'cost',
    check: 'fixed: secrets and their cache refreshes, per month',
    subject: `$${fmt(c.secretsFixed.perMonth, 2)}`,
    floor: '-',
    result: c.secretsFixed.basis,
    budget: '-',
    verdict: 'reported',
  });
  return rows;
};
