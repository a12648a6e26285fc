// What starts and resets the owner's lease (issue 15), through the use cases that do it: a change of
// owner starts the new owner's lease (a handover, a change seen at Parley, a first sight); a user
// message processed for the owner, a message the owner sends and a downstream's reply reset it;
// callbacks for a Service that no longer owns the user (standby), events and reads do not. A reset
// is a CAS that bumps the version, made only when the lease moves by more than its step.
import { DeliveryDeferredError, HandoverInProgressError } from '../../../functions/domain/errors';
import { refreshOwner } from '../../../functions/domain/handover/owner';
import { performHandover } from '../../../functions/domain/handover/perform';
import { resetStepMs } from '../../../functions/domain/lifecycle/activity';
import { startLease } from '../../../functions/domain/lifecycle/lease';
import { withDueAt } from '../../../functions/domain/lifecycle/owner-lease';
import type { LeaseConfig } from '../../../functions/domain/lifecycle/types';
import { sendUserMessage } from '../../../functions/domain/messages';
import { processCallback } from '../../../functions/domain/processor/process-callback';
import type { OwnerItem, ServiceInfo } from '../../../functions/domain/types';
import { AGENT, BOT, handoverWorld } from '../../support/fakes';
import {
  DESK_URL,
  messageBody,
  ownerItem,
  pendingTo,
  queued,
  rejection,
  services,
  setup,
  USER,
} from '../processor/world';

const SECOND = 1000;
const T0 = Date.parse('2026-03-10T14:00:00.000Z');
const at = (seconds: number) => new Date(T0 + seconds * SECOND).toISOString();
const DESK_LEASE: LeaseConfig = {
  idleSeconds: 600,
  maxSeconds: 3600,
  warnBeforeSeconds: 60,
  onExpiry: 'default',
};

const withDeskLease = (list: ServiceInfo[]): ServiceInfo[] =>
  list.map((s) => (s.identification === AGENT ? { ...s, lease: DESK_LEASE } : s));

/** The desk owns the user since `startedSecondsAgo` with its lease as it started then. */
const deskItem = (startedSecondsAgo: number): OwnerItem =>
  withDueAt(
    { ...ownerItem(AGENT), lease: startLease(T0 - startedSecondsAgo * SECOND, DESK_LEASE) },
    DESK_LEASE,
  );

const eventBody = () =>
  JSON.stringify({ type: 'event', body: { name: 'typing', body: {}, user: { id: USER } } });

describe('a user message processed for the owner', () => {
  it('resets the lease: lastUserAt now, expiresAt idleSeconds on, dueAt its warning, version + 1', async () => {
    const t = setup(withDeskLease(services()));
    t.parley.owners.set(USER, AGENT);
    t.state.owners.set(USER, deskItem(300));

    const outcome = await processCallback(queued(messageBody(), AGENT), t.deps);

    expect(outcome.disposition).toBe('forwarded');
    expect(t.state.owners.get(USER)).toMatchObject({
      version: 2,
      lease: { lastUserAt: at(0), lastOwnerAt: at(-300), expiresAt: at(600) },
      dueAt: at(540),
    });
  });

  it('writes nothing while the lease would move less than its step', async () => {
    const t = setup(withDeskLease(services()));
    t.parley.owners.set(USER, AGENT);
    t.state.owners.set(USER, deskItem(0));
    t.clock.advance(resetStepMs(DESK_LEASE) - SECOND);

    await processCallback(queued(messageBody(), AGENT), t.deps);

    expect(resetStepMs(DESK_LEASE)).toBe(30 * SECOND);
    expect(t.state.owners.get(USER)).toEqual(deskItem(0));
    expect(t.state.casCalls).toBe(0);
  });

  it('does not reset on a callback for a Service that no longer owns the user, nor on an event', async () => {
    const t = setup(withDeskLease(services()));
    t.parley.owners.set(USER, AGENT);
    t.state.owners.set(USER, deskItem(300));
    // Parley agrees with the cache: the refresh a standby callback asks for changes nothing.
    t.deps.refreshOwner = async () => ({ item: t.state.owners.get(USER)!, parleyOwner: AGENT });

    // Routed to the bot while it owned the user: a standby copy for the desk now.
    const standby = await processCallback(queued(messageBody('hello?', 501), BOT), t.deps);
    const event = await processCallback(queued(eventBody(), AGENT), t.deps);

    expect([standby.disposition, event.disposition]).toEqual(['handed_over', 'forwarded']);
    expect(t.state.owners.get(USER)).toEqual(deskItem(300));
  });

  it('follows a handover marked before its reset landed: the message waits for it', async () => {
    const t = setup(withDeskLease(services()));
    t.parley.owners.set(USER, AGENT);
    t.state.owners.set(USER, deskItem(600));
    // The sweep's expiry writes its marker between the message's read and its reset.
    t.state.beforeNextCas = () => {
      const item = t.state.owners.get(USER)!;
      t.state.owners.set(USER, {
        ...item,
        version: item.version + 1,
        pending: { ...pendingTo(BOT), markedAt: at(0), actingService: AGENT },
      });
    };

    const err = await rejection(processCallback(queued(messageBody(), AGENT), t.deps));

    expect(err).toBeInstanceOf(DeliveryDeferredError);
    expect(t.state.owners.get(USER)?.lease).toEqual(deskItem(600).lease);
    expect(t.downstream.urls()).toEqual([]);
  });
});

