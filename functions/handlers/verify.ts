// Auditors: GET /users/{userId}/verify (one user's hash chain against its owner item) and
// GET /verify (a page of users, each verified whole, for `verify --all`). Reads only.
import { parseCursor, parseLimit } from '../domain/audit';
import { VERIFY_PAGE_DEFAULT, VERIFY_PAGE_MAX, verifyUser, verifyUsers } from '../domain/verify';
import type { DepsSource } from '../platform/deps';
import { authenticate, httpHandler, requireAuditor, userIdParam } from '../platform/handler';
import { json } from '../platform/http';
import { depsFromEnvironment } from '../platform/runtime';

export const makeHandler = (deps: DepsSource) =>
  httpHandler(deps, async (event, d) => {
    requireAuditor(await authenticate(event, d));
    if (event.pathParameters?.userId !== undefined) {
      return json(200, await verifyUser(userIdParam(event), d));
    }
    const params = event.queryStringParameters ?? {};
    const page = await verifyUsers(d, {
      limit: parseLimit(params.limit, VERIFY_PAGE_DEFAULT, VERIFY_PAGE_MAX),
      cursor: parseCursor(params.cursor),
    });
    return json(200, page);
  });

export const handler = makeHandler(depsFromEnvironment());
