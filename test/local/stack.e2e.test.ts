// The local stack end to end over real HTTP, driven the way Parley drives it: the simulator's
// control API makes a user write, the simulator calls our webhook through the local gateway, the
// local queue feeds the processor handler, and the Bot Service's downstream asks for the handover.
import type { HandoverRecord } from '../../functions/domain/types';
import { botAnswer } from '../../local/demo-bot';
import { startForwardReceiver } from '../../local/forward-receiver';
import type { SimLogEntry } from '../../local/parley-sim';
import { callbackJson, messageCallback } from '../../local/parley-sim/callback-body';
import { parseServicesFile, tokensOf } from '../../local/services-file';
import {
  AGENT_SERVICE_ID as AGENT,
  BOT_SERVICE_ID as BOT,
  generateSimulatorServicesFile,
  type LocalStack,
  startLocalStack,
} from '../../local/stack';
import seedPutOwner from '../fixtures/seed-put-owner.request.json';
import { denials, strictPerFunction, usage } from '../support/iam';
import { eventually, http, tempDir } from './support';

type Request = Extract<SimLogEntry, { kind: 'request' }>;
const requests = (stack: LocalStack) =>
  stack.parley!.log().filter((e): e is Request => e.kind === 'request');

/** A bot downstream that answers like the demo bot, or fails with 500 while `failing` is set. */
const startBot = async (signingSecret: string) => {
  const state = { failing: false };
  const receiver = await startForwardReceiver({
    signingSecret,
    onForward: async (forward) => {
      if (state.failing) throw new Error('bot down');
      return forward.type === 'message' && forward.text ? botAnswer(forward.text, AGENT) : {};
    },
  });
  return Object.assign(receiver, { state });
};

const simSays = (stack: LocalStack, userId: string, text: string) =>
  http(`${stack.parley!.url}/_sim/users/${userId}/messages`, { body: { text } });

const history = async (stack: LocalStack, userId: string): Promise<HandoverRecord[]> => {
  const res = await http(`${stack.url}/users/${userId}/handovers`, {
    token: stack.tokens.auditor!.token,
  });
  expect(res.status).toBe(200);
  return res.body.handovers;
};

const queueIdle = async (stack: LocalStack) => {
  const s = await stack.queue.stats();
  return s.visible === 0 && s.inFlight === 0;
};

