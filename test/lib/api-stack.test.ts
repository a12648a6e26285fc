// The API stack's template: routes and integrations, each function's exact grants, runtime and
// timeouts (and their chain), environment wiring, the FIFO queues (callbacks, notifications) with
// their DLQs and alarms, the reconcile and relay schedules, the access log, alarms and outputs.
// Bundling is skipped and the entries are placeholders (see bundles.test).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Match, type Template } from 'aws-cdk-lib/assertions';
import { type FunctionName, functionSpecs, httpRoutes } from '../../functions/contracts/routes';
import { CALLBACK_MAX_RECEIVE_COUNT, SQS_MAX_MESSAGE_BYTES } from '../../functions/contracts/queue';
import { runSweep } from '../../functions/domain/lifecycle/sweep';
import { attemptsWithin, NOTIFY_MAX_RECEIVE_COUNT } from '../../functions/domain/notify/backoff';
import { createMetrics } from '../../functions/platform/metrics';
import { ENV } from '../../functions/schemas/config';
import { type LoadedStage, loadStage, QUEUE_VISIBILITY_TIMEOUT_SECONDS } from '../../lib/config';
import { HANDLERS_DIR } from '../../lib/constructs/service-function';
import { buildApp, devStage, functionIdOf, grantsOf, kindOf, templatesOf } from './support';

let api: Template;
let stage: LoadedStage;
const cap = (n: string) => n[0]!.toUpperCase() + n.slice(1);
const resources = (type: string) =>
  Object.entries(api.findResources(type)) as [string, { Properties: any }][];
const fnProps = (name: FunctionName) =>
  api.findResources('AWS::Lambda::Function')[functionIdOf(api, cap(name))]!.Properties;
const alarmProps = () => resources('AWS::CloudWatch::Alarm').map(([, a]) => a.Properties);

/** A metric as CloudWatch stores it from an EMF line: namespace, name, dimension values. */
interface PublishedMetric {
  namespace: string;
  name: string;
  dimensions: Record<string, string>;
}

/** The metrics the functions' own sink (functions/platform/metrics.ts) publishes for `emit`. */
const published = async (
  emit: (metrics: ReturnType<typeof createMetrics>) => void | Promise<void>,
) => {
  const written: string[] = [];
  const disabled = process.env.POWERTOOLS_METRICS_DISABLED;
  process.env.POWERTOOLS_METRICS_DISABLED = 'false';
  const write = jest.spyOn(process.stdout, 'write').mockImplementation((chunk) => {
    written.push(String(chunk));
    return true;
  });
  try {
    const metrics = createMetrics();
    await emit(metrics);
    metrics.flush();
  } finally {
    write.mockRestore();
    process.env.POWERTOOLS_METRICS_DISABLED = disabled;
  }
  return written
    .flatMap((chunk) => chunk.split('\n'))
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line))
    .flatMap((doc): PublishedMetric[] =>
      doc._aws.CloudWatchMetrics.flatMap((d: any) =>
        d.Dimensions.flatMap((set: string[]) =>
          d.Metrics.map((m: { Name: string }) => ({
            namespace: d.Namespace,
            name: m.Name,
            dimensions: Object.fromEntries(set.map((k) => [k, doc[k]])),
          })),
        ),
      ),
    );
};

/** A Metrics Insights alarm: `SELECT STAT(Name) FROM "Namespace" WHERE service = 'value'`. */
const INSIGHTS = /^SELECT (SUM|MAX)\((\w+)\) FROM "([^"]+)" WHERE service = '([^']+)'$/;

/**
 * Whether an alarm sees a published metric: a plain metric alarm only its exact dimension set; a
 * query over the namespace every dimension set, its WHERE clause held against the values.
 */
const watches = (alarm: any, metric: PublishedMetric): boolean => {
  if (alarm.MetricName) {
    const dims = Object.fromEntries(
      (alarm.Dimensions ?? []).map((d: { Name: string; Value: unknown }) => [d.Name, d.Value]),
    );
    return (
      alarm.Namespace === metric.namespace &&
      alarm.MetricName === metric.name &&
      JSON.stringify(Object.entries(dims).sort()) ===
        JSON.stringify(Object.entries(metric.dimensions).sort())
    );
  }
  const q = INSIGHTS.exec(alarm.Metrics?.[0]?.Expression ?? '');
  return (
    q !== null &&
    q[2] === metric.name &&
    q[3] === metric.namespace &&
    metric.dimensions.service === q[4]
  );
};

/** The one alarm watching a custom metric through a query, with the query's statistic. */
const query = (metricName: string) => {
  const found = alarmProps().filter(
    (a) => INSIGHTS.exec(a.Metrics?.[0]?.Expression ?? '')?.[2] === metricName,
  );
  expect({ metricName, alarms: found.length }).toEqual({ metricName, alarms: 1 });
  const [, statistic, , namespace, service] = INSIGHTS.exec(found[0].Metrics[0].Expression)!;
  expect({ namespace, service }).toEqual({
    namespace: 'ParleyHandover',
    service: 'parley-handover',
  });
  return { ...found[0], statistic };
};

beforeAll(() => {
  stage = loadStage();
  ({ api } = templatesOf(buildApp(stage)));
});

