// sendNotification (notify/send.ts): one attempt per queued id, its outcome on the outbox item,
// with an injected clock.
import { emitNotifications } from '../../../functions/domain/notify/emit';
import { type AttemptResult, sendNotification } from '../../../functions/domain/notify/send';
import type { NotificationItem } from '../../../functions/domain/types';
import { AGENT, BOT } from '../../support/fakes';
import { notifyWorld, recordOf, T0 } from './world';

const HOUR = 3600_000;

/** A world with the seed handover emitted; `toAgent` is the new owner's notification. */
const sendWorld = async (script?: NonNullable<Parameters<typeof notifyWorld>[0]>['script']) => {
  const w = notifyWorld({ script });
  const items = await emitNotifications(recordOf(), w.emit);
  const toAgent = items.find((i) => i.recipient === AGENT)!;
  return { ...w, toAgent, stored: () => w.store.items.get(toAgent.id)! };
};

const status = (code: number) => ({ status: code, body: '' });

describe('sendNotification', () => {
  it('posts the stored body to the notify url with the signed headers, then marks it sent', async () => {
    const w = await sendWorld([status(204)]);

    expect(await sendNotification(w.toAgent.id, w.send)).toEqual({ outcome: 'sent', status: 204 });

    expect(w.downstream.posted).toHaveLength(1);
    const [post] = w.downstream.posted;
    expect(post!.url).toBe('https://desk.example/in');
    expect(post!.body).toBe(w.toAgent.body);
    expect(post!.timeoutMs).toBe(2000);
    expect(Object.keys(post!.headers).sort()).toEqual([
      'Content-Type',
      'X-Handover-Delivery',
      'X-Handover-Signature',
      'X-Handover-Timestamp',
      'webhook-id',
      'webhook-signature',
      'webhook-timestamp',
    ]);
    expect(w.stored()).toEqual<NotificationItem>({
      ...w.toAgent,
      status: 'sent',
      attempts: 1,
      lastStatus: 204,
      updatedAt: '2026-03-10T14:00:01.000Z',
      sentAt: '2026-03-10T14:00:01.000Z',
      version: 2,
    });
    expect(w.metrics.total('NotificationSent')).toBe(1);
  });

  it('sends once when the same id is queued twice (a duplicate message)', async () => {
    const w = await sendWorld();
    await sendNotification(w.toAgent.id, w.send);

    expect(await sendNotification(w.toAgent.id, w.send)).toEqual({
      outcome: 'duplicate',
      status: 'sent',
    });
    expect(w.downstream.posted).toHaveLength(1);
  });

  it('retries 5xx, 429, timeouts and refused connections on the backoff schedule, then succeeds', async () => {
    const timeout = Object.assign(new Error('no answer'), {
      name: 'DownstreamTransportError',
      timedOut: true,
    });
    const refused = new Error('ECONNREFUSED');
    const w = await sendWorld([status(500), status(429), timeout, refused, status(200)]);
    const outcomes = [];
    for (let i = 0; i < 5; i += 1) {
      const outcome = await sendNotification(w.toAgent.id, w.send);
      outcomes.push(outcome);
      if (outcome.outcome === 'retry') w.clock.advance(outcome.delaySeconds * 1000);
    }
    expect(outcomes).toEqual([
      { outcome: 'retry', delaySeconds: 2, status: 500 },
      { outcome: 'retry', delaySeconds: 10, status: 429 },
      { outcome: 'retry', delaySeconds: 30, status: null },
      { outcome: 'retry', delaySeconds: 60, status: null },
      { outcome: 'sent', status: 200 },
    ]);
    expect(w.stored()).toMatchObject({
      status: 'sent',
      attempts: 5,
      lastStatus: 200,
      lastError: null,
    });
    expect(w.metrics.total('NotificationRetried')).toBe(4);
    const errors = w.log.lines
      .filter((l) => l.message === 'notification failed; will retry')
      .map((l) => l.attributes?.error);
    expect(errors).toEqual(['status 500', 'status 429', 'timeout', 'unreachable']);
  });

  it.each([400, 401, 403, 404, 410])('stops for good on %i: failed, no retry', async (code) => {
    const w = await sendWorld([status(code), status(200)]);

    expect(await sendNotification(w.toAgent.id, w.send)).toEqual({
      outcome: 'failed',
      status: code,
      error: `status ${code}`,
    });
    expect(await sendNotification(w.toAgent.id, w.send)).toEqual({
      outcome: 'duplicate',
      status: 'failed',
    });
    expect(w.downstream.posted).toHaveLength(1);
    expect(w.stored()).toMatchObject({
      status: 'failed',
      attempts: 1,
      lastStatus: code,
      lastError: `refused: status ${code}`,
      sentAt: null,
    });
    expect(w.metrics.total('NotificationFailed')).toBe(1);
    expect(w.metrics.total('DownstreamMisconfigured')).toBe([401, 403, 404].includes(code) ? 1 : 0);
  });

  it('fails it once 24 h have passed since the event, and keeps sending it towards the DLQ', async () => {
    const w = await sendWorld([status(503)]);
    w.clock.set(Date.parse(T0) + 24 * HOUR - 900);
    const last = await sendNotification(w.toAgent.id, w.send);
    // The last wait ends at the 24 h mark, not after the schedule's 2 s.
    expect(last).toEqual({ outcome: 'retry', delaySeconds: 1, status: 503 });
    w.clock.set(Date.parse(T0) + 24 * HOUR);

    expect(await sendNotification(w.toAgent.id, w.send)).toEqual({ outcome: 'expired' });
    expect(w.stored()).toMatchObject({
      status: 'failed',
      attempts: 2,
      lastStatus: 503,
      lastError: 'expired after 2 attempts (last: status 503)',
    });
    expect(w.metrics.total('NotificationFailed')).toBe(1);
    // Received again (on its way to the DLQ): no POST, still expired.
    expect(await sendNotification(w.toAgent.id, w.send)).toEqual({ outcome: 'expired' });
    expect(w.downstream.posted).toHaveLength(2);
  });

  it('says so when the queued id has no item, and posts nothing', async () => {
    const w = await sendWorld();
    expect(await sendNotification('ntf_missing', w.send)).toEqual({ outcome: 'missing' });
    expect(w.downstream.posted).toEqual([]);
    expect(w.log.lines.map((l) => l.message)).toContain('queued notification not found');
  });

  it('fails it without a retry when the recipient has no notify url any more', async () => {
    const w = await sendWorld();
    w.send.services = { get: () => undefined };
    expect(await sendNotification(w.toAgent.id, w.send)).toEqual({
      outcome: 'failed',
      status: null,
      error: 'no notify url',
    });
    expect(w.downstream.posted).toEqual([]);
  });

  it('writes its outcome over a relay that touched the item meanwhile', async () => {
    const w = await sendWorld();
    w.store.beforeNextCas = () => {
      const item = w.store.items.get(w.toAgent.id)!;
      w.store.items.set(item.id, { ...item, updatedAt: '2026-03-10T14:05:00.000Z', version: 2 });
    };
    expect(await sendNotification(w.toAgent.id, w.send)).toEqual({ outcome: 'sent', status: 200 });
    expect(w.stored()).toMatchObject({ status: 'sent', attempts: 1, version: 3 });
  });

  it('keeps the url and the secret out of what it writes and logs', async () => {
    const w = await sendWorld([status(500)]);
    w.send.services = {
      get: () => ({
        identification: AGENT,
        name: 'Agent Service',
        role: 'agent',
        default: false,
        rules: [],
        downstreamUrl: 'https://desk.example/in?token=url-secret-123',
      }),
    };
    await sendNotification(w.toAgent.id, w.send);
    const written = JSON.stringify([w.stored(), w.log.lines]);
    expect(written).toContain('desk.example');
    expect(written).not.toContain('url-secret-123');
    expect(written).not.toContain('agent-signing-secret');
  });
});

