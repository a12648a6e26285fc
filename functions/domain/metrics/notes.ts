// What the metrics need that the history does not hold, noted where it happens (docs/METRICS.md):
// a user's first inbound message of a day (the processor, for the containment cohort) and an
// agent's first message to its user after it took them over (the messages route and downstream
// replies, for the time to first agent reply). Each note is written once (a put on its key's
// absence), so a retry writes nothing new. A container remembers what it noted, so a chatty user
// costs one write a day, not one per message.
import type { Clock, Log, MetricsSink } from '../ports';
import type { OwnerItem, ServiceRole } from '../types';
import { dayOf } from './day';
import type { MetricsStore } from './types';

/** Keys a container remembers before it starts over (a bound on memory, not on correctness). */
const REMEMBERED = 10_000;

const memory = () => {
  const seen = new Set<string>();
  return {
    has: (key: string) => seen.has(key),
    add: (key: string) => {
      if (seen.size >= REMEMBERED) seen.clear();
      seen.add(key);
    },
  };
};

export interface InboundInput {
  userId: string;
  /** The Service Parley sent the message to (the owner when it arrived). */
  serviceId: string;
  /** When it arrived (the delivery's receivedAt, which retries keep). */
  receivedAt: string;
}

/**
 * The processor's note of a user's first inbound message of the day. A store failure throws: the
 * message is retried, and the note with it (nothing lost).
 */
export function createInboundNoter(deps: {
  store: Pick<MetricsStore, 'putInboundNote'>;
}): (input: InboundInput) => Promise<void> {
  const noted = memory();
  return async ({ userId, serviceId, receivedAt }) => {
    const ms = Date.parse(receivedAt);
    if (Number.isNaN(ms)) return;
    const day = dayOf(ms);
    const key = JSON.stringify([day, userId]);
    if (noted.has(key)) return;
    await deps.store.putInboundNote({
      userId,
      day,
      service: serviceId,
      at: new Date(ms).toISOString(),
    });
    noted.add(key);
  };
}

export interface OwnerMessageInput {
  userId: string;
  /** The Service that sent the message (the owner: the routes refuse anyone else). */
  serviceId: string;
  /** The owner item's `since` when the caller has it; else the note reads the owner item. */
  since?: string | null;
}

/**
 * The note of an agent's first message in its tenure. Best effort: the message has gone, so a
 * failure is logged and counted (MetricsNoteFailed), never thrown; the reply's `coverage` shows
 * what was missed.
 */
export function createReplyNoter(deps: {
  store: Pick<MetricsStore, 'putReplyNote'>;
  owner: (userId: string) => Promise<Pick<OwnerItem, 'owner' | 'since'> | null>;
  roleOf: (serviceId: string) => ServiceRole | undefined;
  clock: Clock;
  log: Log;
  metrics: MetricsSink;
}): (input: OwnerMessageInput) => Promise<void> {
  const noted = memory();
  return async ({ userId, serviceId, since }) => {
    if (deps.roleOf(serviceId) !== 'agent') return;
    const at = new Date(deps.clock.now()).toISOString();
    try {
      let tenure = since;
      if (tenure === undefined) {
        const item = await deps.owner(userId);
        tenure = item?.owner === serviceId ? item.since : null;
      }
      if (!tenure) return;
      const key = JSON.stringify([userId, serviceId, tenure]);
      if (noted.has(key)) return;
      await deps.store.putReplyNote({ userId, owner: serviceId, since: tenure, at });
      noted.add(key);
    } catch (err) {
      deps.metrics.count('MetricsNoteFailed');
      deps.log.warn('first reply not noted', {
        userId,
        serviceId,
        error: err instanceof Error ? err.name : typeof err,
      });
    }
  };
}
