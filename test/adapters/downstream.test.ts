// The downstream poster against a real local HTTP server: headers and body as sent, the answer as
// received, no redirects followed, and failures (timeout, refused) that name the host only.
import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createDownstream, DownstreamTransportError } from '../../functions/adapters/downstream';

type Handler = (req: IncomingMessage, body: string, res: ServerResponse) => void;

let server: Server;
let handler: Handler;
let base: string;
const pending = new Set<ServerResponse>();

beforeAll(async () => {
  server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => handler(req, Buffer.concat(chunks).toString('utf8'), res));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterEach(() => {
  for (const res of pending) res.destroy();
  pending.clear();
});

afterAll(async () => {
  server.closeAllConnections();
  server.close();
  await once(server, 'close');
});

const failure = async (promise: Promise<unknown>): Promise<DownstreamTransportError> => {
  const err = await promise.catch((e: unknown) => e);
  if (!(err instanceof DownstreamTransportError))
    throw new Error(`expected a DownstreamTransportError: ${err}`);
  return err;
};

describe('createDownstream', () => {
  it('posts the body with the given headers and a JSON content type, and returns the answer', async () => {
    let seen: { method?: string; headers: IncomingMessage['headers']; body: string } | undefined;
    handler = (req, body, res) => {
      seen = { method: req.method, headers: req.headers, body };
      res.writeHead(200, { 'Content-Type': 'application/json' }).end('{"reply":{"text":"hi"}}');
    };
    const result = await createDownstream().post(
      `${base}/hook?key=abc`,
      '{"type":"message"}',
      { 'X-Handover-Delivery': 'd1', 'content-type': 'text/plain' },
      2_000,
    );
    expect(result).toEqual({ status: 200, body: '{"reply":{"text":"hi"}}' });
    expect([
      seen?.method,
      seen?.body,
      seen?.headers['content-type'],
      seen?.headers['x-handover-delivery'],
    ]).toEqual(['POST', '{"type":"message"}', 'application/json', 'd1']);
  });

  it('returns a non-2xx answer as it is, for the caller to judge', async () => {
    handler = (_req, _body, res) => {
      res.writeHead(503).end('busy');
    };
    expect(await createDownstream().post(`${base}/hook`, '{}', {}, 2_000)).toEqual({
      status: 503,
      body: 'busy',
    });
  });

  it('does not follow a redirect with the signed body', async () => {
    let hits = 0;
    handler = (req, _body, res) => {
      hits++;
      if (req.url === '/hook') res.writeHead(307, { Location: `${base}/elsewhere` }).end();
      else res.writeHead(200).end('{}');
    };
    const result = await createDownstream().post(`${base}/hook`, '{}', {}, 2_000);
    expect([result.status, hits]).toEqual([307, 1]);
  });

  it('gives up after the timeout with an error that names the host only', async () => {
    handler = (_req, _body, res) => {
      pending.add(res); // never answered
    };
    const err = await failure(
      createDownstream().post(`${base}/hook?token=tok-secret-000001`, '{}', {}, 50),
    );
    const host = new URL(base).host;
    expect([err.message, err.timedOut, err.host]).toEqual([
      `Downstream ${host} did not answer within 50 ms.`,
      true,
      host,
    ]);
  });

  it('reports a refused connection by host and error code, without the URL', async () => {
    const closed = createServer();
    closed.listen(0, '127.0.0.1');
    await once(closed, 'listening');
    const port = (closed.address() as AddressInfo).port;
    closed.close();
    await once(closed, 'close');
    const err = await failure(
      createDownstream().post(`http://127.0.0.1:${port}/hook?token=tok-secret-1`, '{}', {}, 2_000),
    );
    expect([err.message, err.timedOut]).toEqual([
      `Downstream 127.0.0.1:${port} could not be reached (ECONNREFUSED).`,
      false,
    ]);
  });

  it('refuses an answer larger than the cap', async () => {
    handler = (_req, _body, res) => {
      res.writeHead(200).end('x'.repeat(2_000));
    };
    const err = await failure(
      createDownstream({ maxResponseBytes: 1_000 }).post(`${base}/hook`, '{}', {}, 2_000),
    );
    expect(err.message).toBe(
      `Downstream ${new URL(base).host} answered with more than 1000 bytes.`,
    );
  });

  it('uses an injected fetch', async () => {
    const calls: string[] = [];
    const fakeFetch: typeof fetch = async (input) => {
      calls.push(String(input));
      return new Response('{"ok":true}', { status: 200 });
    };
    const result = await createDownstream({ fetch: fakeFetch }).post(
      'https://bot.example.test/parley',
      '{}',
      {},
      1_000,
    );
    expect([result, calls]).toEqual([
      { status: 200, body: '{"ok":true}' },
      ['https://bot.example.test/parley'],
    ]);
  });
});
