import {
  HandoverInProgressError,
  NotOwnerError,
  ParleyTimeoutError,
  ValidationError,
} from '../../functions/domain/errors';
import { sendUserMessage } from '../../functions/domain/messages';
import type { OwnerItem, PendingHandover } from '../../functions/domain/types';
import { AGENT, BOT, handoverWorld } from '../support/fakes';

const USER = '20';
const TEXT = 'Your parcel left the depot today';

const ownerItem = (owner: string, pending: PendingHandover | null = null): OwnerItem => ({
  userId: USER,
  owner,
  version: 1,
  since: null,
  lastSeq: 0,
  lastHash: '0'.repeat(64),
  lastCreatedAt: null,
  lastHandoverId: null,
  pending,
  refreshedAt: '2026-03-10T13:00:00.000Z',
});

const pendingTo = (toOwner: string, markedAt: string): PendingHandover => ({
  draft: {
    handoverId: 'h0001',
    userId: USER,
    seq: 1,
    fromOwner: BOT,
    toOwner,
    reason: null,
    metadata: null,
    metadataDigest: 'd'.repeat(64),
    requestedBy: BOT,
    source: 'api',
    createdAt: markedAt,
    prevHash: '0'.repeat(64),
  },
  markedAt,
  actingService: BOT,
});

const setup = () => {
  const w = handoverWorld();
  // Every refresh starts with a GET owner as the caller: the refreshes are those calls.
  const refreshes = () =>
    w.parley.callsOf('getOwner').map((c) => [c.userId, c.as] as [string, string]);
  return { ...w, refreshes, lines: w.log.lines };
};

const errorOf = async (promise: Promise<unknown>): Promise<unknown> => {
  try {
    await promise;
  } catch (err) {
    return err;
  }
  throw new Error('expected a rejection');
};

