// The local stack the timers' end-to-end suites (leases, offers) run on: the simulator's Services,
// each notified at a receiver of its own that verifies every notification's Standard Webhooks
// signature (as a receiver would) and keeps what it took; a movable clock, so a suite moves time
// on instead of sleeping; a recording log, so sweep runs are counted from its lines; every
// function under its role's grants. What the suites count comes from these, never from loops.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Webhook } from 'standardwebhooks';
import { standardWebhookSecret } from '../../functions/domain/notify/sign';
import type { HandoverRecord } from '../../functions/domain/types';
import {
  type LocalTokens,
  parseServicesFile,
  type ServicesFile,
  tokensOf,
} from '../../local/services-file';
import {
  AGENT_SERVICE_ID as AGENT,
  BOT_SERVICE_ID as BOT,
  generateSimulatorServicesFile,
  type LocalStack,
  type LocalStackOptions,
  startLocalStack,
} from '../../local/stack';
import { recordingLog } from './fakes';
import { strictPerFunction } from './iam';
import { type MovableClock, movableClock } from './reliability';

/** A notification a receiver took, its signature verified. */
export interface Heard {
  service: string;
  type: string;
  userId: string;
  seq: number;
  /** An offer's notification: the offer it is about. */
  offerId: string | undefined;
}

/** A receiver for one Service: 200 to a notification signed with its secret, 401 otherwise. */
const startReceiver = async (service: string, secret: string, heard: Heard[]) => {
  const verifier = new Webhook(standardWebhookSecret(secret));
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      try {
        const body = verifier.verify(
          Buffer.concat(chunks).toString('utf8'),
          req.headers as Record<string, string>,
        ) as Record<string, any>;
        heard.push({
          service,
          type: body.type,
          userId: body.userId,
          seq: body.seq,
          offerId: body.offer?.offerId,
        });
        res.writeHead(200).end('{}');
      } catch {
        res.writeHead(401).end('{}');
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/notifications`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
};

export interface TimersStackOptions {
  /** Changes a Service of the services file (a lease, say) before the stack reads it. */
  service?: (service: ServicesFile['services'][number]) => void;
  /** Options over the defaults: queues polled every 20 ms, no reconcile or relay schedule. */
  stack?: Partial<LocalStackOptions>;
}

export interface TimersStack {
  stack: LocalStack;
  clock: MovableClock;
  log: ReturnType<typeof recordingLog>;
  tokens: LocalTokens;
  /** Every notification the receivers took, in order. */
  heard: Heard[];
  /** Sweep runs so far, counted from their summary lines. */
  sweeps(): number;
  /** A user's records, oldest first. */
  records(userId: string): Promise<HandoverRecord[]>;
  /** How many `type` notifications about the user a Service took. */
  told(type: string, service: string, userId: string): number;
  close(): Promise<void>;
}

export const startTimersStack = async (options: TimersStackOptions = {}): Promise<TimersStack> => {
  const heard: Heard[] = [];
  const log = recordingLog();
  const clock = movableClock();
  const file = generateSimulatorServicesFile();
  const tokens = tokensOf(parseServicesFile(file));
  const receivers = {
    [BOT]: await startReceiver(BOT, tokens.services[BOT]!.signingSecret!, heard),
    [AGENT]: await startReceiver(AGENT, tokens.services[AGENT]!.signingSecret!, heard),
  };
  const closeReceivers = () => Promise.all(Object.values(receivers).map((r) => r.close()));
  let stack: LocalStack;
  try {
    for (const s of file.services) {
      s.notify = { url: receivers[s.serviceIdentification === AGENT ? AGENT : BOT].url };
      options.service?.(s);
    }
    stack = await startLocalStack({
      settings: parseServicesFile(file),
      clock,
      log,
      reconcileIntervalMs: 0,
      relayIntervalMs: 0,
      queue: { pollIntervalMs: 20 },
      notifyQueue: { pollIntervalMs: 20 },
      perFunction: strictPerFunction,
      ...options.stack,
    });
  } catch (err) {
    await closeReceivers();
    throw err;
  }
  return {
    stack,
    clock,
    log,
    tokens,
    heard,
    sweeps: () => log.lines.filter((l) => l.message === 'sweep').length,
    records: async (userId) =>
      (await stack.deps.history.listUser(userId, { limit: 100, order: 'asc' })).items,
    told: (type, service, userId) =>
      heard.filter((h) => h.type === type && h.service === service && h.userId === userId).length,
    close: async () => {
      await stack.close();
      await closeReceivers();
    },
  };
};