describe('sendNotification of an action (kind: action)', () => {
  /** The hand-back's items emitted; `run` answers each attempt of the action from `script`. */
  const actionWorld = async (script: AttemptResult[]) => {
    const w = notifyWorld();
    const items = await emitNotifications(
      recordOf({ seq: 2, fromOwner: AGENT, toOwner: BOT, requestedBy: AGENT }),
      w.emit,
    );
    const action = items.find((i) => i.kind === 'action')!;
    const ran: string[] = [];
    w.send.runAction = async (item) => {
      ran.push(item.id);
      return script[Math.min(ran.length - 1, script.length - 1)]!;
    };
    return { ...w, action, ran, stored: () => w.store.items.get(action.id)! };
  };

  it('runs it through the runner, posts nothing, and marks it sent', async () => {
    const w = await actionWorld([{ result: 'ok', status: 200 }]);

    expect(await sendNotification(w.action.id, w.send)).toEqual({ outcome: 'sent', status: 200 });

    expect(w.ran).toEqual([w.action.id]);
    expect(w.downstream.posted).toEqual([]);
    expect(w.stored()).toMatchObject({ status: 'sent', attempts: 1, lastStatus: 200, version: 2 });
    expect(w.log.lines.map((l) => l.message)).toContain('action done');
    expect(await sendNotification(w.action.id, w.send)).toEqual({
      outcome: 'duplicate',
      status: 'sent',
    });
    expect(w.ran).toHaveLength(1);
  });

  it('fails it for good on a refusal, counted as a failed agent/unset and no misconfigured downstream', async () => {
    const w = await actionWorld([
      { result: 'refused', status: 403, error: 'parley 403 service_is_not_owner' },
    ]);

    expect(await sendNotification(w.action.id, w.send)).toEqual({
      outcome: 'failed',
      status: 403,
      error: 'parley 403 service_is_not_owner',
    });
    expect(w.stored()).toMatchObject({
      status: 'failed',
      attempts: 1,
      lastStatus: 403,
      lastError: 'refused: parley 403 service_is_not_owner',
    });
    expect(w.metrics.total('AgentUnsetFailed')).toBe(1);
    expect(w.metrics.total('DownstreamMisconfigured')).toBe(0);
  });

  it('records a superseded action as failed without counting it as a failure', async () => {
    const w = await actionWorld([
      { result: 'refused', status: null, error: 'superseded: moved on', moot: true },
    ]);

    expect(await sendNotification(w.action.id, w.send)).toEqual({
      outcome: 'failed',
      status: null,
      error: 'superseded: moved on',
    });
    expect(w.stored()).toMatchObject({
      status: 'failed',
      lastError: 'refused: superseded: moved on',
    });
    expect([w.metrics.total('AgentUnsetFailed'), w.metrics.total('NotificationFailed')]).toEqual([
      0, 0,
    ]);
    expect(w.log.lines.map((l) => [l.level, l.message])).toContainEqual([
      'info',
      'action not needed any more; not run',
    ]);
  });

  it('retries an unknown outcome on the notifications’ backoff, then marks it sent', async () => {
    const w = await actionWorld([
      { result: 'retry', status: 500, error: 'parley 500' },
      { result: 'retry', status: null, error: 'timeout' },
      { result: 'ok', status: 200 },
    ]);
    const outcomes = [];
    for (let i = 0; i < 3; i += 1) {
      const outcome = await sendNotification(w.action.id, w.send);
      outcomes.push(outcome);
      if (outcome.outcome === 'retry') w.clock.advance(outcome.delaySeconds * 1000);
    }

    expect(outcomes).toEqual([
      { outcome: 'retry', delaySeconds: 2, status: 500 },
      { outcome: 'retry', delaySeconds: 10, status: null },
      { outcome: 'sent', status: 200 },
    ]);
    expect(w.stored()).toMatchObject({ status: 'sent', attempts: 3, lastError: null });
    expect(
      w.log.lines.filter((l) => l.message === 'action failed; will retry').map((l) => l.attributes),
    ).toEqual([
      expect.objectContaining({ error: 'parley 500', host: null, attempts: 1 }),
      expect.objectContaining({ error: 'timeout', host: null, attempts: 2 }),
    ]);
  });

  it('fails it after 24 h of unknown outcomes, counted as a failed agent/unset', async () => {
    const w = await actionWorld([{ result: 'retry', status: 503, error: 'parley 503' }]);
    w.clock.set(Date.parse(T0) + 24 * HOUR);

    expect(await sendNotification(w.action.id, w.send)).toEqual({ outcome: 'expired' });
    expect(w.stored()).toMatchObject({
      status: 'failed',
      lastError: 'expired after 1 attempts (last: parley 503)',
    });
    expect(w.metrics.total('AgentUnsetFailed')).toBe(1);
  });

  it('keeps it pending and retried when this sender has no runner', async () => {
    const w = await actionWorld([{ result: 'ok', status: 200 }]);
    delete w.send.runAction;

    expect(await sendNotification(w.action.id, w.send)).toEqual({
      outcome: 'retry',
      delaySeconds: 2,
      status: null,
    });
    expect(w.stored()).toMatchObject({ status: 'pending', lastError: 'no runner for this action' });
  });
});
