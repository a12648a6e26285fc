// IAM conformance: each function's policy statements and environment, read from the API stack's
// template (built in memory, bundling skipped), and a strict mode for the local runtime: a middleware
// on a function's SDK clients (and a check on its secrets and queue ports) that refuses, as AWS
// would, any call its role does not grant, and records what was used.
import type {
  HandlerExecutionContext,
  InitializeHandlerArguments,
  InitializeHandler,
  MetadataBearer,
  MiddlewareStack,
} from '@smithy/types';
import { createDocumentClient } from '../../functions/adapters/dynamo';
import type { CheckpointPorts } from '../../functions/domain/checkpoints/ports';
import type { CallbackQueue, QueueDepths, SecretsProvider } from '../../functions/domain/ports';
import type { RuntimeOptions } from '../../functions/platform/runtime';
import { ENV } from '../../functions/schemas/config';

/** Resources in local terms: `table/history`, `table/history/index/byDay`, `secret/auditors`. */
export interface Statement {
  actions: string[];
  resources: string[];
}

export interface FunctionPolicy {
  statements: Statement[];
  /** The function's environment variables as the template sets them (values may be tokens). */
  environment: Record<string, unknown>;
}

type Resources = Record<string, { Type: string; Properties?: any }>;

/** A template's resources (`Template.toJSON().Resources`). */
export interface TemplateJson {
  Resources: Resources;
}

/**
 * Resolves a CloudFormation resource reference of this app to a local resource name. The tables,
 * secrets and queue are named by their logical ids (across the stack boundary, through the output
 * name, which carries the logical id too); service secrets by the Service identification.
 */
