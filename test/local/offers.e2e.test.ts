// Offers end to end on the local stack (issue 15): offers of 5 s made over the local gateway, the
// sweep on its own timer (PARLEY_SWEEP_INTERVAL_MS=500), the stack's clock moved on in steps of
// 2 s (no sleeps: each step waits for sweep runs begun after it). An offer nobody answers falls
// back to its onTimeout (one `offer` record asked by system:offer, one PUT owner in the
// simulator's own log, `offer.expired` at both Services); an accepted one moves the user with one
// PUT owner, made with the offerer's credentials. Every function runs under its role's grants;
// the figures printed are counted from the logs, the tables and what the receivers verified.
import { AGENT_SERVICE_ID as AGENT, BOT_SERVICE_ID as BOT } from '../../local/stack';
import { denials } from '../support/iam';
import { reportFigures } from '../support/reliability';
import { startTimersStack, type TimersStack } from '../support/timers-stack';
import { eventually, http as call } from './support';

const UNANSWERED = 'offer-unanswered';
const ACCEPTED = 'offer-accepted';
const STEP_MS = 2_000;
const MAX_STEPS = 6;

describe('offers on the local stack', () => {
  const interval = process.env.PARLEY_SWEEP_INTERVAL_MS;
  let world: TimersStack;
  const changes = (userId: string) =>
    world.stack.parley!.log().filter((e) => e.kind === 'change' && e.userId === userId);
  const api = (path: string, token: string, body: unknown = {}) =>
    call(`${world.stack.url}${path}`, { token, body });

  beforeAll(async () => {
    // The sweep's timer as `npm start` reads it.
    process.env.PARLEY_SWEEP_INTERVAL_MS = '500';
    world = await startTimersStack();
  }, 60_000);

  afterAll(async () => {
    if (interval === undefined) delete process.env.PARLEY_SWEEP_INTERVAL_MS;
    else process.env.PARLEY_SWEEP_INTERVAL_MS = interval;
    await world?.close();
    expect(denials).toEqual([]);
  });

  it('falls back when nobody answers, and moves the user once when the offeree accepts', async () => {
    const { stack, clock, tokens, heard, log, sweeps, records, told } = world;
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
