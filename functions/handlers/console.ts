// The operations console (HTML): GET /console, /console/users/{userId}, /console/search,
// /console/stuck and /console/static/{file}; POST /console/login, /console/logout and the
// operators' actions. The event becomes a ConsoleRequest; the console decides everything else.
import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { handleConsole } from '../console/app';
import type { ConsoleRequest } from '../console/deps';
import { consoleDeps } from '../console/wiring';
import { withCheckpoints } from '../platform/checkpoint-ports';
import type { DepsSource } from '../platform/deps';
import { httpHandler } from '../platform/handler';
import { header, readBody } from '../platform/http';
import { depsFromEnvironment } from '../platform/runtime';

const requestOf = (event: APIGatewayProxyEventV2): ConsoleRequest => ({
  method: event.requestContext.http.method as ConsoleRequest['method'],
  route: event.routeKey.slice(event.routeKey.indexOf(' ') + 1),
  path: `${event.rawPath}${event.rawQueryString ? `?${event.rawQueryString}` : ''}`,
  params: event.pathParameters ?? {},
  query: event.queryStringParameters ?? {},
  header: (name) => header(event, name),
  cookies: event.cookies ?? [],
  body: event.requestContext.http.method === 'POST' ? readBody(event) : '',
  sourceIp: event.requestContext.http.sourceIp,
});

export const makeHandler = (deps: DepsSource) =>
  httpHandler(deps, async (event, d) => {
    const { status, headers, body, cookies } = await handleConsole(
      requestOf(event),
      consoleDeps(d),
    );
    return { statusCode: status, headers, body, ...(cookies ? { cookies } : {}) };
  });

export const handler = makeHandler(withCheckpoints(depsFromEnvironment()));
