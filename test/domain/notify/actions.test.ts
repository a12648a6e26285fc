// runOutboxAction (notify/actions.ts): the agent/unset a hand-back to a bot leaves in the outbox,
// run as the bot against a fake Parley; Parley's outcome decides what the sender does next.
import { GENESIS_HASH } from '../../../functions/domain/chain';
import { AGENT_UNSET, outboxItemsFor } from '../../../functions/domain/notify/build';
import { runOutboxAction } from '../../../functions/domain/notify/actions';
import type { NotificationItem, OwnerItem } from '../../../functions/domain/types';
import { AGENT, BOT, FakeParley, FakeStateStore, staticCatalog } from '../../support/fakes';
import { notifyServices, recordOf } from './world';

const NOW = '2026-03-10T14:00:01.000Z';

/** The action of user 20's hand-back to the bot at `seq`, and the world it runs in. */
const actionWorld = (seq = 2) => {
  const record = recordOf({ seq, fromOwner: AGENT, toOwner: BOT, requestedBy: AGENT });
  const action = outboxItemsFor(record, staticCatalog(notifyServices()), NOW).find(
    (i) => i.kind === 'action',
  )!;
  const parley = new FakeParley();
  const state = new FakeStateStore();
  const deps = { parley: parley.clients, state, timeoutMs: 2000 };
  return { action, parley, state, deps };
};

const ownerItem = (owner: string, lastSeq: number): OwnerItem => ({
  userId: '20',
  owner,
  version: lastSeq + 1,
  since: null,
  lastSeq,
  lastHash: GENESIS_HASH,
  lastCreatedAt: null,
  lastHandoverId: null,
  pending: null,
  refreshedAt: NOW,
});

describe('runOutboxAction (parley.agent_unset)', () => {
  it('unsets the agent as the bot: one PUT agent/unset, ok with its status', async () => {
    const w = actionWorld();
    await w.state.createOwner(ownerItem(BOT, 2));

    expect(await runOutboxAction(w.action, w.deps)).toEqual({ result: 'ok', status: 200 });
    expect(w.parley.calls).toEqual([{ as: BOT, method: 'unsetAgent', userId: '20' }]);
  });

  it('runs when the owner item has not caught up with the record yet (the final write to come)', async () => {
    const w = actionWorld();
    await w.state.createOwner(ownerItem(AGENT, 1));

    expect(await runOutboxAction(w.action, w.deps)).toEqual({ result: 'ok', status: 200 });
    expect(w.parley.callsOf('unsetAgent')).toHaveLength(1);
  });

  it('refuses for good on a definite Parley refusal: failed, with its status and code', async () => {
    const w = actionWorld();
    w.parley.failNext('unsetAgent', 'reject_403');

    expect(await runOutboxAction(w.action, w.deps)).toEqual({
      result: 'refused',
      status: 403,
      error: 'parley 403 forbidden',
    });
  });

  it.each([
    ['a 5xx', 'reject_500', 500, 'parley 500'],
    ['a timeout', 'timeout', null, 'timeout'],
    ['a request that never left', 'refused', null, 'unreachable'],
    ['an applied call whose answer was lost', 'apply_then_500', 500, 'parley 500'],
  ] as const)(
    'retries %s (an unknown outcome, or one that may yet succeed)',
    async (_case, fault, status, error) => {
      const w = actionWorld();
      w.parley.failNext('unsetAgent', fault);

      expect(await runOutboxAction(w.action, w.deps)).toEqual({ result: 'retry', status, error });
    },
  );

  it('does not run once the user has moved on to another owner: refused as superseded, no call', async () => {
    const w = actionWorld(2);
    // The agent took the user over again after the hand-back (seq 3).
    await w.state.createOwner(ownerItem(AGENT, 3));

    expect(await runOutboxAction(w.action, w.deps)).toEqual({
      result: 'refused',
      status: null,
      error: 'superseded: the user has another owner now',
      moot: true,
    });
    expect(w.parley.calls).toEqual([]);
  });

  it('retries when the owner item cannot be read, naming no more than the error class', async () => {
    const w = actionWorld();
    w.state.getOwner = async () => {
      throw Object.assign(new Error('table https://internal/secret-ish down'), {
        name: 'ProvisionedThroughputExceededException',
      });
    };

    expect(await runOutboxAction(w.action, w.deps)).toEqual({
      result: 'retry',
      status: null,
      error: 'ProvisionedThroughputExceededException',
    });
    expect(w.parley.calls).toEqual([]);
  });

  it('refuses an action type it does not know, without a call', async () => {
    const w = actionWorld();
    const unknown = { ...w.action, type: 'parley.something_else' } as unknown as NotificationItem;

    expect(await runOutboxAction(unknown, w.deps)).toEqual({
      result: 'refused',
      status: null,
      error: 'unknown action',
    });
    expect(w.parley.calls).toEqual([]);
    expect(w.action.type).toBe(AGENT_UNSET);
  });
});