describe('sendUserMessage', () => {
  it('sends the trimmed text as the owning service', async () => {
    const { state, parley, refreshes, deps } = setup();
    state.owners.set(USER, ownerItem(BOT));

    const result = await sendUserMessage(
      { userId: USER, text: `  ${TEXT}\n`, serviceId: BOT },
      deps,
    );

    expect(result).toEqual({ userId: USER, sent: true });
    expect(parley.calls).toEqual([{ as: BOT, method: 'sendMessage', userId: USER, text: TEXT }]);
    expect(refreshes()).toEqual([]);
  });

  it('refreshes a missing cache from Parley before sending', async () => {
    const { parley, refreshes, deps } = setup();

    await sendUserMessage({ userId: USER, text: TEXT, serviceId: BOT }, deps);

    expect(refreshes()).toEqual([[USER, BOT]]);
    expect(parley.callsOf('sendMessage')).toEqual([
      { as: BOT, method: 'sendMessage', userId: USER, text: TEXT },
    ]);
  });

  it('refuses a service that does not own the user with 403 and the current owner', async () => {
    const { state, parley, refreshes, deps } = setup();
    parley.owners.set(USER, AGENT);
    state.owners.set(USER, ownerItem(AGENT));

    const err = await errorOf(sendUserMessage({ userId: USER, text: TEXT, serviceId: BOT }, deps));

    expect(err).toBeInstanceOf(NotOwnerError);
    expect((err as NotOwnerError).httpStatus).toEqual(403);
    expect((err as NotOwnerError).details).toEqual({ currentOwner: AGENT });
    expect(refreshes()).toEqual([[USER, BOT]]);
    expect(parley.callsOf('sendMessage')).toEqual([]);
  });

  it('sends when a stale cache names another owner but Parley says the caller owns the user', async () => {
    const { state, parley, deps } = setup();
    parley.owners.set(USER, AGENT);
    state.owners.set(USER, ownerItem(BOT));

    await sendUserMessage({ userId: USER, text: TEXT, serviceId: AGENT }, deps);

    expect(parley.callsOf('sendMessage')).toEqual([
      { as: AGENT, method: 'sendMessage', userId: USER, text: TEXT },
    ]);
  });

  it('answers NotOwner after Parley refuses a caller the cache wrongly names as owner', async () => {
    const { state, parley, refreshes, deps } = setup();
    parley.owners.set(USER, AGENT);
    state.owners.set(USER, ownerItem(BOT));

    const err = await errorOf(sendUserMessage({ userId: USER, text: TEXT, serviceId: BOT }, deps));

    expect(err).toBeInstanceOf(NotOwnerError);
    expect((err as NotOwnerError).details).toEqual({ currentOwner: AGENT });
    expect(refreshes()).toEqual([[USER, BOT]]);
    expect(state.owners.get(USER)?.owner).toEqual(AGENT);
  });

  it('answers 409 handover_in_progress to the target of a fresh pending handover', async () => {
    const { state, parley, clock, deps } = setup();
    const markedAt = new Date(clock.now() - 20_000).toISOString();
    state.owners.set(USER, ownerItem(BOT, pendingTo(AGENT, markedAt)));

    const err = await errorOf(
      sendUserMessage({ userId: USER, text: TEXT, serviceId: AGENT }, deps),
    );

    expect(err).toBeInstanceOf(HandoverInProgressError);
    expect((err as HandoverInProgressError).retryAfterSeconds).toEqual(40);
    expect(parley.calls).toEqual([]);
  });

  it('answers 409 to the owner handing the user over while that handover is fresh', async () => {
    const { state, parley, clock, deps } = setup();
    state.owners.set(USER, ownerItem(BOT, pendingTo(AGENT, new Date(clock.now()).toISOString())));

    const err = await errorOf(sendUserMessage({ userId: USER, text: TEXT, serviceId: BOT }, deps));

    expect(err).toBeInstanceOf(HandoverInProgressError);
    expect(parley.calls).toEqual([]);
  });

  it('recovers a stale pending handover first, so its target (now the owner) can send', async () => {
    const { state, parley, history, clock, deps } = setup();
    parley.owners.set(USER, AGENT); // the PUT was applied, then the process died
    const markedAt = new Date(clock.now() - 61_000).toISOString();
    state.owners.set(USER, ownerItem(BOT, pendingTo(AGENT, markedAt)));

    await sendUserMessage({ userId: USER, text: TEXT, serviceId: AGENT }, deps);

    expect(history.userRecords(USER).map((r) => [r.handoverId, r.status])).toEqual([
      ['h0001', 'completed'],
    ]);
    expect(state.owners.get(USER)).toMatchObject({ owner: AGENT, pending: null });
    expect(parley.callsOf('sendMessage')).toEqual([
      { as: AGENT, method: 'sendMessage', userId: USER, text: TEXT },
    ]);
  });

  it('refuses with 403 a service outside a fresh pending handover, naming the owner', async () => {
    const { state, parley, clock, deps } = setup();
    state.owners.set(USER, ownerItem(AGENT, pendingTo(BOT, new Date(clock.now()).toISOString())));
    state.owners.get(USER)!.pending!.actingService = AGENT;

    const err = await errorOf(
      sendUserMessage({ userId: USER, text: TEXT, serviceId: 'Other000000000000000' }, deps),
    );

    expect(err).toBeInstanceOf(NotOwnerError);
    expect((err as NotOwnerError).details).toEqual({ currentOwner: AGENT });
    expect(parley.calls).toEqual([]);
  });

  it.each([
    ['129 characters', 'x'.repeat(129)],
    ['a slash', 'a/b'],
  ])('refuses a userId with %s with invalid_user_id', async (_case, userId) => {
    const { parley, deps } = setup();

    const err = await errorOf(sendUserMessage({ userId, text: TEXT, serviceId: BOT }, deps));

    expect((err as ValidationError).code).toBe('invalid_user_id');
    expect(parley.calls).toEqual([]);
  });

  it.each([
    ['empty', ''],
    ['only whitespace', ' \n\t '],
    ['4097 characters', 'x'.repeat(4097)],
  ])('refuses %s text with 400', async (_case, text) => {
    const { state, parley, deps } = setup();
    state.owners.set(USER, ownerItem(BOT));

    const err = await errorOf(sendUserMessage({ userId: USER, text, serviceId: BOT }, deps));

    expect(err).toBeInstanceOf(ValidationError);
    expect([(err as ValidationError).httpStatus, (err as ValidationError).code]).toEqual([
      400,
      'invalid_text',
    ]);
    expect(parley.calls).toEqual([]);
  });

  it('accepts 4096 characters, counting an emoji as one', async () => {
    const { state, parley, deps } = setup();
    state.owners.set(USER, ownerItem(BOT));
    const text = `${'x'.repeat(4095)}😀`;

    await sendUserMessage({ userId: USER, text, serviceId: BOT }, deps);

    expect(parley.callsOf('sendMessage').map((c) => c.text)).toEqual([text]);
  });

  it('passes a Parley timeout through for the error mapper', async () => {
    const { state, parley, deps } = setup();
    state.owners.set(USER, ownerItem(BOT));
    parley.failNext('sendMessage', 'timeout');

    const err = await errorOf(sendUserMessage({ userId: USER, text: TEXT, serviceId: BOT }, deps));

    expect(err).toBeInstanceOf(ParleyTimeoutError);
  });

  it('never writes the text into a log line or an error', async () => {
    const { state, parley, lines, deps } = setup();
    parley.owners.set(USER, AGENT);
    state.owners.set(USER, ownerItem(AGENT));

    const err = await errorOf(sendUserMessage({ userId: USER, text: TEXT, serviceId: BOT }, deps));
    parley.owners.set(USER, BOT);
    state.owners.set(USER, ownerItem(BOT));
    await sendUserMessage({ userId: USER, text: TEXT, serviceId: BOT }, deps);

    expect(lines.length).toBeGreaterThan(1);
    expect(JSON.stringify(lines)).not.toContain('parcel');
    expect(String((err as Error).message)).not.toContain('parcel');
  });
});
