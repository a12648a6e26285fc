// Shared helpers of the reliability and security suites: a clock that can be moved, one call
// helper over every real handler, invariants that compare our store with the Parley simulator,
// crash and pause injection at the adapter boundary, and a capture of everything a run prints.
import { readBody } from '../../local/http/body';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { APIGatewayProxyEventV2, SQSBatchResponse, SQSEvent } from 'aws-lambda';
import { verifyUserChain } from '../../functions/domain/chain';
import type { HandoverDeps } from '../../functions/domain/handover/deps';
import type {
  Clock,
  HistoryStore,
  ParleyClient,
  ParleyClients,
  StateStore,
} from '../../functions/domain/ports';
import type { HandoverRecord } from '../../functions/domain/types';
import { makeHandler as audit } from '../../functions/handlers/audit';
import { makeHandler as checkpoint } from '../../functions/handlers/checkpoints';
import { makeHandler as consoleHandler } from '../../functions/handlers/console';
import { makeHandler as eraser } from '../../functions/handlers/eraser';
import { makeHandler as erasure } from '../../functions/handlers/erasure';
import { makeHandler as handover } from '../../functions/handlers/handover';
import { makeHandler as health } from '../../functions/handlers/health';
import { makeHandler as inbound } from '../../functions/handlers/inbound';
import { makeHandler as lease } from '../../functions/handlers/lease';
import { makeHandler as messages } from '../../functions/handlers/messages';
import { makeHandler as metrics } from '../../functions/handlers/metrics';
import { makeHandler as notifications } from '../../functions/handlers/notifications';
import { makeHandler as offers } from '../../functions/handlers/offers';
import { makeHandler as owner } from '../../functions/handlers/owner';
import { makeHandler as processor } from '../../functions/handlers/processor';
import { makeHandler as reconcile } from '../../functions/handlers/reconcile';
import { makeHandler as release } from '../../functions/handlers/release';
import { makeHandler as services } from '../../functions/handlers/services';
import { makeHandler as verify } from '../../functions/handlers/verify';
import type { AppDeps, DepsSource } from '../../functions/platform/deps';
import type { HttpResult } from '../../functions/platform/handler';
import { type FunctionName, type HttpRoute, httpRoutes } from '../../functions/contracts/routes';
import type { ParleySimulator } from '../../local/parley-sim';
import { type ApiEventInput, apiEvent } from './events';
import { checkResponse } from './openapi-check';

// ---------------------------------------------------------------- clock

/** The system time plus an offset that a test moves forward (never a sleep). */
export interface MovableClock extends Clock {
  advance(ms: number): void;
}

export const movableClock = (): MovableClock => {
  let offsetMs = 0;
  return {
    now: () => Date.now() + offsetMs,
    advance: (ms) => {
      offsetMs += ms;
    },
  };
};

// ---------------------------------------------------------------- handlers

export type Response = HttpResult & { json: any };

export interface Invoker {
  /** An API Gateway event built by the factory, through the route's real handler. */
  call(input: ApiEventInput): Promise<Response>;
  /** A ready event through the handler of its route key. */
  send(event: APIGatewayProxyEventV2): Promise<Response>;
  processor(event: SQSEvent): Promise<SQSBatchResponse>;
  /** The reconcile function as the schedule calls it. */
  scheduledReconcile(): Promise<unknown>;
}

const parseBody = (result: HttpResult): Response => {
  const text = typeof result.body === 'string' ? result.body : '';
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { ...result, json };
};

