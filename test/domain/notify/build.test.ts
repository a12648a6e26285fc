// notificationsFor (notify/build.ts): who hears about a record, under which id, with which body.
import { canonicalJson } from '../../../functions/domain/canonical';
import {
  AGENT_UNSET,
  notificationId,
  notificationsFor,
  notifyGroupId,
  outboxItemsFor,
  queueGroupOf,
} from '../../../functions/domain/notify/build';
import type { NotificationItem, ServiceInfo } from '../../../functions/domain/types';
import { AGENT, BOT, staticCatalog } from '../../support/fakes';
import { DESK, notifyServices, recordOf, T0 } from './world';

const NOW = '2026-03-10T14:00:01.000Z';
const catalog = (services: ServiceInfo[] = notifyServices()) => staticCatalog(services);
const who = (items: { recipient: string; type: string }[]) =>
  items.map((i) => [i.type, i.recipient]);

describe('notificationsFor', () => {
  it('tells the old owner, the new owner and the requesting Service of a completed handover, once each', () => {
    const byDesk = recordOf({ requestedBy: DESK });
    expect(who(notificationsFor(byDesk, catalog(), NOW))).toEqual([
      ['handover.completed', BOT],
      ['handover.completed', AGENT],
      ['handover.completed', DESK],
    ]);
    // The requester is the old owner: it hears once.
    expect(who(notificationsFor(recordOf(), catalog(), NOW))).toEqual([
      ['handover.completed', BOT],
      ['handover.completed', AGENT],
    ]);
  });

  it('names the Service behind a rule as the requester, and no one for system, operator or parley', () => {
    const ruled = recordOf({ source: 'rule', requestedBy: `rule:${DESK}` });
    expect(who(notificationsFor(ruled, catalog(), NOW)).map(([, r]) => r)).toEqual([
      BOT,
      AGENT,
      DESK,
    ]);
    for (const requestedBy of ['system:lease', 'operator:ops-ann']) {
      const record = recordOf({ source: 'timeout', requestedBy, fromOwner: DESK });
      expect(who(notificationsFor(record, catalog(), NOW)).map(([, r]) => r)).toEqual([
        DESK,
        AGENT,
      ]);
    }
  });

  it('tells only the requester of a failed handover', () => {
    const failed = recordOf({ status: 'failed', requestedBy: DESK });
    expect(who(notificationsFor(failed, catalog(), NOW))).toEqual([['handover.failed', DESK]]);
    const byOperator = recordOf({ status: 'failed', requestedBy: 'operator:ops-ann' });
    expect(notificationsFor(byOperator, catalog(), NOW)).toEqual([]);
  });

  it('tells both sides of a change made at Parley, and of a failover', () => {
    const observed = recordOf({ source: 'observed', requestedBy: 'parley', metadata: null });
    expect(who(notificationsFor(observed, catalog(), NOW))).toEqual([
      ['handover.observed', BOT],
      ['handover.observed', AGENT],
    ]);
    const failover = recordOf({
      source: 'failover',
      requestedBy: 'system:failover',
      fromOwner: AGENT,
      toOwner: DESK,
    });
    expect(who(notificationsFor(failover, catalog(), NOW))).toEqual([
      ['failover.triggered', AGENT],
      ['failover.triggered', DESK],
    ]);
  });

  it('leaves out Services without a notify url, unknown ones, and ones whose events leave the type out', () => {
    const services = notifyServices();
    delete services[0]!.downstreamUrl; // the Bot: no downstream, no notify url
    services[1]!.notify = { events: ['handover.failed'] };
    const record = recordOf({ requestedBy: 'not-configured' });
    expect(notificationsFor(record, catalog(services), NOW)).toEqual([]);

    services[1]!.notify = { events: ['handover.completed'] };
    expect(who(notificationsFor(record, catalog(services), NOW))).toEqual([
      ['handover.completed', AGENT],
    ]);
    services[1]!.notify = { events: [] };
    expect(notificationsFor(record, catalog(services), NOW)).toEqual([]);
  });

  it('derives a stable id from handover, type and recipient, and writes a pending item', () => {
    const [toBot] = notificationsFor(recordOf(), catalog(), NOW);
    expect(toBot!.id).toBe(notificationId('h-1', 'handover.completed', BOT));
    expect(toBot!.id).toMatch(/^ntf_[A-Za-z0-9_-]{22}$/);
    expect(notificationId('h-1', 'handover.completed', AGENT)).not.toBe(toBot!.id);
    expect(notificationId('h-1', 'handover.failed', BOT)).not.toBe(toBot!.id);
    expect(notificationId('h-2', 'handover.completed', BOT)).not.toBe(toBot!.id);
    expect(toBot).toEqual({
      id: toBot!.id,
      kind: 'notification',
      type: 'handover.completed',
      recipient: BOT,
      userId: '20',
      seq: 1,
      handoverId: 'h-1',
      body: toBot!.body,
      status: 'pending',
      attempts: 0,
      lastStatus: null,
      lastError: null,
      createdAt: T0,
      updatedAt: NOW,
      sentAt: null,
      version: 1,
    });
  });

  it('gives metadata to the new owner only; for the others the key is absent, not null', () => {
    const record = recordOf({ requestedBy: DESK, metadata: { reason: 'question', z: 1, a: 2 } });
    const bodies = Object.fromEntries(
      notificationsFor(record, catalog(), NOW).map((i) => [i.recipient, JSON.parse(i.body)]),
    );
    expect(bodies[AGENT]).toEqual({
      id: notificationId('h-1', 'handover.completed', AGENT),
      type: 'handover.completed',
      createdAt: T0,
      userId: '20',
      seq: 1,
      handoverId: 'h-1',
      from: BOT,
      to: AGENT,
      reason: 'question_too_complex',
      source: 'api',
      requestedBy: DESK,
      metadata: { reason: 'question', z: 1, a: 2 },
    });
    expect('metadata' in bodies[BOT]).toBe(false);
    expect('metadata' in bodies[DESK]).toBe(false);
    const observed = recordOf({ source: 'observed', requestedBy: 'parley', metadata: null });
    const toNewOwner = notificationsFor(observed, catalog(), NOW).find(
      (i) => i.recipient === AGENT,
    );
    expect(JSON.parse(toNewOwner!.body).metadata).toBeNull();
  });

  it('builds the same bytes whatever order the stored metadata keys come back in', () => {
    const one = recordOf({ metadata: { a: 1, b: { y: 2, x: 3 } } });
    const two = { ...one, metadata: { b: { x: 3, y: 2 }, a: 1 } };
    const bodies = (r: typeof one) => notificationsFor(r, catalog(), NOW).map((i) => i.body);
    expect(bodies(two)).toEqual(bodies(one));
    expect(bodies(one)[1]).toContain('"metadata":{"a":1,"b":{"x":3,"y":2}}');
  });
});

