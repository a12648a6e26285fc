// One Lambda function of the service, with the defaults held once: NodejsFunction bundled locally
// by esbuild (no Docker), Node.js 22 on arm64, minified with source maps, its own log group with
// retention, and a role that starts empty. The `use*` helpers set an environment variable and the
// exact permission it needs together, so a function never gets a name without its grant or the
// reverse.
import * as path from 'node:path';
import { Duration, RemovalPolicy, Stack, Token } from 'aws-cdk-lib';
import { type IRole, PolicyStatement, Role, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import { Architecture, Runtime, Tracing } from 'aws-cdk-lib/aws-lambda';
import { SqsEventSource } from 'aws-cdk-lib/aws-lambda-event-sources';
import {
  LogLevel,
  NodejsFunction,
  type NodejsFunctionProps,
  OutputFormat,
} from 'aws-cdk-lib/aws-lambda-nodejs';
import { LogGroup, type RetentionDays } from 'aws-cdk-lib/aws-logs';
import type { ISecret } from 'aws-cdk-lib/aws-secretsmanager';
import type { IQueue } from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import type { FunctionName, FunctionSpec } from '../../functions/contracts/routes';
import { ENV } from '../../functions/schemas/config';
import { LAMBDA_ENV_LIMIT_BYTES, REPO_ROOT } from '../config';
import type { DefinedTable } from './tables';
import { acknowledge } from './nag';

/** Where the handler entry files live. */
export const HANDLERS_DIR = path.join(REPO_ROOT, 'functions', 'handlers');

/** CloudWatch namespace and service name of the metrics the functions emit (EMF, Powertools). */
export const METRICS_NAMESPACE = 'ParleyHandover';
export const METRICS_SERVICE = 'parley-handover';

/**
 * History access: `read` = Query (audit lists); `append` = GetItem + Query + PutItem (never
 * Update/Delete); `walk` = GetItem + Query (verify); `ranges` = nothing on the table itself, only
 * the named indexes (the metrics read time ranges); `erase` = append + UpdateItem + DeleteItem,
 * the eraser's alone. Indexes are granted by name, to those that query them.
 */
export type HistoryAccess = 'append' | 'read' | 'walk' | 'ranges' | 'erase';
/**
 * State access: `write` = GetItem + PutItem (owner items, idempotency, markers, circuit and outbox
 * items: conditional puts, compare-and-set included); `deliver` = write + UpdateItem (the
 * processor's delivery leases); `list` = GetItem + Scan only; `register` = write + Scan (the
 * erasure register); `erase` = register + DeleteItem (the eraser).
 */
export type StateAccess = 'write' | 'deliver' | 'list' | 'register' | 'erase';
/** Queue access: `send` (the inbound function, every notifying function) or `consume`. */
export type QueueAccess = 'send' | 'consume';

export const HISTORY_ACTIONS: Record<HistoryAccess, readonly string[]> = {
  read: ['dynamodb:Query'],
  append: ['dynamodb:PutItem', 'dynamodb:GetItem', 'dynamodb:Query'],
  walk: ['dynamodb:GetItem', 'dynamodb:Query'],
  ranges: [],
  erase: [
    'dynamodb:PutItem',
    'dynamodb:GetItem',
    'dynamodb:Query',
    'dynamodb:UpdateItem',
    'dynamodb:DeleteItem',
  ],
};
export const STATE_ACTIONS: Record<StateAccess, readonly string[]> = {
  write: ['dynamodb:GetItem', 'dynamodb:PutItem'],
  deliver: ['dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem'],
  list: ['dynamodb:GetItem', 'dynamodb:Scan'],
  register: ['dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:Scan'],
  erase: ['dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:DeleteItem', 'dynamodb:Scan'],
};
export const INDEX_ACTIONS = ['dynamodb:Query'];
export const SECRET_ACTIONS = ['secretsmanager:GetSecretValue'];
export const QUEUE_SEND_ACTIONS = ['sqs:SendMessage'];
/**
 * A consumer sets a received message's visibility itself: the processor to defer a callback, the
 * notifier to wait for its next retry.
 */
export const QUEUE_DEFER_ACTIONS = ['sqs:ChangeMessageVisibility'];

/**
 * How every function of ours is built and run, whatever its stack: the entry bundled locally by
 * esbuild (no Docker), Node.js 22 on arm64, minified with source maps.
 */
export const bundledFunctionProps = (entry: string, spec: FunctionSpec) =>
  ({
    entry,
    handler: 'handler',
    description: spec.description,
    runtime: Runtime.NODEJS_22_X,
    architecture: Architecture.ARM_64,
    memorySize: spec.memoryMb,
    timeout: Duration.seconds(spec.timeoutSeconds),
    depsLockFilePath: path.join(REPO_ROOT, 'package-lock.json'),
    projectRoot: REPO_ROOT,
    bundling: {
      format: OutputFormat.CJS,
      target: 'node22',
      minify: true,
      sourceMap: true,
      sourcesContent: false,
      // The SDK v3 clients are bundled: the versions the lockfile pins are the ones that run.
      bundleAwsSDK: true,
      externalModules: [],
      tsconfig: path.join(REPO_ROOT, 'tsconfig.json'),
      logLevel: LogLevel.WARNING,
    },
  }) satisfies NodejsFunctionProps;

/** A reference resolved only at deploy time is counted as this many bytes in the env estimate. */
const TOKEN_ESTIMATE_BYTES = 200;

export interface ServiceFunctionProps {
  /** The function's name in functionSpecs (also its construct id's meaning). */
  name: FunctionName;
  /** Entry file, memory, timeout and description. */
  spec: FunctionSpec;
  /** The stage configuration as JSON: every function gets it as HANDOVER_CONFIG. */
  configJson: string;
  /** Retention of the function's log group. */
  logRetention: RetentionDays;
  /**
   * Active X-Ray tracing.
   * @default false
   */
  tracing?: boolean;
  /**
   * Folder holding the entry files (tests point this at stubs).
   * @default HANDLERS_DIR
   */
  handlersDir?: string;
}

export interface ConsumeOptions {
  /** Messages per invocation (at most 10 for a FIFO queue). */
  batchSize: number;
}

export class ServiceFunction extends Construct {
  public readonly function: NodejsFunction;
  public readonly logGroup: LogGroup;
  public readonly role: IRole;
  public readonly name: FunctionName;
  /** Estimated bytes of each environment variable (name + value), checked against 4 KB. */
  private readonly envBytes = new Map<string, number>();

  constructor(scope: Construct, id: string, props: ServiceFunctionProps) {
    super(scope, id);
    this.name = props.name;
    const { spec } = props;

    this.logGroup = new LogGroup(this, 'Logs', {
      retention: props.logRetention,
      // The function's logs go with the (stateless) stack; the audit record is the history table.
      removalPolicy: RemovalPolicy.DESTROY,
    });

    // An explicit role instead of AWSLambdaBasicExecutionRole: it may write to its own log group
    // and nothing else until a `use*` helper adds a grant.
    const role = new Role(this, 'Role', {
      assumedBy: new ServicePrincipal('lambda.amazonaws.com'),
      description: `parley-handover ${props.name} function`,
    });
    role.addToPrincipalPolicy(
      new PolicyStatement({
        actions: ['logs:CreateLogStream', 'logs:PutLogEvents'],
        resources: [this.logGroup.logGroupArn],
      }),
    );
    this.role = role;

    this.function = new NodejsFunction(this, 'Function', {
      ...bundledFunctionProps(path.join(props.handlersDir ?? HANDLERS_DIR, spec.entry), spec),
      role,
      logGroup: this.logGroup,
      tracing: props.tracing ? Tracing.ACTIVE : Tracing.DISABLED,
    });
    if (props.tracing) {
      acknowledge(role, {
        id: 'AwsSolutions-IAM5[Resource::*]',
        reason: 'X-Ray PutTraceSegments/PutTelemetryRecords support no resource-level scoping.',
      });
    }

    this.setEnv('NODE_OPTIONS', '--enable-source-maps');
    this.setEnv('POWERTOOLS_SERVICE_NAME', METRICS_SERVICE);
    this.setEnv('POWERTOOLS_METRICS_NAMESPACE', METRICS_NAMESPACE);
    this.setEnv(ENV.config, props.configJson);
    // "No secrets" stated explicitly (the runtime parses this map in every function); useServiceSecrets
    // replaces it together with the grant.
    this.setEnv(ENV.serviceSecretArns, '{}');

    this.node.addValidation({
      validate: () => {
        const total = [...this.envBytes.values()].reduce((a, b) => a + b, 0);
        return total > LAMBDA_ENV_LIMIT_BYTES
          ? [
              `The ${props.name} function's environment takes about ${total} bytes, over Lambda's ` +
                `${LAMBDA_ENV_LIMIT_BYTES}-byte limit.`,
            ]
          : [];
      },
    });
  }

  /** HISTORY_TABLE_NAME, the access's actions on the table, and Query on the named indexes. */
  useHistoryTable(
    history: DefinedTable,
    access: HistoryAccess,
    indexes: readonly string[] = [],
  ): this {
    this.setEnv(ENV.historyTable, history.table.tableName);
    if (HISTORY_ACTIONS[access].length > 0) {
      this.grant(HISTORY_ACTIONS[access], [history.table.tableArn]);
    }
    if (indexes.length > 0) this.grant(INDEX_ACTIONS, history.indexArns(indexes));
    return this;
  }

  /** STATE_TABLE_NAME, the access's actions on the table, and Query on the named indexes. */
  useStateTable(state: DefinedTable, access: StateAccess, indexes: readonly string[] = []): this {
    this.setEnv(ENV.stateTable, state.table.tableName);
    this.grant(STATE_ACTIONS[access], [state.table.tableArn]);
    if (indexes.length > 0) this.grant(INDEX_ACTIONS, state.indexArns(indexes));
    return this;
  }

  /** SERVICE_SECRET_ARNS (serviceId -> ARN, JSON) and GetSecretValue on exactly those ARNs. */
  useServiceSecrets(secrets: ReadonlyMap<string, ISecret>): this {
    const arns: Record<string, string> = {};
    let estimate = 2;
    for (const [serviceId, secret] of secrets) {
      arns[serviceId] = secret.secretArn;
      estimate += serviceId.length + 6 + TOKEN_ESTIMATE_BYTES;
    }
    this.setEnv(ENV.serviceSecretArns, Stack.of(this).toJsonString(arns), estimate);
    this.grant(
      SECRET_ACTIONS,
      [...secrets.values()].map((s) => s.secretArn),
    );
    return this;
  }

  /**
   * CALLBACK_TOKEN_SECRET_ARNS (serviceId -> ARN of its callback-token secret, JSON) and
   * GetSecretValue on exactly those ARNs.
   */
  useCallbackTokenSecrets(secrets: ReadonlyMap<string, ISecret>): this {
    const arns: Record<string, string> = {};
    let estimate = 2;
    for (const [serviceId, secret] of secrets) {
      arns[serviceId] = secret.secretArn;
      estimate += serviceId.length + 6 + TOKEN_ESTIMATE_BYTES;
    }
    this.setEnv(ENV.callbackTokenSecretArns, Stack.of(this).toJsonString(arns), estimate);
    this.grant(
      SECRET_ACTIONS,
      [...secrets.values()].map((s) => s.secretArn),
    );
    return this;
  }

  /** AUDITORS_SECRET_ARN and GetSecretValue on it. */
  useAuditorsSecret(secret: ISecret): this {
    this.setEnv(ENV.auditorsSecretArn, secret.secretArn);
    this.grant(SECRET_ACTIONS, [secret.secretArn]);
    return this;
  }

  /**
   * CALLBACK_QUEUE_URL, and either SendMessage (`send`) or the queue as this function's event
   * source with partial batch responses (`consume`; the event source grants receive/delete, and
   * the function may change a received message's visibility itself to defer it).
   */
  useQueue(queue: IQueue, access: 'send'): this;
  useQueue(queue: IQueue, access: 'consume', options: ConsumeOptions): this;
  useQueue(queue: IQueue, access: QueueAccess, options?: ConsumeOptions): this {
    return this.wireQueue(ENV.queueUrl, queue, access, options);
  }

  /** NOTIFY_QUEUE_URL and the notify queue, as useQueue does for the callback queue. */
  useNotifyQueue(queue: IQueue, access: 'send'): this;
  useNotifyQueue(queue: IQueue, access: 'consume', options: ConsumeOptions): this;
  useNotifyQueue(queue: IQueue, access: QueueAccess, options?: ConsumeOptions): this {
    return this.wireQueue(ENV.notifyQueueUrl, queue, access, options);
  }

  private wireQueue(
    variable: string,
    queue: IQueue,
    access: QueueAccess,
    options?: ConsumeOptions,
  ): this {
    this.setEnv(variable, queue.queueUrl);
    if (access === 'send') {
      this.grant(QUEUE_SEND_ACTIONS, [queue.queueArn]);
    } else {
      this.function.addEventSource(
        new SqsEventSource(queue, {
          batchSize: options!.batchSize,
          reportBatchItemFailures: true,
        }),
      );
      this.grant(QUEUE_DEFER_ACTIONS, [queue.queueArn]);
    }
    return this;
  }

  private grant(actions: readonly string[], resources: string[]): void {
    this.role.addToPrincipalPolicy(new PolicyStatement({ actions: [...actions], resources }));
  }

  private setEnv(name: string, value: string, estimate?: number): void {
    this.function.addEnvironment(name, value);
    const valueBytes =
      estimate ??
      (Token.isUnresolved(value) ? TOKEN_ESTIMATE_BYTES : Buffer.byteLength(value, 'utf8'));
    this.envBytes.set(name, name.length + valueBytes);
  }
}
