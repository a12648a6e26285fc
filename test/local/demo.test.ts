import { notificationHeaders } from '../../functions/domain/notify/sign';
import { signForward } from '../../functions/domain/signature';
import {
  type DemoStack,
  generateDemoServicesFile,
  main,
  playDemo,
  startDemoStack,
} from '../../local/demo';
import { startDemoAgent } from '../../local/demo-agent';
import { startDemoBot } from '../../local/demo-bot';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  AGENT_SERVICE_ID as AGENT,
  BOT_SERVICE_ID as BOT,
  generateSimulatorServicesFile,
} from '../../local/stack';
import { parseServicesFile } from '../../local/services-file';
import { startFromEnvironment } from '../../local/start';
import { eventually, http, tempDir } from './support';

describe('the demo', () => {
  let demo: DemoStack;
  /** What the demo bot and desk printed. */
  const printed: string[] = [];
  beforeAll(async () => {
    demo = await startDemoStack({
      reconcileIntervalMs: 0,
      queue: { pollIntervalMs: 20 },
      notifyQueue: { pollIntervalMs: 20 },
      out: (line) => printed.push(line),
    });
  });
  afterAll(async () => {
    await demo.close();
  });

  it('plays the seed story: bot answer, handover, agent answer, handback, and the audit', async () => {
    const lines: string[] = [];

    const report = await playDemo(demo.env, { out: (line) => lines.push(line) });

    expect(report.userId).toBe('20');
    expect(report.timeline.map((e) => e.who)).toEqual([
      'user 20',
      'Bot Service',
      'user 20',
      'handover',
      'Agent Service',
      'user 20',
      'Agent Service',
      'handover',
    ]);
    expect(
      report.handovers.map((r) => [r.seq, r.fromOwner, r.toOwner, r.reason, r.source]),
    ).toEqual([
      [1, BOT, AGENT, 'question_too_complex', 'downstream'],
      [2, AGENT, BOT, 'conversation_closed', 'api'],
    ]);
    expect(report.tooComplex.map((r) => r.seq)).toEqual([1]);
    expect(lines).toContain('Timeline of user 20');
    expect(lines.some((l) => l.includes('-- handover') && l.includes('question_too_complex'))).toBe(
      true,
    );
    // The desk's handback to the bot clears the agent shown to the user (an outbox action, made
    // by the notifier after the handback's answer).
    const unsets = () =>
      demo.stack
        .parley!.log()
        .filter((e) => e.kind === 'request' && e.path === 'users/20/agent/unset');
    await eventually('the agent/unset after the handback', () => unsets().length > 0);
    await eventually('the notify queue to be idle', async () => {
      const stats = await demo.stack.notifyQueue.stats();
      return stats.visible === 0 && stats.inFlight === 0;
    });
    expect(unsets()).toHaveLength(1);
  });

  it('has the bot and the desk print each message forwarded to them, without its text', () => {
    expect(printed.filter((l) => / of user 20\b/.test(l))).toEqual([
      '[demo bot] message of user 20',
      '[demo bot] message of user 20',
      '[demo desk] message of user 20 (handed over from Bot Service)',
      '[demo desk] message of user 20',
    ]);
    expect(printed.join('\n')).not.toContain('opening hours');
  });

  it('has the bot and the desk print each notification they receive: type, user, seq, from -> to', async () => {
    const expected = [
      '[demo bot] handover.completed user 20 seq 1: Bot Service -> Agent Service',
      '[demo desk] handover.completed user 20 seq 1: Bot Service -> Agent Service',
      '[demo bot] handover.completed user 20 seq 2: Agent Service -> Bot Service',
      '[demo desk] handover.completed user 20 seq 2: Agent Service -> Bot Service',
    ];
    const about20 = () => printed.filter((l) => / user 20 seq /.test(l));

    await eventually('four notification lines about user 20', () => about20().length >= 4);

    expect(about20().sort()).toEqual(expected.sort());
  });

  it('tells a second run apart from the first by using a fresh user', async () => {
    const report = await playDemo(demo.env);

    expect(report.userId).not.toBe('20');
    expect(report.handovers).toHaveLength(2);
  });
});

