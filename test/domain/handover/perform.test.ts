// performHandover (handover/perform.ts): the handover sequence end to end over the store fakes.
import { verifyChain } from '../../../functions/domain/chain';
import type { HandoverDeps } from '../../../functions/domain/handover/deps';
import { ParleyTimeoutError } from '../../../functions/domain/errors';
import { recoverPending } from '../../../functions/domain/handover/recover';
import {
  ForbiddenError,
  HandoverInProgressError,
  NotOwnerError,
  OwnerChangedError,
  ParleyApiError,
  UnknownServiceError,
  ValidationError,
} from '../../../functions/domain/errors';
import { performHandover } from '../../../functions/domain/handover/perform';
import type { OwnerItem } from '../../../functions/domain/types';
import { AGENT, BOT, handoverWorld, manualClock } from '../../support/fakes';
import { seedRequest } from './world';

const T0 = '2026-03-10T14:00:00.000Z';

const botView = { identification: BOT, name: 'Bot Service', default: true };

const agentView = { identification: AGENT, name: 'Agent Service', default: false };

/** Errors thrown by an awaited call, for explicit assertions on their fields. */
const caught = async (run: () => Promise<unknown>): Promise<unknown> => {
  try {
    await run();
  } catch (err) {
    return err;
  }
  throw new Error('expected the call to throw');
};

