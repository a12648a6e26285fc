import { signForward } from '../../functions/domain/signature';
import { type DemoStack, main, playDemo, startDemoStack } from '../../local/demo';
import { startDemoBot } from '../../local/demo-bot';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  AGENT_SERVICE_ID as AGENT,
  BOT_SERVICE_ID as BOT,
  generateSimulatorServicesFile,
} from '../../local/stack';
import { startFromEnvironment } from '../../local/start';
import { http, tempDir } from './support';

describe('the demo', () => {
  let demo: DemoStack;
  beforeAll(async () => {
    demo = await startDemoStack({ reconcileIntervalMs: 0, queue: { pollIntervalMs: 20 } });
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
    // The desk's handback to the bot clears the agent shown to the user.
    const unset = demo.stack
      .parley!.log()
      .filter((e) => e.kind === 'request' && e.path === 'users/20/agent/unset');
    expect(unset).toHaveLength(1);
  });

  it('tells a second run apart from the first by using a fresh user', async () => {
    const report = await playDemo(demo.env);

    expect(report.userId).not.toBe('20');
    expect(report.handovers).toHaveLength(2);
  });
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
    } finally {
      log.mockRestore();
      process.env.PARLEY_LOCAL_DIR = saved;
      if (saved === undefined) delete process.env.PARLEY_LOCAL_DIR;
      dir.remove();
    }
  });

  it('uses a stack started with npm start -- --demo when one runs', async () => {
    const dir = tempDir('demo-attached-');
    const saved = process.env.PARLEY_LOCAL_DIR;
    process.env.PARLEY_LOCAL_DIR = dir.dir;
    const printed: string[] = [];
    const log = jest.spyOn(console, 'log').mockImplementation((line: string) => {
      printed.push(line);
    });
    const running = await startFromEnvironment(['--demo'], {
      env: { PARLEY_LOCAL_DIR: dir.dir, PORT: '0', PARLEY_SIM_PORT: '0' },
      out: () => undefined,
      err: () => undefined,
    });
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
    } finally {
      await running.close();
      log.mockRestore();
      process.env.PARLEY_LOCAL_DIR = saved;
      if (saved === undefined) delete process.env.PARLEY_LOCAL_DIR;
      dir.remove();
    }
  });

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
  });

  it('refuses an unknown argument with exit code 2', async () => {
    const err = jest.spyOn(console, 'error').mockImplementation(() => undefined);
    try {
      expect(await main(['--fast'])).toBe(2);
    } finally {
      err.mockRestore();
    }
  });
});
