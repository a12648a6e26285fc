// The stateless stack: the functions (from functionSpecs), the callback and notify queues, the
// HTTP API (from httpRoutes), the reconcile, outbox relay and timers' sweep schedules and the
// alarms. Grants are wired here, in one table: which function uses which table, secret and queue.
import { CfnOutput, Duration, Stack, type StackProps } from 'aws-cdk-lib';
import { Rule, Schedule } from 'aws-cdk-lib/aws-events';
import { LambdaFunction } from 'aws-cdk-lib/aws-events-targets';
import { PolicyStatement } from 'aws-cdk-lib/aws-iam';
import type { IFunction } from 'aws-cdk-lib/aws-lambda';
import type { RetentionDays } from 'aws-cdk-lib/aws-logs';
import type { Construct } from 'constructs';
import {
  type FunctionName,
  type FunctionSpec,
  functionSpecs,
  httpRoutes,
} from '../functions/contracts/routes';
import { ENV } from '../functions/schemas/config';
import type { LoadedStage } from './config';
import { OperationalAlarms } from './constructs/alarms';
import { Erasure } from './constructs/erasure';
import type { CheckpointAccess, Checkpoints } from './constructs/checkpoints';
import { MetricsSchedules } from './constructs/metrics-schedules';
import { CallbackQueue } from './constructs/callback-queue';
import { HandoverHttpApi } from './constructs/http-api';
import { acknowledge } from './constructs/nag';
import { NOTIFY_SPARE_RECEIVES, NotifyQueue, notifyAttempts } from './constructs/notify-queue';
import {
  type HistoryAccess,
  type QueueAccess,
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

/** Seconds of the notifier's timeout kept for the item reads and writes around its POSTs. */
const NOTIFIER_MARGIN_SECONDS = 5;

/**
 * Notifications per notifier invocation. A FIFO batch is sent one record after another and each
 * POST may wait a whole downstream timeout, so a batch holds as many as fit the notifier's timeout
 * less a margin (2 at the defaults, 30 s and 10 s; at most 10, SQS FIFO's limit): a batch that
 * timed out would spend a receive of each record without an attempt.
 */
export const notifierBatchSize = (downstreamTimeoutMs: number): number => {
  const budgetMs = (functionSpecs.notifier.timeoutSeconds - NOTIFIER_MARGIN_SECONDS) * 1000;
  return Math.min(10, Math.max(1, Math.floor(budgetMs / downstreamTimeoutMs)));
};

/**
 * The notify queue's visibility timeout, which only a crashed or timed-out attempt waits (the
 * notifier sets each retry's wait itself): six times the notifier's timeout, as Lambda advises for
 * a queue event source, so that a throttled batch is not received twice (each receive counts
 * towards the DLQ).
 */
export const NOTIFY_VISIBILITY_TIMEOUT_SECONDS = 6 * functionSpecs.notifier.timeoutSeconds;

/** Which function needs what (least privilege, DESIGN.md). */
interface Needs {
  history?: HistoryAccess;
  /** History indexes it queries: audit ranges (byDay, byDestination), owner at an instant (byTime). */
  historyIndexes?: readonly string[];
  state?: StateAccess;
  /**
   * State indexes it queries: the stale pending markers (byPendingSince, reconcile), the outbox by
   * status (byNotificationStatus, notifier and notifications), a Service's users (byOwner, release),
   * the owner items with a timer due (byDue, sweep).
   */
  stateIndexes?: readonly string[];
  serviceSecrets?: boolean;
  /** Each Service's callback-token secret (the webhook's and nothing else). */
  callbackTokenSecrets?: boolean;
  auditorsSecret?: boolean;
  queue?: QueueAccess;
  /**
   * The notify queue: `send` where records cause notifications (their outbox items are state
   * puts), `consume` for the notifier.
   */
  notifyQueue?: readonly QueueAccess[];
  /** The signed checkpoints: `sign` makes them (the key's only signer), `read` verifies them. */
  checkpoints?: CheckpointAccess;
  /**
   * The subject key (the erasure key secret): names users by subjectRef = HMAC(key, userId) in
   * the checkpoints' heads and notes and in tombstones. Only where a user must be named so.
   */
  subjectKey?: boolean;
  /** Both dead-letter queues' URLs and GetQueueAttributes on them (their depths, nothing more). */
  deadLetterDepths?: boolean;
}

export const FUNCTION_NEEDS: Readonly<Record<FunctionName, Needs>> = {
  // Authenticates Parley with callback tokens only (internet-facing: no Parley secret) and
  // enqueues: no table, no Parley call.
  inbound: { callbackTokenSecrets: true, queue: 'send' },
  // Owner check, rules, forwards, handovers (records and observed drift), failover (circuit
  // items), delivery leases (UpdateItem).
  processor: {
    history: 'append',
    state: 'deliver',
    serviceSecrets: true,
    queue: 'consume',
    notifyQueue: ['send'],
  },
  handover: {
    history: 'append',
    state: 'write',
    serviceSecrets: true,
    auditorsSecret: true,
    notifyQueue: ['send'],
  },
  // The owner check may refresh from Parley and record observed drift.
  messages: {
    history: 'append',
    state: 'write',
    serviceSecrets: true,
    auditorsSecret: true,
    notifyQueue: ['send'],
  },
  owner: {
    history: 'append',
    historyIndexes: ['byTime'],
    state: 'write',
    serviceSecrets: true,
    auditorsSecret: true,
    notifyQueue: ['send'],
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
    notifyQueue: ['send'],
  },
  // Reads only: a user's records (table, no index), owner items (GetItem, and Scan to list users),
  // the user's newest checkpoint (bucket reads, the key's public half; the subject key names the
  // user there).
  verify: {
    history: 'walk',
    state: 'list',
    serviceSecrets: true,
    auditorsSecret: true,
    checkpoints: 'read',
    subjectKey: true,
  },
  // Lists the window's records (byDay), signs (the key's only signer) and writes the checkpoints,
  // each head named by the subject key; operators start it too (their tokens are told from the
  // Services' by reading both), and anyone reads the public key.
  checkpoint: {
    history: 'ranges',
    historyIndexes: ['byDay'],
    serviceSecrets: true,
    auditorsSecret: true,
    checkpoints: 'sign',
    subjectKey: true,
  },
  health: {},
  openapi: {},
  // Sends the outbox (items read, then set by compare-and-set puts), signed with each Service's
  // signing secret; as the relay (every minute) it finds pending items by status and queues them.
  notifier: {
    state: 'write',
    stateIndexes: ['byNotificationStatus'],
    serviceSecrets: true,
    notifyQueue: ['consume', 'send'],
  },
  // Lists the outbox for auditors; an operator's redeliver sets an item back and queues it.
  notifications: {
    state: 'write',
    stateIndexes: ['byNotificationStatus'],
    serviceSecrets: true,
    auditorsSecret: true,
    notifyQueue: ['send'],
  },
  // An operator hands a Service's users (found by byOwner) to the default Service, as handovers.
  release: {
    history: 'append',
    state: 'write',
    stateIndexes: ['byOwner'],
    serviceSecrets: true,
    auditorsSecret: true,
    notifyQueue: ['send'],
  },
  // The owner extends its lease: the owner item only (no record, no notification).
  lease: { state: 'write', serviceSecrets: true, auditorsSecret: true },
  // Offer records and their notifications; accepting one is a handover (Parley PUT owner with the
  // offerer's credentials); auditors may read an offer.
  offers: {
    history: 'append',
    state: 'write',
    serviceSecrets: true,
    auditorsSecret: true,
    notifyQueue: ['send'],
  },
  // The operations console: sessions and failed-login counters (state puts), owner items and a
  // Service's users (byOwner), stale markers (byPendingSince), the outbox (byNotificationStatus),
  // history ranges (byDay, byDestination) and owner at an instant (byTime); an operator's release
  // or reconcile is a handover (a record, Parley with the owner's credentials, notifications).
  // The metrics' use cases (rollups, the day's inbound notes by byInbound, leased items by byDue)
  // and verify's (the user's newest checkpoint: bucket reads, the key's public half, the subject
  // key).
  console: {
    history: 'append',
    historyIndexes: ['byDay', 'byDestination', 'byTime'],
    state: 'write',
    stateIndexes: ['byOwner', 'byPendingSince', 'byNotificationStatus', 'byInbound', 'byDue'],
    serviceSecrets: true,
    auditorsSecret: true,
    notifyQueue: ['send'],
    checkpoints: 'read',
    subjectKey: true,
    // The overview's dead-letter depths.
    deadLetterDepths: true,
  },
  // Ownership metrics (reads and its own items): history ranges (byDay), the rollups and notes
  // (state puts), the day's inbound notes (byInbound), the leased owner items (byDue); the
  // Services' roles and default from Parley (the catalog).
  metrics: {
    history: 'ranges',
    historyIndexes: ['byDay'],
    state: 'write',
    stateIndexes: ['byInbound', 'byDue'],
    serviceSecrets: true,
    auditorsSecret: true,
  },
  // Every minute: the owner items due (byDue), claimed by compare-and-set; an expiry is a handover
  // made as the owner (its Parley credentials), with its record and notifications. Nobody calls it.
  sweep: {
    history: 'append',
    state: 'write',
    stateIndexes: ['byDue'],
    serviceSecrets: true,
    notifyQueue: ['send'],
  },
  // Erasure requests and the register: a user's records and outbox items read by key, register
  // and work-list puts, the register listed (a scan); an erased chain checked against its
  // tombstone's checkpoint (found by the tombstone's subjectRef: no key). Never an update or
  // delete of a history item.
  erasure: {
    history: 'read',
    state: 'register',
    serviceSecrets: true,
    auditorsSecret: true,
    checkpoints: 'read',
  },
  // The eraser: the only UpdateItem/DeleteItem on the history (metadata removed, records moved),
  // owner, idempotency, delivery and outbox items deleted (a scan finds them), the day index for
  // retention, the user's newest checkpoint for the tombstone; operators' exports. The subject
  // key names erased subjects (lib/constructs/erasure.ts).
  eraser: {
    history: 'erase',
    historyIndexes: ['byDay'],
    state: 'erase',
    serviceSecrets: true,
    auditorsSecret: true,
    checkpoints: 'read',
    subjectKey: true,
  },
};

export interface ApiStackProps extends StackProps {
  stage: LoadedStage;
  history: DefinedTable;
  state: DefinedTable;
  secrets: HandoverSecrets;
  /** The signed checkpoints' key and bucket (the data stack's). */
  checkpoints: Checkpoints;
  /**
   * Folder of the handler entry files.
   * @default functions/handlers in this repository
   */
  handlersDir?: string;
}

export class ApiStack extends Stack {
  public readonly functions: Readonly<Record<FunctionName, ServiceFunction>>;
  public readonly queue: CallbackQueue;
  public readonly notifyQueue: NotifyQueue;
  public readonly http: HandoverHttpApi;
  public readonly alarms: OperationalAlarms;
  public readonly schedule: Rule;
  public readonly relaySchedule: Rule;
  public readonly sweepSchedule: Rule;
  public readonly metricsSchedules: MetricsSchedules;
  public readonly checkpointSchedule: Rule;
  /** The subject key (the erasure key secret) and the eraser's schedules. */
  public readonly erasure: Erasure;

  constructor(scope: Construct, id: string, props: ApiStackProps) {
    super(scope, id, props);
    const { config, configJson, infra } = props.stage;
    const logRetention = infra.logRetentionDays as RetentionDays;

    this.queue = new CallbackQueue(this, 'Callbacks');
    this.notifyQueue = new NotifyQueue(this, 'Notify', {
      visibilityTimeout: Duration.seconds(NOTIFY_VISIBILITY_TIMEOUT_SECONDS),
      maxReceiveCount: notifyAttempts(config.notifyRetrySeconds) + NOTIFY_SPARE_RECEIVES,
    });

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
      if (needs.checkpoints) props.checkpoints.grantTo(fn, needs.checkpoints);
      if (needs.queue === 'send') fn.useQueue(this.queue.queue, 'send');
      if (needs.queue === 'consume') {
        fn.useQueue(this.queue.queue, 'consume', { batchSize: PROCESSOR_BATCH_SIZE });
      }
      for (const access of needs.notifyQueue ?? []) {
        if (access === 'send') fn.useNotifyQueue(this.notifyQueue.queue, 'send');
        else {
          fn.useNotifyQueue(this.notifyQueue.queue, 'consume', {
            batchSize: notifierBatchSize(config.downstreamTimeoutMs),
          });
        }
      }
      if (needs.deadLetterDepths) {
        const dlqs = [
          [ENV.deadLetterQueueUrl, this.queue.deadLetterQueue],
          [ENV.notifyDeadLetterQueueUrl, this.notifyQueue.deadLetterQueue],
        ] as const;
        for (const [variable, dlq] of dlqs) fn.function.addEnvironment(variable, dlq.queueUrl);
        fn.role.addToPrincipalPolicy(
          new PolicyStatement({
            actions: ['sqs:GetQueueAttributes'],
            resources: dlqs.map(([, dlq]) => dlq.queueArn),
          }),
        );
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

    // The outbox relay: the notifier queues again what a writer left pending, every minute. The
    // next run does the same work, so a failed run is not retried: it is dropped and counted
    // (AsyncEventsDropped, alarmed), as is a run that could not start within the minute.
    this.relaySchedule = new Rule(this, 'NotifyRelaySchedule', {
      description: 'Queue notifications left pending in the outbox again',
      schedule: Schedule.rate(Duration.minutes(1)),
      targets: [new LambdaFunction(lambdas.notifier, { retryAttempts: 0 })],
    });
    functions.notifier.function.configureAsyncInvoke({
      retryAttempts: 0,
      maxEventAge: Duration.minutes(1),
    });

    // The timers' sweep, every minute, on the same terms: a run that dies loses nothing (an item
    // leaves byDue only by a write that acted on it), so the next run does the same work.
    this.sweepSchedule = new Rule(this, 'SweepSchedule', {
      description: 'Lease warnings and expiries, offer expiries',
      schedule: Schedule.rate(Duration.minutes(1)),
      targets: [new LambdaFunction(lambdas.sweep, { retryAttempts: 0 })],
    });
    functions.sweep.function.configureAsyncInvoke({
      retryAttempts: 0,
      maxEventAge: Duration.minutes(1),
    });

    // Signed checkpoints on the stage's interval. A failed run is not retried: the next one does
    // the same work (it chains to whatever is stored).
    this.checkpointSchedule = new Rule(this, 'CheckpointSchedule', {
      description: 'Sign and store a checkpoint of the chain heads changed since the last one',
      schedule: Schedule.rate(Duration.minutes(config.checkpoints.intervalMinutes)),
      targets: [new LambdaFunction(lambdas.checkpoint, { retryAttempts: 0 })],
    });
    functions.checkpoint.function.configureAsyncInvoke({
      retryAttempts: 0,
      maxEventAge: Duration.minutes(Math.min(config.checkpoints.intervalMinutes, 360)),
    });

    // The subject key and the eraser's minute and daily schedules; the key read by exactly the
    // functions that name users by it.
    this.erasure = new Erasure(this, 'Erasures', { eraser: functions.eraser });
    for (const [name, fn] of Object.entries(functions) as [FunctionName, ServiceFunction][]) {
      if (FUNCTION_NEEDS[name].subjectKey) this.erasure.grantKeyRead(fn);
    }

    // The metrics' nightly rollup and the stuck-owner gauge.
    this.metricsSchedules = new MetricsSchedules(this, 'MetricsSchedules', {
      function: lambdas.metrics,
    });

    this.alarms = new OperationalAlarms(this, 'Alarms', {
      functions: lambdas,
      deadLetterQueue: this.queue.deadLetterQueue,
      notifyDeadLetterQueue: this.notifyQueue.deadLetterQueue,
      relay: { function: lambdas.notifier, rule: this.relaySchedule },
      sweep: { function: lambdas.sweep, rule: this.sweepSchedule },
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
    new CfnOutput(this, 'NotifyDeadLetterQueueArn', {
      value: this.notifyQueue.deadLetterQueue.queueArn,
    });
    new CfnOutput(this, 'NotifyDeadLetterQueueUrl', {
      value: this.notifyQueue.deadLetterQueue.queueUrl,
    });
  }
}
