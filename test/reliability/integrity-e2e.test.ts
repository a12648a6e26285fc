// Integrity end to end under latency: users driven at once through the local stack (gateway, queue,
// processor, dynalite, the reconcile function) against a Parley simulator that answers late: GET
// owner reads early and answers late, PUT owner applies and then answers late, some PUTs apply and
// then fail. Per user, concurrently: handovers by the owning Service, auditor owner reads, and user
// messages that Parley delivers to the webhook, whose downstream programs sometimes answer with a
// handover (and a bot rule hands over on "human"). After quiescence (every lane done, the queue
// drained, nothing in flight at Parley, reconcile run), the invariants are checked against the
// simulator's own log (changes applied, messages routed) and the downstream programs' logs:
// - one `completed` record per change Parley applied, in order; `observed` only for changes made
//   outside this service (none here); the owner cache equals Parley at rest, chain intact;
// - every authentic message forwarded to exactly one Service that owned the user between Parley
//   routing it and the forward arriving (or, when it caused a handover, then to the new owner), or
//   quarantined with its reason; never lost, never `standby`.
import { messageCallback } from '../../local/parley-sim/callback-body';
import { createHash } from 'node:crypto';
import { ScanCommand } from '@aws-sdk/lib-dynamodb';
import type { HandoverRecord } from '../../functions/domain/types';
import { verifyUserChain } from '../../functions/domain/chain';
import type { LogAttributes } from '../../functions/domain/ports';
import {
  type Forward,
  type ForwardAnswer,
  startForwardReceiver,
} from '../../local/forward-receiver';
import {
  type FaultRule,
  type LatencyRule,
  type SimLogEntry,
  seededRandom,
} from '../../local/parley-sim';
import { parseServicesFile, tokensOf } from '../../local/services-file';
import {
  AGENT_SERVICE_ID as AGENT,
  BOT_SERVICE_ID as BOT,
  generateSimulatorServicesFile,
  type LocalStack,
  startLocalStack,
  TABLES,
} from '../../local/stack';
import { eventually, http } from '../local/support';
import { historyOf, reportFigures } from '../support/reliability';

const USERS = Number(process.env.E2E_USERS ?? 20);
const HANDOVERS_PER_USER = 3;
const MESSAGES_PER_USER = 4;
const READS_PER_USER = 3;
/** Authentic callbacks the processor cannot understand (a user id with '/'): quarantined. */
const GARBAGE = 2;
const SEED = 2026;
/** Deferred callbacks wait at most 1+2+4+8+16 s for a handover in flight; then it is stuck. */
const DRAIN_MS = Number(process.env.E2E_DRAIN_MS ?? 40_000);

// A slow Parley: reads that answer what they read up to 200 ms earlier, writes that apply and
// answer up to 250 ms later, all below the client's 3 s attempt timeout.
const LATENCY: LatencyRule[] = [
  { route: 'getOwner', request: { jitterMs: 30 }, response: { fixedMs: 20, jitterMs: 180 } },
  {
    route: 'putOwner',
    request: { fixedMs: 10, jitterMs: 60 },
    response: { fixedMs: 20, jitterMs: 230 },
  },
  { route: 'messages', request: { jitterMs: 20 }, response: { jitterMs: 20 } },
  { route: 'agentUnset', request: { jitterMs: 20 }, response: { jitterMs: 20 } },
];
const FAULTS: FaultRule[] = [{ route: 'putOwner', applyThenFailRate: 0.15 }];

const NAMES: Record<string, string> = { [BOT]: 'Bot', [AGENT]: 'Agent' };
const name = (id: string | null | undefined) => (id ? (NAMES[id] ?? id) : String(id));
const other = (id: string) => (id === BOT ? AGENT : BOT);
/** A handover answer's newOwner as the programs write it. */
const resolve = (newOwner: string | undefined) =>
  newOwner === 'Agent Service' ? AGENT : newOwner === 'default' ? BOT : newOwner;

type Change = Extract<SimLogEntry, { kind: 'change' }>;
type Routed = Extract<SimLogEntry, { kind: 'callback' }>;
type Request = Extract<SimLogEntry, { kind: 'request' }>;

