// GET /openapi.json: the API's OpenAPI 3.1 document, public. Built once per container (it depends
// on the code only) and cacheable for an hour: it changes with a deploy, not between requests.
import { buildOpenApiDocument } from '../contracts/openapi';
import type { DepsSource } from '../platform/deps';
import { httpHandler } from '../platform/handler';
import { json } from '../platform/http';
import { depsFromEnvironment } from '../platform/runtime';

export const CACHE_CONTROL = 'public, max-age=3600';

let document: ReturnType<typeof buildOpenApiDocument> | undefined;

export const makeHandler = (deps: DepsSource) =>
  httpHandler(deps, async () => {
    document ??= buildOpenApiDocument();
    return json(200, document, { 'Cache-Control': CACHE_CONTROL });
  });

export const handler = makeHandler(depsFromEnvironment());
