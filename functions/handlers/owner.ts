// GET /users/{userId}/owner: the owner now (from Parley), or at an instant (`?at=`, from history).
import { currentOwner, ownerAt } from '../domain/handover';
import { ValidationError } from '../domain/errors';
import { instantSchema } from '../schemas/api';
import type { DepsSource } from '../platform/deps';
import { authenticate, httpHandler, userIdParam } from '../platform/handler';
import { json } from '../platform/http';
import { depsFromEnvironment, handoverDeps } from '../platform/runtime';

export const makeHandler = (deps: DepsSource) =>
  httpHandler(deps, async (event, d) => {
    const caller = await authenticate(event, d);
    const userId = userIdParam(event);
    const at = event.queryStringParameters?.at;
    if (at !== undefined) {
      if (!instantSchema.safeParse(at).success) {
        throw new ValidationError(
          'at must be an ISO-8601 instant with a time zone.',
          'invalid_instant',
        );
      }
      return json(200, await ownerAt(userId, new Date(at).toISOString(), d));
    }
    return json(200, await currentOwner(userId, caller, handoverDeps(d)));
  });

export const handler = makeHandler(depsFromEnvironment());
