// Suite 2, races: 50 concurrent handover requests for one user through the real handler, mixing
// targets (by id, by name, any case), stale expectedOwner, a Service claiming a user it does not
// own, both Services claiming at once and repeated Idempotency-Keys. Exactly one request wins each
// contest; the others get 403 or 409 (or, for a key repeat, the winner's own answer); the owner
// item, the history and the simulator's owner agree afterwards.
import { AGENT, BOT, type Harness, startHarness } from '../support/harness';
import {
  auditUser,
  errorShapeProblem,
  type Invoker,
  invoker,
  reportFigures,
  type Response,
} from '../support/reliability';

const ROUNDS = Number(process.env.RACE_ROUNDS ?? 8);
const CONCURRENCY = 50;

let h: Harness;
let api: Invoker;

beforeAll(async () => {
  h = await startHarness();
  api = invoker(h.source);
});

afterAll(async () => {
  await h.close();
});

const figures = { requests: 0, contests: 0, wins: 0, refused403: 0, refused409: 0, recordsLost: 0 };

const handover = (token: string, body: Record<string, unknown>, key?: string) =>
  api.call({
    method: 'POST',
    path: '/handovers',
    token,
    body,
    ...(key ? { headers: { 'Idempotency-Key': key } } : {}),
  });

const tally = (responses: Response[]) => {
  figures.requests += responses.length;
  for (const r of responses) {
    if (r.statusCode === 403) figures.refused403++;
    if (r.statusCode === 409) figures.refused409++;
    if (r.statusCode !== 200) expect(errorShapeProblem(r)).toBeNull();
  }
};

const expectAgreement = async (userId: string) => {
  const audit = await auditUser(h.deps, h.sim, userId, BOT);
  expect(audit.problems).toEqual([]);
  figures.recordsLost += audit.lost;
  return audit;
};

describe('concurrent handovers of one user', () => {
  it('lets exactly one of 50 requests expecting the Bot Service win', async () => {
    for (let round = 0; round < ROUNDS; round++) {
      const userId = `race-a-${round}`;
      const forms = [AGENT, 'Agent Service', 'agent service', 'AGENT SERVICE'];
      const requests = Array.from({ length: CONCURRENCY }, (_, i) => {
        if (i % 5 === 3) {
          // The Agent Service claims a user it does not own (for itself, or for 'default').
          const newOwner = i % 10 === 3 ? 'default' : 'Agent Service';
          return handover(h.tokens.agent.api, { userId, newOwner, expectedOwner: BOT });
        }
        if (i % 5 === 4) {
          // A stale view: the bot believes the agent owns the user.
          return handover(h.tokens.bot.api, { userId, newOwner: AGENT, expectedOwner: AGENT });
        }
        return handover(
          h.tokens.bot.api,
          { userId, newOwner: forms[i % forms.length], expectedOwner: BOT, metadata: { i } },
          i % 2 === 0 ? `race-a-${round}-${i}` : undefined,
        );
      });
      const responses = await Promise.all(requests);
      tally(responses);
      figures.contests++;

      const winners = responses.filter((r) => r.statusCode === 200 && r.json.changed === true);
      expect(winners).toHaveLength(1);
      figures.wins += winners.length;
      responses.forEach((r, i) => {
        if (r === winners[0]) return;
        if (r.statusCode === 200) {
          // Its target already owned the user when it was decided ('default' while the bot
          // owned the user; the agent once the stale view had become true): nothing changed.
          const target = i % 10 === 3 ? BOT : AGENT;
          expect(r.json).toMatchObject({ changed: false, owner: { identification: target } });
        } else {
          expect([403, 409]).toContain(r.statusCode);
        }
      });
      expect(h.sim.ownerOf(userId)).toBe(AGENT);
      const audit = await expectAgreement(userId);
      expect(audit.records.map((r) => [r.seq, r.toOwner, r.status])).toEqual([
        [1, AGENT, 'completed'],
      ]);
      expect(audit.records[0]!.handoverId).toBe(winners[0]!.json.handover.handoverId);
    }
  });

  it('keeps one line of owners when both Services claim the user at once', async () => {
    for (let round = 0; round < ROUNDS; round++) {
      const userId = `race-b-${round}`;
      const responses = await Promise.all(
        Array.from({ length: CONCURRENCY }, (_, i) =>
          i % 2 === 0
            ? handover(h.tokens.bot.api, { userId, newOwner: AGENT })
            : handover(h.tokens.agent.api, { userId, newOwner: BOT }),
        ),
      );
      tally(responses);
      figures.contests++;

      const winners = responses.filter((r) => r.statusCode === 200 && r.json.changed === true);
      expect(winners.length).toBeGreaterThanOrEqual(1);
      figures.wins += winners.length;
      for (const r of responses) {
        if (r.statusCode !== 200) expect([403, 409]).toContain(r.statusCode);
      }
      // Every win is in the history, in one line: each one was made by the owner of its time.
      const audit = await expectAgreement(userId);
      const recorded = audit.records.filter((r) => r.status === 'completed');
      expect(recorded.map((r) => r.handoverId).sort()).toEqual(
        winners.map((w) => w.json.handover.handoverId).sort(),
      );
      for (const r of recorded) expect(r.requestedBy).toBe(r.fromOwner);
    }
  });

  it('performs one handover for 50 concurrent repeats of one Idempotency-Key', async () => {
    for (let round = 0; round < ROUNDS; round++) {
      const userId = `race-c-${round}`;
      const key = `same-key-${round}`;
      const body = { userId, newOwner: AGENT, metadata: { reason: 'repeat', round } };
      const responses = await Promise.all(
        Array.from({ length: CONCURRENCY }, () => handover(h.tokens.bot.api, body, key)),
      );
      tally(responses);
      figures.contests++;

      const ok = responses.filter((r) => r.statusCode === 200);
      expect(ok.length).toBeGreaterThanOrEqual(1);
      for (const r of responses.filter((x) => x.statusCode !== 200)) {
        expect(r.statusCode).toBe(409);
      }
      const ids = new Set(ok.map((r) => r.json.handover?.handoverId));
      expect(ids.size).toBe(1);
      const puts = h.sim
        .log()
        .filter(
          (e) => e.kind === 'request' && e.method === 'PUT' && e.path === `users/${userId}/owner`,
        );
      expect(puts).toHaveLength(1);
      figures.wins += 1;
      const audit = await expectAgreement(userId);
      expect(audit.records).toHaveLength(1);
    }
  });
});

afterAll(() => {
  reportFigures('races', { ...figures });
});
