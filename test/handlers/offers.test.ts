// Offers through the real handlers (POST /handovers with mode "offer", the offers routes, the
// sweep): dynalite and the Parley simulator over HTTP, each function held to its role in the
// template (strict IAM), every answer held against docs/openapi.json. What moved is read from the
// history, the outbox and the simulator's own log of applied changes.
import { makeHandler as audit } from '../../functions/handlers/audit';
import { makeHandler as handover } from '../../functions/handlers/handover';
import { makeHandler as offers } from '../../functions/handlers/offers';
import { makeHandler as sweep } from '../../functions/handlers/sweep';
import type { NotificationSummary } from '../../functions/domain/ports';
import type { HandoverRecord } from '../../functions/domain/types';
import type { HttpResult } from '../../functions/platform/handler';
import { type ApiEventInput, apiEvent } from '../support/events';
import { manualClock } from '../support/fakes';
import { AGENT, BOT, type Harness, startHarness } from '../support/harness';
import { checkResponse } from '../support/openapi-check';

let h: Harness;
const clock = manualClock(Date.now());
let handlers: {
  handover: ReturnType<typeof handover>;
  offers: ReturnType<typeof offers>;
  audit: ReturnType<typeof audit>;
};
let runSweep: ReturnType<typeof sweep>;

const call = async (fn: keyof typeof handlers, input: ApiEventInput) => {
  const res = (await handlers[fn](apiEvent(input))) as HttpResult;
  const body = typeof res.body === 'string' ? res.body : '';
  checkResponse(input.method, input.path, res.statusCode!, res.headers, body);
  return { status: res.statusCode!, json: body ? JSON.parse(body) : undefined };
};

beforeAll(async () => {
  h = await startHarness({
    clock,
    services: {
      // Receivers that exist only so the outbox writes their items (the queue send is refused).
      [BOT]: { downstreamUrl: 'http://127.0.0.1:9/bot' },
      [AGENT]: { downstreamUrl: 'http://127.0.0.1:9/desk' },
    },
  });
  const of = (fn: string) => h.source.forFunction?.(fn) ?? h.source;
  handlers = {
    handover: handover(of('handover')),
    offers: offers(of('offers')),
    audit: audit(of('audit')),
  };
  runSweep = sweep(of('sweep'));
}, 60_000);

afterAll(async () => {
  await h.close();
});

const token = { bot: () => h.tokens.bot.api, agent: () => h.tokens.agent.api };

const offer = (userId: string, body: Record<string, unknown> = {}, headers = {}) =>
  call('handover', {
    method: 'POST',
    path: '/handovers',
    token: token.bot(),
    headers,
    body: { userId, newOwner: AGENT, mode: 'offer', offerTimeoutSeconds: 30, ...body },
  });

const answer = (
  offerId: string,
  verb: 'accept' | 'decline' | 'cancel',
  who: 'bot' | 'agent',
  body?: unknown,
) =>
  call('offers', {
    method: 'POST',
    path: `/offers/${offerId}/${verb}`,
    token: token[who](),
    ...(body === undefined ? {} : { body }),
  });

const historyOf = async (userId: string): Promise<HandoverRecord[]> => {
  const res = await call('audit', {
    method: 'GET',
    path: `/users/${userId}/handovers`,
    token: h.tokens.auditor,
  });
  return (res.json.handovers as HandoverRecord[]).slice().reverse();
};

const outboxOf = async (userId: string): Promise<string[]> => {
  const items: NotificationSummary[] = [];
  let cursor: string | undefined;
  do {
    const page = await h.deps.notifications.list({ limit: 100, cursor });
    items.push(...page.items.filter((i) => i.userId === userId && i.kind === 'notification'));
    cursor = page.cursor;
  } while (cursor);
  return items.map((i) => `${i.type} ${i.recipient === BOT ? 'bot' : 'agent'}`).sort();
};

const changesOf = (userId: string) =>
  h.sim.log().filter((e) => e.kind === 'change' && e.userId === userId);

describe('POST /handovers with mode "offer"', () => {
  it('answers 202 with the pending offer, records it with the others and tells both sides', async () => {
    const res = await offer('offer-made', { metadata: { reason: 'billing_question' } });

    expect(res.status).toBe(202);
    expect(res.json.offer).toMatchObject({ from: BOT, to: AGENT, status: 'pending' });
    expect(Date.parse(res.json.offer.expiresAt) - clock.now()).toBe(30_000);
    const records = await historyOf('offer-made');
    expect(records.map((r) => [r.kind, r.offer?.event, r.fromOwner, r.toOwner, r.reason])).toEqual([
      ['offer', 'created', BOT, BOT, 'billing_question'],
    ]);
    expect(await outboxOf('offer-made')).toEqual(['offer.created agent', 'offer.created bot']);
    expect(changesOf('offer-made')).toEqual([]);
  });

  it('replays the same offer under the same Idempotency-Key, and refuses another body 422', async () => {
    const key = { 'Idempotency-Key': 'offer-key-1' };
    const first = await offer('offer-idem', {}, key);
    const again = await offer('offer-idem', {}, key);
    const other = await offer('offer-idem', { offerTimeoutSeconds: 60 }, key);

    expect([first.status, again.status, other.status]).toEqual([202, 202, 422]);
    expect(again.json).toEqual(first.json);
    expect((await historyOf('offer-idem')).length).toBe(1);
  });

  it('refuses an offer by a Service that does not own the user (403 not_owner)', async () => {
    const res = await call('handover', {
      method: 'POST',
      path: '/handovers',
      token: token.agent(),
      body: { userId: 'offer-not-owner', newOwner: BOT, mode: 'offer' },
    });

    expect([res.status, res.json.error.code, res.json.error.currentOwner]).toEqual([
      403,
      'not_owner',
      BOT,
    ]);
  });

  it('refuses offer settings without the mode, and a timeout out of range, naming the field', async () => {
    const noMode = await call('handover', {
      method: 'POST',
      path: '/handovers',
      token: token.bot(),
      body: { userId: 'offer-bad', newOwner: AGENT, onTimeout: 'keep' },
    });
    const tooLong = await offer('offer-bad', { offerTimeoutSeconds: 3601 });

    expect([noMode.status, noMode.json.error.code]).toEqual([400, 'invalid_request']);
    expect(noMode.json.error.message).toContain('onTimeout');
    expect([tooLong.status, tooLong.json.error.message]).toEqual([
      400,
      expect.stringContaining('offerTimeoutSeconds'),
    ]);
  });
});

