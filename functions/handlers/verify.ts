// Auditors: GET /users/{userId}/verify (one user's hash chain against its owner item and the
// signed checkpoints) and GET /verify (a page of users, each verified whole, for `verify --all`).
// Reads only.
import { VERIFY_PAGE_DEFAULT, VERIFY_PAGE_MAX, verifyUser, verifyUsers } from '../domain/verify';
import { verifyDepsOf, withCheckpoints } from '../platform/checkpoint-ports';
import type { DepsSource } from '../platform/deps';
import { authenticate, httpHandler, requireAuditor, userIdParam } from '../platform/handler';
import { json, parseQuery } from '../platform/http';
import { depsFromEnvironment } from '../platform/runtime';
import { pageQuerySchema } from '../schemas/api';

const verifyPageQuery = pageQuerySchema(VERIFY_PAGE_DEFAULT, VERIFY_PAGE_MAX);

export const makeHandler = (deps: DepsSource) =>
  httpHandler(deps, async (event, d) => {
    requireAuditor(await authenticate(event, d));
    if (event.pathParameters?.userId !== undefined) {
      return json(200, await verifyUser(userIdParam(event), verifyDepsOf(d)));
    }
    const query = parseQuery(verifyPageQuery, event.queryStringParameters);
    const page = await verifyUsers(verifyDepsOf(d), query);
    return json(200, page);
  });

export const handler = makeHandler(withCheckpoints(depsFromEnvironment()));
