// The processor's test world: callbacks as Parley sends them, the use case's deps over the store
// fakes with stand-ins for the handover use cases, and a downstream that answers from a script.
import type { CallbackDeps } from '../../../functions/domain/processor/deps';
import type { HandoverInput, HandoverResult } from '../../../functions/domain/handover/deps';
import { deliveryIdFor, parseCallback } from '../../../functions/domain/delivery';
import { performHandover } from '../../../functions/domain/handover/perform';
import type {
  Downstream,
  DownstreamResponse,
  Log,
  MetricsSink,
  QueuedCallback,
} from '../../../functions/domain/ports';
import type {
  DeliveryItem,
  HandoverRecord,
  OwnerItem,
  PendingHandover,
  ServiceInfo,
} from '../../../functions/domain/types';
import {
  AGENT,
  BOT,
  FakeCircuitStore,
  FakeHistoryStore,
  FakeParley,
  FakeStateStore,
  manualClock,
  sequentialIds,
  staticCatalog,
} from '../../support/fakes';

export const USER = '20';

export const BOT_URL = 'https://bot.example/hooks/parley?key=k1';

export const DESK_URL = 'https://desk.example/inbox';

export const BOT_SECRET = 'bot-signing-secret-0123456789';

export const TEXT = 'where is my parcel';

// ---------------------------------------------------------------- helpers
export const messageBody = (
  text = TEXT,
  id: number | string | null = 10737,
  userId: unknown = USER,
) =>
  JSON.stringify({
    type: 'message',
    body: {
      ...(id === null ? {} : { id }),
      message: text,
      time: 1536739259,
      typeId: 1,
      user: { id: userId, uniqueIdentifier: null, additionalInformation: null },
    },
  });

export const queued = (body: string, serviceId = BOT): QueuedCallback => ({
  serviceId,
  deliveryId: '',
  receivedAt: '2026-03-10T14:00:00.000Z',
  body,
});

export const idOf = (body: string, serviceId = BOT) =>
  deliveryIdFor(serviceId, body, parseCallback(body));

/** A fake downstream: records every post and answers from a per-URL script (default 200, empty). */
/** A delivery item as another attempt of the same delivery would have claimed it. */
export const messageDeliveryLike = (deliveryId: string): DeliveryItem => ({
  deliveryId,
  serviceId: BOT,
  userId: USER,
  type: 'message',
  receivedAt: '2026-03-10T13:59:00.000Z',
  state: 'in_progress',
  disposition: null,
  replyState: 'none',
  handoverId: null,
  leaseUntil: 0,
  expiresAt: 4_000_000_000,
});

export class FakeDownstream implements Downstream {
  readonly posts: {
    url: string;
    body: string;
    headers: Record<string, string>;
    timeoutMs: number;
  }[] = [];
  private readonly scripts = new Map<string, (DownstreamResponse | Error)[]>();

  answer(url: string, ...answers: (DownstreamResponse | Error)[]): void {
    this.scripts.set(url, [...(this.scripts.get(url) ?? []), ...answers]);
  }

  json(url: string, value: unknown): void {
    this.answer(url, { status: 200, body: JSON.stringify(value) });
  }

  async post(url: string, body: string, headers: Record<string, string>, timeoutMs: number) {
    this.posts.push({ url, body, headers, timeoutMs });
    const next = this.scripts.get(url)?.shift();
    if (next instanceof Error) throw next;
    return next ?? { status: 200, body: '' };
  }

  urls(): string[] {
    return this.posts.map((p) => p.url);
  }
}

export const record = (userId: string, from: string, to: string): HandoverRecord => ({
  handoverId: 'h0001',
  userId,
  seq: 1,
  fromOwner: from,
  toOwner: to,
  reason: null,
  metadata: null,
  metadataDigest: 'd'.repeat(64),
  requestedBy: from,
  source: 'downstream',
  status: 'completed',
  parley: { status: 200, code: null, durationMs: 5 },
  createdAt: '2026-03-10T14:00:00.000Z',
  prevHash: '0'.repeat(64),
  hash: 'a'.repeat(64),
});

export const ownerItem = (owner: string, pending: PendingHandover | null = null): OwnerItem => ({
  userId: USER,
  owner,
  version: 1,
  since: null,
  lastSeq: 0,
  lastHash: '0'.repeat(64),
  lastCreatedAt: null,
  lastHandoverId: null,
  pending,
  refreshedAt: '2026-03-10T13:00:00.000Z',
});

export const pendingTo = (toOwner: string): PendingHandover => ({
  draft: { ...record(USER, BOT, toOwner) },
  markedAt: '2026-03-10T13:59:50.000Z',
  actingService: BOT,
});

export const services = (): ServiceInfo[] => [
  {
    identification: BOT,
    name: 'Bot Service',
    role: 'bot',
    default: true,
    downstreamUrl: BOT_URL,
    rules: [
      { match: '(', newOwner: AGENT, reason: 'broken_rule' },
      { match: '\\b(human|medewerker)\\b', newOwner: AGENT, reason: 'user_requested_human' },
    ],
  },
  {
    identification: AGENT,
    name: 'Agent Service',
    role: 'agent',
    default: false,
    downstreamUrl: DESK_URL,
    rules: [],
  },
];

