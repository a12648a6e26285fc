// The notes the metrics need beside the history: a user's first inbound message of a day (once
// per day, thrown on a store error so the message retries) and an agent's first message in its
// tenure (best effort: logged and counted, never thrown).
import { createInboundNoter, createReplyNoter } from '../../../functions/domain/metrics/notes';
import { manualClock, recordingLog, recordingMetrics } from '../../support/fakes';
import { FakeMetricsStore } from './fakes';

const ROLES: Record<string, 'bot' | 'agent'> = { bot: 'bot', desk: 'agent' };

describe('createInboundNoter', () => {
  it("notes a user's first message of each UTC day, once, with the Service that received it", async () => {
    const store = new FakeMetricsStore();
    const note = createInboundNoter({ store });

    await note({ userId: 'u1', serviceId: 'bot', receivedAt: '2026-03-10T08:00:00.000Z' });
    await note({ userId: 'u1', serviceId: 'desk', receivedAt: '2026-03-10T09:00:00.000Z' });
    await note({ userId: 'u1', serviceId: 'desk', receivedAt: '2026-03-11T00:00:00.000Z' });

    expect([...store.inbound.values()]).toEqual([
      { userId: 'u1', day: '2026-03-10', service: 'bot', at: '2026-03-10T08:00:00.000Z' },
      { userId: 'u1', day: '2026-03-11', service: 'desk', at: '2026-03-11T00:00:00.000Z' },
    ]);
    // The second message of the 10th costs no write in this container.
    expect(store.writes).toEqual(['inbound u1 2026-03-10', 'inbound u1 2026-03-11']);
  });

  it('keeps the first note when another container (or a retry) writes the same day again', async () => {
    const store = new FakeMetricsStore();

    await createInboundNoter({ store })({
      userId: 'u1',
      serviceId: 'bot',
      receivedAt: '2026-03-10T08:00:00.000Z',
    });
    await createInboundNoter({ store })({
      userId: 'u1',
      serviceId: 'desk',
      receivedAt: '2026-03-10T09:00:00.000Z',
    });

    expect(store.inbound.get('2026-03-10#u1')?.service).toBe('bot');
  });

  it('throws a store error, and notes it on the retry (nothing lost)', async () => {
    const store = new FakeMetricsStore();
    const note = createInboundNoter({ store });
    const error = Object.assign(new Error('throttled'), { name: 'ThrottlingException' });
    store.failNext = { kind: 'inbound', error };
    const input = { userId: 'u1', serviceId: 'bot', receivedAt: '2026-03-10T08:00:00.000Z' };

    await expect(note(input)).rejects.toBe(error);
    await note(input);

    expect(store.inbound.size).toBe(1);
  });
});

describe('createReplyNoter', () => {
  const setup = (owner: { owner: string; since: string | null } | null = null) => {
    const store = new FakeMetricsStore();
    const clock = manualClock(Date.parse('2026-03-10T09:05:00.000Z'));
    const log = recordingLog();
    const metrics = recordingMetrics();
    const ownerReads: string[] = [];
    const note = createReplyNoter({
      store,
      owner: async (userId) => {
        ownerReads.push(userId);
        return owner;
      },
      roleOf: (id) => ROLES[id],
      clock,
      log,
      metrics,
    });
    return { store, clock, log, metrics, note, ownerReads };
  };

  it("notes an agent's first message of its tenure once, at the instant it was sent", async () => {
    const { store, clock, note } = setup();
    const since = '2026-03-10T09:00:00.000Z';

    await note({ userId: 'u1', serviceId: 'desk', since });
    clock.advance(60_000);
    await note({ userId: 'u1', serviceId: 'desk', since });

    expect([...store.replies.values()]).toEqual([
      { userId: 'u1', owner: 'desk', since, at: '2026-03-10T09:05:00.000Z' },
    ]);
    expect(store.writes).toHaveLength(1);
  });

  it("reads the owner item when the caller has no tenure (a downstream's reply)", async () => {
    const since = '2026-03-10T09:00:00.000Z';
    const { store, note, ownerReads } = setup({ owner: 'desk', since });

    await note({ userId: 'u1', serviceId: 'desk' });

    expect(ownerReads).toEqual(['u1']);
    expect(store.replies.get(`${since}#u1`)?.owner).toBe('desk');
  });

  it('notes nothing for a bot, an owner item naming another Service, or an unknown tenure', async () => {
    const other = setup({ owner: 'bot', since: '2026-03-10T09:00:00.000Z' });
    await other.note({ userId: 'u1', serviceId: 'bot', since: '2026-03-10T09:00:00.000Z' });
    await other.note({ userId: 'u1', serviceId: 'desk' });
    await other.note({ userId: 'u2', serviceId: 'desk', since: null });

    expect(other.store.writes).toEqual([]);
    expect(other.ownerReads).toEqual(['u1']);
  });

  it('logs and counts a store error instead of throwing: the message has gone already', async () => {
    const { store, note, log, metrics } = setup();
    store.failNext = {
      kind: 'reply',
      error: Object.assign(new Error('boom'), { name: 'InternalServerError' }),
    };

    await expect(
      note({ userId: 'u1', serviceId: 'desk', since: '2026-03-10T09:00:00.000Z' }),
    ).resolves.toBeUndefined();

    expect(metrics.total('MetricsNoteFailed')).toBe(1);
    expect(log.lines).toEqual([
      {
        level: 'warn',
        message: 'first reply not noted',
        attributes: { userId: 'u1', serviceId: 'desk', error: 'InternalServerError' },
      },
    ]);
  });
});
