// The console, one request at a time: static files; then the session (cookie -> item, idle and
// absolute expiry); every POST checked for same-origin and a form body, then login, or (with a
// session) the CSRF token before logout and the actions; pages for a session, the login form
// without one. Answers are HTML (CSV for a search download); errors are pages, never a trace.
import { AppError, UnauthorizedError } from '../domain/errors';
import type { Caller } from '../domain/ports';
import { userIdSchema } from '../schemas/api';
import { consoleAction } from './actions';
import type { ConsoleDeps, ConsoleRequest, ConsoleResponse, Viewer } from './deps';
import { htmlResponse, problemPage, redirect, SECURITY_HEADERS } from './layout';
import { loginPage, safeNext } from './pages/login';
import { overviewPage } from './pages/overview';
import { searchCsv, searchPage } from './pages/search';
import { stuckPage } from './pages/stuck';
import { userPage } from './pages/user';
import {
  type ConsoleSession,
  csrfMatches,
  csrfTokenOf,
  ended,
  isLive,
  isSameOrigin,
  loginRefusal,
  loginSourceKey,
  newSessionId,
  sessionCookie,
  sessionIdFrom,
  sessionKeyOf,
  startSession,
  touched,
  withFailure,
} from './session';
import { assetNamed } from './static/assets';

const staticFile = (file: string | undefined): ConsoleResponse => {
  const asset = file ? assetNamed(file) : undefined;
  if (!asset) return problemPage(404, 'Not found', 'No such file.', null);
  return {
    status: 200,
    headers: {
      'Content-Type': asset.contentType,
      // The name changes with the content: cache it for a year.
      'Cache-Control': 'public, max-age=31536000, immutable',
      ...SECURITY_HEADERS,
    },
    body: asset.body.toString('utf8'),
  };
};

const liveSession = async (
  deps: ConsoleDeps,
  sessionId: string,
  now: number,
): Promise<ConsoleSession | null> => {
  const session = await deps.store.getSession(sessionKeyOf(sessionId));
  if (!session || !isLive(session, now)) return null;
  const seen = touched(session, now);
  // Losing this race (another tab touched it, or a logout ended it) changes nothing here.
  if (seen && (await deps.store.putSession(seen, session.version))) return seen;
  return session;
};

/** One more failure for this source, as a compare-and-set (a few tries when requests race). */
const recordFailure = async (deps: ConsoleDeps, source: string, now: number): Promise<void> => {
  for (let attempt = 0; attempt < 3; attempt++) {
    const seen = await deps.store.getLoginFailures(source, now);
    if (
      await deps.store.putLoginFailures(source, withFailure(seen.failures, now), seen.version, now)
    ) {
      return;
    }
  }
  deps.log.warn('console login failure not counted', { reason: 'contention' });
};

const login = async (
  form: URLSearchParams,
  req: ConsoleRequest,
  deps: ConsoleDeps,
  now: number,
): Promise<ConsoleResponse> => {
  const next = form.get('next') ?? undefined;
  const source = loginSourceKey(req.sourceIp);
  const refusal = loginRefusal((await deps.store.getLoginFailures(source, now)).failures, now);
  if (refusal) {
    deps.log.warn('console login refused', { reason: 'too_many_failures' });
    return htmlResponse(
      429,
      loginPage({
        next,
        problem: `Too many failed logins from your address in the last minute: wait ${refusal.retryAfterSeconds} s and try again.`,
      }),
      { headers: { 'Retry-After': String(refusal.retryAfterSeconds) } },
    );
  }
  const token = (form.get('token') ?? '').trim();
  if (token === '') return htmlResponse(400, loginPage({ next, problem: 'Enter your token.' }));
  let caller: Caller | null = null;
  try {
    caller = await deps.callerOf(token);
  } catch (err) {
    if (!(err instanceof UnauthorizedError)) throw err;
  }
  if (!caller || caller.kind === 'service') {
    await recordFailure(deps, source, now);
    deps.log.warn('console login failed', { reason: 'unknown_token' });
    return htmlResponse(
      401,
      loginPage({ next, problem: "That is not an auditor's or an operator's token." }),
    );
  }
  const sessionId = (deps.newSessionId ?? newSessionId)();
  const session = startSession(sessionId, { name: caller.name, role: caller.kind }, now);
  if (!(await deps.store.putSession(session, 0))) throw new Error('A new session id was taken.');
  deps.log.info('console login', { name: caller.name, role: caller.kind });
  return redirect(safeNext(next), [sessionCookie(sessionId)]);
};

const isForm = (req: ConsoleRequest): boolean =>
  (req.header('content-type') ?? '').split(';')[0]!.trim().toLowerCase() ===
  'application/x-www-form-urlencoded';

