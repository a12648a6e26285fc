// GET /users/{userId}/owner: the owner now (from Parley), or at an instant (`?at=`, from history).
import { ValidationError } from '../domain/errors';
import { currentOwner, ownerAt } from '../domain/handover/owner';
import type { DepsSource } from '../platform/deps';
import { authenticate, httpHandler, userIdParam } from '../platform/handler';
import { json } from '../platform/http';
import { depsFromEnvironment } from '../platform/runtime';
import { handoverDeps } from '../platform/views';
import { instantSchema } from '../schemas/api';

export const makeHandler = (deps: DepsSource) =>
  httpHandler(deps, async (event, d) => {
    const caller = await authenticate(event, d);
    const userId = userIdParam(event);
    const at = event.queryStringParameters?.at;
    if (at !== undefined) {
      // An empty `at=` is a bad instant here, not an absent one.
      const instant = instantSchema.safeParse(at);
      if (!instant.success) {
        throw new ValidationError(
          instant.error.issues[0]?.message ?? 'at is invalid.',
          'invalid_instant',
        );
      }
      return json(200, await ownerAt(userId, new Date(instant.data).toISOString(), d));
    }
    // An operator reads as an auditor does: through the default Service's credentials.
    const reader = caller.kind === 'service' ? caller : ({ kind: 'auditor' } as const);
    return json(200, await currentOwner(userId, reader, handoverDeps(d)));
  });

export const handler = makeHandler(depsFromEnvironment());
