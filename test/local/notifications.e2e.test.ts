// Notifications end to end on the local stack: handovers over the local gateway write the outbox,
// the notify queue feeds the notifier, which posts to each Service's receiver (real HTTP servers
// that verify every notification with the `standardwebhooks` package, as a receiver would). Injected
// outages: a receiver answering 500 twice, one answering 410, and a writer whose queue send is
// killed after the record (healed by the relay). A hand-back to the bot leaves its agent/unset to
// the notifier: the simulator's own log shows when it was made. The figures printed at the end are
// counted from what the receivers logged, the simulator's log and the outbox items.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Webhook } from 'standardwebhooks';
import { standardWebhookSecret } from '../../functions/domain/notify/sign';
import type { NotificationSummary } from '../../functions/domain/ports';
import type { SimLogEntry } from '../../local/parley-sim';
import { parseServicesFile, tokensOf } from '../../local/services-file';
import {
  AGENT_SERVICE_ID as AGENT,
  BOT_SERVICE_ID as BOT,
  generateSimulatorServicesFile,
  type LocalStack,
  startLocalStack,
} from '../../local/stack';
import { denials, strictPerFunction, usage } from '../support/iam';
import { eventually, http as call } from './support';

/** One POST a receiver got, and what it answered. */
interface Received {
  service: string;
  id: string;
  delivery: string | undefined;
  type: string;
  userId: string;
  seq: number;
  status: number;
  verified: boolean;
  metadata: 'absent' | 'present';
}