describe('HTTP API', () => {
  it('serves every route of httpRoutes on its own function through a payload 2.0 proxy', () => {
    const routes = resources('AWS::ApiGatewayV2::Route');
    const integrations = Object.fromEntries(resources('AWS::ApiGatewayV2::Integration'));
    expect(routes.map(([, r]) => r.Properties.RouteKey).sort()).toEqual(
      httpRoutes.map((r) => `${r.method} ${r.path}`).sort(),
    );
    for (const route of httpRoutes) {
      const [, found] = routes.find(
        ([, r]) => r.Properties.RouteKey === `${route.method} ${route.path}`,
      )!;
      const integrationId = found.Properties.Target['Fn::Join'][1][1].Ref as string;
      const integration = integrations[integrationId]!.Properties;
      expect(integration).toMatchObject({
        IntegrationType: 'AWS_PROXY',
        PayloadFormatVersion: '2.0',
      });
      expect(JSON.stringify(integration.IntegrationUri)).toContain(
        functionIdOf(api, cap(route.fn)),
      );
      expect(found.Properties.AuthorizationType).toBe('NONE');
    }
  });

  it('lets API Gateway invoke each function only from its own route', () => {
    const permissions = resources('AWS::Lambda::Permission').filter(
      ([, p]) => p.Properties.Principal === 'apigateway.amazonaws.com',
    );
    expect(permissions).toHaveLength(httpRoutes.length);
    for (const [, p] of permissions) {
      expect(JSON.stringify(p.Properties.SourceArn)).toMatch(/\/\*\/\*\/|\/(GET|POST)\//);
    }
  });

  it('has a $default stage with throttling and JSON access logs to a retained-for-30-days log group', () => {
    const [[, stageRes]] = resources('AWS::ApiGatewayV2::Stage') as [[string, { Properties: any }]];
    expect(stageRes.Properties).toMatchObject({
      StageName: '$default',
      AutoDeploy: true,
      DefaultRouteSettings: { ThrottlingRateLimit: 50, ThrottlingBurstLimit: 100 },
    });
    const format = JSON.parse(stageRes.Properties.AccessLogSettings.Format);
    expect(format).toMatchObject({ requestId: '$context.requestId', status: '$context.status' });
    const logId = stageRes.Properties.AccessLogSettings.DestinationArn['Fn::GetAtt'][0];
    expect(api.findResources('AWS::Logs::LogGroup')[logId]!.Properties.RetentionInDays).toBe(30);
  });

  it("gives Parley's webhook route its own, higher limits and /health a low one", () => {
    const [[, stageRes]] = resources('AWS::ApiGatewayV2::Stage') as [[string, any]];
    expect(stageRes.Properties.RouteSettings).toEqual({
      'POST /webhooks/parley/{serviceId}': { ThrottlingRateLimit: 200, ThrottlingBurstLimit: 400 },
      'GET /health': { ThrottlingRateLimit: 5, ThrottlingBurstLimit: 10 },
      'HEAD /health': { ThrottlingRateLimit: 5, ThrottlingBurstLimit: 10 },
    });
    // Route settings name routes by key: the stage waits for them (else the deploy fails).
    const routeIds = Object.fromEntries(
      resources('AWS::ApiGatewayV2::Route').map(([id, r]) => [r.Properties.RouteKey, id]),
    );
    expect(stageRes.DependsOn).toEqual(
      expect.arrayContaining([
        routeIds['POST /webhooks/parley/{serviceId}'],
        routeIds['GET /health'],
      ]),
    );
  });

  it('takes the route limits from the stage configuration', () => {
    const custom = templatesOf(
      buildApp(
        devStage((raw) => {
          raw.infra.webhookThrottle = { rate: 900, burst: 1_800 };
          raw.infra.healthThrottle = { rate: 1, burst: 2 };
        }),
      ),
    ).api;
    const [[, stageRes]] = Object.entries(custom.findResources('AWS::ApiGatewayV2::Stage')) as [
      [string, any],
    ];
    expect(stageRes.Properties.RouteSettings).toEqual({
      'POST /webhooks/parley/{serviceId}': { ThrottlingRateLimit: 900, ThrottlingBurstLimit: 1800 },
      'GET /health': { ThrottlingRateLimit: 1, ThrottlingBurstLimit: 2 },
      'HEAD /health': { ThrottlingRateLimit: 1, ThrottlingBurstLimit: 2 },
    });
  });
});

describe('functions', () => {
  it.each(Object.keys(functionSpecs) as FunctionName[])(
    'runs %s on Node.js 22, arm64, with its memory, timeout and its own log group',
    (name) => {
      const props = fnProps(name);
      expect(props).toMatchObject({
        Runtime: 'nodejs22.x',
        Architectures: ['arm64'],
        Handler: 'index.handler',
        MemorySize: functionSpecs[name].memoryMb,
        Timeout: functionSpecs[name].timeoutSeconds,
      });
      expect(props.LoggingConfig.LogGroup.Ref).toMatch(new RegExp(`^${cap(name)}Logs`));
      const logs = api.findResources('AWS::Logs::LogGroup')[props.LoggingConfig.LogGroup.Ref]!;
      expect(logs.Properties.RetentionInDays).toBe(30);
      expect(props.Environment.Variables.NODE_OPTIONS).toBe('--enable-source-maps');
    },
  );

  it('keeps the timeout chain: Parley budget < handover timeout < staleAfter < visibility timeout', () => {
    const budget = stage.config.parley.budgetMs / 1000;
    const handover = fnProps('handover').Timeout;
    const [, queue] = resources('AWS::SQS::Queue').find(([id]) => id.startsWith('CallbacksQueue'))!;
    const visibility = queue.Properties.VisibilityTimeout;
    expect(visibility).toBe(QUEUE_VISIBILITY_TIMEOUT_SECONDS);
    expect(budget).toBeLessThan(handover);
    expect(handover).toBeLessThan(stage.config.staleAfterSeconds);
    expect(stage.config.staleAfterSeconds).toBeLessThan(visibility);
    expect(fnProps('processor').Timeout).toBeLessThan(visibility);
  });

  it('gives every function the stage configuration as HANDOVER_CONFIG', () => {
    for (const name of Object.keys(functionSpecs) as FunctionName[]) {
      const env = fnProps(name).Environment.Variables;
      expect(JSON.parse(env[ENV.config])).toEqual(stage.config);
    }
  });

  it('wires each resource name or ARN only into the functions that use it', () => {
    const wiring = Object.fromEntries(
      (Object.keys(functionSpecs) as FunctionName[]).map((name) => {
        const env = fnProps(name).Environment.Variables;
        return [
          name,
          Object.keys(env)
            .filter((k) => (Object.values(ENV) as string[]).includes(k))
            .sort(),
        ];
      }),
    );
    const all = [
      ENV.config,
      ENV.serviceSecretArns,
      ENV.auditorsSecretArn,
      ENV.historyTable,
      ENV.stateTable,
    ].sort();
    // Every function whose records cause notifications sends to the notify queue.
    const notifying = [...all, ENV.notifyQueueUrl].sort();
    expect(wiring).toEqual({
      inbound: [
        ENV.config,
        ENV.serviceSecretArns,
        ENV.callbackTokenSecretArns,
        ENV.queueUrl,
      ].sort(),
      processor: [
        ENV.config,
        ENV.serviceSecretArns,
        ENV.historyTable,
        ENV.stateTable,
        ENV.queueUrl,
        ENV.notifyQueueUrl,
      ].sort(),
      handover: notifying,
      messages: notifying,
      owner: notifying,
      services: [ENV.config, ENV.serviceSecretArns, ENV.auditorsSecretArn].sort(),
      audit: [ENV.config, ENV.serviceSecretArns, ENV.auditorsSecretArn, ENV.historyTable].sort(),
      reconcile: notifying,
      // The subject key's secret (it names users in the checkpoints): verify, the console, the
      // checkpoint job and the eraser; never the erasure function (a tombstone names its subject).
      verify: [...all, ENV.checkpointBucket, ENV.checkpointKeyId, ENV.erasureKeySecretArn].sort(),
      erasure: [...all, ENV.checkpointBucket, ENV.checkpointKeyId].sort(),
      eraser: [...all, ENV.checkpointBucket, ENV.checkpointKeyId, ENV.erasureKeySecretArn].sort(),
      // The window's records, the bucket, the key and the subject key; operators call its route.
      checkpoint: [
        ENV.config,
        ENV.serviceSecretArns,
        ENV.auditorsSecretArn,
        ENV.historyTable,
        ENV.checkpointBucket,
        ENV.checkpointKeyId,
        ENV.erasureKeySecretArn,
      ].sort(),
      health: [ENV.config, ENV.serviceSecretArns].sort(),
      openapi: [ENV.config, ENV.serviceSecretArns].sort(),
      notifier: [ENV.config, ENV.serviceSecretArns, ENV.stateTable, ENV.notifyQueueUrl].sort(),
      notifications: [
        ENV.config,
        ENV.serviceSecretArns,
        ENV.auditorsSecretArn,
        ENV.stateTable,
        ENV.notifyQueueUrl,
      ].sort(),
      release: notifying,
      // Sessions and pages for auditors and operators; a release is a handover; a user's page
      // verifies against the newest checkpoint; the overview shows the dead-letter depths.
      console: [
        ...notifying,
        ENV.checkpointBucket,
        ENV.checkpointKeyId,
        ENV.erasureKeySecretArn,
        ENV.deadLetterQueueUrl,
        ENV.notifyDeadLetterQueueUrl,
      ].sort(),
      // The owner item only: no history, no notification.
      lease: [ENV.config, ENV.serviceSecretArns, ENV.auditorsSecretArn, ENV.stateTable].sort(),
      offers: notifying,
      // Reads the history and its own state items; auditors call its routes.
      metrics: all,
      // Called by its schedule only: no auditor ever reaches it.
      sweep: [
        ENV.config,
        ENV.serviceSecretArns,
        ENV.historyTable,
        ENV.stateTable,
        ENV.notifyQueueUrl,
      ].sort(),
    });
    // A function without secrets is told so explicitly, and has no grant (see least privilege).
    expect(fnProps('health').Environment.Variables[ENV.serviceSecretArns]).toBe('{}');
    // The internet-facing webhook reads callback tokens only, never a Service's Parley secret.
    expect(fnProps('inbound').Environment.Variables[ENV.serviceSecretArns]).toBe('{}');
  });

  it('names both dead-letter queues to the console, and lets only the console read their depths', () => {
    const env = fnProps('console').Environment.Variables;
    const readers = (Object.keys(functionSpecs) as FunctionName[]).filter((name) =>
      grantsOf(api, cap(name)).some((g) => /^(dlq|notify-dlq) /.test(g)),
    );

    expect(kindOf(env[ENV.deadLetterQueueUrl])).toBe('dlq');
    expect(kindOf(env[ENV.notifyDeadLetterQueueUrl])).toBe('notify-dlq');
    expect(env[ENV.deadLetterQueueUrl]).toEqual({
      Ref: expect.stringMatching(/^CallbacksDeadLetterQueue/),
    });
    expect(readers).toEqual(['console']);
    expect(grantsOf(api, cap('console')).filter((g) => /dlq /.test(g))).toEqual([
      'dlq sqs:GetQueueAttributes',
      'notify-dlq sqs:GetQueueAttributes',
    ]);
  });

  it("maps every Service identification to its callback-token secret in the webhook's environment", () => {
    const joined =
      fnProps('inbound').Environment.Variables[ENV.callbackTokenSecretArns]['Fn::Join'][1];
    for (const s of stage.config.services) {
      const at = joined.findIndex(
        (p: unknown) => typeof p === 'string' && p.includes(`"${s.identification}":"`),
      );
      expect(kindOf(joined[at + 1])).toBe(
        s.role === 'bot' ? 'callback-tokens:bot' : 'callback-tokens:agent',
      );
    }
  });

  it('maps every Service identification to its own secret in SERVICE_SECRET_ARNS', () => {
    const joined = fnProps('processor').Environment.Variables[ENV.serviceSecretArns]['Fn::Join'][1];
    for (const s of stage.config.services) {
      const at = joined.findIndex(
        (p: unknown) => typeof p === 'string' && p.includes(`"${s.identification}":"`),
      );
      expect(kindOf(joined[at + 1])).toBe(s.role === 'bot' ? 'secret:bot' : 'secret:agent');
    }
    expect(kindOf(fnProps('audit').Environment.Variables[ENV.auditorsSecretArn])).toBe(
      'secret:auditors',
    );
    expect(kindOf(fnProps('audit').Environment.Variables[ENV.historyTable])).toBe('history');
    expect(kindOf(fnProps('processor').Environment.Variables[ENV.stateTable])).toBe('state');
    expect(kindOf(fnProps('inbound').Environment.Variables[ENV.queueUrl])).toBe('queue');
    for (const name of [
      'notifier',
      'notifications',
      'release',
      'handover',
      'offers',
      'sweep',
    ] as const) {
      expect(kindOf(fnProps(name).Environment.Variables[ENV.notifyQueueUrl])).toBe('notify-queue');
    }
  });

  it('has an entry file in functions/handlers for every function', () => {
    const missing = Object.values(functionSpecs)
      .map((spec) => spec.entry)
      .filter((entry) => !fs.existsSync(path.join(HANDLERS_DIR, entry)));
    expect(missing).toEqual([]);
  });
});

describe('least privilege', () => {
  const logs = ['own-logs logs:CreateLogStream', 'own-logs logs:PutLogEvents'];
  // Each index only to the function that queries it, UpdateItem only to the delivery leases
  // (the IAM conformance test finds any grant no call uses).
  const historyRead = ['history dynamodb:Query', 'history-index dynamodb:Query'];
  const historyAppend = [
    'history dynamodb:GetItem',
    'history dynamodb:Query',
    'history dynamodb:PutItem',
  ];
  const state = ['state dynamodb:GetItem', 'state dynamodb:PutItem'];
  const serviceSecrets = [
    'secret:bot secretsmanager:GetSecretValue',
    'secret:agent secretsmanager:GetSecretValue',
  ];
  const auditors = ['secret:auditors secretsmanager:GetSecretValue'];
  const callbackTokens = [
    'callback-tokens:bot secretsmanager:GetSecretValue',
    'callback-tokens:agent secretsmanager:GetSecretValue',
  ];
  const consume = (queue: string) => [
    `${queue} sqs:ChangeMessageVisibility`,
    `${queue} sqs:DeleteMessage`,
    `${queue} sqs:GetQueueAttributes`,
    `${queue} sqs:GetQueueUrl`,
    `${queue} sqs:ReceiveMessage`,
  ];
  // Records cause notifications: outbox items are state puts, then a send to the notify queue.
  const notify = ['notify-queue sqs:SendMessage'];
  // Outbox items: read by id, written by conditional and compare-and-set puts (no UpdateItem).
  const outbox = state;
  const expected: Record<FunctionName, string[]> = {
    inbound: [...logs, ...callbackTokens, 'queue sqs:SendMessage'],
    processor: [
      ...logs,
      ...historyAppend,
      ...state,
      'state dynamodb:UpdateItem',
      ...serviceSecrets,
      ...consume('queue'),
      ...notify,
    ],
    handover: [...logs, ...historyAppend, ...state, ...serviceSecrets, ...auditors, ...notify],
    messages: [...logs, ...historyAppend, ...state, ...serviceSecrets, ...auditors, ...notify],
    owner: [
      ...logs,
      ...historyAppend,
      'history-index dynamodb:Query',
      ...state,
      ...serviceSecrets,
      ...auditors,
      ...notify,
    ],
    services: [...logs, ...serviceSecrets, ...auditors],
    audit: [...logs, ...historyRead, ...serviceSecrets, ...auditors],
    reconcile: [
      ...logs,
      ...historyAppend,
      ...state,
      'state-index dynamodb:Query',
      ...serviceSecrets,
      ...auditors,
      ...notify,
    ],
    verify: [
      ...logs,
      'history dynamodb:GetItem',
      'history dynamodb:Query',
      'state dynamodb:GetItem',
      'state dynamodb:Scan',
      ...serviceSecrets,
      ...auditors,
      // The user's newest checkpoint, the key that verifies it, the subject key that names it.
      'checkpoint-bucket s3:ListBucket',
      'checkpoint-objects s3:GetObject',
      'checkpoint-key kms:GetPublicKey',
      'erasure-key secretsmanager:GetSecretValue',
    ],
    // The window's records (byDay); the checkpoints written and read back; the key's only signer;
    // the subject key that names each head.
    checkpoint: [
      ...logs,
      'history-index dynamodb:Query',
      ...serviceSecrets,
      ...auditors,
      'erasure-key secretsmanager:GetSecretValue',
      'checkpoint-bucket s3:ListBucket',
      'checkpoint-objects s3:GetObject',
      'checkpoint-objects s3:PutObject',
      'checkpoint-key kms:GetPublicKey',
      'checkpoint-key kms:Sign',
    ],
    health: logs,
    openapi: logs,
    // Signing secrets; the outbox; the queue it consumes, and sends to as the relay.
    notifier: [
      ...logs,
      ...outbox,
      'state-index dynamodb:Query',
      ...serviceSecrets,
      ...consume('notify-queue'),
      ...notify,
    ],
    notifications: [
      ...logs,
      ...outbox,
      'state-index dynamodb:Query',
      ...serviceSecrets,
      ...auditors,
      ...notify,
    ],
    release: [
      ...logs,
      ...historyAppend,
      ...state,
      'state-index dynamodb:Query',
      ...serviceSecrets,
      ...auditors,
      ...notify,
    ],
    // The owner extends its lease: the owner item, read and put on its version.
    lease: [...logs, ...state, ...serviceSecrets, ...auditors],
    offers: [...logs, ...historyAppend, ...state, ...serviceSecrets, ...auditors, ...notify],
    // The console: sessions and login counters (state puts), owner items and listings, history
    // ranges and owner at an instant; an operator's release or reconcile is a handover; the
    // metrics' use cases; verify against the user's newest checkpoint; the dead-letter depths.
    console: [
      ...logs,
      ...historyAppend,
      'history-index dynamodb:Query',
      ...state,
      'state-index dynamodb:Query',
      ...serviceSecrets,
      ...auditors,
      ...notify,
      'checkpoint-bucket s3:ListBucket',
      'checkpoint-objects s3:GetObject',
      'checkpoint-key kms:GetPublicKey',
      'erasure-key secretsmanager:GetSecretValue',
      'dlq sqs:GetQueueAttributes',
      'notify-dlq sqs:GetQueueAttributes',
    ],
    // Metrics: history ranges (byDay), its rollups and notes (state puts), the day's inbound notes
    // and the leased owner items (state indexes); the Services' roles from Parley.
    metrics: [
      ...logs,
      'history-index dynamodb:Query',
      ...state,
      'state-index dynamodb:Query',
      ...serviceSecrets,
      ...auditors,
    ],
    // Acts as each owner (their Parley credentials); never an auditor's or operator's token.
    sweep: [
      ...logs,
      ...historyAppend,
      ...state,
      'state-index dynamodb:Query',
      ...serviceSecrets,
      ...notify,
    ],
    // Erasure requests and the register (a scan); reads of a user's records; never a history
    // update or delete, never the erasure key.
    erasure: [
      ...logs,
      'history dynamodb:Query',
      ...state,
      'state dynamodb:Scan',
      ...serviceSecrets,
      ...auditors,
      'checkpoint-bucket s3:ListBucket',
      'checkpoint-objects s3:GetObject',
      'checkpoint-key kms:GetPublicKey',
    ],
    // The eraser: the history's only UpdateItem and DeleteItem, state deletes and scans, the day
    // index (retention), its key.
    eraser: [
      ...logs,
      ...historyAppend,
      'history dynamodb:UpdateItem',
      'history dynamodb:DeleteItem',
      'history-index dynamodb:Query',
      ...state,
      'state dynamodb:DeleteItem',
      'state dynamodb:Scan',
      ...serviceSecrets,
      ...auditors,
      'erasure-key secretsmanager:GetSecretValue',
      'checkpoint-bucket s3:ListBucket',
      'checkpoint-objects s3:GetObject',
      'checkpoint-key kms:GetPublicKey',
    ],
  };

  it.each(Object.keys(expected) as FunctionName[])('grants %s exactly what it uses', (name) => {
    expect(grantsOf(api, cap(name))).toEqual([...expected[name]].sort());
  });

  /** The index names a function may query, per table, read from its statements. */
  const indexesOf = (name: FunctionName) => {
    const role = fnProps(name).Role['Fn::GetAtt'][0];
    const found: string[] = [];
    for (const [, policy] of resources('AWS::IAM::Policy')) {
      if (!JSON.stringify(policy.Properties.Roles).includes(`"${role}"`)) continue;
      for (const st of policy.Properties.PolicyDocument.Statement) {
        for (const r of [st.Resource].flat()) {
          const index = /\/index\/(\w+)"/.exec(JSON.stringify(r))?.[1];
          if (index) found.push(`${kindOf(r).replace('-index', '')}/${index}`);
        }
      }
    }
    return found.sort();
  };

  it('grants each index only to the function that queries it', () => {
    const queried = Object.fromEntries(
      (Object.keys(functionSpecs) as FunctionName[])
        .map((name) => [name, indexesOf(name)] as const)
        .filter(([, indexes]) => indexes.length > 0),
    );
    expect(queried).toEqual({
      owner: ['history/byTime'],
      audit: ['history/byDay', 'history/byDestination'],
      reconcile: ['state/byPendingSince'],
      notifier: ['state/byNotificationStatus'],
      notifications: ['state/byNotificationStatus'],
      release: ['state/byOwner'],
      sweep: ['state/byDue'],
      checkpoint: ['history/byDay'],
      eraser: ['history/byDay'],
      metrics: ['history/byDay', 'state/byDue', 'state/byInbound'],
      console: [
        'history/byDay',
        'history/byDestination',
        'history/byTime',
        'state/byDue',
        'state/byInbound',
        'state/byNotificationStatus',
        'state/byOwner',
        'state/byPendingSince',
      ],
    });
  });

  it('allows UpdateItem on the state table only to the processor (delivery leases)', () => {
    const updaters = (Object.keys(functionSpecs) as FunctionName[]).filter((name) =>
      grantsOf(api, cap(name)).includes('state dynamodb:UpdateItem'),
    );
    expect(updaters).toEqual(['processor']);
  });

  it('never allows rewriting history, deleting, scanning or wildcards, on any role', () => {
    const forbidden = /^(dynamodb:(DeleteItem|BatchWriteItem|Scan|PartiQL.*|Transact.*)|\*|.*:\*)$/;
    const roleOf = (name: FunctionName) =>
      JSON.stringify([{ Ref: fnProps(name).Role['Fn::GetAtt'][0] }]);
    // The exceptions, each named: verify lists users and the erasure function the register by
    // scanning the state table (no index has them); the eraser (test/lib/erasure.test.ts) alone
    // updates and deletes history items and deletes and scans state items.
    const allowed: Record<string, string[]> = {
      [roleOf('verify')]: ['state dynamodb:Scan'],
      [roleOf('erasure')]: ['state dynamodb:Scan'],
      [roleOf('eraser')]: [
        'history dynamodb:UpdateItem',
        'history dynamodb:DeleteItem',
        'state dynamodb:DeleteItem',
        'state dynamodb:Scan',
      ],
    };
    const excepted: string[] = [];
    for (const [, policy] of resources('AWS::IAM::Policy')) {
      const exceptions = allowed[JSON.stringify(policy.Properties.Roles)] ?? [];
      for (const st of policy.Properties.PolicyDocument.Statement) {
        const actions: string[] = [st.Action].flat();
        for (const r of [st.Resource].flat()) {
          expect(r).not.toBe('*');
          for (const a of actions) {
            if (exceptions.includes(`${kindOf(r)} ${a}`)) {
              excepted.push(`${kindOf(r)} ${a}`);
              continue;
            }
            if (kindOf(r).startsWith('history')) expect(a).not.toBe('dynamodb:UpdateItem');
            expect(a).not.toMatch(forbidden);
          }
        }
      }
    }
    expect(excepted.sort()).toEqual(Object.values(allowed).flat().sort());
  });

  it('lets the verify function only read: no write of any kind on either table', () => {
    const writes = /^dynamodb:(PutItem|UpdateItem|DeleteItem|BatchWriteItem|TransactWriteItems)$/;
    const tableGrants = grantsOf(api, 'Verify').filter((g) => /^(history|state)/.test(g));

    expect(tableGrants.filter((g) => writes.test(g.split(' ')[1]!))).toEqual([]);
    expect(tableGrants).toEqual([
      'history dynamodb:GetItem',
      'history dynamodb:Query',
      'state dynamodb:GetItem',
      'state dynamodb:Scan',
    ]);
  });

  it('uses no managed policies: every role starts empty', () => {
    for (const [, role] of resources('AWS::IAM::Role')) {
      expect(role.Properties.ManagedPolicyArns).toBeUndefined();
    }
  });
});

describe('callback queue', () => {
  it('is FIFO, deduplicated by the given id, encrypted, TLS-only, with a redrive to a FIFO DLQ', () => {
    const queues = Object.fromEntries(resources('AWS::SQS::Queue'));
    const mainId = Object.keys(queues).find((id) => id.startsWith('CallbacksQueue'))!;
    const dlqId = Object.keys(queues).find((id) => id.startsWith('CallbacksDeadLetterQueue'))!;
    expect(queues[mainId]!.Properties).toMatchObject({
      FifoQueue: true,
      ContentBasedDeduplication: false,
      VisibilityTimeout: 90,
      SqsManagedSseEnabled: true,
      MaximumMessageSize: SQS_MAX_MESSAGE_BYTES,
      RedrivePolicy: {
        deadLetterTargetArn: { 'Fn::GetAtt': [dlqId, 'Arn'] },
        maxReceiveCount: CALLBACK_MAX_RECEIVE_COUNT,
      },
    });
    expect(CALLBACK_MAX_RECEIVE_COUNT).toBe(10);
    expect(queues[dlqId]!.Properties).toMatchObject({
      FifoQueue: true,
      MessageRetentionPeriod: 14 * 24 * 3600,
      SqsManagedSseEnabled: true,
    });
    for (const [, policy] of resources('AWS::SQS::QueuePolicy')) {
      expect(policy.Properties.PolicyDocument.Statement).toContainEqual(
        expect.objectContaining({
          Effect: 'Deny',
          Condition: { Bool: { 'aws:SecureTransport': 'false' } },
        }),
      );
    }
  });

  it('lets the processor itself change a received message visibility (deferred callbacks)', () => {
    const processorRole =
      api.findResources('AWS::Lambda::Function')[functionIdOf(api, 'Processor')]!.Properties.Role[
        'Fn::GetAtt'
      ][0];
    const own = resources('AWS::IAM::Policy')
      .filter(([, p]) => JSON.stringify(p.Properties.Roles).includes(`"${processorRole}"`))
      .flatMap(([, p]) => p.Properties.PolicyDocument.Statement);
    expect(own).toContainEqual(
      expect.objectContaining({
        Action: 'sqs:ChangeMessageVisibility',
        Resource: { 'Fn::GetAtt': [expect.stringMatching(/^CallbacksQueue/), 'Arn'] },
      }),
    );
  });

  it('triggers the processor in batches of 5 with partial batch responses', () => {
    api.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
      FunctionName: { Ref: functionIdOf(api, 'Processor') },
      EventSourceArn: { 'Fn::GetAtt': [Match.stringLikeRegexp('^CallbacksQueue'), 'Arn'] },
      BatchSize: 5,
      FunctionResponseTypes: ['ReportBatchItemFailures'],
    });
    const sources = resources('AWS::Lambda::EventSourceMapping').filter(([, m]) =>
      JSON.stringify(m.Properties.EventSourceArn).includes('"CallbacksQueue'),
    );
    expect(sources).toHaveLength(1);
  });

  it('alarms as soon as one message is visible in the DLQ', () => {
    api.hasResourceProperties('AWS::CloudWatch::Alarm', {
      Namespace: 'AWS/SQS',
      MetricName: 'ApproximateNumberOfMessagesVisible',
      Dimensions: [
        {
          Name: 'QueueName',
          Value: {
            'Fn::GetAtt': [Match.stringLikeRegexp('^CallbacksDeadLetterQueue'), 'QueueName'],
          },
        },
      ],
      Threshold: 0,
      ComparisonOperator: 'GreaterThanThreshold',
    });
  });
});

