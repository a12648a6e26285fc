// POST /services/{serviceId}/release (operators): every user the Service owns goes to the default
// Service, one handover each, a page at a time within the call's time; `dryRun` counts them;
// an answer with a `cursor` is resumed by calling again with it.
import { ValidationError } from '../domain/errors';
import { releaseService } from '../domain/release';
import type { DepsSource } from '../platform/deps';
import { authenticate, httpHandler, requireOperator } from '../platform/handler';
import { header, json, parseJsonBody } from '../platform/http';
import { depsFromEnvironment } from '../platform/runtime';
import { releaseDeps } from '../platform/views';
import { idempotencyKeySchema, releaseRequestSchema } from '../schemas/api';

export const makeHandler = (deps: DepsSource) =>
  httpHandler(deps, async (event, d) => {
    const operator = requireOperator(await authenticate(event, d));
    const request = parseJsonBody(releaseRequestSchema, event);
    const key = header(event, 'idempotency-key');
    if (key !== undefined && !idempotencyKeySchema.safeParse(key).success) {
      throw new ValidationError(
        'Idempotency-Key must be 1-200 visible ASCII characters.',
        'invalid_idempotency_key',
      );
    }
    const service = event.pathParameters?.serviceId ?? '';
    const result = await releaseService(
      { ...request, service, operator, releaseKey: key },
      releaseDeps(d),
    );
    return json(200, result);
  });

export const handler = makeHandler(depsFromEnvironment());
