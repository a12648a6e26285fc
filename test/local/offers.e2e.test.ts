// Offers end to end on the local stack (issue 15): offers of 5 s made over the local gateway, the
// sweep on its own timer (PARLEY_SWEEP_INTERVAL_MS=500), the stack's clock moved on in steps of
// 2 s (no sleeps: each step waits for sweep runs begun after it). An offer nobody answers falls
// back to its onTimeout (one `offer` record asked by system:offer, one PUT owner in the
// simulator's own log, `offer.expired` at both Services); an accepted one moves the user with one
// PUT owner, made with the offerer's credentials. Every function runs under its role's grants;
// the figures printed are counted from the logs, the tables and what the receivers verified.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Webhook } from 'standardwebhooks';
import { standardWebhookSecret } from '../../functions/domain/notify/sign';
import type { HandoverRecord } from '../../functions/domain/types';
import { parseServicesFile, tokensOf } from '../../local/services-file';
import {
  AGENT_SERVICE_ID as AGENT,
  BOT_SERVICE_ID as BOT,
  generateSimulatorServicesFile,
  type LocalStack,
  startLocalStack,
} from '../../local/stack';
import { recordingLog } from '../support/fakes';
import { denials, strictPerFunction } from '../support/iam';
import { type MovableClock, movableClock, reportFigures } from '../support/reliability';
import { eventually, http as call } from './support';

const UNANSWERED = 'offer-unanswered';
const ACCEPTED = 'offer-accepted';
const STEP_MS = 2_000;
const MAX_STEPS = 6;

/** A notification a receiver got, its signature verified. */
interface Heard {
  service: string;
  type: string;
  userId: string;
  offerId: string | undefined;
}

