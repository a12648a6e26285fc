import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { errorBody, sendBytes, sendJson } from '../../../local/http/json';

/** One request to a server whose handler is `answer`; the raw status, headers and body. */
const exchange = async (answer: (res: http.ServerResponse) => void) => {
  const server = http.createServer((_req, res) => answer(res));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  try {
    return await new Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }>(
      (resolve, reject) => {
        http
          .get({ host: '127.0.0.1', port, path: '/', agent: false }, (res) => {
            const chunks: Buffer[] = [];
            res.on('data', (c: Buffer) => chunks.push(c));
            res.on('end', () =>
              resolve({
                status: res.statusCode ?? 0,
                headers: res.headers,
                body: Buffer.concat(chunks).toString('utf8'),
              }),
            );
          })
          .on('error', reject);
      },
    );
  } finally {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
};

describe('sending answers', () => {
  it('sends JSON with its byte length and a UTF-8 JSON content type, keeping other headers', async () => {
    const res = await exchange((r) => sendJson(r, 201, { text: 'café' }, { 'x-extra': 'yes' }));

    expect(res.status).toBe(201);
    expect(res.body).toBe('{"text":"café"}');
    expect(res.headers['content-length']).toBe('16');
    expect(res.headers['content-type']).toBe('application/json; charset=utf-8');
    expect(res.headers['x-extra']).toBe('yes');
  });

  it('sends bytes as given, with their length and the headers given', async () => {
    const res = await exchange((r) =>
      sendBytes(r, 200, Buffer.from('plain words'), { 'content-type': 'text/plain' }),
    );

    expect([res.status, res.body]).toEqual([200, 'plain words']);
    expect(res.headers['content-length']).toBe('11');
    expect(res.headers['content-type']).toBe('text/plain');
  });

  it('sends nothing more once an answer has left', async () => {
    const res = await exchange((r) => {
      sendJson(r, 200, { first: true });
      sendJson(r, 500, { second: true });
    });

    expect([res.status, JSON.parse(res.body)]).toEqual([200, { first: true }]);
  });

  it("builds DESIGN.md's error shape", () => {
    expect(errorBody('not_found', 'No route matches this path.')).toEqual({
      error: { code: 'not_found', message: 'No route matches this path.' },
    });
  });
});