describe('performHandover', () => {
  it('hands the seed user from the Bot to the Agent, calling Parley as the Bot', async () => {
    const w = handoverWorld();

    const result = await performHandover(seedRequest(), w.deps);

    expect(w.parley.callsOf('setOwner')).toEqual([
      {
        as: BOT,
        method: 'setOwner',
        userId: '20',
        newOwner: AGENT,
        metadata: { reason: 'question_too_complex' },
      },
    ]);
    const records = w.history.userRecords('20');
    expect(records).toHaveLength(1);
    expect(records[0]).toEqual({
      handoverId: 'h0001',
      userId: '20',
      seq: 1,
      fromOwner: BOT,
      toOwner: AGENT,
      reason: 'question_too_complex',
      metadata: { reason: 'question_too_complex' },
      chain: 3,
      salt: expect.stringMatching(/^[\w-]{43}$/),
      subjectSalt: expect.stringMatching(/^[\w-]{43}$/),
      metadataDigest: expect.stringMatching(/^[0-9a-f]{64}$/),
      requestedBy: BOT,
      source: 'api',
      status: 'completed',
      parley: { status: 200, code: null, durationMs: 5 },
      createdAt: T0,
      prevHash: '0'.repeat(64),
      hash: expect.stringMatching(/^[0-9a-f]{64}$/),
    });
    expect(result).toEqual({ changed: true, owner: agentView, handover: records[0] });
    expect(w.state.owners.get('20')).toEqual<OwnerItem>({
      userId: '20',
      owner: AGENT,
      version: 3,
      since: T0,
      lastSeq: 1,
      lastHash: records[0]!.hash,
      lastCreatedAt: T0,
      lastHandoverId: 'h0001',
      pending: null,
      refreshedAt: T0,
      // The agent's default lease starts with the handover; its warning is the first timer.
      lease: {
        expiresAt: '2026-03-11T14:00:00.000Z',
        hardExpiresAt: '2026-03-17T14:00:00.000Z',
        lastUserAt: T0,
        lastOwnerAt: T0,
      },
      dueAt: '2026-03-11T13:55:00.000Z',
    });
    expect(w.metrics.total('Handover', { source: 'api', status: 'completed' })).toBe(1);
  });

  it('hands back to "default" with a second record, leaving the agent/unset to the outbox', async () => {
    const w = handoverWorld();
    await performHandover(seedRequest(), w.deps);
    w.clock.advance(1000);

    const result = await performHandover(
      seedRequest({ newOwner: 'default', requestedBy: AGENT, metadata: undefined }),
      w.deps,
    );

    const records = w.history.userRecords('20');
    expect(records.map((r) => [r.seq, r.fromOwner, r.toOwner, r.status])).toEqual([
      [1, BOT, AGENT, 'completed'],
      [2, AGENT, BOT, 'completed'],
    ]);
    expect(records[1]!.prevHash).toBe(records[0]!.hash);
    expect(records[1]!.reason).toBeNull();
    expect(w.parley.callsOf('setOwner').map((c) => c.as)).toEqual([BOT, AGENT]);
    expect(w.parley.callsOf('unsetAgent')).toEqual([]);
    expect(result).toEqual({ changed: true, owner: botView, handover: records[1] });
    expect(verifyChain('20', records)).toEqual({ ok: true, count: 2, lastHash: records[1]!.hash });
  });

  it('resolves the new owner by service name, case-insensitively', async () => {
    const w = handoverWorld();

    const result = await performHandover(seedRequest({ newOwner: 'aGeNt sErViCe' }), w.deps);

    expect(result.owner).toEqual(agentView);
    expect(w.parley.owners.get('20')).toBe(AGENT);
  });

  it('gives a record createdAt 1 ms after the previous one when the clock has not moved', async () => {
    const w = handoverWorld();
    await performHandover(seedRequest(), w.deps);

    await performHandover(seedRequest({ newOwner: BOT, requestedBy: AGENT }), w.deps);

    expect(w.history.userRecords('20').map((r) => r.createdAt)).toEqual([
      T0,
      '2026-03-10T14:00:00.001Z',
    ]);
  });

  it('refuses an unknown new owner with unknown_service and calls nobody', async () => {
    const w = handoverWorld();

    const err = await caught(() => performHandover(seedRequest({ newOwner: 'Nobody' }), w.deps));

    expect(err).toBeInstanceOf(UnknownServiceError);
    expect((err as UnknownServiceError).httpStatus).toBe(400);
    expect(w.parley.calls).toEqual([]);
  });

  it('refuses a caller that is not a configured service', async () => {
    const w = handoverWorld();

    const err = await caught(() =>
      performHandover(seedRequest({ requestedBy: 'stranger' }), w.deps),
    );

    expect(err).toBeInstanceOf(ForbiddenError);
    expect(w.parley.calls).toEqual([]);
  });

  it('answers changed false with no Parley call and no record when the new owner already owns', async () => {
    const w = handoverWorld();
    await performHandover(seedRequest(), w.deps);
    const callsBefore = w.parley.calls.length;

    const result = await performHandover(seedRequest({ requestedBy: AGENT }), w.deps);

    expect(result).toEqual({ changed: false, owner: agentView });
    expect(w.parley.calls.length).toBe(callsBefore);
    expect(w.history.userRecords('20')).toHaveLength(1);
  });

  it('rejects a handover from a service that does not own the user, naming the owner', async () => {
    const w = handoverWorld();

    // The Agent tries to take the Bot's user for itself.
    const err = await caught(() => performHandover(seedRequest({ requestedBy: AGENT }), w.deps));

    // The Agent is checked against Parley (a refresh as the Agent) before it is refused.
    expect(err).toBeInstanceOf(NotOwnerError);
    expect((err as NotOwnerError).httpStatus).toBe(403);
    expect((err as NotOwnerError).details).toEqual({ currentOwner: BOT });
    expect(w.parley.calls.map((c) => [c.as, c.method])).toEqual([[AGENT, 'getOwner']]);
    expect(w.history.userRecords('20')).toEqual([]);
  });

  it('rejects a stale expectedOwner with owner_changed', async () => {
    const w = handoverWorld();

    const err = await caught(() =>
      performHandover(seedRequest({ expectedOwner: 'Agent Service' }), w.deps),
    );

    expect(err).toBeInstanceOf(OwnerChangedError);
    expect((err as OwnerChangedError).details).toEqual({ currentOwner: BOT });
    expect(w.parley.callsOf('setOwner')).toEqual([]);
  });

  it('proceeds when expectedOwner names the owner', async () => {
    const w = handoverWorld();

    const result = await performHandover(seedRequest({ expectedOwner: 'default' }), w.deps);

    expect(result.changed).toBe(true);
  });

  it('answers 409 owner_changed to the loser of a race for the pending marker', async () => {
    const w = handoverWorld();
    await performHandover(seedRequest(), w.deps); // Agent owns, cache warm
    w.clock.advance(1000);
    // Between our read and our marker CAS, another writer moves the item on.
    w.state.beforeNextCas = () => {
      const item = w.state.owners.get('20')!;
      w.state.owners.set('20', { ...item, version: item.version + 1, owner: BOT });
    };

    const err = await caught(() =>
      performHandover(seedRequest({ newOwner: BOT, requestedBy: AGENT }), w.deps),
    );

    expect(err).toBeInstanceOf(OwnerChangedError);
    expect((err as OwnerChangedError).httpStatus).toBe(409);
    expect((err as OwnerChangedError).details).toEqual({ currentOwner: BOT });
    expect(w.parley.callsOf('setOwner')).toHaveLength(1);
    expect(w.history.userRecords('20')).toHaveLength(1);
  });

  it('answers 409 handover_in_progress with the remaining seconds while a marker is fresh', async () => {
    const w = handoverWorld();
    w.parley.onSetOwner = () => {
      throw new Error('crash after the marker');
    };
    await expect(performHandover(seedRequest(), w.deps)).rejects.toThrow('crash after the marker');
    w.clock.advance(20_000);

    const err = await caught(() => performHandover(seedRequest(), w.deps));

    expect(err).toBeInstanceOf(HandoverInProgressError);
    expect((err as HandoverInProgressError).retryAfterSeconds).toBe(40);
    expect(w.history.userRecords('20')).toEqual([]);
  });

  it('recovers a stale marker before deciding on the next request', async () => {
    const w = handoverWorld();
    w.parley.onSetOwner = () => {
      throw new Error('crash after the marker');
    };
    await expect(performHandover(seedRequest(), w.deps)).rejects.toThrow();
    w.clock.advance(61_000);

    // The Agent asks to hand back: the stale Bot -> Agent handover is finished first.
    const result = await performHandover(
      seedRequest({ newOwner: BOT, requestedBy: AGENT, metadata: undefined }),
      w.deps,
    );

    expect(
      w.history.userRecords('20').map((r) => [r.seq, r.fromOwner, r.toOwner, r.status]),
    ).toEqual([
      [1, BOT, AGENT, 'completed'],
      [2, AGENT, BOT, 'completed'],
    ]);
    expect(result.changed).toBe(true);
    expect(w.parley.ownerOf('20')).toBe(BOT);
  });

  it('records a change made outside the service as observed before the handover', async () => {
    const w = handoverWorld();
    await performHandover(seedRequest(), w.deps); // cache: Agent owns
    w.parley.owners.set('20', BOT); // someone gives the user back to the Bot in Parley directly
    w.clock.advance(5000);

    const result = await performHandover(seedRequest(), w.deps);

    const records = w.history.userRecords('20');
    expect(records.map((r) => [r.seq, r.source, r.requestedBy, r.fromOwner, r.toOwner])).toEqual([
      [1, 'api', BOT, BOT, AGENT],
      [2, 'observed', 'parley', AGENT, BOT],
      [3, 'api', BOT, BOT, AGENT],
    ]);
    expect(records[1]).toMatchObject({
      status: 'completed',
      parley: null,
      reason: null,
      metadata: null,
    });
    expect(result.handover).toEqual(records[2]);
    expect(verifyChain('20', records).ok).toBe(true);
    expect(w.metrics.total('ObservedDrift')).toBe(1);
  });

  it('creates the owner item as a baseline without a record for an unseen user', async () => {
    const w = handoverWorld();

    await performHandover(seedRequest({ newOwner: BOT }), w.deps);

    expect(w.history.userRecords('20')).toEqual([]);
    expect(w.state.owners.get('20')).toEqual<OwnerItem>({
      userId: '20',
      owner: BOT,
      version: 1,
      since: null,
      lastSeq: 0,
      lastHash: '0'.repeat(64),
      lastCreatedAt: null,
      lastHandoverId: null,
      pending: null,
      refreshedAt: T0,
    });
  });

  it('records a failed handover and throws the Parley error when Parley refuses', async () => {
    const w = handoverWorld();
    w.parley.failNext('setOwner', 'reject_403');

    const err = await caught(() => performHandover(seedRequest(), w.deps));

    expect(err).toBeInstanceOf(ParleyApiError);
    expect((err as ParleyApiError).httpStatus).toBe(502);
    const records = w.history.userRecords('20');
    expect(records.map((r) => [r.status, r.parley])).toEqual([
      ['failed', { status: 403, code: 'forbidden', durationMs: 5 }],
    ]);
    expect(w.state.owners.get('20')).toMatchObject({
      owner: BOT,
      lastSeq: 1,
      lastHandoverId: 'h0001',
      pending: null,
    });
    expect(w.metrics.total('HandoverFailed')).toBe(1);
  });

  it('answers 403 not_owner and records the drift when Parley refuses a caller the cache trusted', async () => {
    const w = handoverWorld();
    await performHandover(seedRequest(), w.deps); // cache: Agent owns
    w.parley.owners.set('20', BOT); // moved back in Parley directly; the cache does not know
    w.clock.advance(1000);

    const err = await caught(() =>
      performHandover(seedRequest({ newOwner: BOT, requestedBy: AGENT }), w.deps),
    );

    expect(err).toBeInstanceOf(NotOwnerError);
    expect((err as NotOwnerError).details).toEqual({ currentOwner: BOT });
    const records = w.history.userRecords('20');
    expect(records.map((r) => [r.seq, r.source, r.status, r.fromOwner, r.toOwner])).toEqual([
      [1, 'api', 'completed', BOT, AGENT],
      [2, 'api', 'failed', AGENT, BOT],
      [3, 'observed', 'completed', AGENT, BOT],
    ]);
    expect(records[1]!.parley).toEqual({
      status: 403,
      code: 'service_is_not_owner',
      durationMs: 5,
    });
    expect(w.state.owners.get('20')).toMatchObject({ owner: BOT, lastSeq: 3, pending: null });
    expect(verifyChain('20', records).ok).toBe(true);
  });

  it.each(['apply_then_500', 'apply_then_timeout'] as const)(
    'settles %s with GET owner as completed after one PUT',
    async (fault) => {
      const w = handoverWorld();
      w.parley.failNext('setOwner', fault);

      const result = await performHandover(seedRequest(), w.deps);

      expect(w.parley.callsOf('setOwner')).toHaveLength(1);
      expect(w.parley.calls.map((c) => c.method)).toEqual(['getOwner', 'setOwner', 'getOwner']);
      const records = w.history.userRecords('20');
      expect(records.map((r) => [r.status, r.parley])).toEqual([
        [
          'completed',
          fault === 'apply_then_500'
            ? { status: 500, code: 'http_500', durationMs: 5 }
            : { status: null, code: 'timeout', durationMs: 3000 },
        ],
      ]);
      expect(result).toEqual({ changed: true, owner: agentView, handover: records[0] });
    },
  );

  it('retries the PUT when GET owner shows it was not applied, then completes', async () => {
    const w = handoverWorld();
    w.parley.failNext('setOwner', 'timeout');

    const result = await performHandover(seedRequest(), w.deps);

    expect(w.parley.calls.map((c) => c.method)).toEqual([
      'getOwner',
      'setOwner',
      'getOwner',
      'setOwner',
    ]);
    expect(result.changed).toBe(true);
    expect(w.history.userRecords('20').map((r) => [r.status, r.parley])).toEqual([
      ['completed', { status: 200, code: null, durationMs: 5 }],
    ]);
  });

  it('leaves the marker after three PUTs of unknown outcome: one of them may still land', async () => {
    const w = handoverWorld();
    w.parley.failNext('setOwner', 'timeout');
    w.parley.failNext('setOwner', 'reject_500');
    w.parley.failNext('setOwner', 'timeout');

    const err = await caught(() => performHandover(seedRequest(), w.deps));

    expect((err as { code: string }).code).toBe('parley_timeout');
    expect(w.parley.callsOf('setOwner')).toHaveLength(3);
    expect(w.history.userRecords('20')).toEqual([]);
    expect(w.state.owners.get('20')?.pending?.draft.toOwner).toBe(AGENT);
  });

  it('spends no more Parley time than one request has, however many attempts settling takes', async () => {
    const w = handoverWorld();
    const start = w.clock.now();
    const budgets: [string, number | undefined][] = [];
    // Every PUT uses up all the time it is given and times out; every GET takes a second.
    const slow: HandoverDeps['parley'] = (as) => {
      const client = w.parley.client(as);
      return {
        ...client,
        setOwner: async (userId, _newOwner, _metadata, options) => {
          budgets.push(['PUT', options?.budgetMs]);
          w.clock.advance(Math.min(8_000, options?.budgetMs ?? 8_000));
          throw new ParleyTimeoutError('PUT', `users/${userId}/owner`, 8_000);
        },
        getOwner: async (userId, options) => {
          budgets.push(['GET', options?.budgetMs]);
          w.clock.advance(1_000);
          return client.getOwner(userId);
        },
      };
    };

    const err = await caught(() =>
      performHandover(seedRequest(), { ...w.deps, parley: slow, requestBudgetMs: 12_000 }),
    );

    expect((err as { code: string }).code).toBe('parley_timeout');
    expect(w.clock.now() - start).toBeLessThanOrEqual(12_000);
    expect(budgets).toEqual([
      ['GET', 12_000], // the first look at a user never seen
      ['PUT', 11_000],
      ['GET', 3_000],
      ['PUT', 2_000],
    ]);
    expect(w.history.userRecords('20')).toEqual([]);
    expect(w.state.owners.get('20')?.pending?.draft.toOwner).toBe(AGENT);
  });

  it('records one completed handover when a PUT of unknown outcome lands after the request gave up', async () => {
    const w = handoverWorld();
    w.parley.failNext('setOwner', 'timeout');
    w.parley.failNext('setOwner', 'timeout');
    w.parley.failNext('setOwner', 'timeout');
    await caught(() => performHandover(seedRequest(), w.deps));
    w.parley.owners.set('20', AGENT); // one of the three lands late
    w.clock.advance(61_000);

    expect(await recoverPending('20', w.deps)).toBe('recovered');

    expect(
      w.history.userRecords('20').map((r) => [r.source, r.status, r.fromOwner, r.toOwner]),
    ).toEqual([['api', 'completed', BOT, AGENT]]);
    expect(w.state.owners.get('20')).toMatchObject({ owner: AGENT, pending: null, lastSeq: 1 });
  });

  it("records one completed handover when recovery's PUT is refused because a late attempt landed", async () => {
    const w = handoverWorld();
    w.parley.onSetOwner = () => {
      throw new Error('crash after the marker');
    };
    await caught(() => performHandover(seedRequest(), w.deps));
    w.clock.advance(61_000);
    // Recovery's GET still sees the Bot; the earlier attempt lands just before recovery's PUT.
    w.parley.onSetOwner = () => {
      w.parley.owners.set('20', AGENT);
    };

    expect(await recoverPending('20', w.deps)).toBe('recovered');

    expect(
      w.history.userRecords('20').map((r) => [r.source, r.status, r.fromOwner, r.toOwner]),
    ).toEqual([['api', 'completed', BOT, AGENT]]);
    expect(w.state.owners.get('20')).toMatchObject({ owner: AGENT, pending: null, lastSeq: 1 });
  });

  it('records failed then observed when Parley shows a third owner after an unknown outcome', async () => {
    const third = {
      identification: 'Thrd0000000000000003',
      name: 'Third Service',
      role: 'agent' as const,
      default: false,
      rules: [],
    };
    const w = handoverWorld([
      { identification: BOT, name: 'Bot Service', role: 'bot', default: true, rules: [] },
      { identification: AGENT, name: 'Agent Service', role: 'agent', default: false, rules: [] },
      third,
    ]);
    // The PUT answers 500 without applying, and meanwhile the user moved to a third service.
    const realClients = w.deps.parley;
    w.deps.parley = (id) => ({
      ...realClients(id),
      setOwner: async () => {
        w.parley.owners.set('20', third.identification);
        throw new ParleyApiError(500, null, 'PUT', 'users/20/owner', '20500', 5);
      },
    });

    const err = await caught(() => performHandover(seedRequest(), w.deps));

    expect(err).toBeInstanceOf(OwnerChangedError);
    expect((err as OwnerChangedError).details).toEqual({ currentOwner: third.identification });
    const records = w.history.userRecords('20');
    expect(records.map((r) => [r.seq, r.source, r.status, r.fromOwner, r.toOwner])).toEqual([
      [1, 'api', 'failed', BOT, AGENT],
      [2, 'observed', 'completed', BOT, third.identification],
    ]);
    expect(verifyChain('20', records).ok).toBe(true);
    expect(w.state.owners.get('20')).toMatchObject({
      owner: third.identification,
      lastSeq: 2,
      pending: null,
    });
  });

  it('refuses metadata over 4 KB with metadata_too_large', async () => {
    const w = handoverWorld();

    const err = await caught(() =>
      performHandover(seedRequest({ metadata: { note: 'x'.repeat(4096) } }), w.deps),
    );

    expect(err).toBeInstanceOf(ValidationError);
    expect((err as ValidationError).code).toBe('metadata_too_large');
    expect(w.parley.calls).toEqual([]);
  });

  it('accepts metadata of exactly 4 KB', async () => {
    const w = handoverWorld();
    // {"note":"..."} is 11 bytes around the text.
    const metadata = { note: 'x'.repeat(4096 - 11) };

    const result = await performHandover(seedRequest({ metadata }), w.deps);

    expect(result.handover?.metadata).toEqual(metadata);
  });

  it('refuses a reason longer than 100 characters', async () => {
    const w = handoverWorld();

    const err = await caught(() =>
      performHandover(seedRequest({ metadata: { reason: 'r'.repeat(101) } }), w.deps),
    );

    expect((err as ValidationError).code).toBe('reason_too_long');
  });

  it('records a rule-triggered handover as requested by rule:{service}', async () => {
    const w = handoverWorld();

    const result = await performHandover(seedRequest({ source: 'rule' }), w.deps);

    expect(result.handover).toMatchObject({ source: 'rule', requestedBy: `rule:${BOT}` });
  });

  it('never logs metadata text', async () => {
    const w = handoverWorld();

    await performHandover(seedRequest({ metadata: { reason: 'secret-ish words' } }), w.deps);

    expect(JSON.stringify(w.log.lines)).not.toContain('secret-ish words');
    expect(w.log.lines.some((l) => l.attributes?.handoverId === 'h0001')).toBe(true);
  });

  it('spends no Parley time on agent/unset: a hand-back that leaves no time after its PUT succeeds', async () => {
    const w = handoverWorld();
    await performHandover(seedRequest(), w.deps);
    // The request's Parley time ends the moment its PUT owner returns.
    const timer = manualClock(0);
    const client = w.parley.clients;
    const deps = {
      ...w.deps,
      timer,
      requestBudgetMs: 1000,
      parley: (id: string) => {
        const c = client(id);
        return {
          ...c,
          setOwner: async (...args: Parameters<typeof c.setOwner>) => {
            const done = await c.setOwner(...args);
            timer.advance(1000);
            return done;
          },
        };
      },
    };

    const result = await performHandover(seedRequest({ newOwner: BOT, requestedBy: AGENT }), deps);

    expect(result.changed).toBe(true);
    expect(w.parley.callsOf('unsetAgent')).toEqual([]);
    expect(w.metrics.total('AgentUnsetFailed')).toBe(0);
  });
});

describe('userId', () => {
  it.each([
    ['129 characters', 'x'.repeat(129)],
    ['a slash', 'a/b'],
    ['a dot segment', '..'],
    ['a control character', 'a\u0000b'],
  ])('refuses a userId with %s with invalid_user_id and calls nobody', async (_case, userId) => {
    const w = handoverWorld();

    const err = await caught(() => performHandover(seedRequest({ userId }), w.deps));

    expect(err).toBeInstanceOf(ValidationError);
    expect((err as ValidationError).code).toBe('invalid_user_id');
    expect(w.parley.calls).toEqual([]);
  });

  it('accepts a userId of 128 characters', async () => {
    const w = handoverWorld();

    const result = await performHandover(seedRequest({ userId: 'x'.repeat(128) }), w.deps);

    expect(result.changed).toBe(true);
  });
});