describe("the demo's second act: the desk lets a user's lease run out", () => {
  let demo: DemoStack;
  beforeAll(async () => {
    // The demo's own services file (the desk's lease: 10 s of silence) and a quick sweep.
    demo = await startDemoStack({
      settings: parseServicesFile(generateDemoServicesFile()),
      reconcileIntervalMs: 0,
      sweepIntervalMs: 250,
      queue: { pollIntervalMs: 20 },
    });
  });
  afterAll(async () => {
    await demo.close();
  });

  it('hands the idle user back to the bot by itself, after 10 s of silence, with a timeout record', async () => {
    const lines: string[] = [];

    const report = await playDemo(demo.env, { out: (line) => lines.push(line), timeoutMs: 20_000 });

    expect(demo.env.deskIdleSeconds).toBe(10);
    const idle = report.idle!;
    expect(idle.userId).toBe('21');
    expect(idle.handovers.map((r) => [r.seq, r.fromOwner, r.toOwner, r.reason, r.source])).toEqual([
      [1, BOT, AGENT, 'user_requested_human', 'rule'],
      [2, AGENT, BOT, 'lease_expired', 'timeout'],
    ]);
    const expired = idle.handovers[1]!;
    expect(expired).toMatchObject({ status: 'completed', requestedBy: 'system:lease' });
    expect(expired.metadata).toMatchObject({ idleSeconds: 10 });
    // The desk's one answer reset the lease (it was written before Parley showed it), and the
    // user went back only after a whole idle time without anything from either side.
    const { lastUserAt, lastOwnerAt } = expired.metadata as Record<string, string>;
    const deskAnswer = idle.timeline.find((e) => e.who === 'Agent Service')!;
    expect(Date.parse(lastOwnerAt!)).toBeGreaterThan(Date.parse(idle.handovers[0]!.createdAt));
    expect(Date.parse(lastOwnerAt!)).toBeLessThanOrEqual(Date.parse(deskAnswer.at));
    const lastActivity = Math.max(Date.parse(lastUserAt!), Date.parse(lastOwnerAt!));
    expect(Date.parse(expired.createdAt) - lastActivity).toBeGreaterThanOrEqual(10_000);
    expect(demo.stack.parley!.ownerOf('21')).toBe(BOT);
    expect(idle.owner).toEqual({ identification: BOT, name: 'Bot Service' });
    expect(lines).toContain('Timeline of user 21: Agent Service let the lease run out');
    expect(lines).toContain('  user 21 is back with Bot Service');
    expect(
      lines.some((l) => l.includes('-- handover') && l.includes('(lease_expired, timeout')),
    ).toBe(true);
    // The seed's story played meanwhile, untouched.
    expect(report.handovers.map((r) => r.reason)).toEqual([
      'question_too_complex',
      'conversation_closed',
    ]);
  }, 60_000);
});

describe('the demo bot', () => {
  it('answers only forwards signed with the Bot Service secret, and dedupes deliveries', async () => {
    const secret = 'demo-bot-signing-secret-0001';
    const bot = await startDemoBot({ signingSecret: secret });
    try {
      const body = JSON.stringify({
        deliveryId: 'd-1',
        serviceId: BOT,
        userId: '7',
        type: 'message',
        text: 'Can you explain my invoice?',
        callback: {},
      });
      const ts = Math.floor(Date.now() / 1000);
      const send = (signature: string, timestamp = ts) =>
        http(bot.url, {
          body,
          headers: {
            'x-handover-timestamp': String(timestamp),
            'x-handover-signature': signature,
            'x-handover-delivery': 'd-1',
          },
        });

      const forged = await send(signForward('another-secret-entirely', ts, body));
      const stale = await send(signForward(secret, ts - 600, body), ts - 600);
      const good = await send(signForward(secret, ts, body));
      const repeat = await send(signForward(secret, ts, body));

      expect([forged.status, stale.status]).toEqual([401, 401]);
      expect(good.status).toBe(200);
      expect(good.body).toEqual({
        handover: { newOwner: 'Agent Service', metadata: { reason: 'question_too_complex' } },
      });
      expect(repeat.body).toEqual(good.body);
      expect(bot.rejected).toBe(2);
    } finally {
      await bot.close();
    }
  });
});