export const invoker = (
  source: DepsSource & { forFunction?: (fn: FunctionName) => DepsSource },
): Invoker => {
  // A harness in strict IAM mode gives each function deps of its own, checked against its role.
  const of = (fn: FunctionName): DepsSource => source.forFunction?.(fn) ?? source;
  const http: Partial<Record<FunctionName, (e: APIGatewayProxyEventV2) => Promise<unknown>>> = {
    audit: audit(of('audit')),
    checkpoint: checkpoint(of('checkpoint')) as (e: APIGatewayProxyEventV2) => Promise<unknown>,
    console: consoleHandler(of('console')),
    erasure: erasure(of('erasure')),
    eraser: eraser(of('eraser')) as (e: APIGatewayProxyEventV2) => Promise<unknown>,
    handover: handover(of('handover')),
    health: health(of('health')),
    inbound: inbound(of('inbound')),
    lease: lease(of('lease')),
    messages: messages(of('messages')),
    metrics: metrics(of('metrics')) as (e: APIGatewayProxyEventV2) => Promise<unknown>,
    notifications: notifications(of('notifications')),
    offers: offers(of('offers')),
    owner: owner(of('owner')),
    reconcile: reconcile(of('reconcile')) as (e: APIGatewayProxyEventV2) => Promise<unknown>,
    release: release(of('release')),
    services: services(of('services')),
    verify: verify(of('verify')),
  };
  const consume = processor(of('processor'));
  const scheduled = reconcile(of('reconcile'));
  const send = async (event: APIGatewayProxyEventV2) => {
    const route = httpRoutes.find((r) => `${r.method} ${r.path}` === event.routeKey);
    if (!route) throw new Error(`no handler for ${event.routeKey}`);
    const result = (await http[route.fn]!(event)) as HttpResult;
    // Every answer the suites see must be one the OpenAPI document describes.
    checkResponse(
      event.requestContext.http.method,
      event.rawPath,
      result.statusCode ?? 200,
      result.headers,
      result.isBase64Encoded ? Buffer.from(result.body ?? '', 'base64').toString() : result.body,
    );
    return parseBody(result);
  };
  return {
    call: (input) => send(apiEvent(input)),
    send,
    processor: consume,
    scheduledReconcile: () =>
      scheduled({ source: 'aws.events', 'detail-type': 'Scheduled Event' } as never),
  };
};

// ---------------------------------------------------------------- how each route authenticates

export type Role = 'service' | 'auditor' | 'operator';

/**
 * How a route authenticates, as the suites hold it: `bearer`, an API, auditor or operator token of
 * these roles (`Authorization: Bearer`); `callback`, the Service's Parley callback token; `session`,
 * the console's session cookie (no Authorization header is looked at: without a live session a page
 * answers the login form, `anonymous` its status, and a POST 401, or 403 when it was not sent from
 * the console's own origin); `login`, the console's login form (an auditor's or operator's token in
 * the form body); `public`, nothing.
 */
export type RouteAuth =
  | { by: 'bearer'; roles: readonly Role[] }
  | { by: 'callback' }
  | { by: 'session'; anonymous: 200 | 401 }
  | { by: 'login' }
  | { by: 'public' };

const ANY_TOKEN: RouteAuth = { by: 'bearer', roles: ['service', 'auditor', 'operator'] };
const SERVICE: RouteAuth = { by: 'bearer', roles: ['service'] };
const READERS: RouteAuth = { by: 'bearer', roles: ['auditor', 'operator'] };
const OPERATOR: RouteAuth = { by: 'bearer', roles: ['operator'] };
const PAGE: RouteAuth = { by: 'session', anonymous: 401 };
const PUBLIC: RouteAuth = { by: 'public' };

/** Keyed by declared route (HEAD is GET's). A route missing here fails the routes suite. */
const ROUTE_AUTH: Readonly<Record<string, RouteAuth>> = {
  'POST /webhooks/parley/{serviceId}': { by: 'callback' },
  'POST /handovers': SERVICE,
  'POST /users/{userId}/messages': SERVICE,
  'GET /users/{userId}/owner': ANY_TOKEN,
  'GET /services': ANY_TOKEN,
  'GET /users/{userId}/handovers': READERS,
  'GET /handovers': READERS,
  'POST /reconcile': READERS,
  'GET /users/{userId}/verify': READERS,
  'GET /verify': READERS,
  'GET /notifications': READERS,
  'POST /notifications/{id}/redeliver': OPERATOR,
  'POST /services/{serviceId}/release': OPERATOR,
  'POST /users/{userId}/lease': SERVICE,
  'GET /offers/{offerId}': ANY_TOKEN,
  'POST /offers/{offerId}/accept': SERVICE,
  'POST /offers/{offerId}/decline': SERVICE,
  'POST /offers/{offerId}/cancel': SERVICE,
  'GET /users/{userId}/offers': ANY_TOKEN,
  // The console's home page is its login form to whoever has no session.
  'GET /console': { by: 'session', anonymous: 200 },
  'GET /console/users/{userId}': PAGE,
  'GET /console/search': PAGE,
  'GET /console/stuck': PAGE,
  'GET /console/static/{file}': PUBLIC,
  'POST /console/login': { by: 'login' },
  'POST /console/logout': PAGE,
  'POST /console/users/{userId}/reconcile': PAGE,
  'POST /console/users/{userId}/release': PAGE,
  'GET /metrics': READERS,
  'GET /metrics/stuck': READERS,
  'POST /checkpoints': OPERATOR,
  'GET /checkpoints/public-key': PUBLIC,
  'POST /users/{userId}/erasure': OPERATOR,
  'GET /users/{userId}/export': OPERATOR,
  'GET /erasures': READERS,
  'GET /erasures/{erasureId}': READERS,
  'POST /erasures/reapply': OPERATOR,
  'POST /erasures/retention': OPERATOR,
  'GET /health': PUBLIC,
  'GET /openapi.json': PUBLIC,
};