export const setup = (catalogServices = services()) => {
  const clock = manualClock();
  const state = new FakeStateStore();
  const parley = new FakeParley();
  const downstream = new FakeDownstream();
  const events: string[] = [];
  const logLines: unknown[] = [];
  const log: Log = {
    debug: (m, a) => logLines.push([m, a]),
    info: (m, a) => logLines.push([m, a]),
    warn: (m, a) => logLines.push([m, a]),
    error: (m, a) => logLines.push([m, a]),
  };
  const counts: [string, number, Record<string, string> | undefined][] = [];
  const metrics: MetricsSink = {
    count: (name, value = 1, dims) => counts.push([name, value, dims]),
    milliseconds: () => {},
    gauge: () => {},
  };
  const handoverCalls: HandoverInput[] = [];
  // The stand-in for performHandover: moves the user at the fake Parley and in the cache.
  let handoverImpl = async (input: HandoverInput): Promise<HandoverResult> => {
    const from = parley.ownerOf(input.userId);
    const to = input.newOwner;
    parley.owners.set(input.userId, to);
    state.owners.set(input.userId, { ...ownerItem(to), userId: input.userId });
    const service = catalogServices.find((s) => s.identification === to)!;
    return {
      changed: true,
      owner: { identification: to, name: service.name, default: service.default },
      handover: record(input.userId, from, to),
    };
  };
  const refreshCalls: [string, string][] = [];
  const recoverCalls: string[] = [];
  const history = new FakeHistoryStore();
  // The stand-in for recoverPending: clears the marker as if the handover had failed.
  let recoverImpl = async (userId: string): Promise<'none' | 'busy' | 'recovered'> => {
    const item = state.owners.get(userId);
    if (!item?.pending) return 'none';
    state.owners.set(userId, { ...item, pending: null, version: item.version + 1 });
    return 'recovered';
  };
  const deps: CallbackDeps = {
    state,
    catalog: staticCatalog(catalogServices),
    parley: (id) => {
      const client = parley.clients(id);
      return {
        ...client,
        sendMessage: (userId, text) => {
          events.push(`sendMessage as ${id}`);
          return client.sendMessage(userId, text);
        },
      };
    },
    downstream,
    clock,
    log,
    metrics,
    signingSecret: async (id) => (id === BOT ? BOT_SECRET : undefined),
    handover: (input) => {
      handoverCalls.push(input);
      events.push(`handover to ${input.newOwner}`);
      return handoverImpl(input);
    },
    refreshOwner: async (userId, asService) => {
      refreshCalls.push([userId, asService]);
      const item = { ...ownerItem(parley.ownerOf(userId)), userId };
      state.owners.set(userId, item);
      return { item, parleyOwner: item.owner };
    },
    recoverPending: async (userId) => {
      recoverCalls.push(userId);
      return recoverImpl(userId);
    },
    staleAfterMs: 60_000,
    downstreamTimeoutMs: 5000,
  };
  const setHandover = (impl: typeof handoverImpl) => {
    handoverImpl = impl;
  };
  const setRecover = (impl: typeof recoverImpl) => {
    recoverImpl = impl;
  };
  const delivery = (id: string): DeliveryItem | undefined => state.deliveries.get(id);
  const counted = (name: string) => counts.filter(([n]) => n === name);
  return {
    clock,
    state,
    parley,
    downstream,
    events,
    logLines,
    counts,
    counted,
    handoverCalls,
    refreshCalls,
    recoverCalls,
    history,
    deps,
    setHandover,
    setRecover,
    delivery,
  };
};

/** The attributes of the first log line with `message`. */
export const loggedWith = (lines: unknown[], message: string): unknown =>
  (lines as [string, unknown][]).find(([m]) => m === message)?.[1];

export const rejection = async (promise: Promise<unknown>): Promise<unknown> => {
  try {
    await promise;
  } catch (err) {
    return err;
  }
  throw new Error('expected a rejection');
};

/** The real handover use case on the callback's fakes, instead of the stand-in. */
export const withRealHandover = (t: ReturnType<typeof setup>): FakeHistoryStore => {
  const history = new FakeHistoryStore();
  const ids = sequentialIds();
  t.setHandover((input) =>
    performHandover(input, {
      parley: t.parley.clients,
      history,
      state: t.state,
      catalog: t.deps.catalog,
      clock: t.clock,
      ids,
      log: t.deps.log,
      metrics: t.deps.metrics,
      staleAfterMs: 60_000,
    }),
  );
  return history;
};

/**
 * The processor with failover on: the real handover use case (records in `history`), the
 * circuits in a fake store, the agent desk failing over to the default Service (the bot).
 */
export const failoverWorld = (catalogServices = services()) => {
  const t = setup(catalogServices);
  const history = new FakeHistoryStore();
  const circuits = new FakeCircuitStore();
  const ids = sequentialIds();
  t.setHandover((input) =>
    performHandover(input, {
      parley: t.parley.clients,
      history,
      state: t.state,
      catalog: t.deps.catalog,
      clock: t.clock,
      ids,
      log: t.deps.log,
      metrics: t.deps.metrics,
      staleAfterMs: 60_000,
    }),
  );
  t.deps.failover = { circuits, history };
  // The user is the agent desk's, at Parley and in the cache; Parley routes to its webhook.
  t.parley.owners.set(USER, AGENT);
  t.state.owners.set(USER, ownerItem(AGENT));
  return { ...t, history, circuits };
};
