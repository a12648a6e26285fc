// The Parley simulator: a node:http server answering the Service API subset of PARLEY.md (services,
// owner, messages, agent unset) with HMAC auth, owner rules, fault and latency injection, plus a
// control API under /_sim/ that plays the user's side (callbacks to the owner) and the test harness.
import http from 'node:http';
import type { Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import { verifyAuthorization } from './auth';
import { createCallbackPoster } from './callbacks';
import { FaultEngine, LatencyEngine, parseFaultRules, parseLatencyRules } from './faults';
import { cloneSeed, parseSeed, seedFixture } from './seed';
import type {
  CallbackResult,
  FaultKind,
  FaultRoute,
  FaultRule,
  LatencyRule,
  ParleySimulator,
  SimCall,
  SimLogEntry,
  SimService,
  SimulatorOptions,
} from './types';

const MAX_BODY_BYTES = 1024 * 1024;
/** A caller's X-Request-Id is logged only when it looks like an id. */
const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;
const CALLBACK_ATTEMPTS = 3;

type ApiRoute = Exclude<FaultRoute, '*'>;

interface Envelope {
  data?: unknown;
  notifications: { type: 'success' | 'warning' | 'error'; message: string }[];
  status: 'SUCCESS' | 'ERROR';
  metadata: { values?: Record<string, unknown>; method: string; duration: number };
  media?: Record<string, unknown>;
}

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

const isRecord = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

const redactText = (text: unknown): unknown =>
  typeof text === 'string' ? `[message text, ${text.length} chars]` : text;

/** Starts a simulator; `close()` it when done. */
export async function startParleySimulator(
  options: SimulatorOptions = {},
): Promise<ParleySimulator> {
  const seed = parseSeed(cloneSeed(options.seed ?? seedFixture()));
  const now = options.now ?? Date.now;
  const apiVersion = options.apiVersion ?? '20500';
  const basePath = normaliseBasePath(options.basePath ?? '/serviceApi/v2.5');
  const retryDelayMs = options.callbackRetryDelayMs ?? 200;
  const faults = new FaultEngine(parseFaultRules(options.faults ?? []), options.randomSeed ?? 1);
  const latency = new LatencyEngine(
    parseLatencyRules(options.latency ?? []),
    options.latencySeed ?? 1,
  );

  const services = new Map<string, SimService>(seed.services.map((s) => [s.identification, s]));
  const defaultId = (seed.services.find((s) => s.default === true) ?? seed.services[0]!)
    .identification;
  const owners = new Map<string, string>(Object.entries(seed.owners ?? {}));
  const inbox = new Map<string, { from: string; text: string; at: string }[]>();
  let entries: SimLogEntry[] = [];
  const calls = new Set<SimCall>();
  let messageSeq = (options.firstMessageId ?? now()) - 1;
  let closed = false;

  const sockets = new Set<Socket>();
  const sleepers = new Map<NodeJS.Timeout, () => void>();
  const poster = createCallbackPoster();

  const iso = () => new Date(now()).toISOString();
  const ownerOf = (userId: string) => owners.get(userId) ?? defaultId;

  const sleep = (ms: number) =>
    new Promise<void>((resolve) => {
      if (closed || ms <= 0) {
        resolve();
        return;
      }
      const timer = setTimeout(() => {
        sleepers.delete(timer);
        resolve();
      }, ms);
      sleepers.set(timer, resolve);
    });

  const setOwner = (userId: string, identification: string) => {
    if (!services.has(identification)) {
      throw new Error('The simulator knows no service with that identification.');
    }
    const from = ownerOf(userId);
    owners.set(userId, identification);
    // Logged so that a test can compare the changes made outside the Service API with what the
    // service recorded as `observed`.
    entries.push({ kind: 'owner-set', at: iso(), userId, from, owner: identification });
  };

  // ------------------------------------------------------------------ callbacks

  const deliver = async (
    userId: string,
    payload: Record<string, unknown>,
    loggedPayload: unknown,
  ): Promise<CallbackResult> => {
    const serviceId = ownerOf(userId);
    const routedAt = iso();
    const service = services.get(serviceId)!;
    const url = service.callbackUrl;
    if (!url) return { delivered: false, attempts: 0, serviceId };
    const headers = { ...(service.callbackHeaders ?? {}) };
    const raw = JSON.stringify(payload);
    let attempts = 0;
    while (attempts < CALLBACK_ATTEMPTS && !closed) {
      attempts += 1;
      const status = await poster.post(url, headers, raw);
      entries.push({
        kind: 'callback',
        at: iso(),
        routedAt,
        serviceId,
        userId,
        url,
        attempt: attempts,
        status,
        body: loggedPayload,
      });
      if (status === 200) return { delivered: true, attempts, serviceId };
      if (attempts < CALLBACK_ATTEMPTS) await sleep(retryDelayMs);
    }
    return { delivered: false, attempts, serviceId };
  };

  const callbackUser = (userId: string) => ({
    id: userId,
    uniqueIdentifier: null,
    additionalInformation: null,
  });

  const sendUserMessage = (userId: string, text: string) => {
    messageSeq += 1;
    const body = {
      id: messageSeq,
      message: text,
      time: Math.floor(now() / 1000),
      typeId: 1,
      user: callbackUser(userId),
    };
    return deliver(
      userId,
      { type: 'message', body },
      { type: 'message', body: { ...body, message: redactText(text) } },
    );
  };

  const sendUserEvent = (userId: string, name: string, body: unknown = {}) => {
    const payload = { type: 'event', body: { name, body, user: callbackUser(userId) } };
    return deliver(userId, payload, payload);
  };

  // ------------------------------------------------------------------ Service API

  const envelopeOk = (
    method: string,
    started: number,
    data: unknown,
    message: string | null,
    extra: { values?: Record<string, unknown>; media?: boolean } = {},
  ): Envelope => ({
    data,
    notifications: message ? [{ type: 'success', message }] : [],
    status: 'SUCCESS',
    metadata: {
      ...(extra.values ? { values: extra.values } : {}),
      method: method.toLowerCase(),
      duration: elapsed(started),
    },
    ...(extra.media ? { media: {} } : {}),
  });

  const envelopeError = (method: string, started: number, message: string): Envelope => ({
    notifications: [{ type: 'error', message }],
    status: 'ERROR',
    metadata: { method: method.toLowerCase(), duration: elapsed(started) },
  });

  const applyCall = (
    route: ApiRoute,
    userId: string | null,
    caller: string,
    body: unknown,
    relPath: string,
    method: string,
    started: number,
    requestId: string | undefined,
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
                default: s.identification === defaultId ? 'true' : 'false',
              })),
            },
            null,
          ),
        };
      case 'getOwner':
        return {
          status: 200,
          body: envelopeOk(method, started, { owner: ownerOf(userId!) }, null),
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
        if (ownerOf(userId!) !== caller) return fail(403, 'service_is_not_owner');
        if (!services.has(body.newOwner)) return fail(400, 'unknown_service');
        owners.set(userId!, body.newOwner);
        entries.push({
          kind: 'change',
          at: iso(),
          userId: userId!,
          from: caller,
          to: body.newOwner,
          by: caller,
          ...(requestId ? { requestId } : {}),
        });
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
        if (ownerOf(userId!) !== caller) return fail(403, 'service_is_not_owner');
        const list = inbox.get(userId!) ?? [];
        list.push({ from: caller, text: body.message, at: iso() });
        inbox.set(userId!, list);
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
      entries.push({
        kind: 'request',
        at: iso(),
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
      await sleep(responseMs);
      if (closed) return;
      record(a.status, firstNotification(a.body), caller, fault);
      send(res, a.status, a.body, apiVersion, a.headers);
    };
    const cut = async (caller: string | null, fault: FaultKind) => {
      await sleep(responseMs);
      if (closed) return;
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
    await sleep(decision.latencyMs + lag.requestMs);
    if (closed) return;

    const auth = verifyAuthorization(
      headerValue(req.headers.authorization),
      services,
      seed.accountIdentification,
      now(),
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

    const result = applyCall(
      match.route,
      match.userId,
      auth.serviceId,
      parsed.value,
      relPath,
      method,
      started,
      requestId,
    );
    if (result.status < 300) {
      appliedAt = iso();
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

  // ------------------------------------------------------------------ control API

  const handleControl = async (
    req: http.IncomingMessage,
    res: http.ServerResponse,
    segments: string[],
    text: string,
  ) => {
    const method = (req.method ?? 'GET').toUpperCase();
    const reply = (status: number, body: unknown) => send(res, status, body, apiVersion);
    const problem = (status: number, code: string, message: string) =>
      reply(status, { error: { code, message } });
    const parsed = parseJson(text);
    if (!parsed.ok) return problem(400, 'invalid_json', 'The request body is not valid JSON.');
    const body = parsed.value;
    const key = `${method} ${segments.map((s, i) => (isParam(segments, i) ? '{}' : s)).join('/')}`;

    switch (key) {
      case 'GET log':
        return reply(200, entries);
      case 'DELETE log':
        entries = [];
        return reply(200, { cleared: true });
      case 'GET faults':
        return reply(200, faults.rulesInEffect());
      case 'PUT faults':
        try {
          faults.set(parseFaultRules(body));
        } catch (err) {
          return problem(400, 'invalid_faults', (err as Error).message);
        }
        return reply(200, faults.rulesInEffect());
      case 'GET in-flight':
        return reply(200, [...calls]);
      case 'GET latency':
        return reply(200, latency.rulesInEffect());
      case 'PUT latency':
        try {
          latency.set(parseLatencyRules(body));
        } catch (err) {
          return problem(400, 'invalid_latency', (err as Error).message);
        }
        return reply(200, latency.rulesInEffect());
      case 'POST users/{}/messages': {
        if (!isRecord(body) || typeof body.text !== 'string') {
          return problem(400, 'invalid_request', 'Send {"text": "..."}.');
        }
        return reply(200, await sendUserMessage(segments[1]!, body.text));
      }
      case 'POST users/{}/events': {
        if (!isRecord(body) || typeof body.name !== 'string' || body.name.length === 0) {
          return problem(400, 'invalid_request', 'Send {"name": "...", "body"?: {...}}.');
        }
        return reply(200, await sendUserEvent(segments[1]!, body.name, body.body ?? {}));
      }
      case 'GET users/{}/owner':
        return reply(200, { userId: segments[1], owner: ownerOf(segments[1]!) });
      case 'PUT users/{}/owner': {
        if (!isRecord(body) || typeof body.owner !== 'string' || !services.has(body.owner)) {
          return problem(400, 'unknown_service', 'Send {"owner": "<a seeded service id>"}.');
        }
        setOwner(segments[1]!, body.owner);
        return reply(200, { userId: segments[1], owner: body.owner });
      }
      case 'GET users/{}/messages':
        return reply(200, messagesTo(segments[1]!));
      case 'PUT services/{}/callback': {
        const service = services.get(segments[1]!);
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
        setCallback(service.identification, body.url, headers as Record<string, string>);
        return reply(200, { identification: service.identification, url: body.url });
      }
      default:
        return problem(404, 'not_found', 'No such control route.');
    }
  };

  const messagesTo = (userId: string) => (inbox.get(userId) ?? []).map((m) => ({ ...m }));

  const setCallback = (identification: string, url: string, headers?: Record<string, string>) => {
    const service = services.get(identification);
    if (!service) throw new Error('The simulator knows no service with that identification.');
    service.callbackUrl = url;
    service.callbackHeaders = headers ? { ...headers } : {};
  };

  // ------------------------------------------------------------------ server

  const server = http.createServer((req, res) => {
    const started = performance.now();
    readBody(req)
      .then(async (raw) => {
        if (closed) return;
        const pathname = safePathname(req.url);
        if (pathname === null) {
          send(res, 400, envelopeError(req.method ?? 'GET', started, 'invalid_url'), apiVersion);
          return;
        }
        if (pathname.startsWith('/_sim/')) {
          const segments = splitPath(pathname.slice('/_sim/'.length));
          if (segments === null) {
            send(res, 400, { error: { code: 'invalid_url', message: 'Bad path.' } }, apiVersion);
            return;
          }
          await handleControl(req, res, segments, raw.tooLarge ? '' : raw.text);
          return;
        }
        const relPath = relativeTo(basePath, pathname);
        if (relPath === null) {
          send(
            res,
            404,
            envelopeError(req.method ?? 'GET', started, 'route_not_found'),
            apiVersion,
          );
          return;
        }
        const idHeader = headerValue(req.headers['x-request-id']);
        const call: SimCall = {
          method: (req.method ?? 'GET').toUpperCase(),
          path: relPath,
          ...(idHeader !== undefined && REQUEST_ID.test(idHeader) ? { requestId: idHeader } : {}),
          startedAt: iso(),
        };
        calls.add(call);
        try {
          await handleApi(req, res, relPath, raw, started, call);
        } finally {
          calls.delete(call);
        }
      })
      .catch(() => {
        if (!res.headersSent && !res.destroyed) {
          send(
            res,
            500,
            envelopeError(req.method ?? 'GET', started, 'internal_server_error'),
            apiVersion,
          );
        }
      });
  });
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, options.host ?? '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address();
  if (address === null || typeof address === 'string') {
    throw new Error('The simulator could not determine its listening address.');
  }
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  const url = `http://${host}:${address.port}`;

  return {
    url,
    baseUrl: url + basePath,
    seed,
    log: () => entries.map((e) => structuredClone(e)),
    clearLog: () => {
      entries = [];
    },
    setFaults: (rules: FaultRule[]) => faults.set(parseFaultRules(rules)),
    setLatency: (rules: LatencyRule[]) => latency.set(parseLatencyRules(rules)),
    latency: () => latency.rulesInEffect(),
    inFlight: () => [...calls].map((c) => ({ ...c })),
    ownerOf,
    setOwner,
    setCallback,
    sendUserMessage,
    sendUserEvent,
    messagesTo,
    close: async () => {
      if (closed) return;
      closed = true;
      for (const [timer, resolve] of sleepers) {
        clearTimeout(timer);
        resolve();
      }
      sleepers.clear();
      poster.abortAll();
      const done = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const socket of sockets) socket.destroy();
      server.closeAllConnections();
      await done;
    },
  };
}

// -------------------------------------------------------------------- helpers

function elapsed(started: number): number {
  return Math.round((performance.now() - started) * 1000) / 1000;
}

function send(
  res: http.ServerResponse,
  status: number,
  body: unknown,
  apiVersion: string,
  headers: Record<string, string> = {},
) {
  if (res.headersSent || res.destroyed) return;
  const payload = Buffer.from(JSON.stringify(body), 'utf8');
  res.writeHead(status, {
    ...headers,
    'content-type': 'application/json; charset=utf-8',
    'content-length': String(payload.length),
    'x-parley-api-version': apiVersion,
  });
  res.end(payload);
}

function readBody(req: http.IncomingMessage): Promise<{ text: string; tooLarge: boolean }> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let tooLarge = false;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY_BYTES) tooLarge = true;
      else chunks.push(chunk);
    });
    req.on('end', () =>
      resolve({ text: tooLarge ? '' : Buffer.concat(chunks).toString('utf8'), tooLarge }),
    );
    req.on('error', reject);
  });
}

