// POST /users/{userId}/messages: the owning Service sends text to its user through Parley.
import { sendUserMessage } from '../domain/messages';
import { messageRequestSchema } from '../schemas/api';
import type { DepsSource } from '../platform/deps';
import { authenticate, httpHandler, requireService, userIdParam } from '../platform/handler';
import { json, parseJsonBody } from '../platform/http';
import { depsFromEnvironment } from '../platform/runtime';
import { handoverDeps } from '../platform/views';

export const makeHandler = (deps: DepsSource) =>
  httpHandler(deps, async (event, d) => {
    const serviceId = requireService(await authenticate(event, d));
    const userId = userIdParam(event);
    const { text } = parseJsonBody(messageRequestSchema, event);
    return json(200, await sendUserMessage({ userId, text, serviceId }, handoverDeps(d)));
  });

export const handler = makeHandler(depsFromEnvironment());
