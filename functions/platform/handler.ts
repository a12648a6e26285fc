// The one wrapper every HTTP handler goes through: resolve the deps, take the invocation's context
// (request id and cold start on each log line, the ColdStart metric), run, map any error through
// the one mapper, log the request line (route, status, duration; never a body), flush metrics.
import type {
  APIGatewayProxyEventV2,
  APIGatewayProxyStructuredResultV2,
  Context,
} from 'aws-lambda';
import { ForbiddenError, ValidationError } from '../domain/errors';
import { userIdSchema } from '../schemas/api';
import type { Caller } from '../domain/ports';
import type { AppDeps, DepsSource } from './deps';
import { toHttpResponse } from './http';
import type { AppLog } from './logger';
import type { AppMetrics } from './metrics';

export type HttpResult = APIGatewayProxyStructuredResultV2;
export type HttpHandler = (event: APIGatewayProxyEventV2, context?: Context) => Promise<HttpResult>;

/**
 * Every handler's first step once it has its deps. Lambda passes a context; the local runtime and
 * most tests do not, and their lines carry none. The log and metrics may be test doubles.
 */
export const startInvocation = (deps: AppDeps, context: Context | undefined): void => {
  if (!context) return;
  (deps.log as Partial<AppLog>).addContext?.(context);
  (deps.metrics as Partial<AppMetrics>).coldStart?.(context.functionName);
};

export const httpHandler =
  (
    source: DepsSource,
    run: (event: APIGatewayProxyEventV2, deps: AppDeps) => Promise<HttpResult>,
  ): HttpHandler =>
  async (event, context) => {
    const started = Date.now();
    let deps: AppDeps | undefined;
    let result: HttpResult;
    try {
      deps = await source();
      startInvocation(deps, context);
      result = await run(event, deps);
    } catch (err) {
      result = toHttpResponse(err, deps?.log);
    }
    deps?.log.info('request', {
      route: event.routeKey,
      status: result.statusCode,
      durationMs: Date.now() - started,
      requestId: event.requestContext?.requestId,
    });
    flushMetrics(deps);
    return result;
  };

export const flushMetrics = (deps: AppDeps | undefined): void => {
  const sink = deps?.metrics as { flush?: () => void } | undefined;
  sink?.flush?.();
};

/** The authenticated caller of an API route (401 when the token is missing or unknown). */
export const authenticate = (event: APIGatewayProxyEventV2, deps: AppDeps): Promise<Caller> =>
  deps.auth.caller(event.headers?.authorization ?? event.headers?.Authorization);

export const requireService = (caller: Caller): string => {
  if (caller.kind !== 'service') {
    throw new ForbiddenError(
      'This route is for Services, not auditors or operators.',
      'service_required',
    );
  }
  return caller.serviceId;
};

/** An auditor's or an operator's name (an operator may do all an auditor may). */
export const requireAuditor = (caller: Caller): string => {
  if (caller.kind === 'service') {
    throw new ForbiddenError('This route is for auditors and operators.', 'auditor_required');
  }
  return caller.name;
};

/** An operator's name: the routes that act (release, redeliver). */
export const requireOperator = (caller: Caller): string => {
  if (caller.kind !== 'operator') {
    throw new ForbiddenError('This route is for operators.', 'operator_required');
  }
  return caller.name;
};

/** The `{userId}` path parameter, validated. */
export const userIdParam = (event: APIGatewayProxyEventV2): string => {
  const parsed = userIdSchema.safeParse(event.pathParameters?.userId ?? '');
  if (!parsed.success) {
    const problem = parsed.error.issues[0]?.message ?? 'is not valid';
    throw new ValidationError(`The userId in the path ${problem}.`, 'invalid_user_id');
  }
  return parsed.data;
};