function parseJson(text: string): { ok: true; value: unknown } | { ok: false; value: null } {
  if (text.trim().length === 0) return { ok: true, value: null };
  try {
    return { ok: true, value: JSON.parse(text) as unknown };
  } catch {
    return { ok: false, value: null };
  }
}

function firstNotification(body: unknown): string | null {
  if (!isRecord(body) || !Array.isArray(body.notifications)) return null;
  const first = body.notifications[0] as unknown;
  return isRecord(first) && typeof first.message === 'string' ? first.message : null;
}

function headerValue(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

function safePathname(rawUrl: string | undefined): string | null {
  try {
    return new URL(rawUrl ?? '/', 'http://sim.invalid').pathname;
  } catch {
    return null;
  }
}

/** Decoded, non-empty path segments; null when a segment cannot be decoded. */
function splitPath(path: string): string[] | null {
  try {
    return path
      .split('/')
      .filter((s) => s.length > 0)
      .map((s) => decodeURIComponent(s));
  } catch {
    return null;
  }
}

function isParam(segments: string[], index: number): boolean {
  // users/{id}/... and services/{id}/...: the second segment is the identifier
  return index === 1 && (segments[0] === 'users' || segments[0] === 'services');
}

function isHttpUrl(value: string): boolean {
  try {
    const u = new URL(value);
    return u.protocol === 'http:' || u.protocol === 'https:';
  } catch {
    return false;
  }
}

function normaliseBasePath(path: string): string {
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
  const [first, userId, third, fourth] = segments;
  if (method === 'GET' && segments.length === 1 && first === 'services') {
    return { route: 'services', userId: null };
  }
  if (first !== 'users' || !userId) return null;
  if (segments.length === 3 && third === 'owner') {
    if (method === 'GET') return { route: 'getOwner', userId };
    if (method === 'PUT') return { route: 'putOwner', userId };
  }
  if (segments.length === 3 && third === 'messages' && method === 'POST') {
    return { route: 'messages', userId };
  }
  if (segments.length === 4 && third === 'agent' && fourth === 'unset' && method === 'PUT') {
    return { route: 'agentUnset', userId };
  }
  return null;
}
