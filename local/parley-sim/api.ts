// The simulator's Service API: the subset of docs/PARLEY.md the service calls (services, owner,
// messages, agent unset) under the base path, with HMAC auth, the owner rules, Parley's envelopes,
// and the faults and latency injected per route. Each call is logged; message text never is.
import type http from 'node:http';
import type { RequestBody } from '../http/body';
import { createRouter } from '../http/router';
import { verifyAuthorization } from './auth';
import { envelopeError, envelopeOk, firstNotification } from './envelope';
import type { FaultEngine, LatencyEngine } from './faults';
import { redactText, type SimState } from './state';
import type { FaultKind, FaultRoute, SimCall } from './types';
import { isRecord, parseJson, send, splitPath } from './wire';

/** A caller's X-Request-Id is logged only when it looks like an id. */
const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

type ApiRoute = Exclude<FaultRoute, '*'>;

/** The Service API's routes, relative to the base path. */
const apiRouter = createRouter<{ method: string; path: string; name: ApiRoute }>([
  { method: 'GET', path: 'services', name: 'services' },
  { method: 'GET', path: 'users/{userId}/owner', name: 'getOwner' },
  { method: 'PUT', path: 'users/{userId}/owner', name: 'putOwner' },
  { method: 'POST', path: 'users/{userId}/messages', name: 'messages' },
  { method: 'PUT', path: 'users/{userId}/agent/unset', name: 'agentUnset' },
]);

interface Answer {
  status: number;
  body: unknown;
  headers?: Record<string, string>;
}

const FAULT_MESSAGES: Record<number, string> = {
  500: 'internal_server_error',
  502: 'bad_gateway',
  503: 'service_unavailable',
  504: 'gateway_timeout',
};

