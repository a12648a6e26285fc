// The operators' outbox use cases on the fakes: a redelivery that races the sender (which also
// compare-and-sets the item) reads again and wins, or gives up with 409 after a few tries; the
// listing never carries a body.
import { NotificationBusyError } from '../../../functions/domain/errors';
import {
  listNotifications,
  type NotificationRouteDeps,
  redeliverNotification,
} from '../../../functions/domain/notify/routes';
import { notifyMessage } from '../../../functions/domain/notify/emit';
import type { NotificationItem } from '../../../functions/domain/types';
import {
  AGENT,
  BOT,
  FakeNotificationStore,
  manualClock,
  recordingLog,
  recordingMetrics,
  staticCatalog,
} from '../../support/fakes';

const failed = (id: string): NotificationItem => ({
  id,
  kind: 'notification',
  type: 'handover.completed',
  recipient: AGENT,
  userId: '20',
  seq: 2,
  handoverId: `h-${id}`,
  body: '{"metadata":{"vip":true}}',
  status: 'failed',
  attempts: 5,
  lastStatus: 410,
  lastError: 'the receiver answered 410',
  createdAt: '2026-03-10T14:00:00.000Z',
  updatedAt: '2026-03-10T14:00:00.000Z',
  sentAt: null,
  version: 6,
});

const world = () => {
  const notifications = new FakeNotificationStore();
  const sent: { groupId: string; dedupId: string; body: string }[] = [];
  const log = recordingLog();
  const deps: NotificationRouteDeps = {
    notifications,
    notifyQueue: { send: async (m) => void sent.push(m) },
    catalog: staticCatalog(),
    clock: manualClock(),
    log,
    metrics: recordingMetrics(),
  };
  return { notifications, sent, log, deps };
};

/** The sender's write between a redelivery's read and its compare-and-set: an attempt counted. */
const senderWritesFirst = (store: FakeNotificationStore, id: string) => () => {
  const item = store.items.get(id)!;
  store.items.set(id, { ...item, attempts: item.attempts + 1, version: item.version + 1 });
};

describe('redeliverNotification', () => {
  it('reads again after losing its compare-and-set to the sender, and queues the version it wrote', async () => {
    const { notifications, sent, deps } = world();
    await notifications.put(failed('n1'));
    notifications.beforeNextCas = senderWritesFirst(notifications, 'n1');

    const out = await redeliverNotification('n1', { operator: 'anna' }, deps);

    const stored = await notifications.get('n1');
    expect(out).toEqual({ id: 'n1', status: 'pending' });
    expect([stored?.status, stored?.attempts, stored?.version]).toEqual(['pending', 6, 8]);
    expect(sent.map((m) => m.dedupId)).toEqual(['n1#redeliver#8']);
  });

  it('gives up with 409 notification_busy when the sender wins every time, queueing nothing', async () => {
    const { notifications, sent, deps } = world();
    await notifications.put(failed('n2'));
    let raced = 0;
    const race = () => {
      raced += 1;
      senderWritesFirst(notifications, 'n2')();
      notifications.beforeNextCas = race;
    };
    notifications.beforeNextCas = race;

    const err = await redeliverNotification('n2', { operator: 'anna' }, deps).catch((e) => e);

    expect(err).toBeInstanceOf(NotificationBusyError);
    expect([err.httpStatus, err.code, err.retryAfterSeconds]).toEqual([
      409,
      'notification_busy',
      1,
    ]);
    expect(sent).toEqual([]);
    expect((await notifications.get('n2'))?.status).toBe('failed');
    expect(raced).toBe(3);
  });

  it('hashes a deduplication id SQS could not take (over 128 characters)', async () => {
    const { notifications, sent, deps } = world();
    const id = `n-${'x'.repeat(120)}`;
    await notifications.put(failed(id));

    await redeliverNotification(id, { operator: 'anna' }, deps);

    expect(sent[0]?.dedupId).toMatch(/^h-[0-9a-f]{64}$/);
    expect(sent[0]?.body).toBe(JSON.stringify({ id }));
  });
});

describe('redeliverNotification of an action', () => {
  it('queues it again in the user’s action group, through the one builder of queue messages', async () => {
    const { notifications, sent, deps } = world();
    const action: NotificationItem = {
      ...failed('a1'),
      kind: 'action',
      type: 'parley.agent_unset',
      recipient: BOT,
    };
    await notifications.put(action);

    await redeliverNotification('a1', { operator: 'anna', reason: 'Parley fixed' }, deps);

    expect(sent).toEqual([
      { groupId: 'action#20', dedupId: 'a1#redeliver#7', body: JSON.stringify({ id: 'a1' }) },
    ]);
    expect(sent[0]).toEqual({
      ...notifyMessage({ ...action, version: 7 }, { redelivery: true }),
    });
  });
});

describe('listNotifications', () => {
  it('shows each item’s kind, actions listed with the notifications', async () => {
    const { notifications, deps } = world();
    await notifications.put(failed('n4'));
    await notifications.put({
      ...failed('a2'),
      kind: 'action',
      type: 'parley.agent_unset',
      recipient: BOT,
      createdAt: '2026-03-10T14:00:01.000Z',
    });

    const page = await listNotifications({ limit: 10 }, deps);

    expect(page.items.map((i) => [i.id, i.kind, i.type, i.recipient])).toEqual([
      ['a2', 'action', 'parley.agent_unset', BOT],
      ['n4', 'notification', 'handover.completed', AGENT],
    ]);
    expect(Object.keys(page.items[0]!)).not.toContain('body');
  });

  it('lists without bodies, by the service named as the catalog knows it', async () => {
    const { notifications, deps } = world();
    await notifications.put(failed('n3'));

    const page = await listNotifications({ service: 'agent service', limit: 10 }, deps);

    expect(page.items.map((i) => i.id)).toEqual(['n3']);
    expect(Object.keys(page.items[0]!)).not.toContain('body');
    expect(page.cursor).toBeUndefined();
  });
});
