import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { type BodyLimits, type RequestBody, readBody } from '../../../local/http/body';

/** A server that reads each request's body with `limits` and answers what it read. */
const serve = async (limits: BodyLimits) => {
  const bodies: RequestBody[] = [];
  const server = http.createServer((req, res) => {
    readBody(req, limits).then((body) => {
      bodies.push(body);
      res.on('finish', () => {
        if (body.tooLarge) req.destroy();
      });
      res.writeHead(body.tooLarge ? 413 : 200, { connection: 'close' }).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const post = (chunks: Buffer[]) =>
    new Promise<number>((resolve) => {
      const req = http.request(
        { host: '127.0.0.1', port, method: 'POST', path: '/', agent: false },
        (res) => {
          res.resume();
          res.on('end', () => resolve(res.statusCode ?? 0));
        },
      );
      // A client still sending when the server answers and closes may see the reset instead.
      req.on('error', () => resolve(-1));
      for (const chunk of chunks) req.write(chunk);
      req.end();
    });
  return {
    bodies,
    post,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
};

describe('readBody', () => {
  it('reads a body sent in several chunks, byte for byte', async () => {
    const server = await serve({ limit: 1024 });
    try {
      const parts = [
        Buffer.from('{"text":"caf'),
        Buffer.from([0xc3]),
        Buffer.from([0xa9, 0x22, 0x7d]),
      ];

      expect(await server.post(parts)).toBe(200);

      const [body] = server.bodies;
      expect(body!.tooLarge).toBe(false);
      expect(body!.size).toBe(Buffer.concat(parts).length);
      expect(body!.bytes.toString('utf8')).toBe('{"text":"café"}');
    } finally {
      await server.close();
    }
  });

  it('keeps only the first `keep` bytes of a body within the limit, and counts them all', async () => {
    const server = await serve({ limit: 1000, keep: 10 });
    try {
      await server.post([Buffer.alloc(6, 'a'), Buffer.alloc(6, 'b'), Buffer.alloc(300, 'c')]);

      const [body] = server.bodies;
      expect(body!.tooLarge).toBe(false);
      expect(body!.size).toBe(312);
      expect(body!.bytes.toString('utf8')).toBe('aaaaaabbbb');
    } finally {
      await server.close();
    }
  });

  it('drains a body over the limit and keeps none of it', async () => {
    const server = await serve({ limit: 100 });
    try {
      const status = await server.post([Buffer.alloc(60, 'a'), Buffer.alloc(60, 'b')]);

      expect(status).toBe(413);
      const [body] = server.bodies;
      expect(body!.tooLarge).toBe(true);
      expect(body!.size).toBe(120);
      expect(body!.bytes).toHaveLength(0);
    } finally {
      await server.close();
    }
  });

  it('stops at the limit when asked, without waiting for the rest', async () => {
    const server = await serve({ limit: 64 * 1024, onLimit: 'stop' });
    try {
      const status = await server.post([Buffer.alloc(4 * 1024 * 1024, 'a')]);

      expect([413, -1]).toContain(status);
      const [body] = server.bodies;
      expect(body!.tooLarge).toBe(true);
      expect(body!.size).toBeGreaterThan(64 * 1024);
      expect(body!.size).toBeLessThan(4 * 1024 * 1024);
      expect(body!.bytes).toHaveLength(0);
    } finally {
      await server.close();
    }
  });

  it('reads an empty body as zero bytes', async () => {
    const server = await serve({ limit: 10 });
    try {
      await server.post([]);

      expect(server.bodies[0]).toEqual({ bytes: Buffer.alloc(0), size: 0, tooLarge: false });
    } finally {
      await server.close();
    }
  });
});
