// Audit queries for auditors: GET /users/{userId}/handovers (a user's history, newest first) and
// GET /handovers (a time range with filters; `Accept: text/csv` gives CSV, next cursor in a header).
import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { parseLimit, parseRangeQuery, recordsToCsv } from '../domain/audit';
import type { HandoverRecord, Page } from '../domain/types';
import type { DepsSource } from '../platform/deps';
import { authenticate, httpHandler, requireAuditor, userIdParam } from '../platform/handler';
import { csv, header, json } from '../platform/http';
import { depsFromEnvironment } from '../platform/runtime';

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
    const params = event.queryStringParameters ?? {};
    if (event.pathParameters?.userId !== undefined) {
      const userId = userIdParam(event);
      const page = await d.history.listUser(userId, {
        limit: parseLimit(params.limit),
        cursor: params.cursor,
      });
      return respond(event, page);
    }
    const query = parseRangeQuery(params);
    const toOwner = params.service
      ? (await d.catalog.resolve(params.service)).identification
      : undefined;
    const page = await d.history.listRange({ ...query, filters: { ...query.filters, toOwner } });
    return respond(event, page);
  });

export const handler = makeHandler(depsFromEnvironment());
