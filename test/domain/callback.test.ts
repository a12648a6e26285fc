import { createHash } from 'node:crypto';
import {
  type CallbackDeps,
  DEFER_MS,
  DeliveryBusyError,
  DownstreamError,
  type HandoverInput,
  type HandoverResult,
  deliveryIdFor,
  groupIdFor,
  matchRule,
  parseCallback,
  processCallback,
  verifyForwardSignature,
} from '../../functions/domain/callback';
import {
  DeliveryDeferredError,
  HandoverInProgressError,
  IdempotencyKeyReusedError,
  NotOwnerError,
  ParleyApiError,
  ParleyTimeoutError,
  UnknownServiceError,
} from '../../functions/domain/errors';
import { performHandover } from '../../functions/domain/handover';
import { MAX_RULE_TEXT } from '../../functions/domain/rules';
import { isValidUserId, MAX_USER_ID_LENGTH } from '../../functions/domain/user-id';
import { DownstreamTransportError } from '../../functions/adapters/downstream';
import type {
  Downstream,
  DownstreamResponse,
  Log,
  MetricsSink,
  QueuedCallback,
} from '../../functions/domain/ports';
import type {
  DeliveryItem,
  HandoverRecord,
  OwnerItem,
  PendingHandover,
  ServiceInfo,
} from '../../functions/domain/types';
import {
  AGENT,
  BOT,
  FakeHistoryStore,
  FakeParley,
  FakeStateStore,
  manualClock,
  sequentialIds,
  staticCatalog,
} from '../support/fakes';

const USER = '20';
const BOT_URL = 'https://bot.example/hooks/parley?key=k1';
const DESK_URL = 'https://desk.example/inbox';
const BOT_SECRET = 'bot-signing-secret-0123456789';
const TEXT = 'where is my parcel';

// ---------------------------------------------------------------- helpers

const messageBody = (text = TEXT, id: number | string | null = 10737, userId: unknown = USER) =>
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

const queued = (body: string, serviceId = BOT): QueuedCallback => ({
  serviceId,
  deliveryId: '',
  receivedAt: '2026-03-10T14:00:00.000Z',
  body,
});

const idOf = (body: string, serviceId = BOT) => deliveryIdFor(serviceId, body, parseCallback(body));