describe('local stack end to end', () => {
  const settings = parseServicesFile(generateSimulatorServicesFile());
  const tokens = tokensOf(settings);
  let bot: Awaited<ReturnType<typeof startBot>>;
  let stack: LocalStack;

  beforeAll(async () => {
    bot = await startBot(tokens.services[BOT]!.signingSecret!);
    stack = await startLocalStack({
      settings,
      downstreamUrls: { [BOT]: bot.url },
      reconcileIntervalMs: 0,
      queue: { pollIntervalMs: 20 },
      // Each function's calls checked against its role in the template (IAM conformance).
      perFunction: strictPerFunction,
    });
  });
  afterAll(async () => {
    await stack.close();
    await bot.close();
    // A refused call that a function swallowed would not fail a test above; and the checks ran.
    expect(denials).toEqual([]);
    expect(usage.get('processor')?.size).toBeGreaterThan(0);
  });

  it('plays the seed story: the bot downstream hands user 20 to the Agent Service, and back', async () => {
    const delivered = await simSays(stack, '20', 'I was charged twice for my last order.');
    expect(delivered.body).toMatchObject({ delivered: true, serviceId: BOT, attempts: 1 });

    const owner = await eventually('user 20 to be owned by the Agent Service', async () => {
      const res = await http(`${stack.url}/users/20/owner`, { token: tokens.auditor!.token });
      // Finished, not only applied at Parley: the cache names the handover (its outbox written).
      return res.body.owner?.identification === AGENT && res.body.lastHandoverId
        ? res.body
        : undefined;
    });
    expect(owner.owner).toEqual({ identification: AGENT, name: 'Agent Service', default: false });

    // Parley saw exactly the seed's PUT owner, made as the Bot Service.
    const puts = requests(stack).filter((r) => r.method === 'PUT' && r.path === 'users/20/owner');
    expect(puts.map(({ method, path, caller, body }) => ({ method, path, caller, body }))).toEqual([
      seedPutOwner,
    ]);
    const callback = stack.parley!.log().find((e) => e.kind === 'callback');
    expect(callback).toMatchObject({
      url: `http://127.0.0.1:${stack.port}/webhooks/parley/${BOT}`,
      status: 200,
    });

    const asAgent = await http(`${stack.url}/users/20/messages`, {
      token: tokens.services[AGENT]!.apiToken,
      body: { text: 'Hi, the agent here.' },
    });
    const asBot = await http(`${stack.url}/users/20/messages`, {
      token: tokens.services[BOT]!.apiToken,
      body: { text: 'The bot again.' },
    });
    expect(asAgent.status).toBe(200);
    expect(asBot.status).toBe(403);
    expect(asBot.body.error.code).toBe('not_owner');
    expect(stack.parley!.messagesTo('20').map((m) => [m.from, m.text])).toEqual([
      [AGENT, 'Hi, the agent here.'],
    ]);

    const first = await history(stack, '20');
    expect(first).toHaveLength(1);
    expect(first[0]).toMatchObject({
      seq: 1,
      fromOwner: BOT,
      toOwner: AGENT,
      reason: 'question_too_complex',
      source: 'downstream',
      status: 'completed',
    });

    const back = await http(`${stack.url}/handovers`, {
      token: tokens.services[AGENT]!.apiToken,
      body: { userId: '20', newOwner: 'default', metadata: { reason: 'resolved' } },
    });
    expect(back.status).toBe(200);
    expect(back.body).toMatchObject({ changed: true, owner: { identification: BOT } });
    const both = await history(stack, '20');
    expect(both.map((r) => [r.seq, r.toOwner, r.status])).toEqual([
      [2, BOT, 'completed'],
      [1, AGENT, 'completed'],
    ]);
    // The agent/unset is an outbox action: the notifier makes it shortly after the answer.
    await eventually('the agent/unset after the hand-back', () =>
      requests(stack).some((r) => r.method === 'PUT' && r.path === 'users/20/agent/unset'),
    );
  });

  it('accepts a repeated delivery with 200 and acts on it once', async () => {
    const callback = callbackJson(
      messageCallback({
        userId: '31',
        id: 90001,
        text: 'What are your opening hours?',
        time: 1767000000,
      }),
    );
    const post = () =>
      http(`${stack.url}/webhooks/parley/${BOT}`, {
        token: tokens.services[BOT]!.callbackToken,
        body: callback,
      });

    const answers = [await post(), await post()];
    await eventually('the bot reply to user 31', () => stack.parley!.messagesTo('31').length > 0);
    // Past the queue's dedup window as well: the processor's delivery item stops a third copy.
    await stack.queue.send({
      groupId: 'user-31',
      dedupId: 'a-later-copy',
      body: JSON.stringify({
        serviceId: BOT,
        deliveryId: `${BOT}#message#90001`,
        receivedAt: new Date().toISOString(),
        body: callback,
      }),
    });
    await eventually('the queue to drain', () => queueIdle(stack));

    expect(answers.map((a) => a.status)).toEqual([200, 200]);
    expect(stack.parley!.messagesTo('31').map((m) => m.text)).toEqual([
      'We are open Monday to Friday, 9:00 to 17:00.',
    ]);
    expect(bot.received.filter((f) => f.userId === '31')).toHaveLength(1);
  });

  it("hands a user asking for a human to the Agent Service by the generated file's example rule", async () => {
    await simSays(stack, '31', 'Can I talk to a human please?');

    const owner = await eventually('user 31 to be owned by the Agent Service', async () => {
      const res = await http(`${stack.url}/users/31/owner`, { token: tokens.auditor!.token });
      return res.body.owner?.identification === AGENT ? res.body : undefined;
    });
    await eventually('the queue to drain', () => queueIdle(stack));
    const records = await history(stack, '31');

    expect(owner.owner.identification).toBe(AGENT);
    expect(records).toEqual([
      expect.objectContaining({
        source: 'rule',
        reason: 'user_requested_human',
        requestedBy: `rule:${BOT}`,
        status: 'completed',
      }),
    ]);
  });

  it('runs the reconcile function with a scheduled event, as the 5-minute schedule does', async () => {
    const result = await stack.reconcileNow();

    expect(result).toMatchObject({ examined: 0, recovered: 0, failed: [] });
  });

  it('answers 401 to a callback with a wrong token and queues nothing', async () => {
    const before = await stack.queue.list();
    const res = await http(`${stack.url}/webhooks/parley/${BOT}`, {
      token: 'not-the-callback-token-at-all',
      body: messageCallback({ userId: '32', id: 5, text: 'x' }),
    });

    expect(res.status).toBe(401);
    expect(await stack.queue.list()).toEqual(before);
  });
});

