// The local API Gateway: a node:http server that turns each request into an API Gateway v2
// (payload format 2.0) event, calls the function the shared route table names for it
// (functions/platform/routes.ts, the same table the CDK API stack reads), and turns the function's
// result into the HTTP response. Unknown paths answer 404 and known paths with another method 405,
// both in DESIGN.md's error shape.
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

interface CompiledRoute {
  route: RouteShape;
  handler: () => HttpFunction | undefined;
  pattern: RegExp;
  params: string[];
}

const compile = (route: RouteShape, handler: () => HttpFunction | undefined): CompiledRoute => {
  const params: string[] = [];
  const source = route.path
    .split('/')
    .map((segment) => {
      const m = /^\{(\w+)\}$/.exec(segment);
      if (!m) return segment.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
      params.push(m[1]!);
      return '([^/]+)';
    })
    .join('/');
  return { route, handler, pattern: new RegExp(`^${source}$`), params };
};

const errorBody = (code: string, message: string) => JSON.stringify({ error: { code, message } });

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

const decodeParam = (value: string): string => {
  try {
    return decodeURIComponent(value);
  } catch {
    return value;
  }
};

interface ReadBody {
  bytes: Buffer;
  /** Bytes received in total (more than `bytes` when the body was cut). */
  size: number;
  tooLarge: boolean;
}

const readBody = (req: http.IncomingMessage, keep: number, limit: number): Promise<ReadBody> =>
  new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let kept = 0;
    let size = 0;
    let settled = false;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        if (!settled) {
          settled = true;
          req.pause();
          resolve({ bytes: Buffer.alloc(0), size, tooLarge: true });
        }
        return;
      }
      if (kept < keep) {
        const part = chunk.subarray(0, keep - kept);
        chunks.push(part);
        kept += part.length;
      }
    });
    req.on('end', () => {
      if (settled) return;
      settled = true;
      resolve({ bytes: Buffer.concat(chunks), size, tooLarge: false });
    });
    req.on('error', (err) => {
      if (settled) return;
      settled = true;
      reject(err);
    });
  });

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
  const compiled = [
    ...(options.routes ?? httpRoutes).map((r) => compile(r, () => options.handlers[r.fn])),
    ...(options.extraRoutes ?? []).map((r) => compile(r, () => r.handler)),
  ];
  const log = options.log ?? silentLog;
  const keep = options.eventBodyBytes ?? MAX_BODY_BYTES + 64 * 1024;
  const limit = options.maxRequestBytes ?? 10 * 1024 * 1024;

  const find = (method: string, path: string) => {
    const allowed: string[] = [];
    for (const c of compiled) {
      const m = c.pattern.exec(path);
      if (!m) continue;
      if (c.route.method !== method) {
        allowed.push(c.route.method);
        continue;
      }
      const pathParameters: Record<string, string> = {};
      c.params.forEach((name, i) => {
        pathParameters[name] = decodeParam(m[i + 1]!);
      });
      return { match: { route: c.route, pathParameters }, handler: c.handler(), allowed };
    }
    return { match: null, handler: undefined, allowed };
  };

  const respond = (
    res: http.ServerResponse,
    status: number,
    body: string | Buffer,
    headers: Record<string, string>,
  ) => {
    if (res.headersSent || res.destroyed) return;
    const payload = typeof body === 'string' ? Buffer.from(body, 'utf8') : body;
    res.writeHead(status, { ...headers, 'content-length': String(payload.length) });
    res.end(payload);
  };
  const jsonError = (status: number, code: string, message: string, extra = {}) => ({
    status,
    body: errorBody(code, message),
    headers: { 'content-type': 'application/json; charset=utf-8', ...extra },
  });

  const handle = async (req: http.IncomingMessage, res: http.ServerResponse) => {
    const started = Date.now();
    const method = (req.method ?? 'GET').toUpperCase();
    const rawUrl = req.url ?? '/';
    const path = rawUrl.split('?')[0] ?? '/';
    const body = await readBody(req, keep, limit);
    if (body.tooLarge) {
      const e = jsonError(413, 'payload_too_large', 'The request body is larger than 10 MB.', {
        connection: 'close',
      });
      respond(res, e.status, e.body, e.headers);
      res.on('finish', () => req.destroy());
      return;
    }
    const { match, handler: fn, allowed } = find(method, path);
    if (!match) {
      const e = allowed.length
        ? jsonError(405, 'method_not_allowed', `Use ${allowed.join(' or ')} on this path.`, {
            allow: allowed.join(', '),
          })
        : jsonError(404, 'not_found', 'No route matches this path.');
      respond(res, e.status, e.body, e.headers);
      return;
    }
    const event = buildEvent(req, match, body.bytes, started);
    const requestHeaders = { 'apigw-requestid': event.requestContext.requestId };
    if (!fn) {
      const e = jsonError(500, 'internal_error', 'Internal error.');
      respond(res, e.status, e.body, { ...e.headers, ...requestHeaders });
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
      const e = jsonError(500, 'internal_error', 'Internal error.');
      respond(res, e.status, e.body, { ...e.headers, ...requestHeaders });
      return;
    }
    const headers: Record<string, string> = { ...requestHeaders };
    for (const [name, value] of Object.entries(result.headers ?? {})) {
      headers[name.toLowerCase()] = String(value);
    }
    if (result.cookies?.length) res.setHeader('set-cookie', result.cookies);
    const out = result.body ?? '';
    const payload = result.isBase64Encoded ? Buffer.from(out, 'base64') : Buffer.from(out, 'utf8');
    respond(res, result.statusCode ?? 200, payload, headers);
  };

  const server = http.createServer((req, res) => {
    handle(req, res).catch(() => {
      const e = jsonError(500, 'internal_error', 'Internal error.');
      respond(res, e.status, e.body, e.headers);
    });
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