describe('the owner’s own messages', () => {
  it('reset the lease through the messages route (lastOwnerAt)', async () => {
    const w = handoverWorld(seedWithDesk());
    w.parley.owners.set(USER, AGENT);
    w.state.owners.set(USER, deskItem(300));

    await sendUserMessage({ userId: USER, text: 'Still there?', serviceId: AGENT }, w.deps);

    expect(w.state.owners.get(USER)).toMatchObject({
      version: 2,
      lease: { lastOwnerAt: at(0), lastUserAt: at(-300), expiresAt: at(600) },
    });
    expect(w.parley.callsOf('sendMessage')).toHaveLength(1);
  });

  it('answer 409 when the sweep’s expiry marked the user first, and send nothing', async () => {
    const w = handoverWorld(seedWithDesk());
    w.parley.owners.set(USER, AGENT);
    w.state.owners.set(USER, deskItem(600));
    w.state.beforeNextCas = () => {
      const item = w.state.owners.get(USER)!;
      w.state.owners.set(USER, {
        ...item,
        version: item.version + 1,
        pending: { ...pendingTo(BOT), markedAt: at(0), actingService: AGENT },
      });
    };

    const sent = sendUserMessage({ userId: USER, text: 'Still there?', serviceId: AGENT }, w.deps);

    await expect(sent).rejects.toBeInstanceOf(HandoverInProgressError);
    expect(w.parley.callsOf('sendMessage')).toEqual([]);
  });

  it('reset the lease when the downstream’s reply was sent', async () => {
    const t = setup(withDeskLease(services()));
    t.parley.owners.set(USER, AGENT);
    t.state.owners.set(USER, deskItem(300));
    t.downstream.json(DESK_URL, { reply: 'We are looking into it.' });

    // An event resets nothing by itself: what moves is the reply's.
    await processCallback(queued(eventBody(), AGENT), t.deps);

    expect(t.state.owners.get(USER)).toMatchObject({
      version: 2,
      lease: { lastOwnerAt: at(0), lastUserAt: at(-300), expiresAt: at(600) },
    });
  });
});

describe('a change of owner', () => {
  it('starts the new owner’s lease with a handover, and drops it when the user goes back', async () => {
    const w = handoverWorld(seedWithDesk());

    await performHandover(
      { userId: USER, newOwner: AGENT, requestedBy: BOT, source: 'api' },
      w.deps,
    );
    const withDesk = w.state.owners.get(USER)!;
    w.clock.advance(10 * SECOND);
    await performHandover(
      { userId: USER, newOwner: 'default', requestedBy: AGENT, source: 'api' },
      w.deps,
    );
    const withBot = w.state.owners.get(USER)!;

    expect(withDesk).toMatchObject({
      owner: AGENT,
      lease: { lastUserAt: at(0), lastOwnerAt: at(0), expiresAt: at(600), hardExpiresAt: at(3600) },
      dueAt: at(540),
    });
    expect([withBot.owner, withBot.lease, withBot.dueAt]).toEqual([BOT, undefined, undefined]);
  });

  it('starts the lease of an owner seen at Parley (an observed change) and of a first sight', async () => {
    const w = handoverWorld(seedWithDesk());
    w.parley.owners.set(USER, AGENT);
    w.parley.owners.set('21', AGENT);
    w.state.owners.set(USER, { ...ownerItem(BOT), userId: USER });

    const observed = await refreshOwner(USER, BOT, w.deps);
    const firstSight = await refreshOwner('21', BOT, w.deps);

    expect(w.history.userRecords(USER).map((r) => r.source)).toEqual(['observed']);
    expect(w.history.userRecords('21')).toEqual([]);
    for (const item of [observed, firstSight]) {
      expect(item).toMatchObject({ owner: AGENT, lease: { expiresAt: at(600) }, dueAt: at(540) });
    }
  });
});

/** The seed's Services with the desk's lease. */
function seedWithDesk(): ServiceInfo[] {
  return withDeskLease([
    { identification: BOT, name: 'Bot Service', role: 'bot', default: true, rules: [] },
    { identification: AGENT, name: 'Agent Service', role: 'agent', default: false, rules: [] },
  ]);
}