describe('local stack across a stop and a restart', () => {
  it('delivers callbacks queued at the stop after the restart, and keeps the history', async () => {
    const data = tempDir('stack-restart-');
    const settings = parseServicesFile(generateSimulatorServicesFile());
    const tokens = tokensOf(settings);
    const bot = await startBot(tokens.services[BOT]!.signingSecret!);
    try {
      const first = await startLocalStack({
        settings,
        dataDir: data.dir,
        downstreamUrls: { [BOT]: bot.url },
        reconcileIntervalMs: 0,
        queue: { deliver: false },
      });
      const handover = await http(`${first.url}/handovers`, {
        token: tokens.services[BOT]!.apiToken,
        body: { userId: '40', newOwner: 'Agent Service', metadata: { reason: 'vip' } },
      });
      expect(handover.status).toBe(200);
      expect((await simSays(first, '41', 'What are your opening hours?')).status).toBe(200);
      expect((await simSays(first, '41', 'Do you do shipping abroad?')).status).toBe(200);
      expect(await first.queue.stats()).toEqual({ visible: 2, inFlight: 0, dlq: 0 });
      await first.close();

      const second = await startLocalStack({
        settings,
        dataDir: data.dir,
        downstreamUrls: { [BOT]: bot.url },
        reconcileIntervalMs: 0,
        queue: { pollIntervalMs: 20 },
      });
      try {
        await eventually('both queued messages to be answered', () =>
          second.parley!.messagesTo('41').length === 2 ? true : undefined,
        );
        expect(bot.received.map((f) => f.text)).toEqual([
          'What are your opening hours?',
          'Do you do shipping abroad?',
        ]);
        expect(await history(second, '40')).toMatchObject([
          { seq: 1, toOwner: AGENT, reason: 'vip', status: 'completed' },
        ]);
        // The restarted simulator agrees with the history about who owns user 40.
        const owner = await http(`${second.url}/users/40/owner`, { token: tokens.auditor!.token });
        expect(owner.body.owner.identification).toBe(AGENT);
      } finally {
        await second.close();
      }
    } finally {
      await bot.close();
      data.remove();
    }
  });
});

describe('local stack DLQ', () => {
  it('parks a callback whose downstream keeps failing in the DLQ, and a redrive delivers it', async () => {
    const settings = parseServicesFile(generateSimulatorServicesFile());
    const tokens = tokensOf(settings);
    const bot = await startBot(tokens.services[BOT]!.signingSecret!);
    bot.state.failing = true;
    // The processor holds a failed delivery's lease for 60 s; the test moves its clock past it.
    const clock = { offset: 0, now: () => Date.now() + clock.offset };
    const stack = await startLocalStack({
      settings,
      downstreamUrls: { [BOT]: bot.url },
      reconcileIntervalMs: 0,
      clock,
      config: { downstreamTimeoutMs: 2_000 },
      queue: { pollIntervalMs: 20, visibilityTimeoutMs: 150, maxReceiveCount: 2 },
    });
    try {
      await simSays(stack, '50', 'What are your opening hours?');
      const parked = await eventually('the callback to reach the DLQ', async () => {
        const dlq = await stack.queue.listDlq();
        return dlq.length === 1 ? dlq : undefined;
      });
      expect(parked[0]).toMatchObject({ groupId: 'user-50', receiveCount: 2 });
      expect(stack.parley!.messagesTo('50')).toEqual([]);

      bot.state.failing = false;
      clock.offset = 61_000;
      expect(await stack.queue.redrive()).toBe(1);

      await eventually('the redriven callback to be answered', () =>
        stack.parley!.messagesTo('50').length === 1 ? true : undefined,
      );
      expect(await stack.queue.stats()).toMatchObject({ dlq: 0 });
    } finally {
      await stack.close();
      await bot.close();
    }
  });
});