/** How `route` authenticates; undefined for a route the table does not name yet. */
export const routeAuth = (route: HttpRoute): RouteAuth | undefined =>
  ROUTE_AUTH[`${route.method === 'HEAD' ? 'GET' : route.method} ${route.path}`];

/** The routes that authenticate `by` this kind. */
export const routesAuthenticatedBy = (...kinds: RouteAuth['by'][]): HttpRoute[] =>
  httpRoutes.filter((r) => {
    const auth = routeAuth(r);
    return auth !== undefined && kinds.includes(auth.by);
  });

/** DESIGN.md's error shape: `{ error: { code: snake_case, message: sentence, ...details } }`. */
export const errorShapeProblem = (res: Response): string | null => {
  const error = res.json?.error;
  if (typeof error !== 'object' || error === null) return 'no error object';
  if (typeof error.code !== 'string' || !/^[a-z][a-z0-9_]*$/.test(error.code)) return 'bad code';
  if (typeof error.message !== 'string' || error.message.length === 0) return 'no message';
  if (/\n\s+at /.test(String(res.body))) return 'stack trace in body';
  return null;
};

// ---------------------------------------------------------------- invariants

/** A user's whole history, oldest first. */
export const historyOf = async (
  history: HistoryStore,
  userId: string,
): Promise<HandoverRecord[]> => {
  const out: HandoverRecord[] = [];
  let cursor: string | undefined;
  do {
    const page = await history.listUser(userId, { limit: 1000, cursor, order: 'asc' });
    out.push(...page.items);
    cursor = page.cursor;
  } while (cursor);
  return out;
};

/** The new owners of the PUT owner calls Parley applied for a user, in order. */
export const appliedChanges = (sim: ParleySimulator, userId: string): string[] =>
  sim
    .log()
    .filter(
      (e) =>
        e.kind === 'request' &&
        e.method === 'PUT' &&
        e.path === `users/${userId}/owner` &&
        (e.status === 200 || e.fault === 'applyThenFail'),
    )
    .map((e) => (e.kind === 'request' ? (e.body as { newOwner: string }).newOwner : ''));

export interface UserAudit {
  userId: string;
  records: HandoverRecord[];
  /** Changes Parley applied through this service with no `completed` record. */
  lost: number;
  /** `completed` records (not `observed`) beyond the changes Parley applied. */
  doubled: number;
  problems: string[];
}

/**
 * Compares one user's owner item, history and Parley's owner: no pending marker, our owner is
 * Parley's, the chain verifies against the owner item's head, the records form one unbroken line
 * of owners, and every change Parley applied through this service has exactly one `completed`
 * record (in the same order).
 */
export const auditUser = async (
  deps: Pick<AppDeps, 'state' | 'history'>,
  sim: ParleySimulator,
  userId: string,
  defaultOwner: string,
): Promise<UserAudit> => {
  const problems: string[] = [];
  const item = await deps.state.getOwner(userId);
  const records = await historyOf(deps.history, userId);
  const parleyOwner = sim.ownerOf(userId);
  if (!item) {
    if (records.length > 0) problems.push('records without an owner item');
  } else {
    if (item.pending) problems.push(`pending marker left (seq ${item.pending.draft.seq})`);
    if (item.owner !== parleyOwner) problems.push(`owner ${item.owner} != Parley ${parleyOwner}`);
    if (item.lastSeq !== records.length) {
      problems.push(`lastSeq ${item.lastSeq} != ${records.length} records`);
    }
    const chain = await verifyUserChain(userId, deps.history, item);
    if (!chain.ok) problems.push(`chain broken: ${JSON.stringify(chain.firstBroken)}`);
  }
  let current = defaultOwner;
  for (const r of records) {
    if (r.fromOwner !== current) problems.push(`seq ${r.seq} from ${r.fromOwner} != ${current}`);
    if (r.status === 'completed') current = r.toOwner;
  }
  const applied = appliedChanges(sim, userId);
  const made = records.filter((r) => r.status === 'completed' && r.source !== 'observed');
  const ours = made.map((r) => r.toOwner);
  let matched = 0;
  while (matched < applied.length && matched < ours.length && applied[matched] === ours[matched]) {
    matched++;
  }
  if (matched !== applied.length || matched !== ours.length) {
    problems.push(`applied ${JSON.stringify(applied)} != recorded ${JSON.stringify(ours)}`);
  }
  return {
    userId,
    records,
    lost: Math.max(0, applied.length - matched),
    doubled: Math.max(0, ours.length - matched),
    problems,
  };
};

