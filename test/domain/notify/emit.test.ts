// emitNotifications (notify/emit.ts), and the handover use cases writing the outbox through
// appendOnce: once per record, again (the same ids) when a writer runs again after a crash.
import { emitNotifications } from '../../../functions/domain/notify/emit';
import { performHandover } from '../../../functions/domain/handover/perform';
import { recoverPending } from '../../../functions/domain/handover/recover';
import { AGENT, BOT, handoverWorld } from '../../support/fakes';
import { seedRequest } from '../handover/world';
import { capturingQueue, notifyServices, notifyWorld, recordOf } from './world';
import { FakeNotificationStore } from '../../support/fakes';

describe('emitNotifications', () => {
  it('writes each item and queues its id in the recipient and user group, deduplicated on the id', async () => {
    const w = notifyWorld();
    const items = await emitNotifications(recordOf(), w.emit);

    expect([...w.store.items.keys()]).toEqual(items.map((i) => i.id));
    expect(w.queue.sent).toEqual(
      items.map((i) => ({
        groupId: `${i.recipient}#20`,
        dedupId: i.id,
        body: JSON.stringify({ id: i.id }),
      })),
    );
  });

  it('leaves an existing item as it is on a second run, and queues it again', async () => {
    const w = notifyWorld();
    const [first] = await emitNotifications(recordOf(), w.emit);
    const sent = { ...w.store.items.get(first!.id)!, status: 'sent' as const, version: 2 };
    w.store.items.set(first!.id, sent);

    await emitNotifications(recordOf(), w.emit);

    expect(w.store.items.get(first!.id)).toEqual(sent);
    expect(w.store.items.size).toBe(2);
    expect(w.queue.sent.map((m) => m.dedupId)).toEqual([
      first!.id,
      expect.any(String),
      first!.id,
      expect.any(String),
    ]);
  });

  it('keeps the item pending and does not throw when the queue refuses the send', async () => {
    const w = notifyWorld();
    w.queue.failing = true;

    const items = await emitNotifications(recordOf(), w.emit);

    expect(items).toHaveLength(2);
    expect([...w.store.items.values()].map((i) => i.status)).toEqual(['pending', 'pending']);
    expect(w.log.lines.filter((l) => l.level === 'warn').map((l) => l.message)).toEqual([
      'notification not queued; the relay will send it',
      'notification not queued; the relay will send it',
    ]);
  });

  it('writes the agent/unset of a hand-back to the bot and queues it in the user’s action group', async () => {
    const w = notifyWorld();
    const handBack = recordOf({ seq: 2, fromOwner: AGENT, toOwner: BOT, requestedBy: AGENT });

    const items = await emitNotifications(handBack, w.emit);

    const action = items.find((i) => i.kind === 'action')!;
    expect(items.map((i) => [i.kind, i.type, i.recipient])).toEqual([
      ['notification', 'handover.completed', AGENT],
      ['notification', 'handover.completed', BOT],
      ['action', 'parley.agent_unset', BOT],
    ]);
    expect(w.store.items.get(action.id)).toEqual(action);
    expect(w.queue.sent.at(-1)).toEqual({
      groupId: 'action#20',
      dedupId: action.id,
      body: JSON.stringify({ id: action.id }),
    });
  });

  it('throws when the outbox cannot be written (the caller keeps its marker)', async () => {
    const w = notifyWorld();
    w.store.put = async () => {
      throw new Error('ProvisionedThroughputExceededException');
    };
    await expect(emitNotifications(recordOf(), w.emit)).rejects.toThrow(
      'ProvisionedThroughputExceededException',
    );
    expect(w.queue.sent).toEqual([]);
  });
});

/** A handover world whose records feed a real emit over the notify fakes. */
const wired = () => {
  const h = handoverWorld(notifyServices());
  const store = new FakeNotificationStore();
  const queue = capturingQueue();
  h.deps.notify = async (record) => {
    await emitNotifications(record, {
      notifications: store,
      queue,
      services: h.deps.catalog,
      clock: h.clock,
      log: h.log,
    });
  };
  return { ...h, store, queue };
};