/** A notification as the sender signs it: both schemes, or only the one named. */
const notificationRequest = (
  secret: string,
  body: Record<string, unknown>,
  scheme: 'both' | 'standard' | 'v1' = 'both',
) => {
  const raw = JSON.stringify(body);
  const ts = Math.floor(Date.now() / 1000);
  const all = notificationHeaders(secret, String(body.id), ts, raw);
  const keep: Record<string, string[]> = {
    both: Object.keys(all),
    standard: ['webhook-id', 'webhook-timestamp', 'webhook-signature'],
    v1: ['webhook-id', 'X-Handover-Timestamp', 'X-Handover-Signature', 'X-Handover-Delivery'],
  };
  const headers = Object.fromEntries(
    Object.entries(all).filter(([k]) => keep[scheme]!.includes(k) && k !== 'Content-Type'),
  );
  return { body: raw, headers: { ...headers, 'content-type': 'application/json' } };
};

const notification = (userId: string, seq: number, id = `ntf_${userId}_${seq}`) => ({
  id,
  type: 'handover.completed',
  createdAt: '2026-03-10T14:00:00.000Z',
  userId,
  seq,
  handoverId: `h-${userId}-${seq}`,
  from: AGENT,
  to: BOT,
  reason: null,
  source: 'api',
  requestedBy: AGENT,
});

describe('the demo bot and desk as notification receivers', () => {
  const secret = 'demo-bot-signing-secret-0002';

  it('print a verified notification once, Standard Webhooks or v1, and drop a repeated or stale seq per user', async () => {
    const lines: string[] = [];
    const bot = await startDemoBot({
      signingSecret: secret,
      out: (line) => lines.push(line),
      names: { [BOT]: 'Bot Service', [AGENT]: 'Agent Service' },
    });
    try {
      const post = (body: Record<string, unknown>, scheme?: 'both' | 'standard' | 'v1') =>
        http(bot.url, notificationRequest(secret, body, scheme));

      const statuses = [
        (await post(notification('7', 2), 'standard')).status,
        (await post(notification('7', 2), 'v1')).status, // the same one again
        (await post(notification('7', 1, 'ntf_late'))).status, // stale: seq 2 was seen
        (await post(notification('8', 1), 'v1')).status, // another user
        (await post(notification('7', 3))).status,
        (await http(bot.url, notificationRequest('another-secret-entirely', notification('7', 4))))
          .status,
      ];

      expect(statuses).toEqual([200, 200, 200, 200, 200, 401]);
      expect(lines).toEqual([
        '[demo bot] handover.completed user 7 seq 2: Agent Service -> Bot Service',
        '[demo bot] dropped handover.completed user 7 seq 2: already taken',
        '[demo bot] dropped handover.completed user 7 seq 1: seq 2 already seen',
        '[demo bot] handover.completed user 8 seq 1: Agent Service -> Bot Service',
        '[demo bot] handover.completed user 7 seq 3: Agent Service -> Bot Service',
      ]);
      expect(bot.notifications.map((n) => [n.userId, n.seq])).toEqual([
        ['7', 2],
        ['8', 1],
        ['7', 3],
      ]);
      expect([bot.droppedNotifications, bot.rejected, bot.received]).toEqual([2, 1, []]);
    } finally {
      await bot.close();
    }
  });
  it('takes a second event about the same record (a lease warning after its handover), and drops only a repeated id', async () => {
    const lines: string[] = [];
    const desk = await startDemoAgent({
      signingSecret: secret,
      out: (line) => lines.push(line),
      names: { [BOT]: 'Bot Service', [AGENT]: 'Agent Service' },
    });
    try {
      const post = (body: Record<string, unknown>) =>
        http(desk.url, notificationRequest(secret, body));
      const warning = { ...notification('9', 1, 'ntf_warn'), type: 'lease.expiring' };
      for (const body of [notification('9', 1), warning, warning]) {
        expect((await post(body)).status).toBe(200);
      }
      expect(desk.notifications.map((n) => [n.type, n.seq])).toEqual([
        ['handover.completed', 1],
        ['lease.expiring', 1],
      ]);
      expect(desk.droppedNotifications).toBe(1);
    } finally {
      await desk.close();
    }
  });
});