// ---------------------------------------------------------------- crash and pause injection

/** What a crashed process leaves: nothing after the injected point runs. */
export class InjectedCrash extends Error {
  constructor(readonly point: string) {
    super(`injected crash ${point}`);
    this.name = 'InjectedCrash';
  }
}

export type CrashPoint = 'after-marker' | 'after-parley' | 'after-record';

/** A one-shot trigger: `crash` throws at the point; `pause` waits there until `release()`. */
export interface Trigger {
  mode: 'crash' | 'pause';
  /** Resolves when the point was reached. */
  reached: Promise<void>;
  release(): void;
  fired(): boolean;
}

export const trigger = (
  mode: 'crash' | 'pause',
): Trigger & { hit(point: string): Promise<void> } => {
  let fired = false;
  let onReached!: () => void;
  let onRelease!: () => void;
  const reached = new Promise<void>((r) => {
    onReached = r;
  });
  const released = new Promise<void>((r) => {
    onRelease = r;
  });
  return {
    mode,
    reached,
    release: () => onRelease(),
    fired: () => fired,
    hit: async (point) => {
      if (fired) return;
      fired = true;
      onReached();
      if (mode === 'crash') throw new InjectedCrash(point);
      await released;
    },
  };
};

/**
 * The deps of one invocation with a one-shot crash or pause at `point`: after the CAS that writes
 * the pending marker, after Parley answered the PUT owner (applied), or after the history record.
 */
export const injectAt = <D extends Pick<HandoverDeps, 'state' | 'history' | 'parley'>>(
  deps: D,
  point: CrashPoint,
  t: ReturnType<typeof trigger>,
): D => {
  const state: StateStore = Object.create(deps.state);
  const history: HistoryStore = Object.create(deps.history);
  let parley: ParleyClients = deps.parley;
  if (point === 'after-marker') {
    state.compareAndSetOwner = async (item, expected) => {
      const won = await deps.state.compareAndSetOwner(item, expected);
      if (won && item.pending) await t.hit(point);
      return won;
    };
  } else if (point === 'after-record') {
    history.append = async (record) => {
      const outcome = await deps.history.append(record);
      if (record.source !== 'observed') await t.hit(point);
      return outcome;
    };
  } else {
    parley = (serviceId) => {
      const client = deps.parley(serviceId);
      const wrapped: ParleyClient = Object.create(client);
      wrapped.setOwner = async (...args) => {
        const done = await client.setOwner(...args);
        await t.hit(point);
        return done;
      };
      return wrapped;
    };
  }
  return { ...deps, state, history, parley };
};

// ---------------------------------------------------------------- output capture

export interface OutputCapture {
  /** Everything printed since the capture started: stdout, stderr and console. */
  text(): string;
  restore(): void;
}

/** Captures process.stdout/stderr writes and console calls (still passing stdout/stderr on). */
export const captureOutput = (): OutputCapture => {
  const chunks: string[] = [];
  const out = process.stdout.write.bind(process.stdout);
  const err = process.stderr.write.bind(process.stderr);
  const hook =
    (write: typeof out) =>
    (chunk: unknown, ...rest: unknown[]): boolean => {
      chunks.push(typeof chunk === 'string' ? chunk : Buffer.from(chunk as Uint8Array).toString());
      return (write as (...a: unknown[]) => boolean)(chunk, ...rest);
    };
  process.stdout.write = hook(out) as typeof process.stdout.write;
  process.stderr.write = hook(err) as typeof process.stderr.write;
  const methods = ['log', 'info', 'warn', 'error', 'debug'] as const;
  const originals = methods.map((m) => console[m]);
  for (const m of methods) {
    const original = console[m];
    console[m] = (...args: unknown[]) => {
      chunks.push(args.map((a) => (typeof a === 'string' ? a : safeJson(a))).join(' '));
      original.apply(console, args);
    };
  }
  return {
    text: () => chunks.join('\n'),
    restore: () => {
      process.stdout.write = out;
      process.stderr.write = err;
      methods.forEach((m, i) => {
        console[m] = originals[i]!;
      });
    },
  };
};

