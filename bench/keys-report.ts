// The key-distribution section of the report: the item sizes the code writes, then per index the
// hottest partition at the target rates with the configured shard count (unsharded for contrast),
// the shard count it needs and its verdict at the most shards the stage allows; the budget read
// at K, the shard count a deployment sized for the target sets (the default stays 8); webhooks
// with the circuit as it writes and reads now and as it did before.
import { DEFAULT_ADMISSION_CACHE_MS } from '../functions/domain/failover/breaker';
import { DEFAULT_INDEX_SHARDS, MAX_INDEX_SHARDS } from '../functions/domain/shards';
import type { MeasuredSizes } from './item-sizes';
import {
  checkKeyDistribution,
  containersFor,
  type KeyCheckOptions,
  PARTITION_READ_LIMIT,
  PARTITION_WRITE_LIMIT,
  SCOPES,
  SHARD_CANDIDATES,
  shardsForTarget,
  tableProjections,
} from './keys';
import { fmt } from './stats';
import { type TableRow, verdict } from './table';

export interface KeyTargets {
  handoversPerSecond: number;
  webhooksPerSecond: number;
  users: number;
  seconds: number;
  shards?: number;
}

/** The forwards' failure rate the webhook check assumes (the model's default). */
const FORWARD_FAILURE_RATE = 0.01;

const n0 = (v: number) => Math.round(v).toLocaleString('en-US');
const units = (v: number) => `${n0(v)} WCU/s`;

export const measureKeys = (measured: MeasuredSizes, targets: KeyTargets) => {
  const shards = targets.shards ?? DEFAULT_INDEX_SHARDS;
  const base = {
    users: targets.users,
    seconds: targets.seconds,
    sizes: measured.sizes,
    notificationsPerHandover: measured.notificationsPerHandover,
  };
  const handovers: KeyCheckOptions = {
    ...base,
    handoversPerSecond: targets.handoversPerSecond,
    webhooksPerSecond: 0,
    shards,
  };
  const webhooks: KeyCheckOptions = {
    ...base,
    handoversPerSecond: 0,
    webhooksPerSecond: targets.webhooksPerSecond,
    shards,
  };
  const atN = checkKeyDistribution(handovers);
  const unsharded = checkKeyDistribution({ ...handovers, shards: 1 });
  const sized = shardsForTarget(handovers);
  const hooks = checkKeyDistribution(webhooks);
  const hooksPerForward = checkKeyDistribution({ ...webhooks, circuitWrites: 'perForward' });
  return {
    shards,
    targets,
    measured,
    projections: tableProjections(),
    handovers: { atN, unsharded, ...sized },
    webhooks: {
      atN: hooks,
      perForward: hooksPerForward,
      containers: containersFor(targets.webhooksPerSecond),
      failureRate: FORWARD_FAILURE_RATE,
      admissionCacheMs: DEFAULT_ADMISSION_CACHE_MS,
    },
  };
};

export type KeysReport = ReturnType<typeof measureKeys>;

/** The rate at which a partition's load (linear in the rate) reaches the limit. */
const bindsAt = (rate: number, load: number, limit = PARTITION_WRITE_LIMIT) =>
  load > 0 ? (rate * limit) / load : Infinity;

const neededText = (n: number | null | undefined) =>
  n === null
    ? `> ${SHARD_CANDIDATES[SHARD_CANDIDATES.length - 1]}`
    : n === undefined
      ? '-'
      : String(n);

