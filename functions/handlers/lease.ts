// POST /users/{userId}/lease: the owning Service extends its lease of a user.
import { extendOwnerLease } from '../domain/lifecycle/extend';
import type { DepsSource } from '../platform/deps';
import { authenticate, httpHandler, requireService, userIdParam } from '../platform/handler';
import { json, parseJsonBody } from '../platform/http';
import { depsFromEnvironment } from '../platform/runtime';
import { extendDeps } from '../platform/timers';
import { leaseExtendRequestSchema } from '../schemas/api';

export const makeHandler = (deps: DepsSource) =>
  httpHandler(deps, async (event, d) => {
    const serviceId = requireService(await authenticate(event, d));
    const userId = userIdParam(event);
    const { extendSeconds } = parseJsonBody(leaseExtendRequestSchema, event);
    return json(200, await extendOwnerLease({ userId, serviceId, extendSeconds }, extendDeps(d)));
  });

export const handler = makeHandler(depsFromEnvironment());
