import http from 'node:http';
import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { type LocalGateway, startGateway } from '../../local/gateway';
import { MAX_BODY_BYTES } from '../../functions/contracts/routes';

/** A raw HTTP request (fetch would normalise what these tests look at). */
const raw = (
  url: string,
  options: {
    method: string;
    path: string;
    headers?: Record<string, string | string[]>;
    body?: Buffer;
  },
): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }> =>
  new Promise((resolve, reject) => {
    const req = http.request(
      `${url}${options.path}`,
      { method: options.method, headers: options.headers, agent: false },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            body: Buffer.concat(chunks).toString('utf8'),
          }),
        );
      },
    );
    req.on('error', reject);
    req.end(options.body);
  });

describe('local gateway', () => {
  let gateway: LocalGateway;
  const events: APIGatewayProxyEventV2[] = [];
  const echo = async (event: APIGatewayProxyEventV2) => {
    events.push(event);
    return {
      statusCode: 201,
      headers: { 'Content-Type': 'application/json', 'X-Next-Cursor': 'abc' },
      body: JSON.stringify({ routeKey: event.routeKey }),
    };
  };

  beforeAll(async () => {
    gateway = await startGateway({
      handlers: {
        handover: echo,
        owner: echo,
        inbound: echo,
        services: async () => ({ services: [] }),
        health: async () => {
          throw new Error('boom with a secret inside');
        },
      },
      maxRequestBytes: 2 * 1024 * 1024,
    });
  });
  afterAll(async () => {
    await gateway.close();
  });
  beforeEach(() => {
    events.length = 0;
  });

  it('builds a payload 2.0 event from the shared route table', async () => {
    const res = await raw(gateway.url, {
      method: 'GET',
      path: '/users/user%2020/owner?at=2026-03-01T00%3A00%3A00Z&x=1&x=2',
      headers: { Authorization: 'Bearer t0ken', 'X-Custom': 'v', Cookie: 'a=1; b=2' },
    });

    expect(res.status).toBe(201);
    const event = events[0]!;
    expect(event).toMatchObject({
      version: '2.0',
      routeKey: 'GET /users/{userId}/owner',
      rawPath: '/users/user%2020/owner',
      rawQueryString: 'at=2026-03-01T00%3A00%3A00Z&x=1&x=2',
      pathParameters: { userId: 'user 20' },
      queryStringParameters: { at: '2026-03-01T00:00:00Z', x: '1,2' },
      cookies: ['a=1', 'b=2'],
      isBase64Encoded: false,
      requestContext: {
        http: { method: 'GET', path: '/users/user%2020/owner', sourceIp: '127.0.0.1' },
        routeKey: 'GET /users/{userId}/owner',
        stage: '$default',
      },
    });
    expect(event.headers).toMatchObject({ authorization: 'Bearer t0ken', 'x-custom': 'v' });
    expect(event.headers.cookie).toBeUndefined();
    expect(event.body).toBeUndefined();
    expect(typeof event.requestContext.requestId).toBe('string');
    expect(event.requestContext.timeEpoch).toBeGreaterThan(0);
    expect(res.headers['x-next-cursor']).toBe('abc');
    expect(res.headers['apigw-requestid']).toBe(event.requestContext.requestId);
  });

  it('passes a UTF-8 body as text and any other body as base64', async () => {
    await raw(gateway.url, {
      method: 'POST',
      path: '/handovers',
      body: Buffer.from('{"userId":"20","note":"café"}', 'utf8'),
    });
    const binary = Buffer.from([0xff, 0xfe, 0x00, 0x41]);
    await raw(gateway.url, { method: 'POST', path: '/handovers', body: binary });

    expect(events[0]).toMatchObject({
      body: '{"userId":"20","note":"café"}',
      isBase64Encoded: false,
    });
    expect(events[1]).toMatchObject({ body: binary.toString('base64'), isBase64Encoded: true });
  });

  it('answers an unknown path 404 and a known path with another method 405, in the error shape', async () => {
    const missing = await raw(gateway.url, { method: 'GET', path: '/nowhere' });
    const wrongMethod = await raw(gateway.url, { method: 'DELETE', path: '/handovers' });

    expect(missing.status).toBe(404);
    expect(JSON.parse(missing.body)).toEqual({
      error: { code: 'not_found', message: expect.any(String) },
    });
    expect(wrongMethod.status).toBe(405);
    expect(wrongMethod.headers.allow).toBe('POST, GET, HEAD');
    expect(JSON.parse(wrongMethod.body).error.code).toBe('method_not_allowed');
    expect(events).toHaveLength(0);
  });

  it('hands a body just over 256 KB to the function, which decides about it', async () => {
    const body = Buffer.alloc(MAX_BODY_BYTES + 10, 'a');
    await raw(gateway.url, { method: 'POST', path: '/webhooks/parley/svc', body });

    expect(Buffer.byteLength(events[0]!.body ?? '')).toBeGreaterThan(MAX_BODY_BYTES);
  });

  it('refuses a request above its own limit with 413 without calling the function', async () => {
    const res = await raw(gateway.url, {
      method: 'POST',
      path: '/webhooks/parley/svc',
      body: Buffer.alloc(3 * 1024 * 1024, 'a'),
    }).catch((err: Error) => ({ status: -1, headers: {}, body: err.message }));

    // The gateway answers 413 and closes; a client still sending may see the reset instead.
    expect([413, -1]).toContain(res.status);
    expect(events).toHaveLength(0);
  });

  it('answers a result without a statusCode as 200 JSON, like API Gateway', async () => {
    const res = await raw(gateway.url, { method: 'GET', path: '/services' });

    expect(res.status).toBe(200);
    expect(JSON.parse(res.body)).toEqual({ services: [] });
  });

  it('serves extra routes after the shared table, for the benchmarks floors', async () => {
    const floor = await startGateway({
      handlers: { health: async () => ({ statusCode: 200, body: 'shared' }) },
      extraRoutes: [
        {
          method: 'POST',
          path: '/_floor/{name}',
          handler: async (event) => ({ statusCode: 202, body: event.pathParameters?.name ?? '' }),
        },
      ],
    });
    try {
      const extra = await raw(floor.url, { method: 'POST', path: '/_floor/put' });
      const shared = await raw(floor.url, { method: 'GET', path: '/health' });

      expect([extra.status, extra.body]).toEqual([202, 'put']);
      expect([shared.status, shared.body]).toEqual([200, 'shared']);
    } finally {
      await floor.close();
    }
  });

  it('answers 500 in the error shape, without the error message, when a function throws', async () => {
    const res = await raw(gateway.url, { method: 'GET', path: '/health' });

    expect(res.status).toBe(500);
    expect(res.body).not.toContain('secret');
    expect(JSON.parse(res.body).error.code).toBe('internal_error');
  });
});
