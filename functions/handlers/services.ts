// GET /services: Parley's services of this account, with `default` as a boolean (cached).
import type { DepsSource } from '../platform/deps';
import { authenticate, httpHandler } from '../platform/handler';
import { json } from '../platform/http';
import { depsFromEnvironment } from '../platform/runtime';

export const makeHandler = (deps: DepsSource) =>
  httpHandler(deps, async (event, d) => {
    await authenticate(event, d);
    const services = await d.catalog.list();
    return json(200, {
      services: services.map(({ identification, name, default: isDefault, role }) => ({
        identification,
        name,
        default: isDefault,
        role,
      })),
    });
  });

export const handler = makeHandler(depsFromEnvironment());
