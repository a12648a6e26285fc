// Failover end to end on the local stack (DESIGN.md "Failover"): the Parley simulator calls our
// webhook for users of the Agent Service, the local queue feeds the processor (stepped on a
// movable clock), and two signed receivers stand in for the agent desk and the bot, failing on
// demand. Every scenario is checked against the simulator's own log (one PUT owner per failover,
// made with the desk's credentials), the history (one `failover` record) and what the receivers
// heard; the figures printed are counted from those.
import type { SQSBatchResponse, SQSEvent } from 'aws-lambda';
import type { HandoverRecord } from '../../functions/domain/types';
import { makeHandler as processorHandler } from '../../functions/handlers/processor';
import {
  type Forward,
  type ForwardFault,
  type ForwardReceiver,
  startForwardReceiver,
} from '../../local/forward-receiver';
import type { SimLogEntry } from '../../local/parley-sim';
import { parseServicesFile, tokensOf } from '../../local/services-file';
import {
  AGENT_SERVICE_ID as AGENT,
  BOT_SERVICE_ID as BOT,
  generateSimulatorServicesFile,
  LOCAL_VISIBILITY_TIMEOUT_MS,
  type LocalStack,
  startLocalStack,
} from '../../local/stack';
import { recordingLog, recordingMetrics } from '../support/fakes';
import { type MovableClock, movableClock, reportFigures } from '../support/reliability';
import { http } from './support';

const settings = parseServicesFile(generateSimulatorServicesFile());
const tokens = tokensOf(settings);

let stack: LocalStack;
let clock: MovableClock;
let desk: ForwardReceiver;
let bot: ForwardReceiver;
let processor: (event: SQSEvent) => Promise<SQSBatchResponse>;
const metrics = recordingMetrics();
const log = recordingLog();
/** The fault each program answers a user's forward with (none: it answers as usual). */
const deskFault = new Map<string, ForwardFault>();
/** The bot answers 500 to everything while set. */
let botDown = false;

/** What each injected outage caused, counted after it from the logs and tables. */
const outages: Record<string, { failovers: number; puts: number; records: number }> = {};

beforeAll(async () => {
  clock = movableClock();
  desk = await startForwardReceiver({
    signingSecret: tokens.services[AGENT]!.signingSecret!,
    onForward: async () => ({}),
    fault: (f) => (f.userId ? deskFault.get(f.userId) : undefined),
    // Signatures are stamped with the stack's clock, which the test moves on.
    now: () => clock.now(),
  });
  bot = await startForwardReceiver({
    signingSecret: tokens.services[BOT]!.signingSecret!,
    onForward: async () => ({}),
    fault: () => (botDown ? { status: 500 } : undefined),
    now: () => clock.now(),
  });
  stack = await startLocalStack({
    settings,
    clock,
    metrics,
    log,
    reconcileIntervalMs: 0,
    downstreamUrls: { [BOT]: bot.url, [AGENT]: desk.url },
    queue: { deliver: false },
  });
  processor = processorHandler(async () => stack.deps);
}, 30_000);

afterAll(async () => {
  await stack?.close();
  await desk?.close();
  await bot?.close();
});

// ---------------------------------------------------------------- steps and readings

/** Delivers every visible message; then moves the clock past the visibility timeout, until idle. */
const drain = async () => {
  for (let idle = 0, polls = 0; idle < 2 && polls < 400; polls++) {
    if ((await stack.queue.pollOnce(processor)) > 0) {
      idle = 0;
      continue;
    }
    const stats = await stack.queue.stats();
    if (stats.inFlight === 0 && stats.visible === 0) idle++;
    else clock.advance(LOCAL_VISIBILITY_TIMEOUT_MS + 1_000);
  }
};

/** Delivers what is visible now, without moving the clock. */
const deliverVisible = async () => {
  while ((await stack.queue.pollOnce(processor)) > 0) {
    // until nothing is visible
  }
};

/** The user goes to the agent desk through the API, as the bot would hand them over. */
const toDesk = async (userId: string) => {
  const res = await http(`${stack.url}/handovers`, {
    token: tokens.services[BOT]!.apiToken,
    body: { userId, newOwner: AGENT },
  });
  expect([res.status, res.body.owner?.identification]).toEqual([200, AGENT]);
};

const says = async (userId: string, text: string) => {
  const sent = await stack.parley!.sendUserMessage(userId, text);
  expect(sent.delivered).toBe(true);
  return sent.serviceId;
};

type Change = Extract<SimLogEntry, { kind: 'change' }>;
type Request = Extract<SimLogEntry, { kind: 'request' }>;
/** Owner changes Parley applied from the desk to the bot, made with the desk's credentials. */
const failoverChanges = (userIds: string[]) =>
  stack
    .parley!.log()
    .filter(
      (e): e is Change =>
        e.kind === 'change' &&
        userIds.includes(e.userId) &&
        e.from === AGENT &&
        e.to === BOT &&
        e.by === AGENT,
    );