function headerValue(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

export function normaliseBasePath(path: string): string {
  const trimmed = path.replace(/\/+$/, '');
  return trimmed.startsWith('/') ? trimmed : `/${trimmed}`;
}

/**
 * The path relative to the base path, e.g. 'users/20/owner'. Any other v2.x version next to the
 * base path is answered as well (Parley forwards unknown versions to a live one).
 */
function relativeTo(basePath: string, pathname: string): string | null {
  const strip = (rest: string) => rest.replace(/^\/+/, '').replace(/\/+$/, '');
  if (pathname === basePath || pathname.startsWith(`${basePath}/`)) {
    return strip(pathname.slice(basePath.length));
  }
  const versioned = /^(.*)\/v\d+(?:\.\d+)*$/.exec(basePath);
  if (versioned) {
    const prefix = `${versioned[1]}/v2.`;
    if (pathname.startsWith(prefix)) {
      const rest = /^\d+(\/.*)?$/.exec(pathname.slice(prefix.length));
      if (rest) return strip(rest[1] ?? '');
    }
  }
  return null;
}

function matchApiRoute(
  method: string,
  relPath: string,
): { route: ApiRoute; userId: string | null } | null {
  const segments = splitPath(relPath);
  if (segments === null) return null;
  const found = apiRouter.matchSegments(method, segments);
  if (found.route === null) return null;
  return { route: found.route.name, userId: found.params.userId ?? null };
}

export interface ServiceApiOptions {
  basePath: string;
  apiVersion: string;
  faults: FaultEngine;
  latency: LatencyEngine;
}

/** Answers one Service API request (any path outside /_sim/), tracking it while in flight. */
export type ServiceApiHandler = (
  req: http.IncomingMessage,
  res: http.ServerResponse,
  pathname: string,
  raw: RequestBody,
  started: number,
) => Promise<void>;

export function createServiceApi(state: SimState, options: ServiceApiOptions): ServiceApiHandler {
  const { apiVersion, faults, latency } = options;
  const { seed, services } = state;

  const applyCall = (
    route: ApiRoute,
    userId: string | null,
    caller: string,
    body: unknown,
    relPath: string,
    method: string,
    started: number,
    requestId: string | undefined,
    at: string,
  ): Answer => {
    const fail = (status: number, message: string): Answer => ({
      status,
      body: envelopeError(method, started, message),
    });
    switch (route) {
      case 'services':
        return {
          status: 200,
          body: envelopeOk(
            method,
            started,
            {
              services: seed.services.map((s) => ({
                identification: s.identification,
                name: s.name,
                default: s.identification === state.defaultId ? 'true' : 'false',
              })),
            },
            null,
          ),
        };
      case 'getOwner':
        return {
          status: 200,
          body: envelopeOk(method, started, { owner: state.ownerOf(userId!) }, null),
        };
      case 'putOwner': {
        if (
          !isRecord(body) ||
          typeof body.newOwner !== 'string' ||
          body.newOwner.length === 0 ||
          (body.metadata !== undefined && !isRecord(body.metadata))
        ) {
          return fail(400, 'invalid_request_body');
        }
        if (state.ownerOf(userId!) !== caller) return fail(403, 'service_is_not_owner');
        if (!services.has(body.newOwner)) return fail(400, 'unknown_service');
        state.changeOwner(userId!, body.newOwner, caller, at, requestId);
        return {
          status: 200,
          body: envelopeOk(method, started, {}, 'owner_updated_successfully', {
            values: { url: relPath, newOwner: body.newOwner, metadata: body.metadata ?? {} },
            media: true,
          }),
        };
      }
      case 'messages': {
        if (!isRecord(body) || typeof body.message !== 'string' || body.message.length === 0) {
          return fail(400, 'invalid_request_body');
        }
        if (state.ownerOf(userId!) !== caller) return fail(403, 'service_is_not_owner');
        state.recordMessage(userId!, caller, body.message, at);
        return {
          status: 200,
          body: envelopeOk(method, started, {}, 'message_sent_successfully', { media: true }),
        };
      }
      case 'agentUnset':
        return {
          status: 200,
          body: envelopeOk(method, started, {}, 'agent_unset_successfully', { media: true }),
        };
    }
  };

  const handleApi = async (
    req: http.IncomingMessage,
    res: http.ServerResponse,
    relPath: string,
    raw: { text: string; tooLarge: boolean },
    started: number,
    call: SimCall,
  ) => {
    const { method, requestId } = call;
    const parsed = parseJson(raw.text);
    const match = matchApiRoute(method, relPath);
    let appliedAt: string | undefined;
    const record = (
      status: number,
      code: string | null,
      caller: string | null,
      fault?: FaultKind,
    ) => {
      const body =
        match?.route === 'messages' && isRecord(parsed.value)
          ? { ...parsed.value, message: redactText(parsed.value.message) }
          : parsed.ok
            ? parsed.value
            : raw.text.length > 0
              ? '[unparsable body]'
              : null;
      state.record({
        kind: 'request',
        at: state.iso(),
        method,
        path: relPath,
        caller,
        body,
        status,
        code,
        ...(fault ? { fault } : {}),
        ...(requestId ? { requestId } : {}),
        ...(appliedAt ? { appliedAt } : {}),
      });
    };
    // Response latency comes after whatever the call did: the answer (or the cut) leaves late.
    let responseMs = 0;
    const answer = async (a: Answer, caller: string | null, fault?: FaultKind) => {
      await state.sleep(responseMs);
      if (state.closed) return;
      record(a.status, firstNotification(a.body), caller, fault);
      send(res, a.status, a.body, apiVersion, a.headers);
    };
    const cut = async (caller: string | null, fault: FaultKind) => {
      await state.sleep(responseMs);
      if (state.closed) return;
      record(0, null, caller, fault);
      req.socket.destroy();
    };

    if (!match) {
      await answer({ status: 404, body: envelopeError(method, started, 'route_not_found') }, null);
      return;
    }

    const decision = faults.decide(match.route);
    const lag = latency.draw(match.route);
    responseMs = lag.responseMs;
    await state.sleep(decision.latencyMs + lag.requestMs);
    if (state.closed) return;

    const auth = verifyAuthorization(
      headerValue(req.headers.authorization),
      services,
      seed.accountIdentification,
      state.now(),
    );
    const caller = auth.ok ? auth.serviceId : null;

    switch (decision.fault) {
      case 'timeout':
        record(0, null, caller, 'timeout');
        return; // held open (and no longer in flight): the client gives up, or close() cuts it
      case 'drop':
        await cut(caller, 'drop');
        return;
      case '429':
        await answer(
          {
            status: 429,
            body: envelopeError(method, started, 'too_many_requests'),
            headers: { 'retry-after': String(decision.retryAfterSeconds) },
          },
          caller,
          '429',
        );
        return;
      case 'error':
        await answer(
          {
            status: decision.status,
            body: envelopeError(
              method,
              started,
              FAULT_MESSAGES[decision.status] ?? 'simulated_error',
            ),
          },
          caller,
          'error',
        );
        return;
      default:
        break;
    }

    if (!auth.ok) {
      await answer(
        { status: 401, body: envelopeError(method, started, 'api_key_not_valid') },
        null,
      );
      return;
    }
    if (raw.tooLarge) {
      await answer(
        { status: 413, body: envelopeError(method, started, 'request_too_large') },
        caller,
      );
      return;
    }
    if (!parsed.ok) {
      await answer({ status: 400, body: envelopeError(method, started, 'invalid_json') }, caller);
      return;
    }

    // One instant for the change and the call's appliedAt, so that a test can match them.
    const now = state.iso();
    const result = applyCall(
      match.route,
      match.userId,
      auth.serviceId,
      parsed.value,
      relPath,
      method,
      started,
      requestId,
      now,
    );
    if (result.status < 300) {
      appliedAt = now;
      call.appliedAt = appliedAt;
    }
    if (decision.fault === 'applyThenFail' && result.status < 300) {
      if (decision.applyThenFailMode === 'drop') {
        await cut(caller, 'applyThenFail');
        return;
      }
      const status = Math.max(decision.status, 500);
      await answer(
        {
          status,
          body: envelopeError(method, started, FAULT_MESSAGES[status] ?? 'simulated_error'),
        },
        caller,
        'applyThenFail',
      );
      return;
    }
    await answer(result, caller);
  };

  return async (req, res, pathname, body, started) => {
    const relPath = relativeTo(options.basePath, pathname);
    if (relPath === null) {
      send(res, 404, envelopeError(req.method ?? 'GET', started, 'route_not_found'), apiVersion);
      return;
    }
    const idHeader = headerValue(req.headers['x-request-id']);
    const call: SimCall = {
      method: (req.method ?? 'GET').toUpperCase(),
      path: relPath,
      ...(idHeader !== undefined && REQUEST_ID.test(idHeader) ? { requestId: idHeader } : {}),
      startedAt: state.iso(),
    };
    state.calls.add(call);
    try {
      const text = body.tooLarge ? '' : body.bytes.toString('utf8');
      await handleApi(req, res, relPath, { text, tooLarge: body.tooLarge }, started, call);
    } finally {
      state.calls.delete(call);
    }
  };
}
