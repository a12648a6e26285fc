// relayPending (notify/relay.ts): what the outbox relay queues again, and what it leaves alone.
import { notifyGroupId } from '../../../functions/domain/notify/build';
import { emitNotifications } from '../../../functions/domain/notify/emit';
import { relayPending } from '../../../functions/domain/notify/relay';
import { sendNotification } from '../../../functions/domain/notify/send';
import { AGENT, BOT } from '../../support/fakes';
import { notifyWorld, recordOf } from './world';

const MINUTE = 60_000;

/** A world whose emit never reached the queue (the writer died after the puts). */
const lostSends = async () => {
  const w = notifyWorld();
  w.queue.failing = true;
  const items = await emitNotifications(recordOf(), w.emit);
  w.queue.failing = false;
  return { ...w, items };
};

describe('relayPending', () => {
  it('queues again the pending items nobody touched for a minute, once per minute at most', async () => {
    const w = await lostSends();

    w.clock.advance(30_000);
    expect(await relayPending(w.relay)).toMatchObject({ examined: 0, requeued: 0 });
    w.clock.advance(MINUTE);
    const summary = await relayPending(w.relay);

    expect(summary).toEqual({
      examined: 2,
      requeued: 2,
      waiting: 0,
      notDue: 0,
      failed: 0,
      more: false,
    });
    expect(w.queue.sent.map((m) => m.dedupId).sort()).toEqual(w.items.map((i) => i.id).sort());
    expect(w.log.lines.filter((l) => l.message === 'notification relay')).toHaveLength(2);
    // Just queued: the next run leaves them to the sender.
    expect(await relayPending(w.relay)).toMatchObject({ examined: 2, requeued: 0, notDue: 2 });
  });

  it('leaves an item alone while its retry is due, and queues it once it is overdue', async () => {
    const w = notifyWorld({ script: [{ status: 500, body: '' }] });
    // A failed handover: one notification, to the requester.
    const [item] = await emitNotifications(recordOf({ status: 'failed' }), w.emit);
    for (const wait of [2, 10, 30, 0]) {
      expect(await sendNotification(item!.id, w.send)).toMatchObject({ outcome: 'retry' });
      w.clock.advance(wait * 1000);
    }
    // 4 attempts made, the next after 60 s: not overdue until 60 s + a minute later.
    w.queue.sent.length = 0;
    w.clock.advance(MINUTE + 59_000);
    expect(await relayPending(w.relay)).toMatchObject({ requeued: 0 });
    w.clock.advance(2_000);
    expect(await relayPending(w.relay)).toMatchObject({ requeued: 1 });
    expect(w.queue.sent.map((m) => m.dedupId)).toEqual([item!.id]);
  });

  it('skips the items waiting behind an earlier one of the same Service and user, never the user’s action', async () => {
    const w = notifyWorld({ script: [{ status: 500, body: '' }] });
    const [first] = await emitNotifications(recordOf(), w.emit);
    const second = recordOf({
      handoverId: 'h-2',
      seq: 2,
      fromOwner: AGENT,
      toOwner: BOT,
      requestedBy: AGENT,
      createdAt: '2026-03-10T14:00:00.500Z',
    });
    await emitNotifications(second, w.emit);
    // The first one to the Bot is in its backoff (retry in 10 min); the second waits behind it.
    await sendNotification(first!.id, w.send);
    const stored = w.store.items.get(first!.id)!;
    w.store.items.set(first!.id, {
      ...stored,
      attempts: 6,
      updatedAt: new Date(w.clock.now()).toISOString(),
    });
    w.queue.sent.length = 0;
    w.clock.advance(2 * MINUTE);

    const summary = await relayPending(w.relay);

    const requeued = w.queue.sent.map((m) => w.store.items.get(JSON.parse(m.body).id)!);
    // The hand-back's agent/unset has a group of its own: the Bot's slow receiver does not hold it.
    expect(requeued.map((i) => [i.kind, i.recipient, i.seq]).sort()).toEqual([
      ['action', BOT, 2],
      ['notification', AGENT, 1],
      ['notification', AGENT, 2],
    ]);
    expect(summary).toMatchObject({ examined: 5, requeued: 3, notDue: 1, waiting: 1 });
    expect(new Set(w.queue.sent.map((m) => m.groupId))).toEqual(
      new Set([notifyGroupId(AGENT, '20'), 'action#20']),
    );
  });

  it('counts a send the queue refuses, and leaves the item for the next run', async () => {
    const w = await lostSends();
    w.clock.advance(2 * MINUTE);
    w.queue.failing = true;
    expect(await relayPending(w.relay)).toMatchObject({ requeued: 0, failed: 2 });
    w.queue.failing = false;
    w.clock.advance(2 * MINUTE);
    expect(await relayPending(w.relay)).toMatchObject({ requeued: 2, failed: 0 });
  });

  it('stops at its bound per run and says more is left', async () => {
    const w = await lostSends();
    w.clock.advance(2 * MINUTE);
    const summary = await relayPending({ ...w.relay, maxItems: 1, pageSize: 1 });
    expect(summary).toMatchObject({ examined: 1, requeued: 1, more: true });
  });
});