/** A Service's receiver: answers by `answer(body, attemptOfThisId)`, logs every POST. */
const startReceiver = async (service: string, secret: string, log: Received[]) => {
  const attempts = new Map<string, number>();
  const state = { answer: (_body: Record<string, any>, _attempt: number) => 200 };
  const verifier = new Webhook(standardWebhookSecret(secret));
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const raw = Buffer.concat(chunks).toString('utf8');
      let body: Record<string, any>;
      let verified = true;
      try {
        body = verifier.verify(raw, req.headers as Record<string, string>) as Record<string, any>;
      } catch {
        verified = false;
        body = JSON.parse(raw);
      }
      const attempt = (attempts.get(body.id) ?? 0) + 1;
      attempts.set(body.id, attempt);
      const status = verified ? state.answer(body, attempt) : 401;
      log.push({
        service,
        id: body.id,
        delivery: req.headers['x-handover-delivery'] as string | undefined,
        type: body.type,
        userId: body.userId,
        seq: body.seq,
        status,
        verified,
        metadata: 'metadata' in body ? 'present' : 'absent',
      });
      res.writeHead(status, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/notifications`,
    state,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
};

describe('notifications on the local stack', () => {
  const log: Received[] = [];
  const kill = { handoverSend: false };
  /** The notifier's agent/unset calls for these users wait until the test opens their gate. */
  const gates = new Map<string, Promise<void>>();
  const file = generateSimulatorServicesFile();
  const settings0 = parseServicesFile(file);
  const tokens = tokensOf(settings0);
  let stack: LocalStack;
  let receivers: Awaited<ReturnType<typeof startReceiver>>[];
  /** Outage name by user, for the figures. */
  const outageOf: Record<string, string> = {};

  beforeAll(async () => {
    receivers = [
      await startReceiver(BOT, tokens.services[BOT]!.signingSecret!, log),
      await startReceiver(AGENT, tokens.services[AGENT]!.signingSecret!, log),
    ];
    const [bot, agent] = receivers;
    for (const s of file.services) {
      s.notify = { url: s.serviceIdentification === BOT ? bot!.url : agent!.url };
    }
    stack = await startLocalStack({
      settings: parseServicesFile(file),
      reconcileIntervalMs: 0,
      relayIntervalMs: 0, // the test runs the relay itself
      queue: { pollIntervalMs: 20 },
      notifyQueue: { pollIntervalMs: 20 },
      // Small waits so retries come within a test: 0 s, 1 s, then doubling.
      config: { notifyRetrySeconds: [0, 1], notifyRelayAfterSeconds: 1 },
      // Each function's calls checked against its role in the template; the handover
      // function's queue send can be killed, as if it crashed after the record.
      perFunction: async (fn, runtime, endpoint) => {
        const strict = await strictPerFunction(fn, runtime, endpoint);
        if (fn === 'notifier') {
          // Its Parley calls go through this fetch: an agent/unset waits for the user's gate.
          const fetcher = strict.fetch ?? fetch;
          return {
            ...strict,
            fetch: async (input, init) => {
              const user = /\/users\/([^/]+)\/agent\/unset$/.exec(String(input))?.[1];
              if (user) await gates.get(decodeURIComponent(user));
              return fetcher(input, init);
            },
          };
        }
        if (fn !== 'handover') return strict;
        const queue = strict.notifyQueue!;
        return {
          ...strict,
          notifyQueue: {
            send: async (message) => {
              if (kill.handoverSend) throw new Error('killed before the queue send');
              return queue.send(message);
            },
          },
        };
      },
    });
  });

  afterAll(async () => {
    await stack?.close();
    await Promise.all((receivers ?? []).map((r) => r.close()));
    // A refused call the notifier swallowed would not fail a test above; and the checks ran.
    expect(denials).toEqual([]);
    expect(usage.get('notifier')?.size).toBeGreaterThan(0);
  });

  const handover = async (userId: string, from: string, to: string) => {
    const res = await call(`${stack.url}/handovers`, {
      token: tokens.services[from]!.apiToken,
      body: { userId, newOwner: to, metadata: { reason: 'e2e', step: from } },
    });
    expect(res.status).toBe(200);
    return res.body.handover as { handoverId: string; seq: number };
  };

  /** Every outbox item, newest first. */
  const outbox = async (): Promise<NotificationSummary[]> => {
    const items: NotificationSummary[] = [];
    let cursor: string | undefined;
    do {
      const page = await stack.deps.notifications.list({ limit: 100, cursor });
      items.push(...page.items);
      cursor = page.cursor;
    } while (cursor);
    return items;
  };
  const itemsOf = async (userId: string) => (await outbox()).filter((i) => i.userId === userId);
  const settled = (userId: string, count: number) =>
    eventually(
      `the notifications about ${userId} to settle`,
      async () => {
        const items = await itemsOf(userId);
        return items.length === count && items.every((i) => i.status !== 'pending') && items;
      },
      20_000,
    );
  const notifyIdle = async () => {
    const s = await stack.notifyQueue.stats();
    return s.visible === 0 && s.inFlight === 0;
  };
  /** The requests the simulator logged (its own record of what was made at Parley). */
  const requests = () =>
    stack
      .parley!.log()
      .filter((e): e is Extract<SimLogEntry, { kind: 'request' }> => e.kind === 'request');
  const got = (userId: string, service?: string) =>
    log.filter((r) => r.userId === userId && (!service || r.service === service));

  it('tells the old owner (who asked) and the new owner once each, signed, metadata to the new owner only', async () => {
    outageOf.n1 = 'none';
    const { handoverId } = await handover('n1', BOT, AGENT);
    const items = await settled('n1', 2);

    expect(items.map((i) => [i.recipient, i.type, i.status, i.attempts]).sort()).toEqual(
      [
        [AGENT, 'handover.completed', 'sent', 1],
        [BOT, 'handover.completed', 'sent', 1],
      ].sort(),
    );
    expect(
      got('n1')
        .map((r) => [r.service, r.seq, r.status, r.metadata])
        .sort(),
    ).toEqual(
      [
        [AGENT, 1, 200, 'present'],
        [BOT, 1, 200, 'absent'],
      ].sort(),
    );
    expect(got('n1').every((r) => r.verified && r.delivery === r.id)).toBe(true);
    expect(new Set(items.map((i) => i.handoverId))).toEqual(new Set([handoverId]));
  });

  it('a receiver that answers 500 twice then 200 gets each notification once, in seq order', async () => {
    outageOf.n2 = '500 twice';
    receivers[1]!.state.answer = (body, attempt) =>
      body.userId === 'n2' && attempt <= 2 ? 500 : 200;
    await handover('n2', BOT, AGENT);
    await handover('n2', AGENT, BOT);
    await handover('n2', BOT, AGENT);
    // Six notifications, and the agent/unset of the hand-back at seq 2 (its own FIFO group, so
    // the Agent's slow receiver did not hold it).
    const items = await settled('n2', 7);
    expect(
      items.filter((i) => i.kind === 'action').map((i) => [i.type, i.seq, i.status, i.attempts]),
    ).toEqual([['parley.agent_unset', 2, 'sent', 1]]);

    const toAgent = got('n2', AGENT);
    expect(toAgent.map((r) => [r.seq, r.status])).toEqual([
      [1, 500],
      [1, 500],
      [1, 200],
      [2, 500],
      [2, 500],
      [2, 200],
      [3, 500],
      [3, 500],
      [3, 200],
    ]);
    expect(got('n2', BOT).map((r) => [r.seq, r.status])).toEqual([
      [1, 200],
      [2, 200],
      [3, 200],
    ]);
    expect(
      items.filter((i) => i.recipient === AGENT).map((i) => [i.seq, i.status, i.attempts]),
    ).toEqual([
      [3, 'sent', 3],
      [2, 'sent', 3],
      [1, 'sent', 3],
    ]);
  });

  it('stops delivery on 410: failed after one attempt, never tried again', async () => {
    outageOf.n3 = '410';
    receivers[0]!.state.answer = (body) => (body.userId === 'n3' ? 410 : 200);
    await handover('n3', BOT, AGENT);
    const items = await settled('n3', 2);
    await eventually('the notify queue to be idle', notifyIdle);

    expect(items.map((i) => [i.recipient, i.status, i.attempts, i.lastStatus]).sort()).toEqual(
      [
        [AGENT, 'sent', 1, 200],
        [BOT, 'failed', 1, 410],
      ].sort(),
    );
    expect(got('n3', BOT).map((r) => r.status)).toEqual([410]);
    expect((await stack.notifyQueue.stats()).dlq).toBe(0);
  });

  it('heals a crash between the record and the queue send with the relay', async () => {
    outageOf.n4 = 'killed send';
    kill.handoverSend = true;
    await handover('n4', BOT, AGENT);
    kill.handoverSend = false;
    await eventually('the notify queue to be idle', notifyIdle);
    const pending = await itemsOf('n4');
    expect(pending.map((i) => i.status)).toEqual(['pending', 'pending']);
    expect(got('n4')).toEqual([]);

    // The relay queues what has been pending for its second; it is run until it has.
    await eventually(
      'the relay to queue the pending notifications',
      async () => {
        await stack.relayNow();
        return (await itemsOf('n4')).every((i) => i.status === 'sent');
      },
      20_000,
    );
    expect(
      got('n4')
        .map((r) => [r.service, r.status])
        .sort(),
    ).toEqual(
      [
        [AGENT, 200],
        [BOT, 200],
      ].sort(),
    );
  });

  it('makes the agent/unset of a hand-back to the bot after the API answered, once, within seconds', async () => {
    outageOf.n5 = 'none (hand-back)';
    await handover('n5', BOT, AGENT);
    await settled('n5', 2);
    let open = () => {};
    gates.set('n5', new Promise<void>((resolve) => (open = resolve)));
    const unsets = () => requests().filter((e) => e.path === 'users/n5/agent/unset');

    // The notifier's unset is held until the answer is in: a request that waited for it would
    // never answer, and one that made the call itself would show in the simulator's log now.
    const back = await handover('n5', AGENT, BOT);
    const answeredAt = Date.now();
    expect(unsets()).toEqual([]);
    expect(
      requests()
        .filter((e) => e.path.startsWith('users/n5/'))
        .map((e) => `${e.method} ${e.path}`),
    ).toEqual(['GET users/n5/owner', 'PUT users/n5/owner', 'PUT users/n5/owner']);
    open();

    const [unset] = await eventually(
      'the agent/unset of user n5',
      () => unsets().length > 0 && unsets(),
      5_000,
    );
    const items = await settled('n5', 5);
    await eventually('the notify queue to be idle', notifyIdle);

    expect(unsets()).toHaveLength(1);
    expect([unset!.method, unset!.caller, unset!.status]).toEqual(['PUT', BOT, 200]);
    expect(Date.parse(unset!.at)).toBeGreaterThanOrEqual(answeredAt - 1);
    expect(Date.parse(unset!.at) - answeredAt).toBeLessThan(5_000);
    expect(
      items
        .filter((i) => i.kind === 'action')
        .map((i) => [i.type, i.recipient, i.seq, i.handoverId, i.status, i.attempts]),
    ).toEqual([['parley.agent_unset', BOT, 2, back.handoverId, 'sent', 1]]);
  });

  it('counts what was sent, duplicated and lost per injected outage', async () => {
    await eventually('the notify queue to be idle', notifyIdle);
    const all = await outbox();
    const items = all.filter((i) => i.kind === 'notification');
    const figures = Object.entries(outageOf).map(([userId, outage]) => {
      const mine = items.filter((i) => i.userId === userId);
      const accepted = got(userId).filter((r) => r.status >= 200 && r.status < 300);
      const acceptedIds = new Set(accepted.map((r) => r.id));
      const refused = mine.filter(
        (i) => i.status === 'failed' && i.lastError?.startsWith('refused'),
      );
      return {
        outage,
        notifications: mine.length,
        posts: got(userId).length,
        sent: acceptedIds.size,
        duplicated: accepted.length - acceptedIds.size,
        refused: refused.length,
        lost: mine.filter((i) => !acceptedIds.has(i.id) && !refused.includes(i)).length,
        unverified: got(userId).filter((r) => !r.verified).length,
      };
    });
    // The actions: one per hand-back to the bot, each made at Parley once (the simulator's log).
    const actions = all.filter((i) => i.kind === 'action');
    const unsetCalls = requests().filter((e) => e.path.endsWith('/agent/unset'));
    const actionFigures = {
      actions: actions.length,
      done: actions.filter((i) => i.status === 'sent').length,
      unsetCalls: unsetCalls.length,
      usersUnset: new Set(unsetCalls.map((e) => e.path)).size,
    };
    console.log(
      ['notifications per injected outage (counted from the receivers and the outbox):']
        .concat(figures.map((f) => JSON.stringify(f)))
        .concat(
          `agent/unset actions (outbox and the simulator's log): ${JSON.stringify(actionFigures)}`,
        )
        .join('\n'),
    );
    expect(actionFigures).toEqual({
      actions: actions.length,
      done: actions.length,
      unsetCalls: actions.length,
      usersUnset: actions.length,
    });
    expect(actions.map((i) => i.userId).sort()).toEqual(['n2', 'n5']);
    expect(figures.map((f) => f.outage)).toEqual([
      'none',
      '500 twice',
      '410',
      'killed send',
      'none (hand-back)',
    ]);
    for (const f of figures) {
      expect({
        outage: f.outage,
        duplicated: f.duplicated,
        lost: f.lost,
        unverified: f.unverified,
      }).toEqual({
        outage: f.outage,
        duplicated: 0,
        lost: 0,
        unverified: 0,
      });
    }
    expect(figures.reduce((n, f) => n + f.sent, 0)).toBe(items.length - 1);
  });
});