const safeJson = (value: unknown): string => {
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return String(value);
  }
};

// ---------------------------------------------------------------- figures

/** What a suite's row in docs/reliability.md says next to its figures. */
export interface FiguresAbout {
  /** What the suite drives, in a phrase. */
  drives: string;
  /** What its assertions proved, in a sentence built from the counted figures. */
  proved: string;
}

/**
 * One `[figures]` line per suite. In a reliability run the summary reporter names a folder
 * (RELIABILITY_FIGURES_DIR) and the figures are also left there as a JSON fragment, from which it
 * writes docs/reliability.md. Count every figure from what happened (the simulator's log, the
 * downstream programs' logs, the tables, the queue, the answers), never from a loop counter.
 */
export const reportFigures = (
  suite: string,
  figures: Record<string, number | string>,
  about?: FiguresAbout,
): void => {
  const line = Object.entries(figures)
    .map(([k, v]) => `${k}=${v}`)
    .join(' ');
  process.stdout.write(`[figures] ${suite}: ${line}\n`);
  const dir = process.env.RELIABILITY_FIGURES_DIR;
  if (!dir) return;
  const testPath = typeof expect === 'undefined' ? undefined : expect.getState().testPath;
  mkdirSync(dir, { recursive: true });
  writeFileSync(
    join(dir, `${suite.replace(/[^\w.-]/g, '_')}.json`),
    JSON.stringify({ suite, testPath, figures, ...about }),
  );
};

/** The owners set at Parley outside its Service API (changes made elsewhere), from its log. */
export const outsideChanges = (sim: ParleySimulator): { userId: string; owner: string }[] =>
  sim.log().flatMap((e) => (e.kind === 'owner-set' ? [{ userId: e.userId, owner: e.owner }] : []));

// ---------------------------------------------------------------- a downstream program

export interface Forward {
  deliveryId: string;
  body: any;
}

/** A forward as the program logged it, with the status it answered ('hang': no answer). */
export interface Received extends Forward {
  answered: number | 'hang';
}

export interface DownstreamProgram {
  url: string;
  /** The program's own log of what it received and answered, in order. */
  received: Received[];
  close(): Promise<void>;
}

/** The forwards a program answered with a fault: no answer (a timeout) or a 5xx. */
export const faultsAnswered = (program: DownstreamProgram): Received[] =>
  program.received.filter((f) => f.answered === 'hang' || f.answered >= 500);

/**
 * A bot engine or agent desk on a free port. `answer` gets each forward and returns the status
 * and JSON answer, or 'hang' to hold the request open (a downstream that times out).
 */
export const startDownstream = async (
  answer: (forward: Forward, attempt: number) => { status: number; body?: unknown } | 'hang',
): Promise<DownstreamProgram> => {
  const { createServer } = await import('node:http');
  const received: Received[] = [];
  const attempts = new Map<string, number>();
  const server = createServer(async (req, res) => {
    const raw = (await readBody(req, { limit: 1024 * 1024 })).bytes.toString('utf8');
    const deliveryId = String(req.headers['x-handover-delivery'] ?? '');
    let body: unknown;
    try {
      body = JSON.parse(raw);
    } catch {
      body = raw;
    }
    const forward = { deliveryId, body };
    const attempt = (attempts.get(deliveryId) ?? 0) + 1;
    attempts.set(deliveryId, attempt);
    const out = answer(forward, attempt);
    received.push({ ...forward, answered: out === 'hang' ? 'hang' : out.status });
    if (out === 'hang') return;
    res.writeHead(out.status, { 'content-type': 'application/json' });
    res.end(out.body === undefined ? '' : JSON.stringify(out.body));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as import('node:net').AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/program`,
    received,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
};