describe("the demo desk's fault mode", () => {
  it('fails every forward while set (PUT /_demo/fault), still takes notifications, and recovers on DELETE', async () => {
    const secret = 'demo-desk-signing-secret-0003';
    const lines: string[] = [];
    const desk = await startDemoAgent({ signingSecret: secret, out: (l) => lines.push(l) });
    const control = `${desk.url}_demo/fault`;
    const forward = () => {
      const body = JSON.stringify({
        deliveryId: `d-${Date.now()}`,
        serviceId: AGENT,
        userId: '9',
        type: 'event',
        text: null,
        callback: {},
      });
      const ts = Math.floor(Date.now() / 1000);
      return http(desk.url, {
        body,
        headers: {
          'x-handover-timestamp': String(ts),
          'x-handover-signature': signForward(secret, ts, body),
        },
      });
    };
    try {
      const refused = [
        await http(control, { method: 'PUT', body: { status: 200 } }),
        await http(control, { method: 'PUT', body: { status: 503, slow: true } }),
        await http(control, { method: 'PUT', body: 'not json' }),
      ];
      const set = await http(control, { method: 'PUT', body: { status: 503 } });
      const shown = await http(control);
      const failing = await forward();
      const told = await http(desk.url, notificationRequest(secret, notification('9', 1)));
      const cleared = await http(control, { method: 'DELETE' });
      const working = await forward();

      expect(refused.map((r) => [r.status, r.body.error])).toEqual([
        [400, 'status must be a whole number from 400 to 599'],
        [400, 'unknown field "slow": the fault takes status, drop and delayMs'],
        [400, 'the body is not a JSON object'],
      ]);
      expect([set.status, set.body]).toEqual([200, { fault: { status: 503 } }]);
      expect(shown.body).toEqual({ fault: { status: 503 } });
      expect([failing.status, told.status, cleared.body, working.status]).toEqual([
        503,
        200,
        { fault: null },
        200,
      ]);
      expect([desk.failed.length, desk.received.length]).toEqual([1, 1]);
      expect(lines).toEqual([
        '[demo desk] fault mode on: every forward answers 503',
        '[demo desk] forward for user 9 answered 503 (fault mode)',
        `[demo desk] handover.completed user 9 seq 1: ${AGENT} -> ${BOT}`,
        '[demo desk] fault mode off',
        '[demo desk] event of user 9',
      ]);
    } finally {
      await desk.close();
    }
  });
});

