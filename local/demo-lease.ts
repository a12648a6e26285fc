// The demo's second act (issue 15): the desk lets one user's lease run out. The user asks for a
// human, the example rule hands them to the Agent Service, the desk answers once and then leaves
// them alone; after the desk's idle time the sweep hands the user back to the default Service
// (a `timeout` record, `lease_expired`). It starts before the first act and ends after it, so the
// lease runs while the seed's story plays.
import { resolveLeaseConfig } from '../functions/domain/lifecycle/lease';
import type { HandoverRecord } from '../functions/domain/types';
import type { ApiClient } from '../cli/parley-handover/api-client';
import type { LocalSettings } from './services-file';

interface ServiceRef {
  identification: string;
  name: string;
}

export interface IdleTimelineEntry {
  at: string;
  who: string;
  text: string;
}

export interface IdleReport {
  userId: string;
  idleSeconds: number;
  timeline: IdleTimelineEntry[];
  /** The user's history, oldest first: the rule's handover, then the lease's. */
  handovers: HandoverRecord[];
  /** The owner after the act (the default Service). */
  owner: ServiceRef;
}

/** What the idle user says: the example rule (\b(human|agent|medewerker)\b) hands them over. */
export const IDLE_LINE = 'Can I talk to a human, please?';

/**
 * The longest desk lease the demo waits out. A longer one (an agent's default day) is only named:
 * the demo would not end.
 */
export const MAX_DEMO_IDLE_SECONDS = 120;

/**
 * Past the idle time, how long the demo waits for a sweep to act: a minute between runs (the
 * default locally and in AWS) and room for the handover itself.
 */
const SWEEP_SLACK_MS = 90_000;

/** The desk's idle time from the services file (its lease, or an agent's default), or null. */
export const deskIdleSeconds = (settings: LocalSettings, deskId: string): number | null => {
  const entry = settings.file.services.find((s) => s.serviceIdentification === deskId);
  if (!entry) return null;
  try {
    return resolveLeaseConfig(entry.role ?? 'bot', false, entry.lease)?.idleSeconds ?? null;
  } catch {
    return null;
  }
};

export interface IdleActOptions {
  api: ApiClient;
  /** The simulator's control API (`/_sim`): plays the user's side. */
  sim: ApiClient;
  bot: ServiceRef;
  agent: ServiceRef;
  idleSeconds: number;
  out: (line: string) => void;
  /** For the handover and the desk's answer. */
  timeoutMs: number;
}

const poll = async (what: string, check: () => Promise<boolean>, timeoutMs: number) => {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return;
    if (Date.now() > deadline) throw new Error(`The demo gave up waiting for ${what}.`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
};

const clockTime = (iso: string) => iso.slice(11, 23);

/**
 * Starts the act: the user asks for a human and the desk answers. Returns `finish`, which waits
 * for the lease to run out and prints the user's timeline.
 */
export const startIdleAct = async (
  userId: string,
  options: IdleActOptions,
): Promise<{ finish(): Promise<IdleReport> }> => {
  const { api, sim, bot, agent, idleSeconds, out } = options;
  const u = encodeURIComponent(userId);
  const names = new Map([
    [bot.identification, bot.name],
    [agent.identification, agent.name],
  ]);
  const nameOf = (id: string | null) => (id ? (names.get(id) ?? id) : 'nobody');
  const messages = () =>
    sim.call<{ from: string; text: string; at: string }[]>('GET', `/users/${u}/messages`);
  const history = async () =>
    (await api.call<{ handovers: HandoverRecord[] }>('GET', `/users/${u}/handovers`)).handovers;

  const said: IdleTimelineEntry = {
    at: new Date().toISOString(),
    who: `user ${userId}`,
    text: IDLE_LINE,
  };
  out(`  user ${userId}: ${IDLE_LINE}`);
  await sim.call('POST', `/users/${u}/messages`, { body: { text: IDLE_LINE } });
  await poll(
    `${agent.name}'s answer to user ${userId}`,
    async () => (await messages()).some((m) => m.from === agent.identification),
    options.timeoutMs,
  );
  out(
    `  ${agent.name} answers user ${userId}, then leaves them alone: after ${idleSeconds} s of ` +
      `silence the lease gives the user back to ${bot.name}.`,
  );

  return {
    async finish() {
      out('');
      out(`Waiting for user ${userId}'s lease with ${agent.name} to run out...`);
      await poll(
        `user ${userId}'s lease to run out`,
        async () =>
          (await history()).some((r) => r.source === 'timeout' && r.status === 'completed'),
        idleSeconds * 1000 + SWEEP_SLACK_MS,
      );
      const records = (await history()).reverse();
      const timeline = [
        said,
        ...(await messages()).map((m) => ({ at: m.at, who: nameOf(m.from), text: m.text })),
        ...records.map((r) => ({
          at: r.createdAt,
          who: 'handover',
          text: `${nameOf(r.fromOwner)} -> ${nameOf(r.toOwner)} (${r.reason ?? 'no reason'}, ${r.source}, ${r.status})`,
        })),
      ].sort((a, b) => a.at.localeCompare(b.at));
      const now = await api.call<{ owner: ServiceRef }>('GET', `/users/${u}/owner`);

      out('');
      out(`Timeline of user ${userId}: ${agent.name} let the lease run out`);
      const width = Math.max(...timeline.map((e) => e.who.length));
      for (const e of timeline) {
        const who = e.who === 'handover' ? '-- handover'.padEnd(width) : e.who.padEnd(width);
        out(`  ${clockTime(e.at)}  ${who}  ${e.text}`);
      }
      out(`  user ${userId} is back with ${now.owner.name}`);
      return {
        userId,
        idleSeconds,
        timeline,
        handovers: records,
        owner: { identification: now.owner.identification, name: now.owner.name },
      };
    },
  };
};
