// The HTTP API: every route of functions/contracts/routes.ts on its function (Lambda proxy,
// payload 2.0), one `$default` stage with default throttling, limits of their own for the routes of
// chosen functions (Parley's webhook, health), and JSON access logs. Callers are authenticated in the
// functions (constant-time token lookup that also runs locally), which also enforce the body caps.
import { RemovalPolicy } from 'aws-cdk-lib';
import { AccessLogFormat } from 'aws-cdk-lib/aws-apigateway';
import {
  type CfnStage,
  HttpApi,
  HttpMethod,
  HttpStage,
  LogGroupLogDestination,
} from 'aws-cdk-lib/aws-apigatewayv2';
import { HttpLambdaIntegration } from 'aws-cdk-lib/aws-apigatewayv2-integrations';
import type { IFunction } from 'aws-cdk-lib/aws-lambda';
import { LogGroup, type RetentionDays } from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { type FunctionName, type HttpRoute, routeKey } from '../../functions/contracts/routes';
import { acknowledge } from './nag';

/** The functions whose routes anyone may call (DESIGN.md's route table: "anyone"). */
const PUBLIC_FUNCTIONS: readonly FunctionName[] = ['health', 'openapi'];
/** And one route of a function that checks tokens on its other route: the checkpoints' key. */
const isPublic = (route: HttpRoute): boolean =>
  PUBLIC_FUNCTIONS.includes(route.fn) || route.path === '/checkpoints/public-key';

export interface Throttle {
  rate: number;
  burst: number;
}

export interface HandoverHttpApiProps {
  /** The routes to serve (DESIGN.md's contract). */
  routes: readonly HttpRoute[];
  /** The function behind each route's `fn`. */
  functions: Readonly<Record<FunctionName, IFunction>>;
  /** Throttling of every route without limits of its own: steady requests per second and burst. */
  throttle: Throttle;
  /**
   * Limits of their own for the routes of these functions (each route gets its own bucket).
   * @default - none: every route uses `throttle`
   */
  routeThrottles?: Partial<Readonly<Record<FunctionName, Throttle>>>;
  /** Retention of the access log. */
  logRetention: RetentionDays;
}

/** One access-log line: who, what, the outcome and the timings; no headers, no bodies. */
const ACCESS_LOG_FIELDS = {
  requestId: '$context.requestId',
  requestTime: '$context.requestTime',
  ip: '$context.identity.sourceIp',
  userAgent: '$context.identity.userAgent',
  routeKey: '$context.routeKey',
  path: '$context.path',
  status: '$context.status',
  protocol: '$context.protocol',
  responseLength: '$context.responseLength',
  responseLatency: '$context.responseLatency',
  integrationStatus: '$context.integrationStatus',
  integrationLatency: '$context.integrationLatency',
  integrationError: '$context.integrationErrorMessage',
  errorMessage: '$context.error.message',
};

export class HandoverHttpApi extends Construct {
  public readonly api: HttpApi;
  public readonly stage: HttpStage;
  public readonly accessLogs: LogGroup;
  /** The API's base URL without a trailing slash, e.g. `https://abc.execute-api.../`. */
  public readonly url: string;

  constructor(scope: Construct, id: string, props: HandoverHttpApiProps) {
    super(scope, id);
    this.api = new HttpApi(this, 'Api', {
      description: 'parley-handover: Parley webhooks, handovers, audit',
      createDefaultStage: false,
    });

    this.accessLogs = new LogGroup(this, 'AccessLogs', {
      retention: props.logRetention,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    this.stage = new HttpStage(this, 'DefaultStage', {
      httpApi: this.api,
      stageName: '$default',
      autoDeploy: true,
      throttle: { rateLimit: props.throttle.rate, burstLimit: props.throttle.burst },
      accessLogSettings: {
        destination: new LogGroupLogDestination(this.accessLogs),
        format: AccessLogFormat.custom(JSON.stringify(ACCESS_LOG_FIELDS)),
      },
    });
    this.url = this.api.apiEndpoint;

    // One integration per function, shared by its routes.
    const integrations = new Map<FunctionName, HttpLambdaIntegration>();
    const routeSettings: Record<
      string,
      { ThrottlingRateLimit: number; ThrottlingBurstLimit: number }
    > = {};
    for (const route of props.routes) {
      let integration = integrations.get(route.fn);
      if (!integration) {
        integration = new HttpLambdaIntegration(
          `${route.fn}Integration`,
          props.functions[route.fn],
        );
        integrations.set(route.fn, integration);
      }
      const [created] = this.api.addRoutes({
        path: route.path,
        methods: [HttpMethod[route.method]],
        integration,
      });
      const own = props.routeThrottles?.[route.fn];
      if (own) {
        routeSettings[routeKey(route)] = {
          ThrottlingRateLimit: own.rate,
          ThrottlingBurstLimit: own.burst,
        };
        // Route settings name routes by key: a stage created before them fails to deploy.
        this.stage.node.addDependency(created!);
      }
      acknowledge(created, {
        id: 'AwsSolutions-APIG4',
        reason: isPublic(route)
          ? `${routeKey(route)} is public by design: it answers the same to anyone and reads no ` +
            "data (liveness, the published API description, the checkpoints' public key)."
          : route.fn === 'console'
            ? `${routeKey(route)} authenticates in its function: a session cookie (HttpOnly, ` +
              "Secure, SameSite=Strict) traded at the login form for an auditor's or operator's " +
              'bearer tokens, looked up by sha256 and compared in constant time; the login form, ' +
              'its page and static files need none; every POST checks same-origin and a CSRF token.'
            : `${routeKey(route)} authenticates in its function: bearer tokens looked up by sha256 ` +
              'and compared in constant time against Secrets Manager (the same code runs locally); ' +
              'an authorizer would duplicate it.',
      });
    }
    if (Object.keys(routeSettings).length > 0) {
      (this.stage.node.defaultChild as CfnStage).routeSettings = routeSettings;
    }
  }
}
