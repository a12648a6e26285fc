// The stateless stack: the functions (from functionSpecs), the callback queue, the HTTP API (from
// httpRoutes), the reconcile schedule and the alarms. Grants are wired here, in one table: which
// function uses which table, secret and queue.
import { CfnOutput, Duration, Stack, type StackProps } from 'aws-cdk-lib';
import { Rule, Schedule } from 'aws-cdk-lib/aws-events';
import { LambdaFunction } from 'aws-cdk-lib/aws-events-targets';
import type { IFunction } from 'aws-cdk-lib/aws-lambda';
import type { RetentionDays } from 'aws-cdk-lib/aws-logs';
import type { Construct } from 'constructs';
import {
  type FunctionName,
  type FunctionSpec,
  functionSpecs,
  httpRoutes,
} from '../functions/contracts/routes';
import type { LoadedStage } from './config';
import { OperationalAlarms } from './constructs/alarms';
import { CallbackQueue } from './constructs/callback-queue';
import { HandoverHttpApi } from './constructs/http-api';
import { acknowledge } from './constructs/nag';
import {
  type HistoryAccess,
  ServiceFunction,
  type StateAccess,
} from './constructs/service-function';
import type { HandoverSecrets } from './constructs/secrets';
import type { DefinedTable } from './constructs/tables';
import { outputIdFor } from './data-stack';

/**
 * Callbacks per processor invocation. A callback normally costs one Parley call and one downstream
 * call (well under a second), so five fit the 30 s timeout with a wide margin while amortising the
 * cold path; a batch that still times out is retried whole, and maxReceiveCount (10) keeps one
 * unlucky batch from sending its messages to the DLQ.
 */
export const PROCESSOR_BATCH_SIZE = 5;

/** Which function needs what (least privilege, DESIGN.md). */
interface Needs {
  history?: HistoryAccess;
  /** History indexes it queries: audit ranges (byDay, byDestination), owner at an instant (byTime). */
  historyIndexes?: readonly string[];
  state?: StateAccess;
  /** State indexes it queries: the stale pending markers (byPendingSince), reconcile only. */
  stateIndexes?: readonly string[];
  serviceSecrets?: boolean;
  /** Each Service's callback-token secret (the webhook's and nothing else). */
  callbackTokenSecrets?: boolean;
  auditorsSecret?: boolean;
  queue?: 'send' | 'consume';
}

export const FUNCTION_NEEDS: Readonly<Record<FunctionName, Needs>> = {
  // Authenticates Parley with callback tokens only (internet-facing: no Parley secret) and
  // enqueues: no table, no Parley call.
  inbound: { callbackTokenSecrets: true, queue: 'send' },
  // Owner check, rules, forwards, handovers (records and observed drift).
  processor: { history: 'append', state: 'deliver', serviceSecrets: true, queue: 'consume' },
  handover: { history: 'append', state: 'write', serviceSecrets: true, auditorsSecret: true },
  // The owner check may refresh from Parley and record observed drift.
  messages: { history: 'append', state: 'write', serviceSecrets: true, auditorsSecret: true },
  owner: {
    history: 'append',
    historyIndexes: ['byTime'],
    state: 'write',
    serviceSecrets: true,
    auditorsSecret: true,
  },
  services: { serviceSecrets: true, auditorsSecret: true },
  audit: {
    history: 'read',
    historyIndexes: ['byDay', 'byDestination'],
    serviceSecrets: true,
    auditorsSecret: true,
  },
  reconcile: {
    history: 'append',
    state: 'write',
    stateIndexes: ['byPendingSince'],
    serviceSecrets: true,
    auditorsSecret: true,
  },
  // Reads only: a user's records (table, no index), owner items (GetItem, and Scan to list users).
  verify: { history: 'walk', state: 'list', serviceSecrets: true, auditorsSecret: true },
  health: {},
  openapi: {},
};

export interface ApiStackProps extends StackProps {
  stage: LoadedStage;
  history: DefinedTable;
  state: DefinedTable;
  secrets: HandoverSecrets;
  /**
   * Folder of the handler entry files.
   * @default functions/handlers in this repository
   */
  handlersDir?: string;
}

