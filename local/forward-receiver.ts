// What a Service's program (a bot engine, an agent desk) needs to receive this service's forwards
// safely, as DESIGN.md "Downstream signature" asks of receivers: check X-Handover-Signature over
// "{timestamp}.{raw body}" with the Service's signing secret, refuse timestamps more than 5 minutes
// off, and deduplicate on X-Handover-Delivery (a repeat gets the first answer again). Used by the
// demo bot and the demo agent desk; never deployed. A fault mode makes it a desk that is down
// (a status, a late answer, a cut connection) for the failover tests.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
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

export interface ForwardReceiverOptions {
  /** The Service's signing secret (a function when it is known only later). */
  signingSecret: string | (() => string | undefined);
  onForward(forward: Forward): Promise<ForwardAnswer>;
  /** Asked for each valid forward; null or undefined: no fault. */
  fault?: (forward: Forward) => ForwardFault | null | undefined;
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
   * Notifications (signed the same way, told apart by their `webhook-id` header) that came to
   * this url: answered 200 and kept here, never taken for a forward.
   */
  notifications: Record<string, unknown>[];
  close(): Promise<void>;
}

const MAX_BODY = 1024 * 1024;

const one = (value: string | string[] | undefined) => (Array.isArray(value) ? value[0] : value);

export const startForwardReceiver = async (
  options: ForwardReceiverOptions,
): Promise<ForwardReceiver> => {
  const now = options.now ?? Date.now;
  const secretOf = () =>
    typeof options.signingSecret === 'function' ? options.signingSecret() : options.signingSecret;
  const answers = new Map<string, Promise<ForwardAnswer>>();
  const received: Forward[] = [];
  const failed: Forward[] = [];
  const notifications: Record<string, unknown>[] = [];
  let rejected = 0;

  const handle = async (req: http.IncomingMessage, res: http.ServerResponse) => {
    if (req.method !== 'POST') return sendJson(res, 405, { error: 'POST only' });
    const body = await readBody(req, { limit: MAX_BODY });
    if (body.tooLarge) return sendJson(res, 413, { error: 'too large' });
    const raw = body.bytes.toString('utf8');
    const timestamp = Number(one(req.headers['x-handover-timestamp']));
    const secret = secretOf();
    const valid =
      secret !== undefined &&
      verifyForwardSignature(
        secret,
        one(req.headers['x-handover-signature']),
        timestamp,
        raw,
        Math.floor(now() / 1000),
        options.toleranceSeconds ?? 300,
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
    if (one(req.headers['webhook-id'])) {
      notifications.push(forward as unknown as Record<string, unknown>);
      return sendJson(res, 200, {});
    }
    const fault = options.fault?.(forward);
    if (fault?.delayMs) await new Promise((resolve) => setTimeout(resolve, fault.delayMs));
    if (fault?.drop || fault?.status !== undefined) {
      failed.push(forward);
      if (fault.drop) return void req.socket.destroy();
      res.writeHead(fault.status!, { 'content-type': 'application/json' });
      return void res.end(fault.body ?? JSON.stringify({ error: 'fault injected' }));
    }
    received.push(forward);
    const deliveryId = one(req.headers['x-handover-delivery']) ?? forward.deliveryId;
    // A repeat of a delivery gets the answer of the first one; a failed first try is retried.
    let answer = answers.get(deliveryId);
    if (!answer) {
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
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
};