export const keyRows = (r: KeysReport): TableRow[] => {
  const rows: TableRow[] = [];
  const s = r.measured.sizes;
  const over = Object.entries(s).filter(([, b]) => b > 1024);
  rows.push({
    section: 'keys',
    check: `item sizes as written (metadata ${r.measured.metadataBytes} B; ${r.measured.notificationsPerHandover} outbox items per handover)`,
    subject: `owner ${s.ownerAtRest} B, with marker ${s.ownerMarked} B; record ${s.record} B; delivery ${s.deliveryClaimed}/${s.deliveryDone} B; outbox ${s.notificationPending}/${s.notificationSent} B (${s.notificationListed} B listed); circuit ${s.circuit} B`,
    floor: '-',
    result: over.length
      ? `over 1 KB: ${over.map(([k, b]) => `${k} ${b} B = ${Math.ceil(b / 1024)} units`).join(', ')}`
      : 'all under 1 KB',
    budget: 'charged by size (1 unit per KB started)',
    verdict: 'reported',
  });
  // The history indexes project every attribute: a record is written once, and one unit until its
  // metadata grows past what is left of a KB.
  const spare = 1024 - r.measured.recordWithoutMetadata;
  rows.push({
    section: 'keys',
    check: 'history indexes: ALL (the audit returns whole records) or all but metadata',
    subject: `record ${s.record} B, ${r.measured.recordWithoutMetadata} B without its metadata`,
    floor: '-',
    result: `one unit per index write either way up to ${spare} B of metadata (${r.measured.metadataBytes} B here); above it ALL costs a unit per KB, and leaving metadata out would cost a read per record listed`,
    budget: 'projection by the figures',
    verdict: 'reported',
  });
  const rate = r.targets.handoversPerSecond;
  const h = r.handovers;
  const projections = r.projections as Partial<Record<string, string>>;
  for (const scope of SCOPES) {
    const load = h.atN.byScope[scope];
    if (!load) continue;
    const flat = h.unsharded.byScope[scope];
    const max = h.atMax.byScope[scope];
    const projection = projections[scope] ? ` (${projections[scope]})` : '';
    rows.push({
      section: 'keys',
      check: `${n0(rate)} handovers/s, ${n0(r.targets.users)} users, N=${r.shards}: ${scope}${projection}`,
      subject: `${load.partition} ${units(load.unitsPerSecond)} (${n0(load.writesPerSecond)} writes)`,
      floor: flat ? `unsharded: ${units(flat.unitsPerSecond)}` : '-',
      result: `binds at ${n0(bindsAt(rate, load.unitsPerSecond))}/s; N needed ${neededText(h.needed[scope])}; at N=${MAX_INDEX_SHARDS}: ${max ? units(max.unitsPerSecond) : '-'}`,
      budget: `<= ${n0(PARTITION_WRITE_LIMIT)} WCU/s at N=${MAX_INDEX_SHARDS}`,
      verdict: verdict((max?.unitsPerSecond ?? 0) <= PARTITION_WRITE_LIMIT),
    });
  }
  // The budget: a deployment sized for the target sets indexShards to K (the default stays 8).
  const k = h.k ?? MAX_INDEX_SHARDS;
  rows.push({
    section: 'keys',
    check: `${n0(rate)} handovers/s, ${n0(r.targets.users)} users, indexShards ${k} (sized for the target; default ${r.shards}): hottest partition`,
    subject: `${h.atK.hottest.scope} ${h.atK.hottest.partition} ${units(h.atK.hottest.unitsPerSecond)}`,
    floor: `N=${r.shards}: ${h.atN.hottest.scope} ${units(h.atN.hottest.unitsPerSecond)}`,
    result: `K = ${h.k ?? `> ${MAX_INDEX_SHARDS}`}, the most any index needs`,
    budget: `<= ${n0(PARTITION_WRITE_LIMIT)} WCU/s`,
    verdict: verdict(h.k !== null && h.atK.within),
  });
  // DynamoDB's default on-demand quota per table and per index: the first scope to reach it.
  const TABLE_QUOTA = 40_000;
  const perEvent = (byScope: Partial<Record<string, number>>, events: number) =>
    Object.entries(byScope).map(([scope, u]) => ({ scope, perEvent: u! / events }));
  const quotaRow = (label: string, byScope: Partial<Record<string, number>>, events: number) => {
    const list = perEvent(byScope, events).sort((a, b) => b.perEvent - a.perEvent);
    const first = list[0]!;
    rows.push({
      section: 'keys',
      check: `table and index write quota (${n0(TABLE_QUOTA)} WRU/s each, on-demand default): ${label}`,
      subject: list.map((x) => `${x.scope} ${fmt(x.perEvent, 2)}`).join(', '),
      floor: '-',
      result: `first: ${first.scope} at ${n0(TABLE_QUOTA / first.perEvent)}/s`,
      budget: 'WRU per event, all partitions',
      verdict: 'reported',
    });
  };
  quotaRow('per handover', h.atN.unitsByScope, h.atN.totals.handovers);
  quotaRow('per webhook', r.webhooks.atN.unitsByScope, r.webhooks.atN.totals.webhooks);
  const whRate = r.targets.webhooksPerSecond;
  const w = r.webhooks;
  const circuitHot = (result: typeof w.atN) =>
    Object.entries(result.byScope)
      .map(([, load]) => load!)
      .filter((load) => load.partition.startsWith('CIRCUIT#'))
      .sort((a, b) => b.unitsPerSecond - a.unitsPerSecond)[0];
  const hot = circuitHot(w.atN);
  rows.push({
    section: 'keys',
    check: `${n0(whRate)} webhooks/s, ${n0(r.targets.users)} users, ${(w.failureRate * 100).toFixed(0)}% of forwards failing (assumed), ${n0(w.containers)} processor containers: hottest partition`,
    subject: `${w.atN.hottest.scope} ${w.atN.hottest.partition.slice(0, 40)} ${units(w.atN.hottest.unitsPerSecond)}`,
    floor: '-',
    result: `circuit writes ${n0(w.atN.circuit.writes)}/s for ${n0(w.atN.circuit.failures)} failed forwards/s; busiest circuit item ${hot ? `${hot.partition.slice(0, 40)} ${units(hot.unitsPerSecond)}` : 'none written'}`,
    budget: `<= ${n0(PARTITION_WRITE_LIMIT)} WCU/s`,
    verdict: verdict(w.atN.within),
  });
  // Reads: each container reuses its sight of a closed circuit for admissionCacheMs, so an item
  // every container forwards to takes about containers x 1000 / admissionCacheMs reads a second.
  const reads = w.atN.circuit.hottestReads;
  const readsBefore = w.perForward.circuit.hottestReads;
  const formula = (w.containers * 1000) / w.admissionCacheMs;
  rows.push({
    section: 'keys',
    check: `${n0(whRate)} webhooks/s, ${n0(w.containers)} processor containers (0.125 s of a container per webhook, assumed), admission read reused ${fmt(w.admissionCacheMs / 1000, 0)} s: busiest circuit item's reads`,
    subject: reads
      ? `${reads.partition.slice(0, 40)} ${n0(reads.readsPerSecond)} RCU/s (consistent, 1 unit each)`
      : 'none read',
    floor: readsBefore
      ? `a read per forward (before): ${readsBefore.partition.slice(0, 40)} ${n0(readsBefore.readsPerSecond)} RCU/s`
      : '-',
    result: `cache formula ${n0(w.containers)} containers x 1 read per ${fmt(w.admissionCacheMs / 1000, 0)} s = ${n0(formula)}/s (the rest: reads a failure's write needed); binds at ${n0(bindsAt(whRate, reads?.readsPerSecond ?? 0, PARTITION_READ_LIMIT))} webhooks/s`,
    budget: `<= ${n0(PARTITION_READ_LIMIT)} RCU/s`,
    verdict: verdict((reads?.readsPerSecond ?? 0) <= PARTITION_READ_LIMIT),
  });
  rows.push({
    section: 'keys',
    check: `${n0(whRate)} webhooks/s, ${n0(r.targets.users)} users, a circuit write per forward (before): hottest partition`,
    subject: `${w.perForward.hottest.scope} ${w.perForward.hottest.partition.slice(0, 40)} ${units(w.perForward.hottest.unitsPerSecond)}`,
    floor: '-',
    result: `binds at ${n0(bindsAt(whRate, w.perForward.hottest.unitsPerSecond))}/s`,
    budget: `<= ${n0(PARTITION_WRITE_LIMIT)} WCU/s`,
    verdict: 'reported',
  });
  return rows;
};
