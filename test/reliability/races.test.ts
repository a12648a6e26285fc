// Suite 2, races: 50 concurrent handover requests for one user through the real handler, mixing
// targets (by id, by name, any case), stale expectedOwner, a Service claiming a user it does not
// own, and repeated Idempotency-Keys: exactly one request wins each such contest (one record in
// the history table, one winning answer); the others get 403 or 409 (or, for a key repeat, the
// winner's own answer). Both Services handing the user to each other at once is no single-winner
// contest (once one wins, the other owns the user and may win in turn): there every winning answer
// has exactly one record, in one line of owners. The owner item, the history and the simulator's
// owner agree afterwards.
import { AGENT, BOT, type Harness, startHarness } from '../support/harness';
import {
  appliedChanges,
  auditUser,
  errorShapeProblem,
  historyOf,
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

/** Every answer, by round kind and user, as it came back. */
type Kind = 'expecting-bot' | 'both-services' | 'same-key';
const answers: { kind: Kind; userId: string; res: Response }[] = [];
let recordsLost = 0;

afterAll(async () => {
  try {
    await report();
  } finally {
    await h.close();
  }
});

const handover = (token: string, body: Record<string, unknown>, key?: string) =>
  api.call({
    method: 'POST',
    path: '/handovers',
    token,
    body,
    ...(key ? { headers: { 'Idempotency-Key': key } } : {}),
  });

const tally = (kind: Kind, userId: string, responses: Response[]) => {
  for (const res of responses) {
    answers.push({ kind, userId, res });
    if (res.statusCode !== 200) expect(errorShapeProblem(res)).toBeNull();
  }
};

const expectAgreement = async (userId: string) => {
  const audit = await auditUser(h.deps, h.sim, userId, BOT);
  recordsLost += audit.lost;
  expect(audit.problems).toEqual([]);
  return audit;
};

const changedAnswers = (responses: Response[]) =>
  responses.filter((r) => r.statusCode === 200 && r.json.changed === true);

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
      tally('expecting-bot', userId, responses);

      const winners = changedAnswers(responses);
      expect(winners).toHaveLength(1);
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
      tally('both-services', userId, responses);

      const winners = changedAnswers(responses);
      for (const r of responses) {
        if (r.statusCode !== 200) expect([403, 409]).toContain(r.statusCode);
      }
      // Every winning answer has exactly one record and every record one winning answer, each
      // change applied at Parley once, in one line: each made by the owner of its time.
      const audit = await expectAgreement(userId);
      const recorded = audit.records.filter((r) => r.status === 'completed');
      expect(recorded.map((r) => r.handoverId).sort()).toEqual(
        winners.map((w) => w.json.handover.handoverId).sort(),
      );
      expect(appliedChanges(h.sim, userId)).toHaveLength(winners.length);
      expect(winners.length).toBeGreaterThan(0);
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
      tally('same-key', userId, responses);

      // Every 200 is the one handover's answer (the winner's, or a repeat given the same
      // result); the others are 409s while it was in flight.
      const ok = responses.filter((r) => r.statusCode === 200);
      for (const r of responses.filter((x) => x.statusCode !== 200)) {
        expect(r.statusCode).toBe(409);
      }
      const ids = [...new Set(ok.map((r) => r.json.handover?.handoverId))];
      const puts = h.sim
        .log()
        .filter(
          (e) => e.kind === 'request' && e.method === 'PUT' && e.path === `users/${userId}/owner`,
        );
      expect(puts).toHaveLength(1);
      const audit = await expectAgreement(userId);
      expect(audit.records.map((r) => [r.handoverId, r.status])).toEqual([[ids[0], 'completed']]);
      expect(ids).toHaveLength(1);
      expect(changedAnswers(ok)).toEqual(ok);
    }
  });
});

/** The figures, from the answers and the history table (records per contest). */
const report = async () => {
  const usersOf = (kinds: Kind[]) => [
    ...new Set(answers.filter((a) => kinds.includes(a.kind)).map((a) => a.userId)),
  ];
  /** Per user: the distinct handovers its winning answers name, and its completed records. */
  const outcomes = (users: string[]) =>
    Promise.all(
      users.map(async (userId) => {
        const won = answers.filter(
          (a) => a.userId === userId && a.res.statusCode === 200 && a.res.json.changed === true,
        );
        const winners = new Set(won.map((a) => a.res.json.handover.handoverId as string));
        const records = (await historyOf(h.deps.history, userId)).filter(
          (r) => r.status === 'completed',
        );
        const oneWinner =
          winners.size === 1 && records.length === 1 && winners.has(records[0]!.handoverId);
        return { winners: winners.size, records: records.length, oneWinner, answers: won.length };
      }),
    );
  const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);
  const contests = await outcomes(usersOf(['expecting-bot', 'same-key']));
  const rounds = await outcomes(usersOf(['both-services']));
  const count = (status: number) => answers.filter((a) => a.res.statusCode === status).length;
  const figures = {
    requests: answers.length,
    contests: contests.length,
    contestsWithOneWinner: contests.filter((c) => c.oneWinner).length,
    contestRecords: sum(contests.map((c) => c.records)),
    repeatsAnsweredAsTheWinner: sum(contests.map((c) => c.answers - c.winners)),
    twoSidedRounds: rounds.length,
    twoSidedWinners: sum(rounds.map((r) => r.winners)),
    twoSidedRecords: sum(rounds.map((r) => r.records)),
    unchanged200: answers.filter((a) => a.res.statusCode === 200 && !a.res.json.changed).length,
    refused403: count(403),
    refused409: count(409),
    recordsLost,
  };
  reportFigures('races', figures, {
    drives: `${figures.requests} handover requests in rounds of ${CONCURRENCY} at once for one user: ${figures.contests} single-winner contests (targets by id or name in any case, stale expectedOwner, a Service claiming a user it does not own, one Idempotency-Key repeated) and ${figures.twoSidedRounds} rounds of both Services handing the user to each other`,
    proved: `${figures.contestsWithOneWinner} of ${figures.contests} contests had exactly one winner and one record; in the two-sided rounds ${figures.twoSidedWinners} winners, ${figures.twoSidedRecords} records, one to one, in one line of owners; the rest answered 403 (${figures.refused403}), 409 (${figures.refused409}), unchanged (${figures.unchanged200}) or, for a repeated key, the winner's own answer (${figures.repeatsAnsweredAsTheWinner}); owner item, history and Parley agree; ${figures.recordsLost} records lost`,
  });
};