describe('the handover use cases and the outbox', () => {
  it('write one notification per party of a handover', async () => {
    const w = wired();
    await performHandover(seedRequest(), w.deps);

    expect([...w.store.items.values()].map((i) => [i.type, i.recipient, i.seq])).toEqual([
      ['handover.completed', BOT, 1],
      ['handover.completed', AGENT, 1],
    ]);
    expect(w.queue.sent).toHaveLength(2);
  });

  it('leave the agent/unset of a hand-back to the bot in the outbox, not on the request', async () => {
    const w = wired();
    await performHandover(seedRequest(), w.deps);
    const before = w.parley.calls.length;

    const back = await performHandover(seedRequest({ newOwner: BOT, requestedBy: AGENT }), w.deps);

    expect(back.changed).toBe(true);
    expect(w.parley.calls.slice(before).map((c) => [c.method, c.as])).toEqual([
      ['setOwner', AGENT],
    ]);
    expect(
      [...w.store.items.values()]
        .filter((i) => i.kind === 'action')
        .map((i) => [i.type, i.recipient, i.seq, i.status]),
    ).toEqual([['parley.agent_unset', BOT, 2, 'pending']]);
    expect(w.queue.sent.filter((m) => m.groupId === 'action#20')).toHaveLength(1);
  });

  it('write the agent/unset of a hand-back that crashed before its outbox when recovery finishes it, once', async () => {
    const w = wired();
    await performHandover(seedRequest(), w.deps);
    const notify = w.deps.notify!;
    let crashes = 1;
    w.deps.notify = async (record) => {
      if (crashes-- > 0) throw new Error('crashed before the outbox was written');
      await notify(record);
    };
    await expect(
      performHandover(seedRequest({ newOwner: BOT, requestedBy: AGENT }), w.deps),
    ).rejects.toThrow('crashed');
    w.clock.advance(61_000);

    await recoverPending('20', w.deps);
    await recoverPending('20', w.deps);

    expect(
      [...w.store.items.values()].filter((i) => i.kind === 'action').map((i) => i.seq),
    ).toEqual([2]);
    expect(w.parley.callsOf('unsetAgent')).toEqual([]);
  });

  it('write them after a crash left the record without its notifications, and no more', async () => {
    const w = wired();
    const notify = w.deps.notify!;
    let crashes = 1;
    w.deps.notify = async (record) => {
      if (crashes-- > 0) throw new Error('crashed before the outbox was written');
      await notify(record);
    };
    await expect(performHandover(seedRequest(), w.deps)).rejects.toThrow('crashed');
    expect(w.history.userRecords('20')).toHaveLength(1);
    expect(w.store.items.size).toBe(0);
    expect((await w.state.getOwner('20'))?.pending).not.toBeNull();

    w.clock.advance(61_000);
    await recoverPending('20', w.deps);

    expect([...w.store.items.values()].map((i) => [i.type, i.recipient])).toEqual([
      ['handover.completed', BOT],
      ['handover.completed', AGENT],
    ]);
    expect((await w.state.getOwner('20'))?.pending).toBeNull();
    // A second recovery or a retry finds the items written: nothing new.
    await emitNotifications(w.history.userRecords('20')[0]!, {
      notifications: w.store,
      queue: w.queue,
      services: w.deps.catalog,
      clock: w.clock,
      log: w.log,
    });
    expect(w.store.items.size).toBe(2);
  });

  it('write the notifications of the record after a failed one when recovery finds both stored', async () => {
    const w = wired();
    await performHandover(seedRequest(), w.deps); // Agent owns, as far as the cache knows
    w.parley.owners.set('20', BOT); // moved back at Parley directly
    const notify = w.deps.notify!;
    w.deps.notify = async (record) => {
      if (record.source === 'observed') throw new Error('crashed before the outbox was written');
      await notify(record);
    };
    await expect(
      performHandover(seedRequest({ newOwner: BOT, requestedBy: AGENT }), w.deps),
    ).rejects.toThrow('crashed');
    expect(w.history.userRecords('20').map((r) => [r.seq, r.source, r.status])).toEqual([
      [1, 'api', 'completed'],
      [2, 'api', 'failed'],
      [3, 'observed', 'completed'],
    ]);
    expect([...w.store.items.values()].filter((i) => i.seq === 3)).toEqual([]);

    w.deps.notify = notify;
    w.clock.advance(61_000);
    await recoverPending('20', w.deps);

    expect([...w.store.items.values()].map((i) => [i.seq, i.type, i.recipient])).toEqual([
      [1, 'handover.completed', BOT],
      [1, 'handover.completed', AGENT],
      [2, 'handover.failed', AGENT],
      [3, 'handover.observed', AGENT],
      [3, 'handover.observed', BOT],
    ]);
  });
});
