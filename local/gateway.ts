// The local API Gateway: a node:http server that turns each request into an API Gateway v2
// (payload format 2.0) event, calls the function the shared route table names for it
// (functions/contracts/routes.ts, the same table the CDK API stack reads), and turns the function's
// result into the HTTP response. Unknown paths answer 404 and known paths with another method 405,
// both in DESIGN.md's error shape. The events are built here by hand: they must be what API
// Gateway sends, so that the same handlers run locally.
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type {
  APIGatewayProxyEventV2,
  APIGatewayProxyResultV2,
  APIGatewayProxyStructuredResultV2,
} from 'aws-lambda';
import type { Log } from '../functions/domain/ports';
import { silentLog } from '../functions/domain/ports';
import {
  type FunctionName,
  type HttpMethod,
  type HttpRoute,
  httpRoutes,
  MAX_BODY_BYTES,
  routeKey,
} from '../functions/contracts/routes';
import { readBody } from './http/body';
import { errorBody, sendBytes, sendJson } from './http/json';
import { createRouter } from './http/router';

export type HttpFunction = (
  event: APIGatewayProxyEventV2,
) => Promise<APIGatewayProxyResultV2<Record<string, unknown>>>;

export interface GatewayOptions {
  /** The functions behind the routes; a route whose function is missing answers 500. */
  handlers: Partial<Record<FunctionName, HttpFunction>>;
  /** @default 0 (a free port) */
  port?: number;
  /** @default '127.0.0.1' */
  host?: string;
  /** @default httpRoutes */
  routes?: readonly HttpRoute[];
  /**
   * Routes outside the service's table, matched after it: the benchmarks' floor routes. Never a
   * second implementation of a service route.
   */
  extraRoutes?: readonly ExtraRoute[];
  log?: Log;
  /**
   * Body bytes put into the event. Every route with a body refuses more than MAX_BODY_BYTES
   * itself (413), so the gateway keeps a little more than that and no more. @default 320 KiB
   */
  eventBodyBytes?: number;
  /** Requests above this are answered 413 by the gateway itself, like API Gateway's 10 MB. */
  maxRequestBytes?: number;
}

export interface ExtraRoute {
  method: HttpMethod;
  path: string;
  handler: HttpFunction;
}

export interface LocalGateway {
  /** e.g. `http://127.0.0.1:3000` */
  url: string;
  port: number;
  close(): Promise<void>;
}

type RouteShape = Pick<HttpRoute, 'method' | 'path'>;

interface TableRoute extends RouteShape {
  handler: () => HttpFunction | undefined;
}

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
/** API Gateway's `requestContext.time`: `12/Mar/2026:19:03:58 +0000`. */
const gatewayTime = (ms: number) => {
  const d = new Date(ms);
  const two = (n: number) => String(n).padStart(2, '0');
  return `${two(d.getUTCDate())}/${MONTHS[d.getUTCMonth()]}/${d.getUTCFullYear()}:${two(
    d.getUTCHours(),
  )}:${two(d.getUTCMinutes())}:${two(d.getUTCSeconds())} +0000`;
};

const utf8 = new TextDecoder('utf-8', { fatal: true });
const isUtf8 = (bytes: Buffer): boolean => {
  try {
    utf8.decode(bytes);
    return true;
  } catch {
    return false;
  }
};

/** Builds the payload 2.0 event API Gateway would send for this request. */
export const buildEvent = (
  req: http.IncomingMessage,
  match: { route: RouteShape; pathParameters: Record<string, string> },
  body: Buffer,
  now: number,
): APIGatewayProxyEventV2 => {
  const rawUrl = req.url ?? '/';
  const q = rawUrl.indexOf('?');
  const rawPath = q === -1 ? rawUrl : rawUrl.slice(0, q);
  const rawQueryString = q === -1 ? '' : rawUrl.slice(q + 1);

  const headers: Record<string, string> = {};
  let cookies: string[] | undefined;
  for (const [name, values] of Object.entries(req.headersDistinct)) {
    if (!values) continue;
    if (name === 'cookie') {
      cookies = values.flatMap((v) => v.split(';').map((c) => c.trim())).filter(Boolean);
      continue;
    }
    headers[name] = values.join(',');
  }
  const sourceIp = (req.socket.remoteAddress ?? '127.0.0.1').replace(/^::ffff:/, '');
  headers['x-forwarded-for'] = headers['x-forwarded-for']
    ? `${headers['x-forwarded-for']}, ${sourceIp}`
    : sourceIp;
  headers['x-forwarded-port'] = String(req.socket.localPort ?? '');
  headers['x-forwarded-proto'] = 'http';

  let queryStringParameters: Record<string, string> | undefined;
  if (rawQueryString) {
    queryStringParameters = {};
    for (const [key, value] of new URLSearchParams(rawQueryString)) {
      const seen = queryStringParameters[key];
      queryStringParameters[key] = seen === undefined ? value : `${seen},${value}`;
    }
  }

  const text = body.length > 0 && isUtf8(body);
  const key = routeKey(match.route as HttpRoute);
  const requestId = randomBytes(12).toString('base64url');
  const host = headers.host ?? 'localhost';
  return {
    version: '2.0',
    routeKey: key,
    rawPath,
    rawQueryString,
    ...(cookies ? { cookies } : {}),
    headers,
    ...(queryStringParameters ? { queryStringParameters } : {}),
    ...(Object.keys(match.pathParameters).length > 0
      ? { pathParameters: match.pathParameters }
      : {}),
    ...(body.length > 0
      ? { body: text ? body.toString('utf8') : body.toString('base64'), isBase64Encoded: !text }
      : { isBase64Encoded: false }),
    requestContext: {
      accountId: '000000000000',
      apiId: 'local',
      domainName: host,
      domainPrefix: host.split('.')[0] ?? host,
      http: {
        method: (req.method ?? 'GET').toUpperCase(),
        path: rawPath,
        protocol: `HTTP/${req.httpVersion}`,
        sourceIp,
        userAgent: headers['user-agent'] ?? '',
      },
      requestId,
      routeKey: key,
      stage: '$default',
      time: gatewayTime(now),
      timeEpoch: now,
    },
  };
};