export class ApiStack extends Stack {
  public readonly functions: Readonly<Record<FunctionName, ServiceFunction>>;
  public readonly queue: CallbackQueue;
  public readonly http: HandoverHttpApi;
  public readonly alarms: OperationalAlarms;
  public readonly schedule: Rule;

  constructor(scope: Construct, id: string, props: ApiStackProps) {
    super(scope, id, props);
    const { config, configJson, infra } = props.stage;
    const logRetention = infra.logRetentionDays as RetentionDays;

    this.queue = new CallbackQueue(this, 'Callbacks');

    const functions = {} as Record<FunctionName, ServiceFunction>;
    for (const [name, spec] of Object.entries(functionSpecs) as [FunctionName, FunctionSpec][]) {
      const fn = new ServiceFunction(this, `${name[0]!.toUpperCase()}${name.slice(1)}`, {
        name,
        spec,
        configJson,
        logRetention,
        tracing: infra.tracing,
        handlersDir: props.handlersDir,
      });
      const needs = FUNCTION_NEEDS[name];
      if (needs.history) fn.useHistoryTable(props.history, needs.history, needs.historyIndexes);
      if (needs.state) fn.useStateTable(props.state, needs.state, needs.stateIndexes);
      if (needs.serviceSecrets) fn.useServiceSecrets(props.secrets.services);
      if (needs.callbackTokenSecrets) fn.useCallbackTokenSecrets(props.secrets.callbackTokens);
      if (needs.auditorsSecret) fn.useAuditorsSecret(props.secrets.auditors);
      if (needs.queue === 'send') fn.useQueue(this.queue.queue, 'send');
      if (needs.queue === 'consume') {
        fn.useQueue(this.queue.queue, 'consume', { batchSize: PROCESSOR_BATCH_SIZE });
      }
      functions[name] = fn;
    }
    this.functions = functions;
    const lambdas = Object.fromEntries(
      Object.entries(functions).map(([name, fn]) => [name, fn.function]),
    ) as unknown as Record<FunctionName, IFunction>;

    this.http = new HandoverHttpApi(this, 'Http', {
      routes: httpRoutes,
      functions: lambdas,
      throttle: infra.apiThrottle,
      routeThrottles: { inbound: infra.webhookThrottle, health: infra.healthThrottle },
      logRetention,
    });

    // The same reconcile code as POST /reconcile, every five minutes.
    this.schedule = new Rule(this, 'ReconcileSchedule', {
      description: 'Recover stale pending handovers',
      schedule: Schedule.rate(Duration.minutes(5)),
      targets: [new LambdaFunction(lambdas.reconcile, { retryAttempts: 0 })],
    });

    this.alarms = new OperationalAlarms(this, 'Alarms', {
      functions: lambdas,
      deadLetterQueue: this.queue.deadLetterQueue,
      httpApi: this.http.api,
      staleAfterSeconds: config.staleAfterSeconds,
      alarmEmail: infra.alarmEmail,
    });

    acknowledge(this, {
      id: 'AwsSolutions-L1',
      reason:
        'Node.js 22 is the runtime the functions, their tests and the local runtime target; moving ' +
        'to a newer runtime is a deliberate, tested change rather than a synth-time default.',
    });

    new CfnOutput(this, 'ApiUrl', { value: this.http.url });
    for (const service of config.services) {
      new CfnOutput(this, outputIdFor('WebhookUrl', service.name), {
        description: `Parley callback URL of the Service "${service.name}"`,
        value: `${this.http.url}/webhooks/parley/${service.identification}`,
      });
    }
    // The log group to watch after a deploy (its name is generated): npm run deploy prints it.
    new CfnOutput(this, 'ProcessorLogGroupName', {
      value: this.functions.processor.logGroup.logGroupName,
    });
    new CfnOutput(this, 'CallbackQueueUrl', { value: this.queue.queue.queueUrl });
    new CfnOutput(this, 'DeadLetterQueueArn', { value: this.queue.deadLetterQueue.queueArn });
    new CfnOutput(this, 'DeadLetterQueueUrl', { value: this.queue.deadLetterQueue.queueUrl });
  }
}
