// What a Service's program (a bot engine, an agent desk) needs to receive this service's forwards
// safely, as DESIGN.md "Downstream signature" asks of receivers: check X-Handover-Signature over
// "{timestamp}.{raw body}" with the Service's signing secret, refuse timestamps more than 5 minutes
// off, and deduplicate on X-Handover-Delivery (a repeat gets the first answer again). Used by the
// demo bot and the demo agent desk; never deployed. A fault mode makes it a desk that is down
// (a status, a late answer, a cut connection) for the failover tests, and the walk's readers set
// one with `PUT /_demo/fault` (`DELETE` clears it; local only, like the rest of this program).
// Notifications (a `webhook-id` header) are told apart from forwards and handled as the README
// asks of receivers: either signature checked (Standard Webhooks or v1), then a repeated or stale
// `seq` of a user dropped; the fault mode never touches them. With `out` it prints one line per
// forward (its kind and user, never its text) and per notification.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { verifyStandardWebhook } from '../functions/domain/notify/sign';
import { verifyForwardSignature } from '../functions/domain/signature';
import { readBody } from './http/body';
import { sendJson } from './http/json';

/** The JSON body of a forward (functions/domain/processor/forward.ts). */
export interface Forward {
  deliveryId: string;
  serviceId: string;
  userId: string | null;
  type: string;
  text: string | null;
  /** Set when the message reaches a new owner right after a handover. */
  handover?: { handoverId: string | null; fromOwner: string };
  callback: unknown;
}

/** What the receiver answers: a reply sent as the Service, and/or a handover. */
export interface ForwardAnswer {
  reply?: string;
  handover?: { newOwner: string; metadata?: Record<string, unknown> };
}

/**
 * What a receiver in fault mode does with a valid forward: wait `delayMs` first, then cut the
 * connection (`drop`), answer `status` with `body` instead of its answer, or answer as usual.
 */
export interface ForwardFault {
  delayMs?: number;
  drop?: boolean;
  status?: number;
  /** @default a small JSON error */
  body?: string;
}

/** A notification's body (DESIGN.md "Notifications"), as far as a receiver reads it. */
export interface ReceivedNotification {
  id: string;
  type: string;
  userId: string;
  seq: number;
  from: string | null;
  to: string;
  [field: string]: unknown;
}

export interface ForwardReceiverOptions {
  /** The Service's signing secret (a function when it is known only later). */
  signingSecret: string | (() => string | undefined);
  onForward(forward: Forward): Promise<ForwardAnswer>;
  /** Asked for each valid forward; null or undefined: no fault. */
  fault?: (forward: Forward) => ForwardFault | null | undefined;
  /** Where the receiver prints what it gets and does (forwards, notifications, drops, fault mode). */
  out?: (line: string) => void;
  /** Its name in those lines, e.g. `demo desk`. @default 'receiver' */
  label?: string;
  /** Service names by identification, for the lines' `from -> to`. */
  names?: Record<string, string>;
  port?: number;
  host?: string;
  /** Seconds. @default 300 */
  toleranceSeconds?: number;
  now?: () => number;
}

export interface ForwardReceiver {
  url: string;
  /** Forwards accepted (signature valid) and answered as usual, in arrival order; repeats included. */
  received: Forward[];
  /** Valid forwards answered with a fault (a status or a cut connection), in arrival order. */
  failed: Forward[];
  /** Requests refused for a missing or wrong signature or an old timestamp. */
  rejected: number;
  /**
   * Notifications (told apart by their `webhook-id` header, signed with either scheme) taken, in
   * arrival order: each answered 200, never taken for a forward. Repeats and stale ones are not
   * here: see droppedNotifications.
   */
  notifications: ReceivedNotification[];
  /** Verified notifications dropped (answered 200): an older `seq`, or an id already taken. */
  droppedNotifications: number;
  close(): Promise<void>;
}

const MAX_BODY = 1024 * 1024;

const one = (value: string | string[] | undefined) => (Array.isArray(value) ? value[0] : value);

/** The path of the fault mode's control. */
export const FAULT_PATH = '/_demo/fault';

const FAULT_FIELDS = ['status', 'drop', 'delayMs'];

