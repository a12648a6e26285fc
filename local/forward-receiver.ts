// What a Service's program (a bot engine, an agent desk) needs to receive this service's forwards
// safely, as DESIGN.md "Downstream signature" asks of receivers: check X-Handover-Signature over
// "{timestamp}.{raw body}" with the Service's signing secret, refuse timestamps more than 5 minutes
// off, and deduplicate on X-Handover-Delivery (a repeat gets the first answer again). Used by the
// demo bot and the demo agent desk; never deployed.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { verifyForwardSignature } from '../functions/domain/signature';

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

export interface ForwardReceiverOptions {
  /** The Service's signing secret (a function when it is known only later). */
  signingSecret: string | (() => string | undefined);
  onForward(forward: Forward): Promise<ForwardAnswer>;
  port?: number;
  host?: string;
  /** Seconds. @default 300 */
  toleranceSeconds?: number;
  now?: () => number;
}

export interface ForwardReceiver {
  url: string;
  /** Forwards accepted (signature valid), in arrival order; repeats included. */
  received: Forward[];
  /** Requests refused for a missing or wrong signature or an old timestamp. */
  rejected: number;
  close(): Promise<void>;
}

const MAX_BODY = 1024 * 1024;

const readText = (req: http.IncomingMessage): Promise<string | null> =>
  new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size <= MAX_BODY) chunks.push(chunk);
    });
    req.on('end', () => resolve(size > MAX_BODY ? null : Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });

const one = (value: string | string[] | undefined) => (Array.isArray(value) ? value[0] : value);

export const startForwardReceiver = async (
  options: ForwardReceiverOptions,
): Promise<ForwardReceiver> => {
  const now = options.now ?? Date.now;
  const secretOf = () =>
    typeof options.signingSecret === 'function' ? options.signingSecret() : options.signingSecret;
  const answers = new Map<string, Promise<ForwardAnswer>>();
  const received: Forward[] = [];
  let rejected = 0;

  const send = (res: http.ServerResponse, status: number, body: unknown) => {
    const payload = JSON.stringify(body);
    res.writeHead(status, {
      'content-type': 'application/json',
      'content-length': Buffer.byteLength(payload),
    });
    res.end(payload);
  };

  const handle = async (req: http.IncomingMessage, res: http.ServerResponse) => {
    if (req.method !== 'POST') return send(res, 405, { error: 'POST only' });
    const raw = await readText(req);
    if (raw === null) return send(res, 413, { error: 'too large' });
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
      return send(res, 401, { error: 'bad signature' });
    }
    let forward: Forward;
    try {
      forward = JSON.parse(raw) as Forward;
    } catch {
      return send(res, 400, { error: 'not JSON' });
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
    send(res, 200, await answer);
  };

  const server = http.createServer((req, res) => {
    handle(req, res).catch(() => {
      if (!res.headersSent) send(res, 500, { error: 'failed' });
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