describe('notifyGroupId', () => {
  it('keeps a Service and a user together, readable when SQS allows it, hashed otherwise', () => {
    expect(notifyGroupId(BOT, '20')).toBe(`${BOT}#20`);
    const long = notifyGroupId(BOT, 'u'.repeat(128));
    expect(long).toMatch(/^h-[0-9a-f]{64}$/);
    expect(notifyGroupId(BOT, 'Zoë')).toMatch(/^h-[0-9a-f]{64}$/);
    expect(notifyGroupId(BOT, 'Zoë')).not.toBe(notifyGroupId(AGENT, 'Zoë'));
  });
});

describe('outboxItemsFor: the agent/unset action after a hand-back to a bot', () => {
  const actions = (items: NotificationItem[]) => items.filter((i) => i.kind === 'action');

  it('adds one action, run as the bot, for a completed change whose new owner is a bot', () => {
    const handBack = recordOf({ seq: 2, fromOwner: AGENT, toOwner: BOT, requestedBy: AGENT });

    const items = outboxItemsFor(handBack, catalog(), NOW);

    expect(items.filter((i) => i.kind === 'notification')).toEqual(
      notificationsFor(handBack, catalog(), NOW),
    );
    expect(actions(items)).toEqual([
      {
        id: notificationId('h-1', AGENT_UNSET, BOT),
        kind: 'action',
        type: AGENT_UNSET,
        recipient: BOT,
        userId: '20',
        seq: 2,
        handoverId: 'h-1',
        body: canonicalJson({
          handoverId: 'h-1',
          id: notificationId('h-1', AGENT_UNSET, BOT),
          seq: 2,
          type: AGENT_UNSET,
          userId: '20',
        }),
        status: 'pending',
        attempts: 0,
        lastStatus: null,
        lastError: null,
        createdAt: T0,
        updatedAt: NOW,
        sentAt: null,
        version: 1,
      },
    ]);
  });

  it('adds it whatever moved the user to the bot (a failover, an operator, a timeout)', () => {
    for (const [source, requestedBy] of [
      ['failover', 'system:failover'],
      ['operator', 'operator:ops-ann'],
      ['timeout', 'system:lease'],
      ['rule', `rule:${AGENT}`],
    ] as const) {
      const record = recordOf({ source, requestedBy, fromOwner: AGENT, toOwner: BOT });
      expect([source, actions(outboxItemsFor(record, catalog(), NOW)).map((i) => i.type)]).toEqual([
        source,
        [AGENT_UNSET],
      ]);
    }
  });

  it('adds none for a new owner that is an agent, a failed or observed change, or an unknown Service', () => {
    const none = [
      recordOf(),
      recordOf({ toOwner: DESK }),
      recordOf({ status: 'failed', fromOwner: AGENT, toOwner: BOT, requestedBy: AGENT }),
      recordOf({ source: 'observed', requestedBy: 'parley', fromOwner: AGENT, toOwner: BOT }),
      recordOf({ fromOwner: AGENT, toOwner: 'not-configured', requestedBy: AGENT }),
    ];
    for (const record of none) expect(actions(outboxItemsFor(record, catalog(), NOW))).toEqual([]);
  });

  it('does not depend on the bot wanting notifications: no notify url, no events', () => {
    const services = notifyServices();
    delete services[0]!.downstreamUrl;
    const handBack = recordOf({ fromOwner: AGENT, toOwner: BOT, requestedBy: AGENT });
    expect(
      outboxItemsFor(handBack, catalog(services), NOW).map((i) => [i.kind, i.recipient]),
    ).toEqual([
      ['notification', AGENT],
      ['action', BOT],
    ]);
    services[0]!.notify = { events: [] };
    expect(actions(outboxItemsFor(handBack, catalog(services), NOW))).toHaveLength(1);
  });

  it('builds the same item on every run, so a writer that runs again writes nothing new', () => {
    const handBack = recordOf({ fromOwner: AGENT, toOwner: BOT, requestedBy: AGENT });
    const later = '2026-03-10T14:09:00.000Z';
    const strip = (items: NotificationItem[]) => items.map(({ updatedAt: _, ...rest }) => rest);
    expect(strip(outboxItemsFor(handBack, catalog(), later))).toEqual(
      strip(outboxItemsFor(handBack, catalog(), NOW)),
    );
  });
});

describe('queueGroupOf', () => {
  it('puts a notification in its recipient and user group, an action in the user’s action group', () => {
    const handBack = recordOf({ fromOwner: AGENT, toOwner: BOT, requestedBy: AGENT });
    const groups = outboxItemsFor(handBack, catalog(), NOW).map((i) => [i.kind, queueGroupOf(i)]);

    expect(groups).toEqual([
      ['notification', `${AGENT}#20`],
      ['notification', `${BOT}#20`],
      ['action', 'action#20'],
    ]);
    expect(queueGroupOf({ kind: 'action', recipient: BOT, userId: 'u'.repeat(128) })).toMatch(
      /^h-[0-9a-f]{64}$/,
    );
    expect(queueGroupOf({ kind: 'action', recipient: BOT, userId: 'Zoë' })).not.toBe(
      queueGroupOf({ kind: 'notification', recipient: BOT, userId: 'Zoë' }),
    );
  });
});