/** A fault as `PUT /_demo/fault` takes it, or the sentence saying what is wrong with it. */
export const parseFault = (raw: string): ForwardFault | string => {
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch {
    value = undefined;
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return 'the body is not a JSON object';
  }
  const fields = value as Record<string, unknown>;
  const unknown = Object.keys(fields).find((k) => !FAULT_FIELDS.includes(k));
  if (unknown)
    return `unknown field "${unknown.slice(0, 40)}": the fault takes status, drop and delayMs`;
  const { status, drop, delayMs } = fields;
  const fault: ForwardFault = {};
  if (status !== undefined) {
    if (!Number.isInteger(status) || (status as number) < 400 || (status as number) > 599) {
      return 'status must be a whole number from 400 to 599';
    }
    fault.status = status as number;
  }
  if (drop !== undefined) {
    if (typeof drop !== 'boolean') return 'drop must be true or false';
    if (drop) fault.drop = true;
  }
  if (delayMs !== undefined) {
    if (!Number.isInteger(delayMs) || (delayMs as number) < 0 || (delayMs as number) > 60_000) {
      return 'delayMs must be a whole number from 0 to 60000';
    }
    fault.delayMs = delayMs as number;
  }
  if (fault.status === undefined && !fault.drop && fault.delayMs === undefined) {
    return 'the fault needs status, drop or delayMs (DELETE clears it)';
  }
  return fault;
};

const describeFault = (fault: ForwardFault): string =>
  [
    fault.delayMs ? `after ${fault.delayMs} ms` : null,
    fault.drop
      ? 'cuts the connection'
      : fault.status !== undefined
        ? `answers ${fault.status}`
        : 'answers late',
  ]
    .filter(Boolean)
    .join(', ');

