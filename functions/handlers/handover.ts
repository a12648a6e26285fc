// POST /handovers: a Service moves one of its users to another Service.
import { performHandover } from '../domain/handover/perform';
import { ValidationError } from '../domain/errors';
import { handoverRequestSchema, idempotencyKeySchema } from '../schemas/api';
import type { DepsSource } from '../platform/deps';
import { authenticate, httpHandler, requireService } from '../platform/handler';
import { header, json, parseJsonBody } from '../platform/http';
import { depsFromEnvironment, handoverDeps } from '../platform/runtime';

export const makeHandler = (deps: DepsSource) =>
  httpHandler(deps, async (event, d) => {
    const serviceId = requireService(await authenticate(event, d));
    const request = parseJsonBody(handoverRequestSchema, event);
    const key = header(event, 'idempotency-key');
    if (key !== undefined && !idempotencyKeySchema.safeParse(key).success) {
      throw new ValidationError(
        'Idempotency-Key must be 1-200 visible ASCII characters.',
        'invalid_idempotency_key',
      );
    }
    const result = await performHandover(
      { ...request, requestedBy: serviceId, source: 'api', idempotencyKey: key },
      handoverDeps(d),
    );
    return json(200, result);
  });

export const handler = makeHandler(depsFromEnvironment());