describe('the offers routes', () => {
  it('accepts: one PUT owner as the offerer in Parley, the handover answered, a second accept 409', async () => {
    const { json } = await offer('offer-accept');
    const id = json.offer.offerId;

    const accepted = await answer(id, 'accept', 'agent');
    const again = await answer(id, 'accept', 'agent');

    expect(accepted.status).toBe(200);
    expect(accepted.json.owner).toEqual({
      identification: AGENT,
      name: 'Agent Service',
      default: false,
    });
    expect(accepted.json.handover).toMatchObject({
      source: 'offer',
      requestedBy: AGENT,
      offer: { offerId: id, event: 'accepted' },
    });
    expect(
      changesOf('offer-accept').map((e) => (e.kind === 'change' ? [e.from, e.to, e.by] : [])),
    ).toEqual([[BOT, AGENT, BOT]]);
    expect(h.sim.ownerOf('offer-accept')).toBe(AGENT);
    expect([again.status, again.json.error.code]).toEqual([409, 'offer_accepted']);
    expect(await outboxOf('offer-accept')).toEqual([
      'offer.accepted agent',
      'offer.accepted bot',
      'offer.created agent',
      'offer.created bot',
    ]);
  });

  it('keeps each answer to its side: 403 not_offeree and not_offerer, 404 for an unknown offer', async () => {
    const { json } = await offer('offer-sides');
    const id = json.offer.offerId as string;

    const byOwner = await answer(id, 'accept', 'bot');
    const cancelByOfferee = await answer(id, 'cancel', 'agent');
    // Another last character (the id's own may be 'A': 1 in 64 ids, which made this flaky).
    const unknown = await answer(
      `${id.slice(0, -1)}${id.endsWith('A') ? 'B' : 'A'}`,
      'accept',
      'agent',
    );
    const asAuditor = await call('offers', {
      method: 'GET',
      path: `/offers/${id}`,
      token: h.tokens.auditor,
    });

    expect([byOwner.status, byOwner.json.error.code]).toEqual([403, 'not_offeree']);
    expect([cancelByOfferee.status, cancelByOfferee.json.error.code]).toEqual([403, 'not_offerer']);
    expect([unknown.status, unknown.json.error.code]).toEqual([404, 'offer_not_found']);
    expect([asAuditor.status, asAuditor.json.offer.status]).toEqual([200, 'pending']);
  });

  it('declines with a reason and cancels: each recorded, the other side told, nobody moved', async () => {
    const declined = (await offer('offer-decline')).json.offer.offerId;
    const cancelled = (await offer('offer-cancel')).json.offer.offerId;

    const d = await answer(declined, 'decline', 'agent', { reason: 'desk is full' });
    const c = await answer(cancelled, 'cancel', 'bot');

    expect([d.status, d.json.offer.status, c.status, c.json.offer.status]).toEqual([
      200,
      'declined',
      200,
      'cancelled',
    ]);
    expect((await historyOf('offer-decline')).map((r) => [r.offer?.event, r.reason])).toEqual([
      ['created', null],
      ['declined', 'desk is full'],
    ]);
    expect(await outboxOf('offer-decline')).toContain('offer.declined bot');
    expect(await outboxOf('offer-cancel')).toContain('offer.cancelled agent');
    expect([...changesOf('offer-decline'), ...changesOf('offer-cancel')]).toEqual([]);
  });

  it("lists a user's offers newest first, to a side and to an auditor", async () => {
    const first = (await offer('offer-list')).json.offer.offerId;
    const second = (await offer('offer-list', { onTimeout: 'default' })).json.offer.offerId;

    const res = await call('offers', {
      method: 'GET',
      path: '/users/offer-list/offers?limit=10',
      token: token.agent(),
    });

    expect(res.status).toBe(200);
    expect(
      res.json.offers.map((o: { offerId: string; status: string }) => [o.offerId, o.status]),
    ).toEqual([
      [second, 'pending'],
      [first, 'superseded'],
    ]);
    expect(res.json.complete).toBe(true);
  });
});

describe('the sweep', () => {
  it('expires an unanswered offer at its deadline: the fallback handover made, recorded and told', async () => {
    const id = (await offer('offer-expire', { onTimeout: 'Agent Service' })).json.offer.offerId;
    clock.advance(30_000);

    const summary = await runSweep({});

    expect(summary.acted).toBeGreaterThanOrEqual(1);
    const records = await historyOf('offer-expire');
    expect(records.map((r) => [r.offer?.event, r.source, r.requestedBy, r.toOwner])).toEqual([
      ['created', 'offer', BOT, BOT],
      ['expired', 'offer', 'system:offer', AGENT],
    ]);
    expect(changesOf('offer-expire')).toHaveLength(1);
    expect(h.sim.ownerOf('offer-expire')).toBe(AGENT);
    expect(await outboxOf('offer-expire')).toContain('offer.expired agent');
    const late = await answer(id, 'accept', 'agent');
    expect([late.status, late.json.error.code]).toEqual([409, 'offer_expired']);
  });
});