const post = async (
  req: ConsoleRequest,
  deps: ConsoleDeps,
  sessionId: string | undefined,
  session: ConsoleSession | null,
  viewer: Viewer | null,
  now: number,
): Promise<ConsoleResponse> => {
  const origin = {
    secFetchSite: req.header('sec-fetch-site'),
    origin: req.header('origin'),
    host: req.header('host'),
    proto: req.header('x-forwarded-proto'),
  };
  if (!isSameOrigin(origin)) {
    deps.log.warn('console post refused', { reason: 'cross_origin', route: req.route });
    return problemPage(
      403,
      'Refused',
      'This form was not sent from a page of this console. Nothing was done.',
      viewer,
    );
  }
  if (!isForm(req)) {
    return problemPage(
      415,
      'Refused',
      'Console forms are sent as application/x-www-form-urlencoded.',
      viewer,
    );
  }
  const form = new URLSearchParams(req.body);
  if (req.route === '/console/login') return login(form, req, deps, now);
  if (!session || !sessionId || !viewer) {
    return htmlResponse(
      401,
      loginPage({ problem: 'Your session has ended: log in again. Nothing was done.' }),
    );
  }
  if (!csrfMatches(sessionId, form.get('csrf') ?? undefined)) {
    deps.log.warn('console post refused', { reason: 'csrf', route: req.route });
    return problemPage(
      403,
      'Refused',
      "The form's token does not match your session: reload the page and try again. Nothing was done.",
      viewer,
    );
  }
  if (req.route === '/console/logout') {
    await deps.store.putSession(ended(session, now), session.version);
    deps.log.info('console logout', { name: session.name });
    return redirect('/console', [sessionCookie(null)]);
  }
  return consoleAction(req, form, viewer, deps);
};

const route = async (req: ConsoleRequest, deps: ConsoleDeps): Promise<ConsoleResponse> => {
  if (req.route === '/console/static/{file}') return staticFile(req.params.file);
  const now = deps.clock.now();
  const sessionId = sessionIdFrom(req.cookies);
  const session = sessionId ? await liveSession(deps, sessionId, now) : null;
  const viewer: Viewer | null =
    session && sessionId
      ? { name: session.name, role: session.role, csrf: csrfTokenOf(sessionId) }
      : null;
  if (req.method === 'POST') return post(req, deps, sessionId, session, viewer, now);
  if (!viewer) {
    const status = req.route === '/console' ? 200 : 401;
    return htmlResponse(status, loginPage({ next: req.path }));
  }
  switch (req.route) {
    case '/console':
      return htmlResponse(200, await overviewPage(deps, viewer));
    case '/console/stuck':
      return htmlResponse(200, await stuckPage(deps, viewer));
    case '/console/search': {
      if (req.query.format !== 'csv') {
        const { status, body } = await searchPage(deps, viewer, req);
        return htmlResponse(status, body);
      }
      const csv = await searchCsv(deps, req);
      return typeof csv === 'string' ? problemPage(400, 'Bad search', csv, viewer) : csv;
    }
    case '/console/users/{userId}': {
      const parsed = userIdSchema.safeParse(req.params.userId ?? '');
      if (!parsed.success) {
        const problem = parsed.error.issues[0]?.message ?? 'is not valid';
        return problemPage(400, 'Bad user id', `The user id in the path ${problem}.`, viewer);
      }
      const { status, body } = await userPage(deps, viewer, req, parsed.data);
      return htmlResponse(status, body);
    }
    default:
      return problemPage(404, 'Not found', 'No console page here.', viewer);
  }
};

const TITLES: Readonly<Record<number, string>> = {
  400: 'Bad request',
  403: 'Not allowed',
  404: 'Not found',
  409: 'Conflict',
  502: 'Parley refused',
  503: 'Unavailable',
  504: 'Parley did not answer',
};

export const handleConsole = async (
  req: ConsoleRequest,
  deps: ConsoleDeps,
): Promise<ConsoleResponse> => {
  try {
    return await route(req, deps);
  } catch (err) {
    if (err instanceof AppError) {
      const headers: Record<string, string> =
        err.retryAfterSeconds !== undefined
          ? { 'Retry-After': String(Math.ceil(err.retryAfterSeconds)) }
          : {};
      return problemPage(err.httpStatus, TITLES[err.httpStatus] ?? 'Refused', err.message, null, {
        headers,
      });
    }
    deps.log.error('console: unexpected error', {
      route: req.route,
      errorName: err instanceof Error ? err.name : typeof err,
    });
    return problemPage(
      500,
      'Something went wrong',
      'An internal error stopped this request. Try again; the logs name the error.',
      null,
    );
  }
};