/** A downstream program's own log: what it received, when, and what it answered. */
interface Received {
  at: number;
  serviceId: string;
  forward: Forward;
  answer: ForwardAnswer;
}

interface CapturedLog {
  at: number;
  level: string;
  message: string;
  attributes?: LogAttributes;
}

/** A deterministic draw per delivery and program, so a replayed run answers the same. */
const chance = (key: string): number => {
  let h = SEED;
  for (const ch of key) h = Math.imul(h ^ ch.charCodeAt(0), 0x01000193) >>> 0;
  return seededRandom(h)();
};

const messageIdOf = (body: unknown): number | undefined => {
  const id = (body as { body?: { id?: unknown } } | null)?.body?.id;
  return typeof id === 'number' ? id : undefined;
};

describe('integrity end to end under latency', () => {
  const settings = parseServicesFile(generateSimulatorServicesFile());
  const tokens = tokensOf(settings);
  const tokenOf = (id: string, kind: 'apiToken' | 'callbackToken') => tokens.services[id]![kind];
  const received: Received[] = [];
  const logs: CapturedLog[] = [];
  let stack: LocalStack;
  let programs: { close(): Promise<void> }[] = [];

  const program = async (serviceId: string, decide: (f: Forward) => ForwardAnswer) => {
    return startForwardReceiver({
      signingSecret: tokens.services[serviceId]!.signingSecret!,
      onForward: async (forward) => {
        const answer = decide(forward);
        received.push({ at: Date.now(), serviceId, forward, answer });
        return answer;
      },
    });
  };

  beforeAll(async () => {
    // The bot gives up on some users; the desk hands some back. A forward that follows a handover
    // is answered plainly (the new owner just got the user).
    const bot = await program(BOT, (f) =>
      !f.handover && chance(`bot:${f.deliveryId}`) < 0.3
        ? { handover: { newOwner: 'Agent Service', metadata: { reason: 'bot_gave_up' } } }
        : {},
    );
    const desk = await program(AGENT, (f) =>
      !f.handover && chance(`desk:${f.deliveryId}`) < 0.3
        ? { handover: { newOwner: 'default', metadata: { reason: 'resolved' } } }
        : {},
    );
    programs = [bot, desk];
    const capture =
      (level: string) =>
      (message: string, attributes?: LogAttributes): void => {
        logs.push({ at: Date.now(), level, message, attributes });
      };
    stack = await startLocalStack({
      settings,
      downstreamUrls: { [BOT]: bot.url, [AGENT]: desk.url },
      reconcileIntervalMs: 0,
      simulator: { faults: FAULTS, randomSeed: SEED, latency: LATENCY, latencySeed: SEED },
      queue: { pollIntervalMs: 20 },
      log: {
        debug: () => undefined,
        info: capture('info'),
        warn: capture('warn'),
        error: capture('error'),
      },
    });
  });

  afterAll(async () => {
    await stack?.close();
    await Promise.all(programs.map((p) => p.close()));
  });

  it('keeps one record per change, the cache equal to Parley, and every message delivered once', async () => {
    const sim = stack.parley!;
    const t0 = Date.now();
    const users = Array.from({ length: USERS }, (_, i) => `e2e-${i}`);
    const unexpected: string[] = [];
    const answers: Record<string, number> = {};
    const count = (key: string) => {
      answers[key] = (answers[key] ?? 0) + 1;
    };

    const handovers = async (userId: string) => {
      for (let step = 0; step < HANDOVERS_PER_USER; step++) {
        // The caller is the Service that owns the user at Parley, as a real program would be.
        const owner = sim.ownerOf(userId);
        const res = await http(`${stack.url}/handovers`, {
          token: tokenOf(owner, 'apiToken'),
          body: { userId, newOwner: other(owner), metadata: { reason: 'lane', step } },
        });
        const key =
          res.status === 200
            ? `200 changed=${res.body.changed}`
            : `${res.status} ${res.body?.error?.code}`;
        count(`handover ${key}`);
        if (![200, 403, 409].includes(res.status)) unexpected.push(`${userId} handover: ${key}`);
      }
    };
    const ownerReads = async (userId: string) => {
      for (let i = 0; i < READS_PER_USER; i++) {
        const res = await http(`${stack.url}/users/${encodeURIComponent(userId)}/owner`, {
          token: tokens.auditor!.token,
        });
        count(`read ${res.status}`);
        if (res.status !== 200 || ![BOT, AGENT].includes(res.body.owner?.identification)) {
          unexpected.push(`${userId} owner read: ${res.status} ${JSON.stringify(res.body)}`);
        }
      }
    };
    const messages = async (userId: string, index: number) => {
      for (let i = 0; i < MESSAGES_PER_USER; i++) {
        const text =
          i === 1 && index % 3 === 0
            ? 'Can I talk to a human please?'
            : `Where is my order ${index}-${i}?`;
        const result = await sim.sendUserMessage(userId, text);
        if (!result.delivered)
          unexpected.push(`${userId} message ${i} not accepted by the webhook`);
      }
    };
    const garbage = async (i: number) => {
      const res = await http(`${stack.url}/webhooks/parley/${BOT}`, {
        token: tokenOf(BOT, 'callbackToken'),
        body: garbageBody(i),
      });
      if (res.status !== 200) unexpected.push(`garbage callback ${i}: ${res.status}`);
    };

    await Promise.all([
      ...users.flatMap((u, i) => [handovers(u), ownerReads(u), messages(u, i)]),
      ...Array.from({ length: GARBAGE }, (_, i) => garbage(i)),
    ]);
    expect(unexpected).toEqual([]);

    // Quiescence: the queue drained (deferred callbacks included), nothing in flight at Parley. A
    // queue that does not drain is reported with the rest (which users, what is left).
    const idle = async () => {
      const q = await stack.queue.stats();
      return q.visible === 0 && q.inFlight === 0 && sim.inFlight().length === 0 ? q : undefined;
    };
    const drained = await eventually('the queue to drain', idle, DRAIN_MS).catch(() => undefined);
    const reconciled = (await stack.reconcileNow()) as { failed: unknown[] };
    const queue = (drained && (await idle())) || (await stack.queue.stats());
    const left = drained ? [] : await stack.queue.list();

    // ------------------------------------------------------------ what happened, from the logs
    const log = sim.log();
    const changes = log.filter((e): e is Change => e.kind === 'change');
    const routed = log.filter(
      (e): e is Routed =>
        e.kind === 'callback' && e.status === 200 && messageIdOf(e.body) !== undefined,
    );
    const deliveries = await deliveryItems(stack);
    const records = new Map<string, HandoverRecord[]>();
    for (const u of users) records.set(u, await historyOf(stack.deps.history, u));

    const problems: string[] = [];
    // The first user to break each invariant, for the timelines printed on a failure.
    const firstBreak = new Map<string, string>();
    const problem = (userId: string, invariant: string, detail: string) => {
      if (!firstBreak.has(invariant)) firstBreak.set(invariant, userId);
      problems.push(`${userId} [${invariant}] ${detail}`);
    };
    if (reconciled.failed.length > 0) {
      problems.push(`[reconcile] failed for ${JSON.stringify(reconciled.failed)}`);
    }
    if (queue.dlq > 0) problems.push(`[no message in the DLQ] ${queue.dlq} in the DLQ`);
    for (const m of left) {
      problem(
        m.groupId.replace(/^user-/, ''),
        'queue drains',
        `message ${m.dedupId} still queued after ${DRAIN_MS / 1000} s (received ${m.receiveCount} times)`,
      );
    }

    for (const userId of users) {
      const applied = changes.filter((c) => c.userId === userId);
      const history = records.get(userId)!;
      const made = history.filter((r) => r.status === 'completed' && r.source !== 'observed');
      const line = (pairs: [string, string][]) =>
        pairs.map(([f, t]) => `${name(f)}>${name(t)}`).join(', ') || 'none';
      const appliedLine = line(applied.map((c) => [c.from, c.to]));
      const recordedLine = line(made.map((r) => [r.fromOwner ?? '', r.toOwner]));
      if (appliedLine !== recordedLine) {
        problem(
          userId,
          'one record per change',
          `Parley applied ${appliedLine}; recorded ${recordedLine}`,
        );
      }
      for (const r of history.filter((x) => x.source === 'observed')) {
        problem(
          userId,
          'observed only for outside changes',
          `seq ${r.seq} observed ${name(r.fromOwner)}>${name(r.toOwner)}, but nobody changed the owner outside this service`,
        );
      }
      let current = BOT;
      for (const r of history) {
        if (r.fromOwner !== current) {
          problem(
            userId,
            'one line of owners',
            `seq ${r.seq} from ${name(r.fromOwner)}, but the owner was ${name(current)}`,
          );
        }
        if (r.status === 'completed') current = r.toOwner;
      }
      const item = await stack.deps.state.getOwner(userId);
      if (!item) {
        problem(userId, 'cache equals Parley', 'no owner item');
      } else {
        if (item.pending)
          problem(
            userId,
            'cache equals Parley',
            `pending marker left (seq ${item.pending.draft.seq})`,
          );
        if (item.owner !== sim.ownerOf(userId)) {
          problem(
            userId,
            'cache equals Parley',
            `cache ${name(item.owner)}, Parley ${name(sim.ownerOf(userId))}`,
          );
        }
        if (item.lastSeq !== history.length) {
          problem(
            userId,
            'cache equals Parley',
            `lastSeq ${item.lastSeq}, ${history.length} records`,
          );
        }
        const chain = await verifyUserChain(userId, stack.deps.history, item);
        if (!chain.ok) problem(userId, 'chain', JSON.stringify(chain.firstBroken));
      }

      // Messages: the owner when Parley routed it, or the new owner after a handover it caused.
      const ownedBetween = (serviceId: string, from: number, to: number) => {
        let owner = BOT;
        for (const c of applied) {
          const at = Date.parse(c.at);
          if (at <= from) owner = c.to;
          else if (at <= to && c.to === serviceId) return true;
        }
        return owner === serviceId;
      };
      for (const r of routed.filter((x) => x.userId === userId)) {
        const id = messageIdOf(r.body)!;
        const deliveryId = `${r.serviceId}#message#${id}`;
        const item = deliveries.get(deliveryId);
        const got = firstPerService(received.filter((x) => messageIdOf(x.forward.callback) === id));
        const routedAt = Date.parse(r.routedAt);
        const where = `message ${id} routed to ${name(r.serviceId)} at +${routedAt - t0} ms`;
        if (got.length === 0) {
          problem(
            userId,
            'every message delivered',
            `${where}: forwarded to nobody (delivery ${item?.state ?? 'missing'}, ${item?.disposition ?? 'no disposition'})`,
          );
          continue;
        }
        const caused = history.find(
          (x) => x.handoverId === item?.handoverId && x.status === 'completed',
        );
        // Two Services only when the first one passed the user on: the handover this message
        // caused moved the user, or the first program asked for the Service that owns it by then.
        const [first, second] = got as [Received, Received | undefined];
        const passedOn =
          second !== undefined &&
          second.forward.handover?.fromOwner === first.serviceId &&
          ((caused?.fromOwner === first.serviceId && caused.toOwner === second.serviceId) ||
            resolve(first.answer.handover?.newOwner) === second.serviceId);
        const valid = got.length === 1 || (got.length === 2 && passedOn);
        if (!valid) {
          problem(
            userId,
            'forwarded to exactly one Service',
            `${where}: forwarded to ${got.map((g) => name(g.serviceId)).join(' then ')}${caused ? ` (its handover: ${name(caused.fromOwner)}>${name(caused.toOwner)})` : ''}`,
          );
        }
        for (const g of got) {
          if (!ownedBetween(g.serviceId, routedAt, g.at)) {
            problem(
              userId,
              'never the old owner',
              `${where}: forwarded to ${name(g.serviceId)} at +${g.at - t0} ms, which did not own the user in between`,
            );
          }
        }
        if (item?.disposition === 'standby')
          problem(userId, 'never standby', `${where}: delivery recorded standby`);
      }
    }
    const quarantined = [...deliveries.values()].filter((d) => d.disposition === 'quarantined');
    for (let i = 0; i < GARBAGE; i++) {
      const deliveryId = garbageDeliveryId(i);
      const d = deliveries.get(deliveryId);
      const line = logs.find(
        (l) => l.message === 'callback quarantined' && l.attributes?.deliveryId === deliveryId,
      );
      if (d?.disposition !== 'quarantined' || typeof line?.attributes?.reason !== 'string') {
        problem(
          `a/${i}`,
          'quarantined with its reason',
          `${deliveryId}: ${d?.disposition ?? 'no delivery item'}, reason ${String(line?.attributes?.reason)}`,
        );
      }
    }

    if (problems.length > 0) {
      for (const userId of new Set(firstBreak.values())) {
        const garbageKey = /^a\/(\d+)$/.exec(userId);
        const extra = garbageKey ? [garbageDeliveryId(Number(garbageKey[1]))] : [];
        process.stdout.write(
          story(userId, t0, log, records.get(userId) ?? [], received, logs, extra),
        );
      }
    }
    expect(problems).toEqual([]);

    // ------------------------------------------------------------ figures, counted from the logs
    const all = [...records.values()].flat();
    const reads = log.filter(
      (e): e is Request =>
        e.kind === 'request' && e.method === 'GET' && /\/owner$/.test(e.path) && e.status === 200,
    );
    const staleReads = reads.filter((r) => {
      const user = r.path.split('/')[1];
      return changes.some((c) => c.userId === user && c.at > r.appliedAt! && c.at <= r.at);
    });
    reportFigures(
      'integrity-e2e',
      {
        users: new Set(routed.map((r) => r.userId)).size,
        parleyChanges: changes.length,
        recordsCompleted: all.filter((r) => r.status === 'completed' && r.source !== 'observed')
          .length,
        recordsFailed: all.filter((r) => r.status === 'failed').length,
        bySource: JSON.stringify(
          countBy(
            all.filter((r) => r.status === 'completed'),
            (r) => r.source,
          ),
        ),
        observedRecords: all.filter((r) => r.source === 'observed').length,
        applyThenFail: log.filter((e) => e.kind === 'request' && e.fault === 'applyThenFail')
          .length,
        ownerReads: reads.length,
        staleOwnerAnswers: staleReads.length,
        messagesRouted: routed.length,
        forwards: new Set(received.map((r) => `${r.serviceId} ${r.forward.deliveryId}`)).size,
        forwardsAfterHandover: received.filter((r) => r.forward.handover !== undefined).length,
        deferred: logs.filter((l) => l.message === 'callback deferred').length,
        quarantined: quarantined.length,
        standby: [...deliveries.values()].filter((d) => d.disposition === 'standby').length,
        dlq: queue.dlq,
        answers: JSON.stringify(answers),
        seconds: Math.round((Date.now() - t0) / 100) / 10,
      },
      {
        drives: `${USERS} users at once through the local stack with a simulator that reads early and answers late, applies and answers late, and applies some PUTs then fails`,
        proved: `${changes.length} changes applied at Parley, each with exactly one completed record and no observed one; ${routed.length} messages each forwarded to one Service that owned the user (then to the new owner after a handover it caused); the cache equal to Parley for every user`,
      },
    );
  }, 120_000);
});