describe('npm run demo', () => {
  it('starts its own stack when none runs, prints the timeline and the audit, and exits 0', async () => {
    const dir = tempDir('demo-main-');
    const saved = process.env.PARLEY_LOCAL_DIR;
    process.env.PARLEY_LOCAL_DIR = dir.dir;
    const printed: string[] = [];
    const log = jest.spyOn(console, 'log').mockImplementation((line: string) => {
      printed.push(line);
    });
    try {
      const code = await main([]);

      expect(code).toBe(0);
      expect(printed[0]).toMatch(
        /^Started a throwaway local stack at http:\/\/127\.0\.0\.1:\d+\.$/,
      );
      expect(printed).toContain('Audit: GET /users/20/handovers');
      expect(
        printed.some((l) => /^ {2}1 handover\(s\) for reason question_too_complex/.test(l)),
      ).toBe(true);
      // Its own stack gives the desk a 10 s lease: the second act plays to its end.
      expect(printed).toContain('Timeline of user 21: Agent Service let the lease run out');
      expect(printed).toContain('  user 21 is back with Bot Service');
    } finally {
      log.mockRestore();
      process.env.PARLEY_LOCAL_DIR = saved;
      if (saved === undefined) delete process.env.PARLEY_LOCAL_DIR;
      dir.remove();
    }
  }, 60_000);

  it('uses a stack started with npm start -- --demo when one runs', async () => {
    const dir = tempDir('demo-attached-');
    // The stack's own services file, with the desk's lease at 10 s, and a quick sweep: the
    // second act on the running stack.
    writeFileSync(join(dir.dir, 'services.json'), JSON.stringify(generateDemoServicesFile()));
    const saved = process.env.PARLEY_LOCAL_DIR;
    const savedSweep = process.env.PARLEY_SWEEP_INTERVAL_MS;
    process.env.PARLEY_LOCAL_DIR = dir.dir;
    process.env.PARLEY_SWEEP_INTERVAL_MS = '250';
    const printed: string[] = [];
    const log = jest.spyOn(console, 'log').mockImplementation((line: string) => {
      printed.push(line);
    });
    const running = await startFromEnvironment(['--demo'], {
      env: { PARLEY_LOCAL_DIR: dir.dir, PORT: '0', PARLEY_SIM_PORT: '0' },
      out: () => undefined,
      err: () => undefined,
    });
    if (savedSweep === undefined) delete process.env.PARLEY_SWEEP_INTERVAL_MS;
    else process.env.PARLEY_SWEEP_INTERVAL_MS = savedSweep;
    if (typeof running === 'number') throw new Error('npm start -- --demo did not start');
    try {
      const code = await main([]);

      expect(code).toBe(0);
      expect(printed[0]).toBe(`Using the running stack at ${running.stack.url}.`);
      expect(running.stack.parley!.messagesTo('20').map((m) => m.from)).toEqual([
        BOT,
        AGENT,
        AGENT,
      ]);
      expect(running.stack.parley!.ownerOf('21')).toBe(BOT);
      expect(printed).toContain('  user 21 is back with Bot Service');
    } finally {
      await running.close();
      log.mockRestore();
      process.env.PARLEY_LOCAL_DIR = saved;
      if (saved === undefined) delete process.env.PARLEY_LOCAL_DIR;
      dir.remove();
    }
  }, 60_000);

  it('says so when the running stack has no demo bot and desk, and plays on a throwaway stack of its own', async () => {
    const dir = tempDir('demo-plain-');
    const file = join(dir.dir, 'mine.json');
    writeFileSync(file, JSON.stringify(generateSimulatorServicesFile()));
    const saved = process.env.PARLEY_LOCAL_DIR;
    process.env.PARLEY_LOCAL_DIR = dir.dir;
    const printed: string[] = [];
    const log = jest.spyOn(console, 'log').mockImplementation((line: string) => {
      printed.push(line);
    });
    const running = await startFromEnvironment([], {
      env: {
        PARLEY_LOCAL_DIR: dir.dir,
        PARLEY_SERVICES_FILE: file,
        PORT: '0',
        PARLEY_SIM_PORT: '0',
      },
      out: () => undefined,
      err: () => undefined,
    });
    if (typeof running === 'number') throw new Error('npm start did not start');
    try {
      const code = await main([]);

      expect(code).toBe(0);
      expect(printed[0]).toBe(
        `The stack running at ${running.stack.url} has no demo bot and desk attached ("npm start -- --demo" attaches them): the demo starts a throwaway stack of its own.`,
      );
      expect(printed[1]).toMatch(
        /^Started a throwaway local stack at http:\/\/127\.0\.0\.1:\d+\.$/,
      );
      expect(running.stack.parley!.messagesTo('20')).toEqual([]);
    } finally {
      await running.close();
      log.mockRestore();
      process.env.PARLEY_LOCAL_DIR = saved;
      if (saved === undefined) delete process.env.PARLEY_LOCAL_DIR;
      dir.remove();
    }
  }, 60_000);

  it('refuses an unknown argument with exit code 2', async () => {
    const err = jest.spyOn(console, 'error').mockImplementation(() => undefined);
    try {
      expect(await main(['--fast'])).toBe(2);
    } finally {
      err.mockRestore();
    }
  });
});
