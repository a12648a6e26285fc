// POST /handovers: a Service moves one of its users to another Service, or (`mode: "offer"`)
// offers the user to it: 202 with the offer.
import { performHandover } from '../domain/handover/perform';
import { makeOffer } from '../domain/offers/create';
import { ValidationError } from '../domain/errors';
import { idempotencyKeySchema } from '../schemas/api';
import { handoverRequestSchema } from '../schemas/handover-request';
import type { DepsSource } from '../platform/deps';
import { authenticate, httpHandler, requireService } from '../platform/handler';
import { header, json, parseJsonBody } from '../platform/http';
import { depsFromEnvironment } from '../platform/runtime';
import { handoverDeps } from '../platform/views';

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
    const { mode, offerTimeoutSeconds, onTimeout, deliverDuringOffer, ...handover } = request;
    if (mode === 'offer') {
      const made = await makeOffer(
        {
          ...handover,
          offerTimeoutSeconds,
          onTimeout,
          deliverDuringOffer,
          requestedBy: serviceId,
          idempotencyKey: key,
        },
        handoverDeps(d),
      );
      return json(202, { offer: made.offer });
    }
    const result = await performHandover(
      { ...handover, requestedBy: serviceId, source: 'api', idempotencyKey: key },
      handoverDeps(d),
    );
    return json(200, result);
  });

export const handler = makeHandler(depsFromEnvironment());