describe('notify queue', () => {
  const queue = (prefix: string) =>
    resources('AWS::SQS::Queue').find(([id]) => id.startsWith(prefix))!;
  const notifierSource = () => {
    const found = resources('AWS::Lambda::EventSourceMapping').filter(
      ([, m]) => m.Properties.FunctionName.Ref === functionIdOf(api, 'Notifier'),
    );
    expect(found).toHaveLength(1);
    return found[0]![1].Properties;
  };

  it('is FIFO with the sender dedup ids, high-throughput per group, encrypted, with a FIFO DLQ kept 14 days', () => {
    const [, main] = queue('NotifyQueue');
    const [dlqId, dlq] = queue('NotifyDeadLetterQueue');
    expect(main.Properties).toMatchObject({
      FifoQueue: true,
      ContentBasedDeduplication: false,
      DeduplicationScope: 'messageGroup',
      FifoThroughputLimit: 'perMessageGroupId',
      SqsManagedSseEnabled: true,
      RedrivePolicy: { deadLetterTargetArn: { 'Fn::GetAtt': [dlqId, 'Arn'] } },
    });
    expect(dlq.Properties).toMatchObject({
      FifoQueue: true,
      ContentBasedDeduplication: false,
      MessageRetentionPeriod: 14 * 24 * 3600,
      SqsManagedSseEnabled: true,
    });
  });

  it('refuses every request to either notify queue that does not use TLS', () => {
    for (const prefix of ['NotifyQueue', 'NotifyDeadLetterQueue']) {
      const [id] = queue(prefix);
      const policies = resources('AWS::SQS::QueuePolicy').filter(
        ([, p]) => JSON.stringify(p.Properties.Queues) === JSON.stringify([{ Ref: id }]),
      );
      expect(policies).toHaveLength(1);
      expect(policies[0]![1].Properties.PolicyDocument.Statement).toContainEqual(
        expect.objectContaining({
          Effect: 'Deny',
          Principal: { AWS: '*' },
          Action: 'sqs:*',
          Condition: { Bool: { 'aws:SecureTransport': 'false' } },
        }),
      );
    }
  });

  it("keeps a notification through every attempt of the stage's retry schedule before the DLQ", () => {
    const [, main] = queue('NotifyQueue');
    // Counted by the notifier's own schedule: 2 s, 10 s, 30 s, then doubling, within 24 h.
    const attempts = attemptsWithin(stage.config.notifyRetrySeconds);
    expect(attempts).toBe(15);
    expect(main.Properties.RedrivePolicy.maxReceiveCount).toBe(attempts + 5);
    // The local notify queue parks a message after as many receives.
    expect(main.Properties.RedrivePolicy.maxReceiveCount).toBe(NOTIFY_MAX_RECEIVE_COUNT);
    // The whole window fits the queue's retention (4 days), with room for a late redrive.
    expect(main.Properties.MessageRetentionPeriod).toBe(4 * 24 * 3600);
  });

  it('counts the attempts of a schedule the stage configures', () => {
    const fast = devStage((raw) => {
      raw.notifyRetrySeconds = [1];
    });
    const custom = templatesOf(buildApp(fast)).api;
    const [, main] = Object.entries(custom.findResources('AWS::SQS::Queue')).find(([id]) =>
      id.startsWith('NotifyQueue'),
    )!;
    const attempts = attemptsWithin([1]);
    expect(attempts).toBeGreaterThan(15);
    expect(main.Properties.RedrivePolicy.maxReceiveCount).toBe(attempts + 5);
  });

  it('gives a message back only after the notifier is surely done with it: 6x its timeout', () => {
    const [, main] = queue('NotifyQueue');
    const timeout = fnProps('notifier').Timeout;
    expect(timeout).toBe(functionSpecs.notifier.timeoutSeconds);
    expect(main.Properties.VisibilityTimeout).toBe(6 * timeout);
  });

  it('triggers the notifier with partial batch responses, in batches whose attempts all fit its timeout', () => {
    const source = notifierSource();
    expect(source).toMatchObject({
      EventSourceArn: { 'Fn::GetAtt': [expect.stringMatching(/^NotifyQueue/), 'Arn'] },
      FunctionResponseTypes: ['ReportBatchItemFailures'],
    });
    // A FIFO batch is sent one record after another: each may wait a whole downstream timeout.
    const budgetMs = (fnProps('notifier').Timeout - 5) * 1000;
    const perAttemptMs = stage.config.downstreamTimeoutMs;
    expect(source.BatchSize).toBeGreaterThanOrEqual(1);
    expect(source.BatchSize * perAttemptMs).toBeLessThanOrEqual(budgetMs);
    expect((source.BatchSize + 1) * perAttemptMs).toBeGreaterThan(budgetMs);
  });

  it('sends one notification per invocation when the downstream timeout is the longest allowed', () => {
    const slow = templatesOf(
      buildApp(
        devStage((raw) => {
          raw.downstreamTimeoutMs = 20_000;
        }),
      ),
    ).api;
    slow.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
      FunctionName: { Ref: functionIdOf(slow, 'Notifier') },
      BatchSize: 1,
    });
  });
});