/** A fake downstream: records every post and answers from a per-URL script (default 200, empty). */
/** A delivery item as another attempt of the same delivery would have claimed it. */
const messageDeliveryLike = (deliveryId: string): DeliveryItem => ({
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

class FakeDownstream implements Downstream {
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

const record = (userId: string, from: string, to: string): HandoverRecord => ({
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

const ownerItem = (owner: string, pending: PendingHandover | null = null): OwnerItem => ({
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

const pendingTo = (toOwner: string): PendingHandover => ({
  draft: { ...record(USER, BOT, toOwner) },
  markedAt: '2026-03-10T13:59:50.000Z',
  actingService: BOT,
});

const services = (): ServiceInfo[] => [
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

const setup = (catalogServices = services()) => {
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
      return item;
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
const loggedWith = (lines: unknown[], message: string): unknown =>
  (lines as [string, unknown][]).find(([m]) => m === message)?.[1];

const rejection = async (promise: Promise<unknown>): Promise<unknown> => {
  try {
    await promise;
  } catch (err) {
    return err;
  }
  throw new Error('expected a rejection');
};

// ---------------------------------------------------------------- parse, ids, groups

describe('parseCallback', () => {
  it('refuses a callback nested deeper than any Parley callback (the processor quarantines it)', () => {
    const deep = (n: number) => `${'['.repeat(n)}${']'.repeat(n)}`;
    const raw = (n: number) =>
      `{"type":"message","body":{"message":"hi","user":{"id":"20"},"x":${deep(n)}}}`;

    expect(parseCallback(raw(60)).ok).toBe(true);
    expect(parseCallback(raw(5000))).toEqual({ ok: false, reason: 'too_deep' });
  });

  it('does not take a user id with a lone surrogate (it cannot name a user at Parley)', () => {
    expect(parseCallback(messageBody('hi', 1, 'a\ud800'))).toEqual({
      ok: false,
      reason: 'invalid_user_id',
    });
  });

  it.each([
    ['".."', '..'],
    ['"."', '.'],
    ['3,000 characters', '7'.repeat(3000)],
    ['129 characters', '7'.repeat(129)],
    ['a slash', '20/owner'],
    ['a control character', '20\n'],
    ['an empty string', ''],
    ['a fraction', 1.5],
  ])('refuses a user id that breaks the user id rule: %s', (_case, userId) => {
    const message = parseCallback(messageBody('hi', 1, userId));
    const event = parseCallback(
      JSON.stringify({ type: 'event', body: { name: 'startTyping', user: { id: userId } } }),
    );

    expect([message, event]).toEqual([
      { ok: false, reason: 'invalid_user_id' },
      { ok: false, reason: 'invalid_user_id' },
    ]);
  });

  it('takes a user id of 128 characters, spaces and emoji included', () => {
    const longest = '7'.repeat(128);

    expect([
      parseCallback(messageBody('hi', 1, longest)),
      parseCallback(messageBody('hi', 1, 'user 💬')),
    ]).toEqual([
      expect.objectContaining({ ok: true, userId: longest }),
      expect.objectContaining({ ok: true, userId: 'user 💬' }),
    ]);
  });

  it('reads a message: user id, text and body id', () => {
    const parsed = parseCallback(messageBody('hi!'));

    expect(parsed).toEqual({
      ok: true,
      type: 'message',
      userId: USER,
      bodyId: '10737',
      text: 'hi!',
      value: JSON.parse(messageBody('hi!')),
    });
  });

  it('accepts an integer user id as a string', () => {
    const parsed = parseCallback(messageBody('hi', 1, 11111));

    expect(parsed.ok && [parsed.userId, parsed.bodyId]).toEqual(['11111', '1']);
  });

  it('reads an event without text', () => {
    const raw = JSON.stringify({
      type: 'event',
      body: { name: 'startTyping', body: {}, user: { id: '11111', uniqueIdentifier: null } },
    });

    expect(parseCallback(raw)).toEqual({
      ok: true,
      type: 'event',
      userId: '11111',
      bodyId: null,
      text: null,
      value: JSON.parse(raw),
    });
  });

  it('accepts unknown types and keeps unknown fields', () => {
    const raw = JSON.stringify({ type: 'client-merge', body: { from: 1, to: 2 }, extra: [1] });

    expect(parseCallback(raw)).toEqual({
      ok: true,
      type: 'client-merge',
      userId: null,
      bodyId: null,
      text: null,
      value: { type: 'client-merge', body: { from: 1, to: 2 }, extra: [1] },
    });
  });

  it.each([
    ['not JSON', '{"type":', 'not_json'],
    ['an array', '[{"type":"message"}]', 'not_an_object'],
    ['null', 'null', 'not_an_object'],
    ['without a type', '{"body":{}}', 'no_type'],
    ['with a numeric type', '{"type":1}', 'no_type'],
    [
      'a message without a user',
      '{"type":"message","body":{"id":1,"message":"x"}}',
      'message_without_user',
    ],
    ['a message with an object user id', messageBody('x', 1, { id: 1 }), 'message_without_user'],
  ])('refuses %s', (_case, raw, reason) => {
    expect(parseCallback(raw)).toEqual({ ok: false, reason });
  });

  it('treats __proto__ and constructor keys as plain data', () => {
    const raw =
      '{"type":"message","__proto__":{"polluted":true},"body":{"id":1,"message":"x",' +
      '"user":{"id":"7"},"constructor":{"prototype":{"polluted":true}}}}';

    const parsed = parseCallback(raw);

    expect(parsed.ok && parsed.userId).toEqual('7');
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(parsed.ok && JSON.stringify(parsed.value)).toContain('"__proto__":{"polluted":true}');
  });
});

describe('isValidUserId', () => {
  it.each([
    ['20', true],
    ['user 💬', true],
    ['a.b', true],
    ['...', true],
    ['7'.repeat(MAX_USER_ID_LENGTH), true],
    ['7'.repeat(MAX_USER_ID_LENGTH + 1), false],
    ['', false],
    ['.', false],
    ['..', false],
    ['a/b', false],
    ['a\u0000b', false],
    ['a\u007f', false],
    ['a\ud800', false],
    ['\udc00a', false],
  ])('%j -> %s', (id, valid) => {
    expect(isValidUserId(id)).toBe(valid);
  });
});

describe('deliveryIdFor and groupIdFor', () => {
  it('names a callback with an id by service, type and id', () => {
    expect(idOf(messageBody())).toEqual(`${BOT}#message#10737`);
  });

  it('names an id-less callback by the hash of its raw body, so identical ones collapse', () => {
    const raw = JSON.stringify({
      type: 'event',
      body: { name: 'startTyping', user: { id: USER } },
    });
    const hash = createHash('sha256').update(raw).digest('hex');

    expect(idOf(raw)).toEqual(`${BOT}#${hash}`);
    expect(idOf(raw)).toEqual(idOf(`${raw}`));
    expect(idOf(raw)).not.toEqual(idOf(raw.replace('startTyping', 'stopTyping')));
    expect(idOf(raw, AGENT)).not.toEqual(idOf(raw, BOT));
  });

  it('names an unparsable body by its hash', () => {
    const hash = createHash('sha256').update('garbage').digest('hex');

    expect(idOf('garbage')).toEqual(`${BOT}#${hash}`);
  });

  it('hashes an id that would be ambiguous or too long for the queue', () => {
    const withHash = idOf(messageBody('x', 'a#b'));
    const long = idOf(messageBody('x', 'y'.repeat(200)));

    expect(withHash).toMatch(new RegExp(`^${BOT}#id-[0-9a-f]{64}$`));
    expect(long).toMatch(new RegExp(`^${BOT}#id-[0-9a-f]{64}$`));
    expect(withHash).not.toEqual(long);
  });

  it('groups by user, or as unrouted', () => {
    expect(groupIdFor(parseCallback(messageBody()))).toEqual('user-20');
    expect(groupIdFor(parseCallback('{"type":"client-merge"}'))).toEqual('unrouted');
    expect(groupIdFor(parseCallback('nope'))).toEqual('unrouted');
  });
});

// ---------------------------------------------------------------- processCallback

describe('processCallback: quarantine', () => {
  it.each([
    ['not JSON', 'not json at all: where is my parcel'],
    ['an array', '["where is my parcel"]'],
    ['without a type', '{"body":{"message":"where is my parcel"}}'],
    [
      'a message without a user',
      '{"type":"message","body":{"id":5,"message":"where is my parcel"}}',
    ],
    ['a message whose user id is ".."', messageBody(TEXT, 6, '..')],
    ['a message whose user id has 3,000 characters', messageBody(TEXT, 7, '2'.repeat(3000))],
  ])('quarantines %s without throwing, forwarding or logging its text', async (_case, raw) => {
    const t = setup();

    const outcome = await processCallback(queued(raw), t.deps);

    const id = idOf(raw);
    expect(outcome).toEqual({ deliveryId: id, disposition: 'quarantined', duplicate: false });
    expect([t.delivery(id)?.state, t.delivery(id)?.disposition]).toEqual(['done', 'quarantined']);
    expect(t.counted('CallbackQuarantined')).toEqual([['CallbackQuarantined', 1, undefined]]);
    expect(t.downstream.posts).toEqual([]);
    expect(JSON.stringify(t.logLines)).not.toContain('parcel');
  });

  it('answers a redelivered garbage body as a duplicate', async () => {
    const t = setup();
    await processCallback(queued('garbage'), t.deps);

    const outcome = await processCallback(queued('garbage'), t.deps);

    expect(outcome).toEqual({
      deliveryId: idOf('garbage'),
      disposition: 'quarantined',
      duplicate: true,
    });
    expect(t.counted('CallbackQuarantined').length).toEqual(1);
  });
});

describe('processCallback: forwarding', () => {
  it('forwards a message of the owner, signed, with the delivery headers', async () => {
    const t = setup();
    t.state.owners.set(USER, ownerItem(BOT));
    const raw = messageBody();

    const outcome = await processCallback(queued(raw), t.deps);

    const id = idOf(raw);
    expect(outcome).toEqual({ deliveryId: id, disposition: 'forwarded', duplicate: false });
    expect(t.downstream.posts.length).toEqual(1);
    const post = t.downstream.posts[0]!;
    expect([post.url, post.timeoutMs]).toEqual([BOT_URL, 5000]);
    expect(JSON.parse(post.body)).toEqual({
      deliveryId: id,
      serviceId: BOT,
      userId: USER,
      type: 'message',
      text: TEXT,
      callback: JSON.parse(raw),
    });
    const ts = Math.floor(t.clock.now() / 1000);
    expect(post.headers).toEqual({
      'Content-Type': 'application/json',
      'X-Handover-Timestamp': String(ts),
      'X-Handover-Delivery': id,
      'X-Handover-Signature': expect.stringMatching(/^v1=[0-9a-f]{64}$/),
    });
    const sig = post.headers['X-Handover-Signature'];
    expect(verifyForwardSignature(BOT_SECRET, sig, ts, post.body, ts + 300)).toBe(true);
    expect(verifyForwardSignature(BOT_SECRET, sig, ts, post.body, ts + 301)).toBe(false);
    expect(verifyForwardSignature('wrong-secret', sig, ts, post.body, ts)).toBe(false);
    expect([t.delivery(id)?.state, t.delivery(id)?.disposition]).toEqual(['done', 'forwarded']);
    expect(t.counted('CallbackProcessed')).toEqual([
      ['CallbackProcessed', 1, { disposition: 'forwarded' }],
    ]);
  });

  it('sends no signature header to a service without a signing secret', async () => {
    const t = setup();
    t.state.owners.set(USER, ownerItem(AGENT));
    t.parley.owners.set(USER, AGENT);

    await processCallback(queued(messageBody(), AGENT), t.deps);

    expect(Object.keys(t.downstream.posts[0]!.headers)).toEqual([
      'Content-Type',
      'X-Handover-Timestamp',
      'X-Handover-Delivery',
    ]);
  });

  it('stores the callback of a service without a downstream', async () => {
    const [bot, agent] = services();
    const t = setup([{ ...bot!, downstreamUrl: undefined }, agent!]);
    t.state.owners.set(USER, ownerItem(BOT));
    const raw = messageBody();

    const outcome = await processCallback(queued(raw), t.deps);

    expect(outcome.disposition).toEqual('stored');
    expect(t.delivery(idOf(raw))?.state).toEqual('done');
    expect(t.downstream.posts).toEqual([]);
  });

  it('refreshes a missing owner cache from Parley as the receiving service', async () => {
    const t = setup();

    const outcome = await processCallback(queued(messageBody()), t.deps);

    expect(t.refreshCalls).toEqual([[USER, BOT]]);
    expect(outcome.disposition).toEqual('forwarded');
  });

  it('forwards an event of the owner like a message, without applying rules', async () => {
    const t = setup();
    t.state.owners.set(USER, ownerItem(BOT));
    const raw = JSON.stringify({
      type: 'event',
      body: { name: 'human', body: {}, user: { id: USER } },
    });

    const outcome = await processCallback(queued(raw), t.deps);

    expect(outcome.disposition).toEqual('forwarded');
    expect(t.handoverCalls).toEqual([]);
    expect(JSON.parse(t.downstream.posts[0]!.body).type).toEqual('event');
  });

  it('forwards a callback without a user to the receiving service and ignores its answer', async () => {
    const t = setup();
    t.downstream.json(BOT_URL, { reply: 'hello', handover: { newOwner: AGENT } });

    const outcome = await processCallback(queued('{"type":"client-merge","body":{}}'), t.deps);

    expect(outcome.disposition).toEqual('forwarded');
    expect(t.refreshCalls).toEqual([]);
    expect(t.handoverCalls).toEqual([]);
    expect(t.parley.calls).toEqual([]);
  });
});

describe('processCallback: owner check', () => {
  it('forwards the callback of a service that no longer owns the user to its owner', async () => {
    const t = setup();
    t.state.owners.set(USER, ownerItem(AGENT));
    t.parley.owners.set(USER, AGENT);
    const raw = messageBody('I want a human');

    const outcome = await processCallback(queued(raw), t.deps);

    // Parley routed it to the Bot while the Bot owned the user; the Agent owns them now.
    expect(outcome).toEqual({
      deliveryId: idOf(raw),
      disposition: 'handed_over',
      duplicate: false,
    });
    expect(t.delivery(idOf(raw))?.disposition).toEqual('handed_over');
    expect(t.downstream.urls()).toEqual([DESK_URL]);
    expect(t.handoverCalls).toEqual([]);
    expect(t.counted('CallbackToOwner').length).toEqual(1);
  });

  it('asks Parley before a standby: a cache naming another owner may be stale', async () => {
    const t = setup();
    t.state.owners.set(USER, ownerItem(AGENT));
    t.parley.owners.set(USER, BOT); // moved back at Parley, outside this service

    const outcome = await processCallback(queued(messageBody()), t.deps);

    expect(outcome.disposition).toEqual('forwarded');
    expect(t.refreshCalls).toEqual([[USER, BOT]]);
    expect(t.downstream.urls()).toEqual([BOT_URL]);
  });

  it("holds the owner's message while its handover to another service is in flight", async () => {
    const t = setup();
    t.state.owners.set(USER, ownerItem(BOT, pendingTo(AGENT)));
    t.clock.set(Date.parse('2026-03-10T14:00:00.000Z'));

    const err = await rejection(processCallback(queued(messageBody()), t.deps));

    expect(err).toBeInstanceOf(DeliveryDeferredError);
    expect((err as DeliveryDeferredError).retryAfterMs).toBe(DEFER_MS);
    expect(t.delivery(idOf(messageBody()))).toMatchObject({ state: 'in_progress', leaseUntil: 0 });
    expect(t.downstream.posts).toEqual([]);
  });

  it('forwards a held message to the new owner once the handover completed', async () => {
    const t = setup();
    t.state.owners.set(USER, ownerItem(BOT, pendingTo(AGENT)));
    t.clock.set(Date.parse('2026-03-10T14:00:00.000Z'));
    const raw = messageBody();
    // Received while the marker (13:59:50) was fresh: Parley still routed the user to the Bot.
    const message = { ...queued(raw), receivedAt: '2026-03-10T13:59:55.000Z' };
    await rejection(processCallback(message, t.deps));
    const done = { ...record(USER, BOT, AGENT), createdAt: '2026-03-10T13:59:50.000Z' };
    await t.history.append(done);
    t.state.owners.set(USER, { ...ownerItem(AGENT), lastSeq: 1, lastHandoverId: 'h0001' });
    t.parley.owners.set(USER, AGENT);
    t.clock.advance(1_000);

    const outcome = await processCallback(message, t.deps);

    expect(outcome).toEqual({
      deliveryId: idOf(raw),
      disposition: 'handed_over',
      duplicate: false,
    });
    expect(t.downstream.urls()).toEqual([DESK_URL]);
    expect(t.handoverCalls).toEqual([]);
    expect(t.counted('CallbackStandby')).toEqual([]);
  });

  it('forwards a held message to its own service once the handover failed', async () => {
    const t = setup();
    t.state.owners.set(USER, ownerItem(BOT, pendingTo(AGENT)));
    t.clock.set(Date.parse('2026-03-10T14:00:00.000Z'));
    const raw = messageBody();
    await rejection(processCallback(queued(raw), t.deps));
    t.state.owners.set(USER, { ...ownerItem(BOT), version: 3 });
    t.clock.advance(1_000);

    const outcome = await processCallback(queued(raw), t.deps);

    expect(outcome.disposition).toEqual('forwarded');
    expect(t.downstream.urls()).toEqual([BOT_URL]);
  });

  it('recovers a stale marker before deciding who hears the message', async () => {
    const t = setup();
    t.state.owners.set(USER, ownerItem(BOT, pendingTo(AGENT)));
    t.clock.set(Date.parse('2026-03-10T14:01:00.000Z')); // the marker is 70 s old

    const outcome = await processCallback(queued(messageBody()), t.deps);

    expect(t.recoverCalls).toEqual([USER]);
    expect(outcome.disposition).toEqual('forwarded');
    expect(t.downstream.urls()).toEqual([BOT_URL]);
  });

  it('waits while another recoverer holds a stale marker', async () => {
    const t = setup();
    t.state.owners.set(USER, ownerItem(BOT, pendingTo(AGENT)));
    t.clock.set(Date.parse('2026-03-10T14:01:00.000Z'));
    t.setRecover(async () => 'busy');

    const err = await rejection(processCallback(queued(messageBody()), t.deps));

    expect(err).toBeInstanceOf(DeliveryDeferredError);
    expect(t.downstream.posts).toEqual([]);
  });

  it('forwards a message queued before a handover to the new owner, not the old one', async () => {
    const t = setup();
    // The Bot owned the user when Parley routed the message (13:58); a handover moved them at 13:59.
    await t.history.append({ ...record(USER, BOT, AGENT), createdAt: '2026-03-10T13:59:00.000Z' });
    t.state.owners.set(USER, { ...ownerItem(AGENT), lastSeq: 1, lastHandoverId: 'h0001' });
    t.parley.owners.set(USER, AGENT);
    const message = { ...queued(messageBody()), receivedAt: '2026-03-10T13:58:00.000Z' };

    const outcome = await processCallback(message, t.deps);

    expect(outcome.disposition).toEqual('handed_over');
    expect(t.downstream.urls()).toEqual([DESK_URL]);
    expect(t.counted('CallbackToOwner').length).toEqual(1);
  });

  it('forwards to the target of a handover in flight', async () => {
    const t = setup();
    t.state.owners.set(USER, ownerItem(BOT, pendingTo(AGENT)));

    const outcome = await processCallback(queued(messageBody(), AGENT), t.deps);

    expect(outcome.disposition).toEqual('forwarded');
    expect(t.downstream.urls()).toEqual([DESK_URL]);
  });
});

describe('processCallback: rules', () => {
  it('hands the user over on a matching rule and forwards the message to the new owner', async () => {
    const t = setup();
    t.state.owners.set(USER, ownerItem(BOT));
    const raw = messageBody('Can I talk to a HUMAN please');
    const id = idOf(raw);

    const outcome = await processCallback(queued(raw), t.deps);

    expect(t.handoverCalls).toEqual([
      {
        userId: USER,
        newOwner: AGENT,
        metadata: { reason: 'user_requested_human' },
        requestedBy: BOT,
        source: 'rule',
        idempotencyKey: `cb:rule:${id}`,
        idempotencyTtlSeconds: 2_592_000, // as long as the delivery item
      },
    ]);
    expect(outcome).toEqual({
      deliveryId: id,
      disposition: 'handed_over',
      duplicate: false,
      handoverId: 'h0001',
    });
    expect(t.downstream.urls()).toEqual([DESK_URL]);
    const post = t.downstream.posts[0]!;
    expect(post.headers['X-Handover-Delivery']).toEqual(id);
    expect(JSON.parse(post.body)).toEqual({
      deliveryId: id,
      serviceId: AGENT,
      userId: USER,
      type: 'message',
      text: 'Can I talk to a HUMAN please',
      handover: { handoverId: 'h0001', fromOwner: BOT },
      callback: JSON.parse(raw),
    });
    expect(t.delivery(id)).toEqual(
      expect.objectContaining({ state: 'done', disposition: 'handed_over', handoverId: 'h0001' }),
    );
  });

  it('skips a rule whose pattern does not compile and matches unicode case-insensitively', async () => {
    const [bot, agent] = services();
    const t = setup([
      {
        ...bot!,
        rules: [
          { match: '[', newOwner: AGENT, reason: 'bad' },
          { match: 'ÉLÈVE', newOwner: AGENT, reason: 'accent' },
        ],
      },
      agent!,
    ]);
    t.state.owners.set(USER, ownerItem(BOT));

    await processCallback(queued(messageBody('un élève')), t.deps);

    expect(t.handoverCalls.map((c) => c.metadata)).toEqual([{ reason: 'accent' }]);
  });

  it('still forwards to the receiving service when a rule names an unknown service', async () => {
    const t = setup();
    t.state.owners.set(USER, ownerItem(BOT));
    t.setHandover(async () => {
      throw new UnknownServiceError('Nobody');
    });

    const outcome = await processCallback(queued(messageBody('human please')), t.deps);

    expect(outcome.disposition).toEqual('forwarded');
    expect(t.downstream.urls()).toEqual([BOT_URL]);
  });

  it('resumes after a crash between the rule handover and the forward to the new owner', async () => {
    const t = setup();
    t.state.owners.set(USER, ownerItem(BOT));
    t.downstream.answer(DESK_URL, { status: 503, body: '' });
    const raw = messageBody('human please');
    const id = idOf(raw);
    const first = await rejection(processCallback(queued(raw), t.deps));
    t.clock.advance(60_001);
    t.setHandover(async () => ({
      changed: true,
      owner: { identification: AGENT, name: 'Agent Service', default: false },
      handover: record(USER, BOT, AGENT),
    }));

    const outcome = await processCallback(queued(raw), t.deps);

    expect(first).toBeInstanceOf(DownstreamError);
    expect(outcome).toEqual({
      deliveryId: id,
      disposition: 'handed_over',
      duplicate: false,
      handoverId: 'h0001',
    });
    // The retry asks for no handover again: the user already moved; the message goes to them.
    expect(t.handoverCalls.map((c) => c.idempotencyKey)).toEqual([`cb:rule:${id}`]);
    expect(t.downstream.urls()).toEqual([DESK_URL, DESK_URL]);
  });
});

describe('processCallback: a rule handover and a downstream handover in one delivery', () => {
  it('gives each its own Idempotency-Key, so the second is not refused as a reused key', async () => {
    const t = setup();
    t.state.owners.set(USER, ownerItem(BOT));
    // The stand-in claims each key as performHandover does: another body under a key is a 422.
    const claimed = new Map<string, string>();
    const moveTo = async (input: HandoverInput): Promise<HandoverResult> => {
      t.parley.owners.set(USER, input.newOwner);
      t.state.owners.set(USER, ownerItem(input.newOwner));
      return {
        changed: true,
        owner: { identification: input.newOwner, name: 'Agent Service', default: false },
        handover: record(USER, BOT, input.newOwner),
      };
    };
    t.setHandover(async (input) => {
      const body = JSON.stringify([input.newOwner, input.metadata ?? null]);
      const earlier = claimed.get(input.idempotencyKey!);
      if (earlier !== undefined && earlier !== body) throw new IdempotencyKeyReusedError();
      claimed.set(input.idempotencyKey!, body);
      // The rule's handover is refused by Parley; the downstream's goes through.
      if (input.source === 'rule') {
        throw new ParleyApiError(400, 'invalid_request', 'PUT', 'users/20/owner', '20500', 5);
      }
      return moveTo(input);
    });
    t.downstream.json(BOT_URL, {
      handover: { newOwner: AGENT, metadata: { reason: 'question_too_complex' } },
    });
    const raw = messageBody('a human please');
    const id = idOf(raw);

    const outcome = await processCallback(queued(raw), t.deps);

    expect(t.handoverCalls.map((c) => [c.source, c.idempotencyKey])).toEqual([
      ['rule', `cb:rule:${id}`],
      ['downstream', `cb:ds:${id}`],
    ]);
    expect(outcome).toEqual({
      deliveryId: id,
      disposition: 'handed_over',
      duplicate: false,
      handoverId: 'h0001',
    });
    expect(t.downstream.urls()).toEqual([BOT_URL, DESK_URL]);
  });
});

describe('matchRule', () => {
  const rules = [{ match: '\\bhuman\\b', newOwner: AGENT, reason: 'user_requested_human' }];

  it('looks at the first 4,096 characters of the text only', () => {
    const within = `${'x'.repeat(4090)} human`;
    const beyond = `${'x'.repeat(4096)} human`;

    expect([matchRule(rules, within)?.reason, matchRule(rules, beyond)]).toEqual([
      'user_requested_human',
      undefined,
    ]);
  });

  it('does not split a surrogate pair at the cut', () => {
    const emoji = [{ match: '💬$', newOwner: AGENT, reason: 'emoji_at_end' }];
    const text = `${'x'.repeat(4095)}💬`; // the pair straddles the cut: it is left out whole

    expect([matchRule(emoji, text), MAX_RULE_TEXT]).toEqual([undefined, 4096]);
    expect(matchRule([{ match: 'x$', newOwner: AGENT, reason: 'x' }], text)?.reason).toEqual('x');
  });
});

describe('processCallback: delivery items', () => {
  it('does nothing again for a delivery already done', async () => {
    const t = setup();
    t.state.owners.set(USER, ownerItem(BOT));
    t.downstream.json(BOT_URL, { reply: 'On its way', handover: { newOwner: AGENT } });
    const raw = messageBody();
    await processCallback(queued(raw), t.deps);
    const before = {
      posts: t.downstream.posts.length,
      parley: t.parley.calls.length,
      handovers: t.handoverCalls.length,
    };

    const outcome = await processCallback(queued(raw), t.deps);

    expect(before).toEqual({ posts: 2, parley: 1, handovers: 1 });
    expect(outcome).toEqual({
      deliveryId: idOf(raw),
      disposition: 'handed_over',
      duplicate: true,
      handoverId: 'h0001',
    });
    expect([t.downstream.posts.length, t.parley.calls.length, t.handoverCalls.length]).toEqual([
      2, 1, 1,
    ]);
    expect(t.counted('DuplicateDelivery').length).toEqual(1);
  });

  it('refuses a delivery whose lease another attempt holds', async () => {
    const t = setup();
    t.state.owners.set(USER, ownerItem(BOT));
    const raw = messageBody();
    const id = idOf(raw);
    const now = t.clock.now();
    t.state.deliveries.set(id, {
      deliveryId: id,
      serviceId: BOT,
      userId: USER,
      type: 'message',
      receivedAt: '2026-03-10T13:59:00.000Z',
      state: 'in_progress',
      disposition: null,
      replyState: 'none',
      handoverId: null,
      leaseUntil: now + 59_000,
      expiresAt: Math.floor(now / 1000) + 86_400,
    });

    const err = await rejection(processCallback(queued(raw), t.deps));

    expect(err).toBeInstanceOf(DeliveryBusyError);
    expect(t.downstream.posts.length).toEqual(0);
  });

  it('keeps the delivery in progress after a downstream failure and lets the next delivery claim it at once', async () => {
    const t = setup();
    t.state.owners.set(USER, ownerItem(BOT));
    t.downstream.answer(BOT_URL, { status: 500, body: 'oops' });
    const raw = messageBody();
    const id = idOf(raw);

    const err = await rejection(processCallback(queued(raw), t.deps));
    const afterFailure = t.delivery(id)?.state;
    const leaseAfterFailure = t.delivery(id)?.leaseUntil;
    t.clock.advance(1);
    const outcome = await processCallback(queued(raw), t.deps);

    expect(err).toBeInstanceOf(DownstreamError);
    expect(afterFailure).toEqual('in_progress');
    expect(leaseAfterFailure).toEqual(0);
    expect(outcome.disposition).toEqual('forwarded');
    expect(t.downstream.posts.map((p) => p.headers['X-Handover-Delivery'])).toEqual([id, id]);
  });

  it('stops an attempt whose lease another attempt has claimed since, leaving that lease alone', async () => {
    const t = setup();
    t.state.owners.set(USER, ownerItem(BOT));
    const raw = messageBody();
    const id = idOf(raw);
    // While this attempt waits on its downstream, its lease passes and a retry claims the delivery.
    const takeover = { ...messageDeliveryLike(id), leaseUntil: t.clock.now() + 120_000 };
    t.downstream.post = async (url, body, headers, timeoutMs) => {
      t.downstream.posts.push({ url, body, headers, timeoutMs });
      t.state.deliveries.set(id, takeover);
      return { status: 200, body: '' };
    };

    const err = await rejection(processCallback(queued(raw), t.deps));

    expect(err).toBeInstanceOf(DeliveryBusyError);
    expect(t.delivery(id)).toEqual(takeover);
  });

  it('never sends again a reply a crashed attempt left in `sending`', async () => {
    const t = setup();
    t.state.owners.set(USER, ownerItem(BOT));
    const raw = messageBody();
    const id = idOf(raw);
    const now = t.clock.now();
    t.state.deliveries.set(id, {
      deliveryId: id,
      serviceId: BOT,
      userId: USER,
      type: 'message',
      receivedAt: '2026-03-10T13:58:00.000Z',
      state: 'in_progress',
      disposition: null,
      replyState: 'sending',
      handoverId: null,
      leaseUntil: now - 1,
      expiresAt: Math.floor(now / 1000) + 3600,
    });
    t.downstream.json(BOT_URL, { reply: 'On its way' });

    const outcome = await processCallback(queued(raw), t.deps);

    expect(outcome.disposition).toEqual('forwarded');
    expect(t.parley.callsOf('sendMessage')).toEqual([]);
    expect(t.delivery(id)).toEqual(
      expect.objectContaining({
        state: 'done',
        replyState: 'sending',
        receivedAt: '2026-03-10T13:58:00.000Z',
      }),
    );
  });

  it('retries after a failed forward to the new owner: reply once, same handover resumed', async () => {
    const t = setup();
    t.state.owners.set(USER, ownerItem(BOT));
    t.downstream.json(BOT_URL, { reply: 'Connecting you', handover: { newOwner: AGENT } });
    t.downstream.answer(DESK_URL, { status: 502, body: '' });
    t.downstream.json(BOT_URL, { reply: 'Connecting you', handover: { newOwner: AGENT } });
    const raw = messageBody();
    const id = idOf(raw);
    await rejection(processCallback(queued(raw), t.deps));
    t.clock.advance(60_001);
    t.setHandover(async () => ({
      changed: true,
      owner: { identification: AGENT, name: 'Agent Service', default: false },
      handover: record(USER, BOT, AGENT),
    }));

    const outcome = await processCallback(queued(raw), t.deps);

    expect(outcome.disposition).toEqual('handed_over');
    expect(t.parley.callsOf('sendMessage').length).toEqual(1);
    // Neither the old owner's forward nor the handover is repeated: the message goes to the owner.
    expect(t.handoverCalls.map((c) => c.idempotencyKey)).toEqual([`cb:ds:${id}`]);
    expect(t.downstream.urls()).toEqual([BOT_URL, DESK_URL, DESK_URL]);
    expect(t.delivery(id)).toEqual(expect.objectContaining({ state: 'done', replyState: 'sent' }));
  });
  it.each([
    ['downstream', 'ds'],
    ['rule', 'rule'],
  ])(
    "resumes through the %s handover's idempotency item when a crash came before the handover id was recorded",
    async (_source, prefix) => {
      const t = setup();
      t.state.owners.set(USER, ownerItem(AGENT));
      t.parley.owners.set(USER, AGENT);
      const raw = messageBody();
      const id = idOf(raw);
      const now = t.clock.now();
      t.state.deliveries.set(id, {
        deliveryId: id,
        serviceId: BOT,
        userId: USER,
        type: 'message',
        receivedAt: '2026-03-10T13:58:00.000Z',
        state: 'in_progress',
        disposition: null,
        replyState: 'sent',
        handoverId: null,
        leaseUntil: now - 1,
        expiresAt: Math.floor(now / 1000) + 3600,
      });
      t.state.idempotency.set(`${BOT}#cb:${prefix}:${id}`, {
        callerServiceId: BOT,
        key: `cb:${prefix}:${id}`,
        handoverId: 'h0042',
        userId: USER,
        bodyHash: 'b'.repeat(64),
        expiresAt: Math.floor(now / 1000) + 3600,
      });

      const outcome = await processCallback(queued(raw), t.deps);

      expect(outcome).toEqual({
        deliveryId: id,
        disposition: 'handed_over',
        duplicate: false,
        handoverId: 'h0042',
      });
      expect(t.downstream.urls()).toEqual([DESK_URL]);
      expect(t.parley.calls).toEqual([]);
    },
  );

  it.each([
    ['the user is back with the Bot', BOT, [BOT_URL], 'forwarded'],
    ['the desk owns the user', AGENT, [DESK_URL], 'handed_over'],
  ])(
    'repeats no handover for a redriven delivery whose key expired (%s)',
    async (_case, ownerNow, urls, disposition) => {
      const t = setup();
      t.state.owners.set(USER, ownerItem(ownerNow));
      t.parley.owners.set(USER, ownerNow);
      const raw = messageBody('human please'); // matches the Bot's rule
      const id = idOf(raw);
      const now = t.clock.now();
      // The delivery item remembers its handover; the Idempotency-Key has expired long ago.
      t.state.deliveries.set(id, {
        ...messageDeliveryLike(id),
        handoverId: 'h0001',
        replyState: 'none',
        leaseUntil: now - 1,
      });

      const outcome = await processCallback(queued(raw), t.deps);

      expect(t.handoverCalls).toEqual([]);
      expect(outcome).toEqual({
        deliveryId: id,
        disposition,
        duplicate: false,
        handoverId: 'h0001',
      });
      expect(t.downstream.urls()).toEqual(urls);
    },
  );

  it('forwards a retried delivery to the owner when no handover of its own moved the user', async () => {
    const t = setup();
    t.state.owners.set(USER, ownerItem(AGENT));
    t.parley.owners.set(USER, AGENT);
    const raw = messageBody();
    const id = idOf(raw);
    const now = t.clock.now();
    t.state.deliveries.set(id, {
      deliveryId: id,
      serviceId: BOT,
      userId: USER,
      type: 'message',
      receivedAt: '2026-03-10T13:58:00.000Z',
      state: 'in_progress',
      disposition: null,
      replyState: 'none',
      handoverId: null,
      leaseUntil: now - 1,
      expiresAt: Math.floor(now / 1000) + 3600,
    });

    const outcome = await processCallback(queued(raw), t.deps);

    expect(outcome.disposition).toEqual('handed_over');
    expect(t.downstream.urls()).toEqual([DESK_URL]);
    expect(t.handoverCalls).toEqual([]);
  });
});

describe('processCallback: downstream failures', () => {
  it.each([
    ['a 500', { status: 500, body: '{"error":"boom"}' }, 'status', 500],
    ['a 404', { status: 404, body: '' }, 'status', 404],
    ['a non-JSON 200', { status: 200, body: '<html>ok</html>' }, 'bad_body', 200],
    ['a JSON array', { status: 200, body: '[1]' }, 'bad_body', 200],
    ['a reply of the wrong type', { status: 200, body: '{"reply":5}' }, 'bad_body', 200],
    ['a handover without newOwner', { status: 200, body: '{"handover":{}}' }, 'bad_body', 200],
  ])(
    'throws DownstreamError on %s and leaves the delivery in progress',
    async (_c, answer, problem, status) => {
      const t = setup();
      t.state.owners.set(USER, ownerItem(BOT));
      t.downstream.answer(BOT_URL, answer);
      const raw = messageBody();

      const err = await rejection(processCallback(queued(raw), t.deps));

      expect(err).toBeInstanceOf(DownstreamError);
      expect([(err as DownstreamError).problem, (err as DownstreamError).status]).toEqual([
        problem,
        status,
      ]);
      expect((err as Error).message).not.toContain('hooks');
      expect((err as Error).message).not.toContain('key=');
      expect(t.delivery(idOf(raw))?.state).toEqual('in_progress');
      expect(t.parley.calls).toEqual([]);
    },
  );

  it('names only the host and status in the error message', async () => {
    const t = setup();
    t.state.owners.set(USER, ownerItem(BOT));
    t.downstream.answer(BOT_URL, { status: 500, body: '' });

    const err = await rejection(processCallback(queued(messageBody()), t.deps));

    expect((err as Error).message).toEqual('Downstream bot.example answered HTTP 500.');
  });

  it('throws DownstreamError on a timeout', async () => {
    const t = setup();
    t.state.owners.set(USER, ownerItem(BOT));
    const timeout = new Error('The operation was aborted due to timeout');
    timeout.name = 'TimeoutError';
    t.downstream.answer(BOT_URL, timeout);

    const err = await rejection(processCallback(queued(messageBody()), t.deps));

    expect(err).toBeInstanceOf(DownstreamError);
    expect((err as DownstreamError).problem).toEqual('timeout');
  });

  it("treats the fetch adapter's timeout as a timeout", async () => {
    const t = setup();
    t.state.owners.set(USER, ownerItem(BOT));
    t.downstream.answer(
      BOT_URL,
      new DownstreamTransportError('Downstream bot.example did not answer.', 'bot.example', true),
    );

    const err = await rejection(processCallback(queued(messageBody()), t.deps));

    expect(err).toBeInstanceOf(DownstreamError);
    expect([(err as DownstreamError).problem, (err as Error).message]).toEqual([
      'timeout',
      'Downstream bot.example did not answer in time.',
    ]);
  });

  it('accepts an empty 2xx answer', async () => {
    const t = setup();
    t.state.owners.set(USER, ownerItem(BOT));
    t.downstream.answer(BOT_URL, { status: 204, body: '' });

    const outcome = await processCallback(queued(messageBody()), t.deps);

    expect(outcome.disposition).toEqual('forwarded');
  });
});

describe('processCallback: the answer', () => {
  it('sends the reply once, as the receiving service', async () => {
    const t = setup();
    t.state.owners.set(USER, ownerItem(BOT));
    t.downstream.json(BOT_URL, { reply: '  Your parcel arrives tomorrow ' });
    const raw = messageBody();

    const outcome = await processCallback(queued(raw), t.deps);

    expect(outcome.disposition).toEqual('forwarded');
    expect(t.parley.calls).toEqual([
      { as: BOT, method: 'sendMessage', userId: USER, text: 'Your parcel arrives tomorrow' },
    ]);
    expect(t.delivery(idOf(raw))?.replyState).toEqual('sent');
    expect(JSON.stringify(t.logLines)).not.toContain('parcel');
  });

  it('marks a reply Parley refused as failed, without throwing', async () => {
    const t = setup();
    t.state.owners.set(USER, ownerItem(BOT));
    t.parley.failNext('sendMessage', 'reject_403');
    t.downstream.json(BOT_URL, { reply: 'hello' });
    const raw = messageBody();

    const outcome = await processCallback(queued(raw), t.deps);

    expect(outcome.disposition).toEqual('forwarded');
    expect(t.delivery(idOf(raw))?.replyState).toEqual('failed');
    expect(t.refreshCalls).toEqual([[USER, BOT]]);
  });

  it("logs Parley's status and code for a refused reply, not our error code", async () => {
    const t = setup();
    t.state.owners.set(USER, ownerItem(BOT));
    t.parley.failNext('sendMessage', 'reject_403');
    t.downstream.json(BOT_URL, { reply: 'hello' });

    await processCallback(queued(messageBody()), t.deps);

    const attributes = loggedWith(t.logLines, 'reply refused by Parley');
    expect(attributes).toEqual(expect.objectContaining({ status: 403, parleyCode: 'forbidden' }));
    expect(attributes).not.toHaveProperty('code');
  });

  it("logs Parley's status and code for a handover Parley refused", async () => {
    const t = setup();
    t.state.owners.set(USER, ownerItem(BOT));
    t.downstream.json(BOT_URL, { handover: { newOwner: AGENT } });
    t.setHandover(async () => {
      throw new ParleyApiError(400, 'invalid_owner', 'PUT', 'users/20/owner', '20500', 5);
    });

    await processCallback(queued(messageBody()), t.deps);

    expect(loggedWith(t.logLines, 'handover requested by callback was refused')).toEqual(
      expect.objectContaining({
        reason: 'parley_rejected',
        status: 400,
        parleyCode: 'invalid_owner',
      }),
    );
  });

  it('leaves a reply with an unknown outcome in `sending` and does not throw', async () => {
    const t = setup();
    t.state.owners.set(USER, ownerItem(BOT));
    t.parley.failNext('sendMessage', 'apply_then_timeout');
    t.downstream.json(BOT_URL, { reply: 'hello' });
    const raw = messageBody();

    const outcome = await processCallback(queued(raw), t.deps);

    expect(outcome.disposition).toEqual('forwarded');
    expect(t.delivery(idOf(raw))).toEqual(
      expect.objectContaining({ state: 'done', replyState: 'sending' }),
    );
  });

  it('performs the downstream handover after the reply and forwards to the new owner', async () => {
    const t = setup();
    t.state.owners.set(USER, ownerItem(BOT));
    t.downstream.json(BOT_URL, {
      reply: 'Connecting you to a colleague',
      handover: { newOwner: AGENT, metadata: { reason: 'question_too_complex' } },
    });
    const raw = messageBody();
    const id = idOf(raw);

    const outcome = await processCallback(queued(raw), t.deps);

    expect(t.events).toEqual([`sendMessage as ${BOT}`, `handover to ${AGENT}`]);
    expect(t.handoverCalls).toEqual([
      {
        userId: USER,
        newOwner: AGENT,
        metadata: { reason: 'question_too_complex' },
        requestedBy: BOT,
        source: 'downstream',
        idempotencyKey: `cb:ds:${id}`,
        idempotencyTtlSeconds: 2_592_000, // as long as the delivery item
      },
    ]);
    expect(outcome).toEqual({
      deliveryId: id,
      disposition: 'handed_over',
      duplicate: false,
      handoverId: 'h0001',
    });
    expect(t.downstream.urls()).toEqual([BOT_URL, DESK_URL]);
    expect(t.downstream.posts[1]!.headers['X-Handover-Delivery']).toEqual(id);
  });

  it('records a handover refused with NotOwner and finishes without throwing', async () => {
    const t = setup();
    t.state.owners.set(USER, ownerItem(BOT));
    t.downstream.json(BOT_URL, { handover: { newOwner: AGENT } });
    t.setHandover(async () => {
      throw new NotOwnerError(BOT, AGENT);
    });
    const raw = messageBody();

    const outcome = await processCallback(queued(raw), t.deps);

    expect(outcome.disposition).toEqual('forwarded');
    expect(t.delivery(idOf(raw))?.state).toEqual('done');
    expect(t.downstream.urls()).toEqual([BOT_URL]);
    expect(t.counted('CallbackHandoverRefused')).toEqual([
      ['CallbackHandoverRefused', 1, { reason: 'not_owner' }],
    ]);
  });

  it('waits a short while, not a visibility timeout, when its handover meets one in flight', async () => {
    const t = setup();
    t.state.owners.set(USER, ownerItem(BOT));
    t.downstream.json(BOT_URL, { handover: { newOwner: AGENT } });
    t.setHandover(async () => {
      throw new HandoverInProgressError(30);
    });
    const raw = messageBody();

    const err = await rejection(processCallback(queued(raw), t.deps));

    expect(err).toBeInstanceOf(DeliveryDeferredError);
    expect((err as DeliveryDeferredError).retryAfterMs).toBe(DEFER_MS);
    expect(t.delivery(idOf(raw))).toMatchObject({ state: 'in_progress', leaseUntil: 0 });
  });

  it.each([
    ['an unknown Parley outcome', () => new ParleyTimeoutError('PUT', 'users/20/owner', 3000)],
  ])('rethrows %s so the queue retries', async (_case, makeError) => {
    const t = setup();
    t.state.owners.set(USER, ownerItem(BOT));
    t.downstream.json(BOT_URL, { handover: { newOwner: AGENT } });
    const thrown = makeError();
    t.setHandover(async () => {
      throw thrown;
    });
    const raw = messageBody();

    const err = await rejection(processCallback(queued(raw), t.deps));

    expect(err).toBe(thrown);
    expect(t.delivery(idOf(raw))?.state).toEqual('in_progress');
  });

  it('forwards nothing more when the handover leaves the receiving service as owner', async () => {
    const t = setup();
    t.state.owners.set(USER, ownerItem(BOT));
    t.downstream.json(BOT_URL, { handover: { newOwner: 'Bot Service' } });
    t.setHandover(async () => ({
      changed: false,
      owner: { identification: BOT, name: 'Bot Service', default: true },
    }));

    const outcome = await processCallback(queued(messageBody()), t.deps);

    expect(outcome).toEqual(expect.objectContaining({ disposition: 'forwarded' }));
    expect(t.downstream.urls()).toEqual([BOT_URL]);
  });
});

/** The real handover use case on the callback's fakes, instead of the stand-in. */
const withRealHandover = (t: ReturnType<typeof setup>): FakeHistoryStore => {
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

describe('processCallback: how long a delivery counts as a duplicate', () => {
  const HOUR_MS = 3_600_000;
  const typing = JSON.stringify({
    type: 'event',
    body: { name: 'startTyping', body: {}, user: { id: USER } },
  });

  it('drops an id-less callback repeated within the hour and processes it again a week later', async () => {
    const t = setup();
    t.state.owners.set(USER, ownerItem(BOT));
    const first = await processCallback(queued(typing), t.deps);
    t.clock.advance(HOUR_MS - 1_000);
    const retried = await processCallback(queued(typing), t.deps);
    t.clock.advance(7 * 24 * HOUR_MS);

    const nextWeek = await processCallback(queued(typing), t.deps);

    expect([first.duplicate, retried.duplicate, nextWeek.duplicate]).toEqual([false, true, false]);
    expect(nextWeek.disposition).toEqual('forwarded');
    expect(t.downstream.urls()).toEqual([BOT_URL, BOT_URL]);
  });

  it('hands a user over again for the same id-less callback a week later', async () => {
    const t = setup();
    t.state.owners.set(USER, ownerItem(BOT));
    const history = withRealHandover(t);
    const handoverAnswer = { status: 200, body: `{"handover":{"newOwner":"${AGENT}"}}` };
    t.downstream.answer(BOT_URL, handoverAnswer, handoverAnswer);
    const first = await processCallback(queued(typing), t.deps);
    t.clock.advance(24 * HOUR_MS);
    await t.deps.handover({ userId: USER, newOwner: BOT, requestedBy: AGENT, source: 'api' });
    t.clock.advance(6 * 24 * HOUR_MS);
    // A new event: Parley calls again, and the webhook receives it now.
    const again = { ...queued(typing), receivedAt: new Date(t.clock.now()).toISOString() };

    const nextWeek = await processCallback(again, t.deps);

    expect([first.disposition, nextWeek.disposition]).toEqual(['handed_over', 'handed_over']);
    expect(t.parley.ownerOf(USER)).toBe(AGENT);
    const records = (await history.listUser(USER, { limit: 10 })).items;
    expect(records.map((r) => [r.source, r.toOwner, r.status])).toEqual([
      ['downstream', AGENT, 'completed'],
      ['api', BOT, 'completed'],
      ['downstream', AGENT, 'completed'],
    ]);
  });

  it('repeats no handover for an id-less callback redriven from the DLQ after the hour', async () => {
    const t = setup();
    t.state.owners.set(USER, ownerItem(BOT));
    withRealHandover(t);
    t.downstream.answer(BOT_URL, { status: 200, body: `{"handover":{"newOwner":"${AGENT}"}}` });
    t.downstream.answer(DESK_URL, { status: 503, body: '' });
    // The handover goes through; the forward to the desk fails, and the message ends in the DLQ.
    await rejection(processCallback(queued(typing), t.deps));
    t.clock.advance(3 * 24 * HOUR_MS); // redriven three days later

    const redriven = await processCallback(queued(typing), t.deps);

    expect(redriven.disposition).toEqual('handed_over');
    expect(t.parley.callsOf('setOwner')).toHaveLength(1);
    expect(t.downstream.urls()).toEqual([BOT_URL, DESK_URL, DESK_URL]);
  });

  it('keeps a callback with an id a duplicate for 30 days', async () => {
    const t = setup();
    t.state.owners.set(USER, ownerItem(BOT));
    const raw = messageBody();
    await processCallback(queued(raw), t.deps);
    t.clock.advance(29 * 24 * HOUR_MS);
    const within = await processCallback(queued(raw), t.deps);
    t.clock.advance(24 * HOUR_MS);

    const after = await processCallback(queued(raw), t.deps);

    expect([within.duplicate, after.duplicate]).toEqual([true, false]);
    expect(t.downstream.urls()).toEqual([BOT_URL, BOT_URL]);
  });
});

describe('processCallback: a downstream handover with metadata the store cannot keep', () => {
  it.each([
    ['a constructor key', '{"constructor":"x"}'],
    ['a __proto__ key', '{"__proto__":{"admin":true}}'],
    ['a nested __proto__ key', '{"ticket":{"__proto__":{"admin":true}}}'],
    ['nesting 33 levels deep', `${'{"a":'.repeat(33)}1${'}'.repeat(33)}`],
  ])('refuses metadata with %s for good: logged, not retried', async (_case, metadata) => {
    const t = setup();
    t.state.owners.set(USER, ownerItem(BOT));
    const history = withRealHandover(t);
    t.downstream.answer(BOT_URL, {
      status: 200,
      body: `{"handover":{"newOwner":"${AGENT}","metadata":${metadata}}}`,
    });
    const raw = messageBody();
    const id = idOf(raw);

    const outcome = await processCallback(queued(raw), t.deps);
    const again = await processCallback(queued(raw), t.deps);

    expect(outcome).toEqual({ deliveryId: id, disposition: 'forwarded', duplicate: false });
    expect(again.duplicate).toBe(true);
    expect(t.delivery(id)?.state).toBe('done');
    expect(loggedWith(t.logLines, 'handover requested by callback was refused')).toEqual({
      deliveryId: id,
      serviceId: BOT,
      userId: USER,
      source: 'downstream',
      reason: 'invalid',
      code: 'invalid_metadata',
    });
    expect(t.counted('CallbackHandoverRefused')).toEqual([
      ['CallbackHandoverRefused', 1, { reason: 'invalid' }],
    ]);
    expect(t.parley.calls.filter((c) => c.method === 'setOwner')).toEqual([]);
    expect(t.parley.ownerOf(USER)).toBe(BOT);
    expect(await history.listUser(USER, { limit: 10 })).toEqual(
      expect.objectContaining({ items: [] }),
    );
  });
});
