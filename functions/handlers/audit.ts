// Audit queries for auditors: GET /users/{userId}/handovers (a user's history, newest first) and
// GET /handovers (a time range with filters; `Accept: text/csv` gives CSV, next cursor in a header).
import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { recordsToCsv } from '../domain/audit';
import type { HandoverRecord, Page } from '../domain/types';
import type { DepsSource } from '../platform/deps';
import { authenticate, httpHandler, requireAuditor, userIdParam } from '../platform/handler';
import { csv, header, json, parseQuery } from '../platform/http';
import { depsFromEnvironment } from '../platform/runtime';
import { historyQuerySchema, rangeQuerySchema } from '../schemas/api';

const respond = (event: APIGatewayProxyEventV2, page: Page<HandoverRecord>) =>
  (header(event, 'accept') ?? '').includes('text/csv')
    ? csv(
        200,
        recordsToCsv(page.items, { header: true }),
        page.cursor ? { 'X-Next-Cursor': page.cursor } : {},
      )
    : json(200, { handovers: page.items, ...(page.cursor ? { cursor: page.cursor } : {}) });

export const makeHandler = (deps: DepsSource) =>
  httpHandler(deps, async (event, d) => {
    requireAuditor(await authenticate(event, d));
    if (event.pathParameters?.userId !== undefined) {
      const userId = userIdParam(event);
      const page = await d.history.listUser(
        userId,
        parseQuery(historyQuerySchema, event.queryStringParameters),
      );
      return respond(event, page);
    }
    const { service, ...query } = parseQuery(rangeQuerySchema, event.queryStringParameters);
    const toOwner = service ? (await d.catalog.resolve(service)).identification : undefined;
    const page = await d.history.listRange({ ...query, filters: { ...query.filters, toOwner } });
    return respond(event, page);
  });

export const handler = makeHandler(depsFromEnvironment());
