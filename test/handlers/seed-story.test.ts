// The seed's story through the real handlers: user 20 writes to the Bot Service, whose program asks
// for a handover to the Agent Service; the agent answers and later hands the user back.
import { readFileSync } from 'node:fs';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { verifyForwardSignature } from '../../functions/domain/signature';
import { makeHandler as audit } from '../../functions/handlers/audit';
import { makeHandler as handover } from '../../functions/handlers/handover';
import { makeHandler as inbound } from '../../functions/handlers/inbound';
import { makeHandler as messages } from '../../functions/handlers/messages';
import { makeHandler as notifier } from '../../functions/handlers/notifier';
import { makeHandler as owner } from '../../functions/handlers/owner';
import { makeHandler as processor } from '../../functions/handlers/processor';
import { messageCallback } from '../../local/parley-sim/callback-body';
import { apiEvent, sqsEvent, sqsRecord } from '../support/events';
import { AGENT, BOT, type Harness, startHarness } from '../support/harness';

interface Received {
  headers: IncomingHttpHeaders;
  body: string;
}

const startBot = async (answer: (body: any) => unknown) => {
  const received: Received[] = [];
  const server: Server = createServer((req, res) => {
    let body = '';
    req.on('data', (c) => {
      body += c;
    });
    req.on('end', () => {
      received.push({ headers: req.headers, body });
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify(answer(JSON.parse(body))));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/bot`,
    received,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
};

/** What a program received about one user (the programs are shared by this file's tests). */
const about = (received: Received[], userId: string): Received[] =>
  received.filter((r) => JSON.parse(r.body).userId === userId);

const fixture = JSON.parse(
  readFileSync(join(__dirname, '..', 'fixtures', 'seed-put-owner.request.json'), 'utf8'),
);

describe("the seed's story", () => {
  let h: Harness;
  let bot: Awaited<ReturnType<typeof startBot>>;
  let agentDesk: Awaited<ReturnType<typeof startBot>>;

  beforeAll(async () => {
    bot = await startBot(() => ({
      handover: { newOwner: AGENT, metadata: { reason: 'question_too_complex' } },
    }));
    agentDesk = await startBot(() => ({}));
    h = await startHarness({
      services: { [BOT]: { downstreamUrl: bot.url }, [AGENT]: { downstreamUrl: agentDesk.url } },
    });
  });

  afterAll(async () => {
    await h.close();
    await bot.close();
    await agentDesk.close();
  });

  it('hands user 20 to the Agent Service at the bot program’s request, and back to the default', async () => {
    // User 20 writes to the Bot Service: Parley calls our webhook.
    const callback = messageCallback({
      userId: '20',
      id: 10737,
      text: 'Can I change my contract?',
      time: 1536739259,
    });
    const accepted = await inbound(h.source)(
      apiEvent({
        method: 'POST',
        path: `/webhooks/parley/${BOT}`,
        headers: { Authorization: `Bearer ${h.tokens.bot.callback}` },
        body: callback,
      }),
    );
    expect(accepted.statusCode).toBe(200);

    // The processor forwards it, signed, to the bot, which asks for the handover.
    const batch = await processor(h.source)(h.drainQueue());
    expect(batch).toEqual({ batchItemFailures: [] });
    expect(about(bot.received, '20')).toHaveLength(1);
    const forward = about(bot.received, '20')[0]!;
    expect(
      verifyForwardSignature(
        h.tokens.bot.signing,
        String(forward.headers['x-handover-signature']),
        Number(forward.headers['x-handover-timestamp']),
        forward.body,
        Math.floor(Date.now() / 1000),
      ),
    ).toBe(true);
    expect(forward.headers['x-handover-delivery']).toBe(`${BOT}#message#10737`);

    // Parley saw exactly the seed's PUT users/20/owner, made as the Bot Service.
    const puts = h.sim
      .log()
      .filter((e) => e.kind === 'request' && e.method === 'PUT' && e.path === 'users/20/owner');
    expect(puts).toEqual([
      expect.objectContaining({
        method: 'PUT',
        path: fixture.path,
        caller: fixture.caller,
        body: fixture.body,
        status: 200,
      }),
    ]);
    // The triggering message went on to the Agent Service's program.
    expect(about(agentDesk.received, '20')).toHaveLength(1);

    // The agent can now write to user 20; the bot can not.
    const send = (token: string) =>
      messages(h.source)(
        apiEvent({
          method: 'POST',
          path: '/users/20/messages',
          token,
          body: { text: 'Hello, I am an agent.' },
        }),
      );
    expect((await send(h.tokens.agent.api)).statusCode).toBe(200);
    expect((await send(h.tokens.bot.api)).statusCode).toBe(403);

    const now = await owner(h.source)(
      apiEvent({ method: 'GET', path: '/users/20/owner', token: h.tokens.auditor }),
    );
    expect(JSON.parse(String(now.body)).owner).toEqual({
      identification: AGENT,
      name: 'Agent Service',
      default: false,
    });

    const historyOf = async () =>
      JSON.parse(
        String(
          (
            await audit(h.source)(
              apiEvent({ method: 'GET', path: '/users/20/handovers', token: h.tokens.auditor }),
            )
          ).body,
        ),
      ).handovers;
    expect(await historyOf()).toEqual([
      expect.objectContaining({
        seq: 1,
        fromOwner: BOT,
        toOwner: AGENT,
        reason: 'question_too_complex',
        metadata: { reason: 'question_too_complex' },
        source: 'downstream',
        status: 'completed',
        requestedBy: BOT,
      }),
    ]);

    // The agent hands user 20 back to the default service.
    const back = await handover(h.source)(
      apiEvent({
        method: 'POST',
        path: '/handovers',
        token: h.tokens.agent.api,
        body: { userId: '20', newOwner: 'default' },
      }),
    );
    expect(back.statusCode).toBe(200);
    const records = await historyOf();
    expect(
      records.map((r: { seq: number; toOwner: string; status: string }) => [
        r.seq,
        r.toOwner,
        r.status,
      ]),
    ).toEqual([
      [2, BOT, 'completed'],
      [1, AGENT, 'completed'],
    ]);
    const unsets = () =>
      h.sim.log().filter((e) => e.kind === 'request' && e.path === 'users/20/agent/unset');
    // The request made no agent/unset: it is an outbox action, which the notifier runs.
    expect(unsets()).toHaveLength(0);
    const { items } = await h.deps.notifications.list({ limit: 100 });
    const actions = items.filter((i) => i.kind === 'action' && i.userId === '20');
    expect(actions.map((i) => [i.type, i.recipient, i.status])).toEqual([
      ['parley.agent_unset', BOT, 'pending'],
    ]);
    await notifier(h.source)(sqsEvent([sqsRecord(JSON.stringify({ id: actions[0]!.id }), 'g')]));
    expect(unsets()).toHaveLength(1);
    expect((await h.deps.notifications.get(actions[0]!.id))?.status).toBe('sent');
    expect(h.sim.ownerOf('20')).toBe(BOT);
  });

  it('does not act twice on a duplicate delivery', async () => {
    const callback = messageCallback({
      userId: '21',
      id: 555,
      text: 'hello again',
      time: 1536739300,
    });
    const deliver = () =>
      inbound(h.source)(
        apiEvent({
          method: 'POST',
          path: `/webhooks/parley/${BOT}`,
          headers: { Authorization: `Bearer ${h.tokens.bot.callback}` },
          body: callback,
        }),
      );
    await deliver();
    await processor(h.source)(h.drainQueue());
    await deliver();
    await processor(h.source)(h.drainQueue());
    const puts = h.sim
      .log()
      .filter((e) => e.kind === 'request' && e.method === 'PUT' && e.path === 'users/21/owner');
    expect(puts).toHaveLength(1);
    expect(about(bot.received, '21')).toHaveLength(1);
  });
});