const startReceiver = async (service: string, secret: string, heard: Heard[]) => {
  const verifier = new Webhook(standardWebhookSecret(secret));
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      try {
        const body = verifier.verify(
          Buffer.concat(chunks).toString('utf8'),
          req.headers as Record<string, string>,
        ) as Record<string, any>;
        heard.push({ service, type: body.type, userId: body.userId, offerId: body.offer?.offerId });
        res.writeHead(200).end('{}');
      } catch {
        res.writeHead(401).end('{}');
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/notifications`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
};

describe('offers on the local stack', () => {
  const heard: Heard[] = [];
  const log = recordingLog();
  const file = generateSimulatorServicesFile();
  const tokens = tokensOf(parseServicesFile(file));
  const interval = process.env.PARLEY_SWEEP_INTERVAL_MS;
  let clock: MovableClock;
  let stack: LocalStack;
  let receivers: Awaited<ReturnType<typeof startReceiver>>[] = [];

  const sweeps = () => log.lines.filter((l) => l.message === 'sweep').length;
  const records = async (userId: string): Promise<HandoverRecord[]> =>
    (await stack.deps.history.listUser(userId, { limit: 100, order: 'asc' })).items;
  const changes = (userId: string) =>
    stack.parley!.log().filter((e) => e.kind === 'change' && e.userId === userId);
  const told = (type: string, service: string, userId: string) =>
    heard.filter((h) => h.type === type && h.service === service && h.userId === userId).length;
  const api = (path: string, token: string, body: unknown = {}) =>
    call(`${stack.url}${path}`, { token, body });

  beforeAll(async () => {
    clock = movableClock();
    receivers = [
      await startReceiver(BOT, tokens.services[BOT]!.signingSecret!, heard),
      await startReceiver(AGENT, tokens.services[AGENT]!.signingSecret!, heard),
    ];
    for (const s of file.services) {
      s.notify = { url: receivers[s.serviceIdentification === AGENT ? 1 : 0]!.url };
    }
    // The sweep's timer as `npm start` reads it.
    process.env.PARLEY_SWEEP_INTERVAL_MS = '500';
    stack = await startLocalStack({
      settings: parseServicesFile(file),
      clock,
      log,
      reconcileIntervalMs: 0,
      relayIntervalMs: 0,
      queue: { pollIntervalMs: 20 },
      notifyQueue: { pollIntervalMs: 20 },
      perFunction: strictPerFunction,
    });
  }, 60_000);

  afterAll(async () => {
    if (interval === undefined) delete process.env.PARLEY_SWEEP_INTERVAL_MS;
    else process.env.PARLEY_SWEEP_INTERVAL_MS = interval;
    await stack?.close();
    await Promise.all(receivers.map((r) => r.close()));
    expect(denials).toEqual([]);
  });

  it('falls back when nobody answers, and moves the user once when the offeree accepts', async () => {
    // The desk owns the first user and offers it back to the bot for 5 s, falling back to the
    // default Service; the bot offers the second user to the desk, which accepts.
    const toDesk = await api('/handovers', tokens.services[BOT]!.apiToken, {
      userId: UNANSWERED,
      newOwner: AGENT,
    });
    expect(toDesk.status).toBe(200);
    const unanswered = await api('/handovers', tokens.services[AGENT]!.apiToken, {
      userId: UNANSWERED,
      newOwner: 'Bot Service',
      mode: 'offer',
      offerTimeoutSeconds: 5,
      onTimeout: 'default',
      metadata: { reason: 'desk closing' },
    });
    const accepted = await api('/handovers', tokens.services[BOT]!.apiToken, {
      userId: ACCEPTED,
      newOwner: AGENT,
      mode: 'offer',
      offerTimeoutSeconds: 5,
    });
    expect([unanswered.status, accepted.status]).toEqual([202, 202]);

    const accept = await api(
      `/offers/${accepted.body.offer.offerId}/accept`,
      tokens.services[AGENT]!.apiToken,
    );
    expect([accept.status, accept.body.owner.identification]).toEqual([200, AGENT]);

    let steps = 0;
    while (stack.parley!.ownerOf(UNANSWERED) !== BOT && steps < MAX_STEPS) {
      clock.advance(STEP_MS);
      steps++;
      // Two sweep runs begun after the step: at least one saw the whole step's clock.
      const runs = sweeps();
      await eventually('two sweeps after the step', () => sweeps() >= runs + 2, 15_000);
    }
    await eventually('both sides told of the expiry', () =>
      told('offer.expired', AGENT, UNANSWERED) > 0 && told('offer.expired', BOT, UNANSWERED) > 0
        ? true
        : undefined,
    );
    await eventually('both sides told of the acceptance', () =>
      told('offer.accepted', AGENT, ACCEPTED) > 0 && told('offer.accepted', BOT, ACCEPTED) > 0
        ? true
        : undefined,
    );

    // The unanswered offer: its fallback recorded once, one PUT owner for it, made as the desk.
    const fallback = await records(UNANSWERED);
    expect(fallback.map((r) => [r.source, r.offer?.event ?? null, r.fromOwner, r.toOwner])).toEqual(
      [
        ['api', null, BOT, AGENT],
        ['offer', 'created', AGENT, AGENT],
        ['offer', 'expired', AGENT, BOT],
      ],
    );
    expect(fallback[2]!.kind).toBeUndefined();
    expect(fallback[2]).toMatchObject({
      requestedBy: 'system:offer',
      reason: 'offer_expired',
      status: 'completed',
    });
    const fallbackChanges = changes(UNANSWERED);
    expect(fallbackChanges.map((e) => e.kind === 'change' && [e.from, e.to, e.by])).toEqual([
      [BOT, AGENT, BOT],
      [AGENT, BOT, AGENT],
    ]);
    expect(told('offer.created', BOT, UNANSWERED)).toBe(1);
    expect(told('offer.expired', AGENT, UNANSWERED)).toBe(1);
    expect(told('offer.expired', BOT, UNANSWERED)).toBe(1);

    // The accepted offer: one PUT owner, as the offerer (the bot), and no expiry afterwards.
    const acceptedRecords = await records(ACCEPTED);
    expect(acceptedRecords.map((r) => [r.source, r.offer?.event, r.requestedBy])).toEqual([
      ['offer', 'created', BOT],
      ['offer', 'accepted', AGENT],
    ]);
    const acceptChanges = changes(ACCEPTED);
    expect(acceptChanges.map((e) => e.kind === 'change' && [e.from, e.to, e.by])).toEqual([
      [BOT, AGENT, BOT],
    ]);
    expect(heard.filter((h) => h.userId === ACCEPTED && h.type === 'offer.expired')).toEqual([]);

    const summaries = log.lines.filter((l) => l.message === 'sweep');
    reportFigures(
      'offers',
      {
        steps,
        sweeps: summaries.length,
        sweepActed: summaries.reduce((n, l) => n + Number(l.attributes?.acted ?? 0), 0),
        fallbackRecords: fallback.filter((r) => r.offer?.event === 'expired').length,
        putOwnerForFallback: fallbackChanges.length - 1,
        putOwnerForAccept: acceptChanges.length,
        expiredToldDesk: told('offer.expired', AGENT, UNANSWERED),
        expiredToldBot: told('offer.expired', BOT, UNANSWERED),
        acceptedToldBot: told('offer.accepted', BOT, ACCEPTED),
      },
      {
        drives:
          'the local stack with PARLEY_SWEEP_INTERVAL_MS=500, offers of 5 s, the clock moved in steps of 2 s',
        proved:
          'an unanswered offer fell back to the default Service with one record and one PUT owner, both sides told; an accepted one moved the user with one PUT owner as the offerer',
      },
    );
  }, 120_000);
});