export const resourceName = (ref: unknown, fnConstruct: string, serviceIds: string[]): string => {
  if (ref === '*') return '*';
  const s = JSON.stringify(ref);
  const index = /\/index\/([^"]+)"/.exec(s)?.[1];
  const withIndex = (base: string) => (index ? `${base}/index/${index}` : base);
  if (/HistoryTable/.test(s)) return withIndex('table/history');
  if (/StateTable/.test(s)) return withIndex('table/state');
  for (const id of serviceIds) {
    if (s.includes(`SecretsCallbackTokens${id}`)) return `secret/callback-tokens/${id}`;
    if (s.includes(`SecretsService${id}`)) return `secret/service/${id}`;
  }
  if (/SecretsAuditors/.test(s)) return 'secret/auditors';
  if (/CallbacksDeadLetterQueue/.test(s)) return 'queue/dead-letter';
  if (/CallbacksQueue/.test(s)) return 'queue/callbacks';
  if (/NotifyDeadLetterQueue/.test(s)) return 'queue/notify-dead-letter';
  if (/NotifyQueue/.test(s)) return 'queue/notify';
  if (/CheckpointsBucket/.test(s)) {
    const prefix = /\/(checkpoints|users)\/\*"/.exec(s)?.[1];
    return prefix ? `bucket/checkpoints/${prefix}/*` : 'bucket/checkpoints';
  }
  if (/CheckpointsKey/.test(s)) return 'key/checkpoints';
  if (/ErasuresKey/.test(s)) return 'secret/erasure-key';
  if (s.includes(`"${fnConstruct}Logs`)) return 'logs/own';
  return `unknown:${s}`;
};

/** `InboundFunction337AA678` -> `inbound` (functions of the route table, and any other). */
const functionNameOf = (logicalId: string): string | null => {
  const m = /^([A-Z][A-Za-z0-9]*?)Function[0-9A-F]{8}$/.exec(logicalId);
  return m ? m[1]![0]!.toLowerCase() + m[1]!.slice(1) : null;
};

/** Every function's statements and environment, by function name. */
export const functionPolicies = (
  template: TemplateJson,
  serviceIds: string[],
): Record<string, FunctionPolicy> => {
  const all = template.Resources;
  const policies = Object.values(all).filter((r) => r.Type === 'AWS::IAM::Policy');
  const out: Record<string, FunctionPolicy> = {};
  for (const [id, res] of Object.entries(all)) {
    if (res.Type !== 'AWS::Lambda::Function') continue;
    const name = functionNameOf(id);
    if (!name) continue;
    const construct = name[0]!.toUpperCase() + name.slice(1);
    const roleId = res.Properties?.Role?.['Fn::GetAtt']?.[0] as string | undefined;
    const statements: Statement[] = [];
    for (const policy of policies) {
      const roles = JSON.stringify(policy.Properties?.Roles ?? []);
      if (!roleId || !roles.includes(`"${roleId}"`)) continue;
      for (const st of policy.Properties!.PolicyDocument.Statement) {
        if (st.Effect !== 'Allow') throw new Error(`${name}: a statement that is not Allow`);
        statements.push({
          actions: [st.Action].flat() as string[],
          resources: [st.Resource].flat().map((r) => resourceName(r, construct, serviceIds)),
        });
      }
    }
    out[name] = { statements, environment: res.Properties?.Environment?.Variables ?? {} };
  }
  return out;
};

/** `action resource` pairs, sorted (the tables of the report and the tests). */
export const grantedPairs = (policy: FunctionPolicy): string[] =>
  [
    ...new Set(
      policy.statements.flatMap((s) =>
        s.actions.flatMap((a) => s.resources.map((r) => `${a} ${r}`)),
      ),
    ),
  ].sort();

const glob = (pattern: string, value: string): boolean =>
  new RegExp(
    `^${pattern
      .split('*')
      .map((p) => p.replace(/[.+?^${}()|[\]\\]/g, '\\$&'))
      .join('.*')}$`,
  ).test(value);

export const isAllowed = (policy: FunctionPolicy, action: string, resource: string): boolean =>
  policy.statements.some(
    (s) => s.actions.some((a) => glob(a, action)) && s.resources.some((r) => glob(r, resource)),
  );

/** What AWS answers when a role may not make a call. */
export class AccessDeniedException extends Error {
  override readonly name = 'AccessDeniedException';
  readonly $fault = 'client';
  readonly $metadata = { httpStatusCode: 400 };
}

/** Calls made under strict mode, per function, as `action resource` (the "used" table). */
export const usage = new Map<string, Set<string>>();

/** Calls refused under strict mode (a finding each), as `function action resource`. */
export const denials: string[] = [];

export type StrictCheck = (action: string, resource: string) => void;

/** Checks one call against a function's policy; unknown functions have no grants at all. */
export const strictCheck = (fn: string, policy: FunctionPolicy | undefined): StrictCheck => {
  return (action, resource) => {
    if (!policy || !isAllowed(policy, action, resource)) {
      denials.push(`${fn} ${action} ${resource}`);
      throw new AccessDeniedException(
        `User: arn:aws:sts::local:assumed-role/${fn} is not authorized to perform: ${action} on resource: ${resource} because no identity-based policy allows the ${action} action`,
      );
    }
    const used = usage.get(fn) ?? new Set<string>();
    usage.set(fn, used);
    used.add(`${action} ${resource}`);
  };
};

// ---------------------------------------------------------------- SDK clients

const SERVICE_PREFIX: Record<string, string> = {
  DynamoDBClient: 'dynamodb',
  DynamoDBDocumentClient: 'dynamodb',
  SQSClient: 'sqs',
  SecretsManagerClient: 'secretsmanager',
};

/** Document client commands under their DynamoDB names (`PutCommand` -> `PutItem`). */
const DOCUMENT_COMMANDS: Record<string, string> = {
  Put: 'PutItem',
  Get: 'GetItem',
  Update: 'UpdateItem',
  Delete: 'DeleteItem',
  BatchWrite: 'BatchWriteItem',
  BatchGet: 'BatchGetItem',
  TransactWrite: 'TransactWriteItems',
  TransactGet: 'TransactGetItems',
};

const TRANSACT_ACTIONS: Record<string, string> = {
  Put: 'PutItem',
  Update: 'UpdateItem',
  Delete: 'DeleteItem',
  ConditionCheck: 'ConditionCheckItem',
  Get: 'GetItem',
};

/**
 * The IAM (action, resource) pairs of one SDK call. `names` maps the local physical names (table
 * names, queue URLs, secret ids) to local resource names (`table/history`, ...).
 */
export const callPairs = (
  clientName: string,
  commandName: string,
  input: Record<string, any>,
  names: (physical: string) => string,
): [string, string][] => {
  const prefix = SERVICE_PREFIX[clientName];
  if (!prefix) throw new Error(`strict mode does not know the client ${clientName}`);
  const base = commandName.replace(/Command$/, '');
  const op = prefix === 'dynamodb' ? (DOCUMENT_COMMANDS[base] ?? base) : base;
  const action = `${prefix}:${op}`;
  if (prefix === 'dynamodb') {
    if (op === 'BatchWriteItem' || op === 'BatchGetItem') {
      return Object.keys(input.RequestItems ?? {}).map((t) => [action, names(t)]);
    }
    if (op === 'TransactWriteItems' || op === 'TransactGetItems') {
      return (input.TransactItems ?? []).flatMap((item: Record<string, any>) =>
        Object.entries(item).map(([kind, body]): [string, string] => [
          `dynamodb:${TRANSACT_ACTIONS[kind] ?? kind}`,
          names(body.TableName),
        ]),
      );
    }
    const table = names(input.TableName);
    return [[action, input.IndexName ? `${table}/index/${input.IndexName}` : table]];
  }
  if (prefix === 'sqs') return [[action, names(input.QueueUrl)]];
  return [[action, names(input.SecretId)]];
};

/** Adds the strict check to a client's middleware stack (before serialization and signing). */
export const addStrictMiddleware = (
  client: { middlewareStack: MiddlewareStack<any, MetadataBearer> },
  check: StrictCheck,
  names: (physical: string) => string,
): void => {
  client.middlewareStack.add(
    (next: InitializeHandler<any, MetadataBearer>, context: HandlerExecutionContext) =>
      async (args: InitializeHandlerArguments<any>) => {
        const pairs = callPairs(
          context.clientName ?? '',
          context.commandName ?? '',
          args.input as Record<string, any>,
          names,
        );
        for (const [action, resource] of pairs) check(action, resource);
        return next(args);
      },
    { step: 'initialize', name: 'strictIamMiddleware', priority: 'high' },
  );
};

// ---------------------------------------------------------------- ports without an SDK locally

/**
 * The local runtime reads secrets from a file and queues through its own store: the same check at
 * the port, with the action and resource the SDK call would have in AWS.
 */
export const strictSecrets = (secrets: SecretsProvider, check: StrictCheck): SecretsProvider => ({
  service: async (id) => {
    check('secretsmanager:GetSecretValue', `secret/service/${id}`);
    return secrets.service(id);
  },
  callbackTokens: async (id) => {
    check('secretsmanager:GetSecretValue', `secret/callback-tokens/${id}`);
    return secrets.callbackTokens(id);
  },
  auditors: async () => {
    check('secretsmanager:GetSecretValue', 'secret/auditors');
    return secrets.auditors();
  },
  operators: async () => {
    check('secretsmanager:GetSecretValue', 'secret/auditors');
    return secrets.operators();
  },
  invalidate: (id) => secrets.invalidate(id),
});

/**
 * The checkpoint ports checked as their S3 and KMS calls would be: objects at the granularity of
 * the grants (their prefix), listings on the bucket, the key for signing and its public half.
 */
export const strictCheckpoints = (ports: CheckpointPorts, check: StrictCheck): CheckpointPorts => {
  const { store, signer } = ports;
  const objects = (prefix: 'checkpoints' | 'users') => `bucket/checkpoints/${prefix}/*`;
  return {
    store: {
      put: async (...args) => {
        check('s3:PutObject', objects('checkpoints'));
        return store.put(...args);
      },
      get: async (id) => {
        check('s3:GetObject', objects('checkpoints'));
        return store.get(id);
      },
      list: async (options) => {
        check('s3:ListBucket', 'bucket/checkpoints');
        return store.list(options);
      },
      latest: async () => {
        check('s3:ListBucket', 'bucket/checkpoints');
        check('s3:GetObject', objects('checkpoints'));
        return store.latest();
      },
      markUser: async (userId, id) => {
        check('s3:PutObject', objects('users'));
        return store.markUser(userId, id);
      },
      listForUser: async (userId, options) => {
        check('s3:ListBucket', 'bucket/checkpoints');
        return store.listForUser(userId, options);
      },
    },
    signer: {
      sign: async (bytes) => {
        check('kms:Sign', 'key/checkpoints');
        return signer.sign(bytes);
      },
      publicKeyPem: async () => {
        check('kms:GetPublicKey', 'key/checkpoints');
        return signer.publicKeyPem();
      },
    },
  };
};

/** A queue port checked as its SQS calls would be, on `resource` (the callback or notify queue). */
export const strictQueue = (
  queue: CallbackQueue,
  check: StrictCheck,
  resource = 'queue/callbacks',
): CallbackQueue => ({
  ...queue,
  send: async (message) => {
    check('sqs:SendMessage', resource);
    return queue.send(message);
  },
  ...(queue.changeVisibility
    ? {
        changeVisibility: async (receiptHandle: string, seconds: number) => {
          check('sqs:ChangeMessageVisibility', resource);
          return queue.changeVisibility!(receiptHandle, seconds);
        },
      }
    : {}),
});

/** The dead-letter queues by the names the depths port gives them, as IAM resources. */
export const DEAD_LETTER_RESOURCES: Record<string, string> = {
  callbacks: 'queue/dead-letter',
  notify: 'queue/notify-dead-letter',
};

/**
 * The depths port checked as its GetQueueAttributes calls would be, one per dead-letter queue it
 * reports (the local queues count theirs in their own store).
 */
export const strictQueueDepths = (depths: QueueDepths, check: StrictCheck): QueueDepths => ({
  depths: async () => {
    const got = await depths.depths();
    for (const d of got) {
      check('sqs:GetQueueAttributes', DEAD_LETTER_RESOURCES[d.name] ?? `unknown:queue/${d.name}`);
    }
    return got;
  },
});

/**
 * A function's runtime options in strict mode: its own document client (to `endpoint`) with the
 * middleware, and its secrets and queues checked at the port. Returns the client to destroy.
 */
export const strictRuntime = async (
  fn: string,
  runtime: RuntimeOptions,
  endpoint: string,
): Promise<{ runtime: RuntimeOptions; client: { destroy(): void } }> => {
  const policy = (await stagePolicies())[fn];
  const check = strictCheck(fn, policy);
  // As in AWS: checkpoint ports only where the template sets their bucket and key.
  const env = policy?.environment ?? {};
  const keepsCheckpoints = ENV.checkpointBucket in env && ENV.checkpointKeyId in env;
  const { historyTable, stateTable } = runtime.dynamo;
  const names = (physical: string) =>
    physical === historyTable
      ? 'table/history'
      : physical === stateTable
        ? 'table/state'
        : `unknown:${physical}`;
  const client = createDocumentClient({ endpoint, region: 'local' });
  addStrictMiddleware(client, check, names);
  return {
    client,
    runtime: {
      ...runtime,
      secrets: strictSecrets(runtime.secrets, check),
      dynamo: { ...runtime.dynamo, client },
      queue: strictQueue(runtime.queue, check),
      ...(runtime.notifyQueue
        ? { notifyQueue: strictQueue(runtime.notifyQueue, check, 'queue/notify') }
        : {}),
      ...(runtime.checkpoints
        ? { checkpoints: keepsCheckpoints ? strictCheckpoints(runtime.checkpoints, check) : null }
        : {}),
      ...(runtime.queueDepths
        ? { queueDepths: strictQueueDepths(runtime.queueDepths, check) }
        : {}),
    },
  };
};

/** The local stack's `perFunction` hook in strict mode. */
export const strictPerFunction = async (
  fn: string,
  runtime: RuntimeOptions,
  endpoint: string,
): Promise<RuntimeOptions> => (await strictRuntime(fn, runtime, endpoint)).runtime;

// ---------------------------------------------------------------- the template, once per process

let cached: Promise<Record<string, FunctionPolicy>> | undefined;

/**
 * The policies of the default stage's API stack, built in memory once per process. The CDK is
 * loaded only here, so suites that do not use strict mode do not pay for it.
 */
export const stagePolicies = (): Promise<Record<string, FunctionPolicy>> => {
  cached ??= (async () => {
    const { Template } = await import('aws-cdk-lib/assertions');
    const { buildApp } = await import('../lib/support');
    const { loadStage } = await import('../../lib/config');
    const stage = loadStage();
    const built = buildApp(stage);
    const ids = stage.config.services.map((s: { identification: string }) => s.identification);
    return functionPolicies(Template.fromStack(built.api).toJSON() as TemplateJson, ids);
  })();
  return cached;
};
