// The HTTP API: every route of functions/platform/routes.ts on its function (Lambda proxy,
// payload 2.0), one `$default` stage with stage-wide throttling and JSON access logs. Callers are
// authenticated in the functions (constant-time token lookup that also runs locally), which also
// enforce the 256 KB body cap.
import { RemovalPolicy } from 'aws-cdk-lib';
import { AccessLogFormat } from 'aws-cdk-lib/aws-apigateway';
import {
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

export interface HandoverHttpApiProps {
  /** The routes to serve (DESIGN.md's contract). */
  routes: readonly HttpRoute[];
  /** The function behind each route's `fn`. */
  functions: Readonly<Record<FunctionName, IFunction>>;
  /** Stage-wide throttling: steady requests per second and burst. */
  throttle: { rate: number; burst: number };
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
      acknowledge(created, {
        id: 'AwsSolutions-APIG4',
        reason:
          `${routeKey(route)} authenticates in its function: bearer tokens looked up by sha256 and ` +
          'compared in constant time against Secrets Manager (the same code runs locally); ' +
          (route.fn === 'health'
            ? 'health is public by design.'
            : 'an authorizer would duplicate it.'),
      });
    }
  }
}
