// GET /health: liveness. No secrets and no I/O beyond the configuration.
import type { DepsSource } from '../platform/deps';
import { httpHandler } from '../platform/handler';
import { json } from '../platform/http';
import { depsFromEnvironment } from '../platform/runtime';

export const makeHandler = (deps: DepsSource) =>
  httpHandler(deps, async (_event, { config }) =>
    json(200, { status: 'ok', stage: config.stage, services: config.services.length }),
  );

export const handler = makeHandler(depsFromEnvironment());