export const startForwardReceiver = async (
  options: ForwardReceiverOptions,
): Promise<ForwardReceiver> => {
  const now = options.now ?? Date.now;
  const secretOf = () =>
    typeof options.signingSecret === 'function' ? options.signingSecret() : options.signingSecret;
  const tolerance = options.toleranceSeconds ?? 300;
  const print = options.out ?? (() => undefined);
  const label = `[${options.label ?? 'receiver'}]`;
  const nameOf = (id: string | null) => (id === null ? 'nobody' : (options.names?.[id] ?? id));
  const answers = new Map<string, Promise<ForwardAnswer>>();
  const received: Forward[] = [];
  const failed: Forward[] = [];
  const notifications: ReceivedNotification[] = [];
  /**
   * Per user, the newest `seq` taken and the ids taken at it: an older seq came late, a taken id
   * is a repeat. Several events can be about one record (a handover, then its lease's warning).
   */
  const lastSeq = new Map<string, { seq: number; ids: Set<string> }>();
  let rejected = 0;
  let dropped = 0;
  /** The fault `PUT /_demo/fault` set, for every forward. */
  let controlFault: ForwardFault | null = null;

  const handleControl = async (req: http.IncomingMessage, res: http.ServerResponse) => {
    if (req.method === 'GET') return sendJson(res, 200, { fault: controlFault });
    if (req.method === 'DELETE') {
      if (controlFault) print(`${label} fault mode off`);
      controlFault = null;
      return sendJson(res, 200, { fault: null });
    }
    if (req.method !== 'PUT') return sendJson(res, 405, { error: 'GET, PUT or DELETE' });
    const body = await readBody(req, { limit: 4096 });
    if (body.tooLarge) return sendJson(res, 413, { error: 'too large' });
    const fault = parseFault(body.bytes.toString('utf8'));
    if (typeof fault === 'string') return sendJson(res, 400, { error: fault });
    controlFault = fault;
    print(`${label} fault mode on: every forward ${describeFault(fault)}`);
    return sendJson(res, 200, { fault });
  };

  /** A notification: either signature, then the user's seq decides whether it is news. */
  const handleNotification = (
    req: http.IncomingMessage,
    res: http.ServerResponse,
    raw: string,
    secret: string | undefined,
  ) => {
    const nowSeconds = Math.floor(now() / 1000);
    const valid =
      secret !== undefined &&
      (verifyStandardWebhook(
        secret,
        {
          id: one(req.headers['webhook-id']),
          timestamp: one(req.headers['webhook-timestamp']),
          signature: one(req.headers['webhook-signature']),
        },
        raw,
        nowSeconds,
        tolerance,
      ) ||
        verifyForwardSignature(
          secret,
          one(req.headers['x-handover-signature']),
          Number(one(req.headers['x-handover-timestamp'])),
          raw,
          nowSeconds,
          tolerance,
        ));
    if (!valid) {
      rejected += 1;
      return sendJson(res, 401, { error: 'bad signature' });
    }
    let n: ReceivedNotification;
    try {
      n = JSON.parse(raw) as ReceivedNotification;
    } catch {
      return sendJson(res, 400, { error: 'not JSON' });
    }
    if (typeof n?.userId !== 'string' || !Number.isSafeInteger(n.seq)) {
      return sendJson(res, 400, { error: 'not a notification: userId and seq expected' });
    }
    const what = `${n.type} user ${n.userId} seq ${n.seq}`;
    const last = lastSeq.get(n.userId);
    const id = typeof n.id === 'string' ? n.id : '';
    // 200 all the same: the sender must stop sending it.
    if (last !== undefined && (n.seq < last.seq || (n.seq === last.seq && last.ids.has(id)))) {
      dropped += 1;
      const why = n.seq < last.seq ? `seq ${last.seq} already seen` : 'already taken';
      print(`${label} dropped ${what}: ${why}`);
      return sendJson(res, 200, {});
    }
    if (last === undefined || n.seq > last.seq)
      lastSeq.set(n.userId, { seq: n.seq, ids: new Set([id]) });
    else last.ids.add(id);
    notifications.push(n);
    print(`${label} ${what}: ${nameOf(n.from)} -> ${nameOf(n.to)}`);
    return sendJson(res, 200, {});
  };

  const handle = async (req: http.IncomingMessage, res: http.ServerResponse) => {
    if (req.url?.split('?')[0] === FAULT_PATH) return handleControl(req, res);
    if (req.method !== 'POST') return sendJson(res, 405, { error: 'POST only' });
    const body = await readBody(req, { limit: MAX_BODY });
    if (body.tooLarge) return sendJson(res, 413, { error: 'too large' });
    const raw = body.bytes.toString('utf8');
    const secret = secretOf();
    if (one(req.headers['webhook-id'])) return handleNotification(req, res, raw, secret);
    const timestamp = Number(one(req.headers['x-handover-timestamp']));
    const valid =
      secret !== undefined &&
      verifyForwardSignature(
        secret,
        one(req.headers['x-handover-signature']),
        timestamp,
        raw,
        Math.floor(now() / 1000),
        tolerance,
      );
    if (!valid) {
      rejected += 1;
      return sendJson(res, 401, { error: 'bad signature' });
    }
    let forward: Forward;
    try {
      forward = JSON.parse(raw) as Forward;
    } catch {
      return sendJson(res, 400, { error: 'not JSON' });
    }
    const fault = controlFault ?? options.fault?.(forward);
    if (fault?.delayMs) await new Promise((resolve) => setTimeout(resolve, fault.delayMs));
    if (fault?.drop || fault?.status !== undefined) {
      failed.push(forward);
      if (controlFault) {
        print(
          `${label} forward for user ${forward.userId ?? '-'} ${fault.drop ? 'cut off' : `answered ${fault.status}`} (fault mode)`,
        );
      }
      if (fault.drop) return void req.socket.destroy();
      res.writeHead(fault.status!, { 'content-type': 'application/json' });
      return void res.end(fault.body ?? JSON.stringify({ error: 'fault injected' }));
    }
    received.push(forward);
    const deliveryId = one(req.headers['x-handover-delivery']) ?? forward.deliveryId;
    // A repeat of a delivery gets the answer of the first one; a failed first try is retried.
    let answer = answers.get(deliveryId);
    if (!answer) {
      // No message text: what reached whom is enough to follow the story.
      const from = forward.handover
        ? ` (handed over from ${nameOf(forward.handover.fromOwner)})`
        : '';
      print(`${label} ${forward.type} of user ${forward.userId ?? '-'}${from}`);
      answer = options.onForward(forward);
      answers.set(deliveryId, answer);
      answer.catch(() => answers.delete(deliveryId));
    }
    sendJson(res, 200, await answer);
  };

  const server = http.createServer((req, res) => {
    handle(req, res).catch(() => {
      sendJson(res, 500, { error: 'failed' });
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, options.host ?? '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/`,
    received,
    failed,
    notifications,
    get rejected() {
      return rejected;
    },
    get droppedNotifications() {
      return dropped;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
};
