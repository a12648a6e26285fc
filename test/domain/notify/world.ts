// What the notify tests share: Services with notify urls, records of each kind, a Downstream that
// answers from a script and keeps what it was sent, and the notify use cases wired to the fakes.
import { finalizeRecord, GENESIS_HASH, metadataDigest } from '../../../functions/domain/chain';
import type { EmitDeps } from '../../../functions/domain/notify/emit';
import type { RelayDeps } from '../../../functions/domain/notify/relay';
import type { SendDeps } from '../../../functions/domain/notify/send';
import type {
  CallbackQueue,
  Downstream,
  DownstreamResponse,
} from '../../../functions/domain/ports';
import type {
  HandoverRecord,
  HandoverSource,
  HandoverStatus,
  ServiceInfo,
} from '../../../functions/domain/types';
import {
  AGENT,
  BOT,
  FakeNotificationStore,
  manualClock,
  recordingLog,
  recordingMetrics,
  staticCatalog,
} from '../../support/fakes';

export const DESK = 'desk-service-2';
export const T0 = '2026-03-10T14:00:00.000Z';

/** Bot and Agent with downstreams (their notify url by default), a second desk with its own url. */
export const notifyServices = (): ServiceInfo[] => [
  {
    identification: BOT,
    name: 'Bot Service',
    role: 'bot',
    default: true,
    rules: [],
    downstreamUrl: 'https://bot.example/forward?key=k1',
  },
  {
    identification: AGENT,
    name: 'Agent Service',
    role: 'agent',
    default: false,
    rules: [],
    downstreamUrl: 'https://desk.example/in',
  },
  {
    identification: DESK,
    name: 'Second Desk',
    role: 'agent',
    default: false,
    rules: [],
    notify: { url: 'https://desk2.example/events' },
  },
];

export const recordOf = (
  fields: Partial<HandoverRecord> & {
    source?: HandoverSource;
    status?: HandoverStatus;
  } = {},
): HandoverRecord => {
  const { status = 'completed', ...draft } = fields;
  const metadata = fields.metadata === undefined ? { reason: 'question' } : fields.metadata;
  return finalizeRecord(
    {
      handoverId: 'h-1',
      userId: '20',
      seq: 1,
      fromOwner: BOT,
      toOwner: AGENT,
      reason: 'question_too_complex',
      requestedBy: BOT,
      source: 'api',
      createdAt: T0,
      prevHash: GENESIS_HASH,
      ...draft,
      metadata,
      metadataDigest: metadataDigest(metadata),
    },
    status,
    null,
  );
};

export interface Posted {
  url: string;
  body: string;
  headers: Record<string, string>;
  timeoutMs: number;
}

/** A Downstream answering from `script` (one entry per call; the last repeats). */
export const scriptedDownstream = (
  script: (DownstreamResponse | Error)[] = [{ status: 200, body: '' }],
): Downstream & { posted: Posted[] } => {
  const posted: Posted[] = [];
  return {
    posted,
    async post(url, body, headers, timeoutMs) {
      posted.push({ url, body, headers: { ...headers }, timeoutMs });
      const answer = script[Math.min(posted.length - 1, script.length - 1)]!;
      if (answer instanceof Error) throw answer;
      return answer;
    },
  };
};

/** A queue that keeps what it was sent; `failing` makes every send throw. */
export const capturingQueue = () => {
  const sent: Parameters<CallbackQueue['send']>[0][] = [];
  const queue = {
    sent,
    failing: false,
    async send(message: Parameters<CallbackQueue['send']>[0]) {
      if (queue.failing) throw new Error('queue down');
      sent.push(message);
    },
  };
  return queue;
};

export const SECRETS: Record<string, string> = {
  [BOT]: 'bot-signing-secret-0123456789',
  [AGENT]: 'agent-signing-secret-0123456789',
};

/** The notify use cases over one set of fakes and a manual clock at T0 + 1 s. */
export const notifyWorld = (
  options: { services?: ServiceInfo[]; script?: (DownstreamResponse | Error)[] } = {},
) => {
  const clock = manualClock(Date.parse(T0) + 1000);
  const store = new FakeNotificationStore();
  const queue = capturingQueue();
  const downstream = scriptedDownstream(options.script);
  const log = recordingLog();
  const metrics = recordingMetrics();
  const services = staticCatalog(options.services ?? notifyServices());
  const emit: EmitDeps = { notifications: store, queue, services, clock, log };
  const send: SendDeps = {
    notifications: store,
    downstream,
    services,
    signingSecret: async (id) => SECRETS[id],
    clock,
    log,
    metrics,
    downstreamTimeoutMs: 2000,
  };
  const relay: RelayDeps = { notifications: store, queue, clock, log, metrics };
  return { clock, store, queue, downstream, log, metrics, services, emit, send, relay };
};