describe('schedule and alarms', () => {
  it('runs the outbox relay on the notifier every minute, once per run', () => {
    api.hasResourceProperties('AWS::Events::Rule', {
      ScheduleExpression: 'rate(1 minute)',
      State: 'ENABLED',
      Targets: [
        Match.objectLike({ Arn: { 'Fn::GetAtt': [functionIdOf(api, 'Notifier'), 'Arn'] } }),
      ],
    });
    // The next minute's run does the same work: a failed run is not retried, and counts as
    // dropped (the relay alarm), as does a run that could not start within a minute.
    api.hasResourceProperties('AWS::Lambda::EventInvokeConfig', {
      FunctionName: { Ref: functionIdOf(api, 'Notifier') },
      Qualifier: '$LATEST',
      MaximumRetryAttempts: 0,
      MaximumEventAgeInSeconds: 60,
    });
  });

  it('runs the sweep every minute, once per run: a failed run is dropped, the next one does its work', () => {
    const rules = resources('AWS::Events::Rule').filter(([, r]) =>
      JSON.stringify(r.Properties.Targets).includes(functionIdOf(api, 'Sweep')),
    );
    expect(rules.map(([, r]) => r.Properties)).toEqual([
      expect.objectContaining({
        ScheduleExpression: 'rate(1 minute)',
        State: 'ENABLED',
        Targets: [
          expect.objectContaining({
            Arn: { 'Fn::GetAtt': [functionIdOf(api, 'Sweep'), 'Arn'] },
            RetryPolicy: { MaximumRetryAttempts: 0 },
          }),
        ],
      }),
    ]);
    api.hasResourceProperties('AWS::Lambda::EventInvokeConfig', {
      FunctionName: { Ref: functionIdOf(api, 'Sweep') },
      Qualifier: '$LATEST',
      MaximumRetryAttempts: 0,
      MaximumEventAgeInSeconds: 60,
    });
    // Its time: the runs do not pile up (a minute apart, each within its timeout).
    expect(fnProps('sweep').Timeout).toBeLessThanOrEqual(60);
  });

  it('runs the metrics rollup nightly at 00:30 UTC and counts stuck owners every 5 minutes', () => {
    const rules = resources('AWS::Events::Rule').filter(([, r]) =>
      JSON.stringify(r.Properties.Targets).includes(functionIdOf(api, 'Metrics')),
    );
    const byTask = Object.fromEntries(
      rules.map(([, r]) => [
        JSON.parse(r.Properties.Targets[0].Input).task,
        {
          schedule: r.Properties.ScheduleExpression,
          retries: r.Properties.Targets[0].RetryPolicy.MaximumRetryAttempts,
        },
      ]),
    );
    expect(byTask).toEqual({
      rollup: { schedule: 'cron(30 0 * * ? *)', retries: 2 },
      stuck: { schedule: 'rate(5 minutes)', retries: 0 },
    });
  });

  it('runs reconcile every 5 minutes', () => {
    api.hasResourceProperties('AWS::Events::Rule', {
      ScheduleExpression: 'rate(5 minutes)',
      State: 'ENABLED',
      Targets: [
        Match.objectLike({ Arn: { 'Fn::GetAtt': [functionIdOf(api, 'Reconcile'), 'Arn'] } }),
      ],
    });
  });

  it('alarms on each function errors and throttles, API 5xx and the custom metrics', () => {
    const alarms = resources('AWS::CloudWatch::Alarm').map(([, a]) => a.Properties);
    for (const name of Object.keys(functionSpecs)) {
      for (const metric of ['Errors', 'Throttles']) {
        expect(
          alarms.some(
            (a) =>
              a.Namespace === 'AWS/Lambda' &&
              a.MetricName === metric &&
              a.Dimensions[0].Value.Ref === functionIdOf(api, cap(name)),
          ),
        ).toBe(true);
      }
    }
    expect(alarms.some((a) => a.Namespace === 'AWS/ApiGateway' && a.MetricName === '5xx')).toBe(
      true,
    );
    expect(query('HandoverFailed')).toMatchObject({
      statistic: 'SUM',
      Threshold: 0,
      ComparisonOperator: 'GreaterThanThreshold',
    });
    expect(query('OldestPendingAgeSeconds')).toMatchObject({
      statistic: 'MAX',
      Threshold: stage.config.staleAfterSeconds,
      ComparisonOperator: 'GreaterThanThreshold',
    });
    // No e-mail in config/dev.json: no topic, no alarm actions.
    expect(resources('AWS::SNS::Topic')).toHaveLength(0);
  });

  it('alarms at the first FailoverTargetUnavailable, DownstreamMisconfigured and CircuitOpened', () => {
    for (const name of ['FailoverTargetUnavailable', 'DownstreamMisconfigured', 'CircuitOpened']) {
      expect({ name, ...query(name) }).toMatchObject({
        name,
        statistic: 'SUM',
        Threshold: 1,
        ComparisonOperator: 'GreaterThanOrEqualToThreshold',
        TreatMissingData: 'notBreaching',
      });
    }
  });

  it('watches each custom metric under whatever dimensions the functions publish it with', async () => {
    const emitted = await published((m) => {
      // As functions/domain/handover/records.ts and reconcile.ts publish them.
      m.count('HandoverFailed', 1, { source: 'api' });
      m.gauge('OldestPendingAgeSeconds', 90, 'Seconds');
      // Plain, and with a dimension of their own: the alarm must see both.
      for (const name of [
        'FailoverTargetUnavailable',
        'DownstreamMisconfigured',
        'CircuitOpened',
      ]) {
        m.count(name, 1);
        m.count(name, 1, { serviceId: 'Jlk9e7cSf9g3FFsaqe39' });
      }
    });
    expect(emitted).toHaveLength(8);
    const unwatched = emitted.filter((metric) => !alarmProps().some((a) => watches(a, metric)));
    expect(unwatched).toEqual([]);
  });

  it("sees the sweep's lag as the sweep itself publishes it, from one timer found 400 s late", async () => {
    const nowMs = Date.parse('2026-12-01T12:00:00.000Z');
    const dueAt = new Date(nowMs - 400_000).toISOString();
    const emitted = await published(async (metrics) => {
      await runSweep({
        port: {
          listDue: async () => ({
            items: [{ userId: 'u1', owner: 'Jlk9e7cSf9g3FFsaqe39', version: 3, dueAt }],
          }),
          act: async () => 'lost_race',
        },
        leaseConfigOf: () => null,
        clock: { now: () => nowMs },
        log: { debug() {}, info() {}, warn() {}, error() {} },
        metrics,
        shards: 1,
      });
    });
    const lag = emitted.filter((m) => m.name === 'SweepLagSeconds');
    expect(lag).toHaveLength(1);
    expect(alarmProps().filter((a) => watches(a, lag[0]!))).toEqual([
      expect.objectContaining({ Threshold: 300 }),
    ]);
  });

  it('evaluates every query alarm over the same 5-minute period as the others', () => {
    for (const alarm of alarmProps().filter((a) => a.Metrics)) {
      expect(alarm.Metrics).toEqual([
        expect.objectContaining({ Expression: expect.any(String), Period: 300, ReturnData: true }),
      ]);
    }
  });

  it('alarms as soon as a notification reaches the notify DLQ', () => {
    api.hasResourceProperties('AWS::CloudWatch::Alarm', {
      Namespace: 'AWS/SQS',
      MetricName: 'ApproximateNumberOfMessagesVisible',
      Dimensions: [
        {
          Name: 'QueueName',
          Value: {
            'Fn::GetAtt': [Match.stringLikeRegexp('^NotifyDeadLetterQueue'), 'QueueName'],
          },
        },
      ],
      Threshold: 0,
      ComparisonOperator: 'GreaterThanThreshold',
    });
  });

  it.each([
    ['the relay', 'Notifier'],
    ['the sweep', 'Sweep'],
  ])(
    "alarms on %s's own failure: a run that failed or never started, or a schedule that could not invoke it",
    (_what, construct) => {
      const [ruleId] = resources('AWS::Events::Rule').find(([, r]) =>
        JSON.stringify(r.Properties.Targets).includes(functionIdOf(api, construct)),
      )!;
      api.hasResourceProperties('AWS::CloudWatch::Alarm', {
        Namespace: 'AWS/Lambda',
        MetricName: 'AsyncEventsDropped',
        Dimensions: [{ Name: 'FunctionName', Value: { Ref: functionIdOf(api, construct) } }],
        Statistic: 'Sum',
        Threshold: 0,
        ComparisonOperator: 'GreaterThanThreshold',
      });
      api.hasResourceProperties('AWS::CloudWatch::Alarm', {
        Namespace: 'AWS/Events',
        MetricName: 'FailedInvocations',
        Dimensions: [{ Name: 'RuleName', Value: { Ref: ruleId } }],
        Statistic: 'Sum',
        Threshold: 0,
        ComparisonOperator: 'GreaterThanThreshold',
      });
    },
  );

  it('alarms when the sweep finds a timer due for more than 5 minutes', () => {
    expect(query('SweepLagSeconds')).toMatchObject({
      statistic: 'MAX',
      Threshold: 300,
      ComparisonOperator: 'GreaterThanThreshold',
      TreatMissingData: 'notBreaching',
    });
  });

  it('alarms when a user has waited on their owner past stuckAfterMinutes (StuckOwners above 0)', () => {
    expect(query('StuckOwners')).toMatchObject({
      statistic: 'MAX',
      Threshold: 0,
      ComparisonOperator: 'GreaterThanThreshold',
      TreatMissingData: 'notBreaching',
    });
  });

  it('sends every alarm to the topic when the stage names an e-mail, the informational ones too', () => {
    const mailed = templatesOf(
      buildApp(
        devStage((raw) => {
          raw.infra.alarmEmail = 'alarms@example.com';
        }),
      ),
    ).api;
    const [[topicId]] = Object.entries(mailed.findResources('AWS::SNS::Topic'));
    const all = Object.values(mailed.findResources('AWS::CloudWatch::Alarm'));
    expect(all.length).toBe(alarmProps().length);
    for (const alarm of all) expect(alarm.Properties.AlarmActions).toEqual([{ Ref: topicId }]);
  });
});

describe('outputs', () => {
  it('names the API URL and each Service webhook URL', () => {
    const outputs = api.findOutputs('*');
    expect(outputs.ApiUrl!.Value).toEqual({ 'Fn::GetAtt': [expect.any(String), 'ApiEndpoint'] });
    expect(outputs.WebhookUrlBotService!.Value['Fn::Join'][1][1]).toBe(
      '/webhooks/parley/as272d6g2ds766fcdfgh',
    );
    expect(outputs.WebhookUrlAgentService!.Value['Fn::Join'][1][1]).toBe(
      '/webhooks/parley/Jlk9e7cSf9g3FFsaqe39',
    );
    expect(Object.keys(outputs)).toEqual(
      expect.arrayContaining([
        'CallbackQueueUrl',
        'DeadLetterQueueArn',
        'DeadLetterQueueUrl',
        'NotifyDeadLetterQueueArn',
        'NotifyDeadLetterQueueUrl',
      ]),
    );
  });
});
