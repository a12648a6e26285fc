// The simulator's control API under /_sim/: it plays the user's side (a message or an event
// becomes a callback to the owner), changes owners out of band, and lets a test harness read and
// clear the log, set faults and latency, and see the calls in flight. Answers use the service's
// error shape, not Parley's envelopes.
import type http from 'node:http';
import { errorBody } from '../http/json';
import { createRouter } from '../http/router';
import type { UserSide } from './callbacks';
import { type FaultEngine, type LatencyEngine, parseFaultRules, parseLatencyRules } from './faults';
import type { SimState } from './state';
import { isRecord, parseJson, send } from './wire';

type ControlRoute =
  | 'getLog'
  | 'clearLog'
  | 'getFaults'
  | 'setFaults'
  | 'inFlight'
  | 'getLatency'
  | 'setLatency'
  | 'userMessage'
  | 'userEvent'
  | 'getOwner'
  | 'setOwner'
  | 'messagesTo'
  | 'setCallback';

const CONTROL_ROUTES: readonly {
  method: string;
  path: string;
  name: ControlRoute;
  what: string;
}[] = [
  { method: 'GET', path: 'log', name: 'getLog', what: 'the log: requests, changes, callbacks' },
  { method: 'DELETE', path: 'log', name: 'clearLog', what: 'empty the log' },
  { method: 'GET', path: 'faults', name: 'getFaults', what: 'the fault rules in effect' },
  {
    method: 'PUT',
    path: 'faults',
    name: 'setFaults',
    what: 'replace the fault rules: [{ route, errorRate?, ... }]',
  },
  {
    method: 'GET',
    path: 'in-flight',
    name: 'inFlight',
    what: 'Service API calls started and not yet answered',
  },
  { method: 'GET', path: 'latency', name: 'getLatency', what: 'the latency rules in effect' },
  {
    method: 'PUT',
    path: 'latency',
    name: 'setLatency',
    what: 'replace the latency rules: [{ route, request?, response? }]',
  },
  {
    method: 'POST',
    path: 'users/{userId}/messages',
    name: 'userMessage',
    what: 'the user writes { text }: a callback to the owner',
  },
  {
    method: 'POST',
    path: 'users/{userId}/events',
    name: 'userEvent',
    what: 'the user does { name, body? } (startTyping, ...): a callback to the owner',
  },
  {
    method: 'GET',
    path: 'users/{userId}/owner',
    name: 'getOwner',
    what: "the user's owner at Parley",
  },
  {
    method: 'PUT',
    path: 'users/{userId}/owner',
    name: 'setOwner',
    what: 'change the owner { owner } outside the Service API',
  },
  {
    method: 'GET',
    path: 'users/{userId}/messages',
    name: 'messagesTo',
    what: 'what the Services sent the user',
  },
  {
    method: 'PUT',
    path: 'services/{serviceId}/callback',
    name: 'setCallback',
    what: "point a Service's callbacks at { url, headers? }",
  },
];

const controlRouter = createRouter(CONTROL_ROUTES);

/** The answer of GET /_sim/: every control route, so that the printed control URL explains itself. */
const controlIndex = () => ({
  routes: CONTROL_ROUTES.map((r) => ({ method: r.method, path: `/_sim/${r.path}`, what: r.what })),
});

function isHttpUrl(value: string): boolean {
  try {
    const u = new URL(value);
    return u.protocol === 'http:' || u.protocol === 'https:';
  } catch {
    return false;
  }
}

export interface ControlApiOptions {
  apiVersion: string;
  faults: FaultEngine;
  latency: LatencyEngine;
  users: UserSide;
}

/** Answers one control request; `segments` are the decoded path segments after /_sim/. */
export type ControlApiHandler = (
  req: http.IncomingMessage,
  res: http.ServerResponse,
  segments: string[],
  text: string,
) => Promise<void>;

export function createControlApi(state: SimState, options: ControlApiOptions): ControlApiHandler {
  const { apiVersion, faults, latency, users } = options;

  return async (req, res, segments, text) => {
    const method = (req.method ?? 'GET').toUpperCase();
    const reply = (status: number, body: unknown) => send(res, status, body, apiVersion);
    const problem = (status: number, code: string, message: string) =>
      reply(status, errorBody(code, message));
    const parsed = parseJson(text);
    if (!parsed.ok) return problem(400, 'invalid_json', 'The request body is not valid JSON.');
    const body = parsed.value;
    if (segments.length === 0 && (method === 'GET' || method === 'HEAD')) {
      return reply(200, controlIndex());
    }
    const found = controlRouter.matchSegments(method, segments);
    if (found.route === null) return problem(404, 'not_found', 'No such control route.');
    const userId = found.params.userId ?? '';

    switch (found.route.name) {
      case 'getLog':
        return reply(200, state.entries());
      case 'clearLog':
        state.clearLog();
        return reply(200, { cleared: true });
      case 'getFaults':
        return reply(200, faults.rulesInEffect());
      case 'setFaults':
        try {
          faults.set(parseFaultRules(body));
        } catch (err) {
          return problem(400, 'invalid_faults', (err as Error).message);
        }
        return reply(200, faults.rulesInEffect());
      case 'inFlight':
        return reply(200, [...state.calls]);
      case 'getLatency':
        return reply(200, latency.rulesInEffect());
      case 'setLatency':
        try {
          latency.set(parseLatencyRules(body));
        } catch (err) {
          return problem(400, 'invalid_latency', (err as Error).message);
        }
        return reply(200, latency.rulesInEffect());
      case 'userMessage': {
        if (!isRecord(body) || typeof body.text !== 'string') {
          return problem(400, 'invalid_request', 'Send {"text": "..."}.');
        }
        return reply(200, await users.sendUserMessage(userId, body.text));
      }
      case 'userEvent': {
        if (!isRecord(body) || typeof body.name !== 'string' || body.name.length === 0) {
          return problem(400, 'invalid_request', 'Send {"name": "...", "body"?: {...}}.');
        }
        return reply(200, await users.sendUserEvent(userId, body.name, body.body ?? {}));
      }
      case 'getOwner':
        return reply(200, { userId, owner: state.ownerOf(userId) });
      case 'setOwner': {
        if (!isRecord(body) || typeof body.owner !== 'string' || !state.services.has(body.owner)) {
          return problem(400, 'unknown_service', 'Send {"owner": "<a seeded service id>"}.');
        }
        state.setOwner(userId, body.owner);
        return reply(200, { userId, owner: body.owner });
      }
      case 'messagesTo':
        return reply(200, state.messagesTo(userId));
      case 'setCallback': {
        const service = state.services.get(found.params.serviceId!);
        if (!service) return problem(404, 'unknown_service', 'No such service.');
        if (!isRecord(body) || typeof body.url !== 'string' || !isHttpUrl(body.url)) {
          return problem(400, 'invalid_request', 'Send {"url": "http(s)://...", "headers"?: {}}.');
        }
        const headers = body.headers;
        if (
          headers !== undefined &&
          (!isRecord(headers) || Object.values(headers).some((v) => typeof v !== 'string'))
        ) {
          return problem(400, 'invalid_request', 'Callback headers must map names to strings.');
        }
        state.setCallback(service.identification, body.url, headers as Record<string, string>);
        return reply(200, { identification: service.identification, url: body.url });
      }
    }
  };
}