/** An authentic callback the processor cannot route: a user id with '/'. */
function garbageBody(i: number): string {
  return JSON.stringify(
    messageCallback({ userId: `a/${i}`, id: 990_000 + i, text: 'x', time: 1_700_000_000 }),
  );
}

/** DESIGN.md: a callback the processor cannot understand is named by its body's hash. */
function garbageDeliveryId(i: number): string {
  return `${BOT}#${createHash('sha256').update(garbageBody(i)).digest('hex')}`;
}

/** Each Service's first receipt of a message, in arrival order (repeats of a delivery dropped). */
function firstPerService(list: Received[]): Received[] {
  const seen = new Map<string, Received>();
  for (const r of [...list].sort((a, b) => a.at - b.at)) {
    if (!seen.has(r.serviceId)) seen.set(r.serviceId, r);
  }
  return [...seen.values()];
}

function countBy<T>(list: T[], key: (t: T) => string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const t of list) out[key(t)] = (out[key(t)] ?? 0) + 1;
  return out;
}

interface DeliveryRow {
  deliveryId: string;
  state: string;
  disposition: string | null;
  handoverId: string | null;
}

/** The processor's delivery items, by delivery id (read straight from the state table). */
async function deliveryItems(stack: LocalStack): Promise<Map<string, DeliveryRow>> {
  const out = new Map<string, DeliveryRow>();
  let startKey: Record<string, unknown> | undefined;
  do {
    const page = await stack.dynamo.client.send(
      new ScanCommand({
        TableName: TABLES.state,
        FilterExpression: 'begins_with(pk, :cb)',
        ExpressionAttributeValues: { ':cb': 'CB#' },
        ExclusiveStartKey: startKey,
      }),
    );
    for (const item of page.Items ?? []) {
      const row = item as DeliveryRow;
      out.set(row.deliveryId, row);
    }
    startKey = page.LastEvaluatedKey;
  } while (startKey);
  return out;
}

