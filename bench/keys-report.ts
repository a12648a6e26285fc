// The key-distribution section of the report: the item sizes the code writes, then the hottest
// partition of every index at the target rates with the configured shard count, the shard count
// each index would need, and the unsharded keys for contrast.
import { DEFAULT_INDEX_SHARDS } from '../functions/domain/shards';
import type { MeasuredSizes } from './item-sizes';
import {
  checkKeyDistribution,
  type KeyCheckOptions,
  PARTITION_WRITE_LIMIT,
  SCOPES,
  SHARD_CANDIDATES,
  shardsNeeded,
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

const n0 = (v: number) => Math.round(v).toLocaleString('en-US');
const units = (v: number) => `${n0(v)} WCU/s`;

/** The state indexes that could project keys only: their readers need nothing else. */
const KEYS_ONLY = {
  'state.byPendingSince': 'KEYS_ONLY',
  'state.byOwner': 'KEYS_ONLY',
  'state.byNotificationStatus': 'KEYS_ONLY',
} as const;

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
  const needed = shardsNeeded(handovers);
  const keysOnly = checkKeyDistribution({ ...handovers, projections: KEYS_ONLY });
  const keysOnlyNeeded = shardsNeeded({ ...handovers, projections: KEYS_ONLY });
  const hooks = checkKeyDistribution(webhooks);
  const hooksNoCircuit = checkKeyDistribution({ ...webhooks, circuitPerForward: false });
  return {
    shards,
    targets,
    measured,
    handovers: { atN, unsharded, needed, keysOnly, keysOnlyNeeded },
    webhooks: { atN: hooks, withoutCircuit: hooksNoCircuit },
  };
};

export type KeysReport = ReturnType<typeof measureKeys>;

/** The rate at which a partition's load (linear in the rate) reaches the limit. */
const bindsAt = (rate: number, load: number) =>
  load > 0 ? (rate * PARTITION_WRITE_LIMIT) / load : Infinity;

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
    subject: `owner ${s.ownerAtRest} B, with marker ${s.ownerMarked} B; record ${s.record} B; delivery ${s.deliveryClaimed}/${s.deliveryDone} B; outbox ${s.notificationPending}/${s.notificationSent} B; circuit ${s.circuit} B`,
    floor: '-',
    result: over.length
      ? `over 1 KB: ${over.map(([k, b]) => `${k} ${b} B = ${Math.ceil(b / 1024)} units`).join(', ')}`
      : 'all under 1 KB',
    budget: 'charged by size (1 unit per KB started)',
    verdict: 'reported',
  });
  const rate = r.targets.handoversPerSecond;
  const at = r.handovers.atN;
  for (const scope of SCOPES) {
    const load = at.byScope[scope];
    if (!load) continue;
    const flat = r.handovers.unsharded.byScope[scope];
    rows.push({
      section: 'keys',
      check: `${n0(rate)} handovers/s, ${n0(r.targets.users)} users, N=${r.shards}: ${scope}`,
      subject: `${load.partition} ${units(load.unitsPerSecond)} (${n0(load.writesPerSecond)} writes)`,
      floor: flat ? `unsharded: ${units(flat.unitsPerSecond)}` : '-',
      result: `binds at ${n0(bindsAt(rate, load.unitsPerSecond))}/s; N needed ${neededText(r.handovers.needed[scope])}`,
      budget: `<= ${n0(PARTITION_WRITE_LIMIT)} WCU/s`,
      verdict: verdict(load.unitsPerSecond <= PARTITION_WRITE_LIMIT),
    });
  }
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
      subject: list.map((x) => `${x.scope} ${fmt(x.perEvent, 1)}`).join(', '),
      floor: '-',
      result: `first: ${first.scope} at ${n0(TABLE_QUOTA / first.perEvent)}/s`,
      budget: 'WRU per event, all partitions',
      verdict: 'reported',
    });
  };
  quotaRow('per handover', at.unitsByScope, at.totals.handovers);
  quotaRow('per webhook', r.webhooks.atN.unitsByScope, r.webhooks.atN.totals.webhooks);
  const ko = r.handovers.keysOnly;
  const koNeeded = Object.entries(r.handovers.keysOnlyNeeded)
    .filter(([scope]) => scope in KEYS_ONLY)
    .map(([scope, n]) => `${scope.replace('state.', '')} ${neededText(n)}`)
    .join(', ');
  rows.push({
    section: 'keys',
    check: `${n0(rate)} handovers/s, N=${r.shards}, state indexes projecting keys only`,
    subject: `${ko.hottest.scope} ${ko.hottest.partition} ${units(ko.hottest.unitsPerSecond)}`,
    floor: '-',
    result: `N needed: ${koNeeded}`,
    budget: `<= ${n0(PARTITION_WRITE_LIMIT)} WCU/s`,
    verdict: 'reported',
  });
  const whRate = r.targets.webhooksPerSecond;
  for (const [label, result] of [
    ['', r.webhooks.atN],
    [' without the circuit write per forward', r.webhooks.withoutCircuit],
  ] as const) {
    rows.push({
      section: 'keys',
      check: `${n0(whRate)} webhooks/s, ${n0(r.targets.users)} users${label}: hottest partition`,
      subject: `${result.hottest.scope} ${result.hottest.partition.slice(0, 40)} ${units(result.hottest.unitsPerSecond)}`,
      floor: '-',
      result: `binds at ${n0(bindsAt(whRate, result.hottest.unitsPerSecond))}/s`,
      budget: `<= ${n0(PARTITION_WRITE_LIMIT)} WCU/s`,
      verdict: label ? 'reported' : verdict(result.within),
    });
  }
  return rows;
};