const putsAsDesk = (userIds: string[]) =>
  stack
    .parley!.log()
    .filter(
      (e): e is Request =>
        e.kind === 'request' &&
        e.method === 'PUT' &&
        e.caller === AGENT &&
        userIds.some((u) => e.path === `users/${u}/owner`),
    );

const historyOf = async (userId: string): Promise<HandoverRecord[]> =>
  (await stack.deps.history.listUser(userId, { limit: 100, order: 'asc' })).items;
const failoverRecords = async (userIds: string[]) =>
  (await Promise.all(userIds.map(historyOf))).flat().filter((r) => r.source === 'failover');

const messagesOf = (received: Forward[], userIds: string[]) =>
  received.filter((f) => f.type === 'message' && f.userId !== null && userIds.includes(f.userId));
const duplicates = (forwards: Forward[]) =>
  forwards.length - new Set(forwards.map((f) => f.deliveryId)).size;
const refusedLines = (userId: string) =>
  log.lines.filter(
    (l) => l.message === 'failover refused: the user stays' && l.attributes?.userId === userId,
  );

const outage = async (name: string, userIds: string[]) => {
  outages[name] = {
    failovers: (await failoverRecords(userIds)).filter((r) => r.status === 'completed').length,
    puts: putsAsDesk(userIds).length,
    records: (await failoverRecords(userIds)).length,
  };
};

// ---------------------------------------------------------------- scenarios

