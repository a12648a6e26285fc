// POST /webhooks/parley/{serviceId}: Parley's callback. Authenticate, check size and JSON, enqueue
// the raw body as the message body with its metadata as message attributes (FIFO group = user,
// dedup id = delivery id), answer exactly 200. No Parley call and no table write here: the
// processor does the work. A failed enqueue answers 503 so Parley retries.
import { CALLBACK_BODY_MAX_BYTES, callbackMessage } from '../contracts/queue';
import { deliveryIdFor, groupIdFor, parseCallback } from '../domain/delivery';
import { PayloadTooLargeError, QueueUnavailableError, ValidationError } from '../domain/errors';
import type { DepsSource } from '../platform/deps';
import { httpHandler } from '../platform/handler';
import { json, readBody } from '../platform/http';
import { depsFromEnvironment } from '../platform/runtime';

export const makeHandler = (deps: DepsSource) =>
  httpHandler(deps, async (event, d) => {
    const serviceId = event.pathParameters?.serviceId ?? '';
    await d.auth.callback(serviceId, event.headers?.authorization);
    const raw = readBody(event);
    // Below the API-wide cap: the queue's limit counts the attributes too.
    if (Buffer.byteLength(raw, 'utf8') > CALLBACK_BODY_MAX_BYTES) {
      throw new PayloadTooLargeError(
        `The callback body is larger than ${CALLBACK_BODY_MAX_BYTES / 1024} KB.`,
      );
    }
    const parsed = parseCallback(raw);
    if (!parsed.ok && parsed.reason === 'not_json') {
      throw new ValidationError('The callback body is not JSON.', 'invalid_json');
    }
    const deliveryId = deliveryIdFor(serviceId, raw, parsed);
    const message = callbackMessage({
      serviceId,
      deliveryId,
      receivedAt: new Date(d.clock.now()).toISOString(),
      body: raw,
    });
    try {
      await d.queue.send({ groupId: groupIdFor(parsed), dedupId: deliveryId, ...message });
    } catch (err) {
      d.log.error('enqueue failed', { deliveryId, error: (err as Error).name });
      throw new QueueUnavailableError();
    }
    d.metrics.count('CallbackAccepted');
    return json(200, { accepted: true });
  });

export const handler = makeHandler(depsFromEnvironment());