/** One user's timeline, for a failure: Parley's changes, reads and routings, the forwards, the records. */
function story(
  userId: string,
  t0: number,
  log: SimLogEntry[],
  history: HandoverRecord[],
  received: Received[],
  logs: CapturedLog[],
  extraKeys: string[] = [],
): string {
  const lines: [number, string][] = [];
  const at = (iso: string) => Date.parse(iso) - t0;
  const ownerAt = (ms: number) => {
    let owner = BOT;
    for (const e of log) {
      if (e.kind === 'change' && e.userId === userId && at(e.at) <= ms) owner = e.to;
    }
    return owner;
  };
  for (const e of log) {
    if (e.kind === 'change' && e.userId === userId) {
      lines.push([at(e.at), `parley change ${name(e.from)}>${name(e.to)} by ${name(e.by)}`]);
    } else if (e.kind === 'request' && e.path.startsWith(`users/${userId}/`)) {
      const read =
        e.method === 'GET' && e.appliedAt
          ? ` read ${name(ownerAt(at(e.appliedAt)))} at +${at(e.appliedAt)}`
          : '';
      const to = (e.body as { newOwner?: string } | null)?.newOwner;
      lines.push([
        at(e.at),
        `parley ${e.method} ${e.path.split('/').slice(2).join('/')} by ${name(e.caller)}${to ? ` to ${name(to)}` : ''} -> ${e.status}${e.fault ? ` (${e.fault})` : ''}${read}`,
      ]);
    } else if (e.kind === 'callback' && e.userId === userId) {
      lines.push([
        at(e.routedAt),
        `parley routes message ${messageIdOf(e.body)} to ${name(e.serviceId)} (webhook ${e.status})`,
      ]);
    }
  }
  for (const r of received.filter((x) => x.forward.userId === userId)) {
    const after = r.forward.handover
      ? ` after a handover from ${name(r.forward.handover.fromOwner)}`
      : '';
    const answer = r.answer.handover ? ` answers handover to ${r.answer.handover.newOwner}` : '';
    lines.push([
      r.at - t0,
      `${name(r.serviceId)} program gets message ${messageIdOf(r.forward.callback)}${after}${answer}`,
    ]);
  }
  for (const r of history) {
    lines.push([
      at(r.createdAt),
      `record seq ${r.seq} ${r.source} ${name(r.fromOwner)}>${name(r.toOwner)} ${r.status}${r.parley?.code ? ` (${r.parley.code})` : ''}`,
    ]);
  }
  // The service's own log lines about this user, its deliveries and its handovers.
  const keys = new Set<string>([userId, ...history.map((r) => r.handoverId), ...extraKeys]);
  for (const r of received) if (r.forward.userId === userId) keys.add(r.forward.deliveryId);
  for (const e of log) {
    if (e.kind === 'callback' && e.userId === userId) {
      keys.add(`${e.serviceId}#message#${messageIdOf(e.body)}`);
    }
  }
  for (const l of logs) {
    const attrs = l.attributes ?? {};
    const about = Object.values(attrs).some((v) => typeof v === 'string' && keys.has(v));
    if (!about || l.message === 'parley call') continue;
    const { deliveryId, handoverId, userId: _user, ...rest } = attrs;
    lines.push([l.at - t0, `log ${l.level} ${l.message} ${JSON.stringify(rest)}`]);
  }
  lines.sort((a, b) => a[0] - b[0]);
  return `\n--- ${userId}\n${lines.map(([ms, text]) => `  +${ms} ms  ${text}`).join('\n')}\n`;
}