describe('failover of a desk that is down, end to end', () => {
  it('keeps the user with a desk that answers 200 after 4 s (under the timeout)', async () => {
    const user = 'fo-slow';
    await toDesk(user);
    deskFault.set(user, { delayMs: 4_000 });

    expect(await says(user, 'are you there?')).toBe(AGENT);
    await drain();

    expect(messagesOf(desk.received, [user])).toHaveLength(1);
    expect(messagesOf(desk.failed, [user])).toEqual([]);
    expect(stack.parley!.ownerOf(user)).toBe(AGENT);
    expect(failoverChanges([user])).toEqual([]);
    expect((await historyOf(user)).map((r) => r.source)).toEqual(['api']);
    expect(await stack.queue.stats()).toEqual({ visible: 0, inFlight: 0, dlq: 0 });
  }, 30_000);

  it('hands the user of a desk answering 500 to the bot: one PUT owner, one failover record, the bot hears the message once', async () => {
    const user = 'fo-500';
    await toDesk(user);
    deskFault.set(user, { status: 500 });

    await says(user, 'my parcel never came');
    await drain();
    await outage('one delivery', [user]);

    expect(messagesOf(desk.failed, [user])).toHaveLength(3);
    expect(failoverChanges([user])).toHaveLength(1);
    expect(putsAsDesk([user])).toHaveLength(1);
    const records = await failoverRecords([user]);
    expect(records).toEqual([
      expect.objectContaining({
        fromOwner: AGENT,
        toOwner: BOT,
        reason: 'downstream_unavailable',
        metadata: { reason: 'downstream_unavailable', failures: 3, lastStatus: 500 },
        requestedBy: 'system:failover',
        status: 'completed',
      }),
    ]);
    const heard = messagesOf(bot.received, [user]);
    expect(heard.map((f) => [f.text, f.handover])).toEqual([
      ['my parcel never came', { handoverId: records[0]!.handoverId, fromOwner: AGENT }],
    ]);
    expect(await stack.queue.stats()).toEqual({ visible: 0, inFlight: 0, dlq: 0 });

    // No automatic failback: with the desk up again, the user's next message is the bot's.
    deskFault.delete(user);
    expect(await says(user, 'hello again')).toBe(BOT);
    await drain();
    expect(messagesOf(bot.received, [user])).toHaveLength(2);
    expect(stack.parley!.ownerOf(user)).toBe(BOT);
  }, 30_000);

  it('opens the desk circuit in an outage (its users fail over at once) and closes it through a half-open probe', async () => {
    clock.advance(61_000); // a fresh circuit window
    const users = Array.from({ length: 12 }, (_, i) => `fo-c-${i}`);
    const probes = ['fo-p-1', 'fo-p-2', 'fo-p-3'];
    for (const u of [...users, ...probes]) {
      await toDesk(u);
      deskFault.set(u, { status: 500 });
    }
    const openedBefore = metrics.total('CircuitOpened');

    for (const u of users) await says(u, `${u} needs help`);
    await deliverVisible();
    const heardWhileOpening = messagesOf(desk.failed, users).length;
    await drain();

    expect(metrics.total('CircuitOpened') - openedBefore).toBe(1);
    // Ten forwards opened it; the rest of the outage failed over without reaching the desk.
    expect(heardWhileOpening).toBe(10);
    expect(messagesOf(desk.failed, users)).toHaveLength(10);
    expect(failoverChanges(users)).toHaveLength(users.length);
    expect(putsAsDesk(users)).toHaveLength(users.length);
    expect((await failoverRecords(users)).map((r) => r.userId).sort()).toEqual([...users].sort());
    const heard = messagesOf(bot.received, users);
    expect(heard.map((f) => f.userId).sort()).toEqual([...users].sort());
    expect(duplicates(heard)).toBe(0);
    expect(await stack.deps.circuits.get(AGENT)).toMatchObject({ state: 'open' });

    // openSeconds later, still down: the probe fails and the circuit opens again.
    clock.advance(121_000);
    await says('fo-p-1', 'probe while down');
    await deliverVisible();
    expect(messagesOf(desk.failed, ['fo-p-1'])).toHaveLength(1);
    expect(metrics.total('CircuitOpened') - openedBefore).toBe(2);
    await drain(); // its retry finds the circuit open: it fails over at once
    expect(failoverChanges(['fo-p-1'])).toHaveLength(1);

    // The desk is back; openSeconds later the next message is the probe, and it closes the circuit.
    for (const u of probes) deskFault.delete(u);
    clock.advance(121_000);
    await says('fo-p-2', 'probe while up');
    await deliverVisible();
    expect(await stack.deps.circuits.get(AGENT)).toMatchObject({ state: 'closed' });
    await says('fo-p-3', 'after the probe');
    await drain();
    expect(messagesOf(desk.received, ['fo-p-2', 'fo-p-3'])).toHaveLength(2);
    expect(failoverChanges(['fo-p-2', 'fo-p-3'])).toEqual([]);
    await outage('desk-wide', [...users, ...probes]);
  }, 60_000);

  it('with the bot down too: no loop, the message parks in the DLQ and FailoverTargetUnavailable fires', async () => {
    clock.advance(61_000);
    const user = 'fo-both';
    await toDesk(user);
    deskFault.set(user, { status: 500 });
    botDown = true;
    // Ten of the bot's users write while it is down: its circuit opens.
    const botUsers = Array.from({ length: 10 }, (_, i) => `fo-c-${i}`);
    const alarmsBefore = metrics.total('FailoverTargetUnavailable');
    for (const u of botUsers) expect(await says(u, `${u} again`)).toBe(BOT);
    await deliverVisible();
    expect(await stack.deps.circuits.get(BOT)).toMatchObject({ state: 'open' });

    await says(user, 'anyone?');
    await drain();

    const dlq = await stack.queue.listDlq();
    expect(dlq.filter((m) => m.groupId === `user-${user}`).map((m) => m.receiveCount)).toEqual([
      10,
    ]);
    expect(stack.parley!.ownerOf(user)).toBe(AGENT);
    expect(failoverChanges([user])).toEqual([]);
    expect(putsAsDesk([user])).toEqual([]);
    expect(await failoverRecords([user])).toEqual([]);
    expect(messagesOf([...bot.received, ...bot.failed], [user])).toEqual([]);
    // Each receive from the third on asked the guard, and each refusal raised the alarm metric.
    const alarms = metrics.total('FailoverTargetUnavailable') - alarmsBefore;
    expect(alarms).toBe(8);
    expect(refusedLines(user).map((l) => l.attributes?.reason)).toEqual(
      Array(8).fill('target_circuit_open'),
    );

    // Both programs fixed, the runbook's redrive delivers every parked message, nothing lost.
    deskFault.delete(user);
    botDown = false;
    clock.advance(121_000);
    const parked = dlq.length;
    await stack.queue.redrive();
    await drain();
    expect(await stack.queue.stats()).toEqual({ visible: 0, inFlight: 0, dlq: 0 });
    expect(messagesOf(desk.received, [user])).toHaveLength(1);
    expect(stack.parley!.ownerOf(user)).toBe(AGENT);
    await outage('desk and bot', [user]);

    // The messages the bot heard because their user failed over to it (sent on with the handover).
    const failedOver = bot.received.filter(
      (f) => f.type === 'message' && f.handover?.fromOwner === AGENT,
    );
    const perOutage = Object.entries(outages)
      .map(([name, o]) => `${name}: ${o.failovers} failovers, ${o.puts} PUTs`)
      .join('; ');
    reportFigures(
      'failover',
      {
        outages: Object.keys(outages).length,
        failoversPerOutage: Object.values(outages)
          .map((o) => o.failovers)
          .join('/'),
        putOwnerPerOutage: Object.values(outages)
          .map((o) => o.puts)
          .join('/'),
        failoverRecords: Object.values(outages).reduce((n, o) => n + o.records, 0),
        failedOverMessagesToBot: failedOver.length,
        duplicatesToBot: duplicates(failedOver),
        parkedThenRedriven: parked,
        targetUnavailableAlarms: alarms,
      },
      {
        drives:
          'desk outages on the local stack: one delivery failing, the desk down for many users, the desk and the bot down at once',
        proved: `each failover made one PUT owner and one record (${perOutage}); the bot heard each failed-over message once; with no healthy target the user stayed and the message parked, then was redriven`,
      },
    );
  }, 60_000);
});