/** API Gateway's reading of a function result: a structured result, or anything else as JSON. */
const toStructured = (
  result: APIGatewayProxyResultV2<Record<string, unknown>>,
): APIGatewayProxyStructuredResultV2 => {
  if (
    typeof result === 'object' &&
    result !== null &&
    typeof (result as APIGatewayProxyStructuredResultV2).statusCode === 'number'
  ) {
    return result as APIGatewayProxyStructuredResultV2;
  }
  return {
    statusCode: 200,
    headers: { 'content-type': 'application/json' },
    body: typeof result === 'string' ? result : JSON.stringify(result),
  };
};

export const startGateway = async (options: GatewayOptions): Promise<LocalGateway> => {
  const router = createRouter<TableRoute>([
    ...(options.routes ?? httpRoutes).map((r) => ({
      method: r.method,
      path: r.path,
      handler: () => options.handlers[r.fn],
    })),
    ...(options.extraRoutes ?? []).map((r) => ({
      method: r.method,
      path: r.path,
      handler: () => r.handler,
    })),
  ]);
  const log = options.log ?? silentLog;
  const keep = options.eventBodyBytes ?? MAX_BODY_BYTES + 64 * 1024;
  const limit = options.maxRequestBytes ?? 10 * 1024 * 1024;

  const sendError = (
    res: http.ServerResponse,
    status: number,
    code: string,
    message: string,
    headers: Record<string, string> = {},
  ) => sendJson(res, status, errorBody(code, message), headers);

  const handle = async (req: http.IncomingMessage, res: http.ServerResponse) => {
    const started = Date.now();
    const method = (req.method ?? 'GET').toUpperCase();
    const rawUrl = req.url ?? '/';
    const path = rawUrl.split('?')[0] ?? '/';
    // Above the limit the gateway stops reading, answers and closes, as API Gateway does at 10 MB.
    const body = await readBody(req, { limit, keep, onLimit: 'stop' });
    if (body.tooLarge) {
      sendError(res, 413, 'payload_too_large', 'The request body is larger than 10 MB.', {
        connection: 'close',
      });
      res.on('finish', () => req.destroy());
      return;
    }
    const found = router.match(method, path);
    if (found.route === null) {
      if (found.allowed.length > 0) {
        sendError(
          res,
          405,
          'method_not_allowed',
          `Use ${found.allowed.join(' or ')} on this path.`,
          {
            allow: found.allowed.join(', '),
          },
        );
      } else {
        sendError(res, 404, 'not_found', 'No route matches this path.');
      }
      return;
    }
    const fn = found.route.handler();
    const event = buildEvent(
      req,
      { route: found.route, pathParameters: found.params },
      body.bytes,
      started,
    );
    const requestHeaders = { 'apigw-requestid': event.requestContext.requestId };
    if (!fn) {
      sendError(res, 500, 'internal_error', 'Internal error.', requestHeaders);
      return;
    }
    let result: APIGatewayProxyStructuredResultV2;
    try {
      result = toStructured(await fn(event));
    } catch (err) {
      // A function that throws: API Gateway answers a bare 500 and says nothing more.
      log.error('function failed', {
        route: event.routeKey,
        errorName: err instanceof Error ? err.name : typeof err,
      });
      sendError(res, 500, 'internal_error', 'Internal error.', requestHeaders);
      return;
    }
    const headers: Record<string, string> = { ...requestHeaders };
    for (const [name, value] of Object.entries(result.headers ?? {})) {
      headers[name.toLowerCase()] = String(value);
    }
    if (result.cookies?.length) res.setHeader('set-cookie', result.cookies);
    const out = result.body ?? '';
    const payload = result.isBase64Encoded ? Buffer.from(out, 'base64') : Buffer.from(out, 'utf8');
    sendBytes(res, result.statusCode ?? 200, payload, headers);
  };

  const server = http.createServer((req, res) => {
    handle(req, res).catch(() => sendError(res, 500, 'internal_error', 'Internal error.'));
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, options.host ?? '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port, address, family } = server.address() as AddressInfo;
  const host = family === 'IPv6' ? `[${address}]` : address;
  const shownHost = address === '0.0.0.0' || address === '::' ? 'localhost' : host;
  return {
    url: `http://${shownHost}:${port}`,
    port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeIdleConnections();
        // Give requests in flight a moment to finish, then cut what is left.
        setTimeout(() => server.closeAllConnections(), 2_000).unref();
      }),
  };
};
