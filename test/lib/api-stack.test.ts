// The API stack's template: routes and integrations, each function's exact grants, runtime and
// timeouts (and their chain), environment wiring, the FIFO queue with its DLQ and alarm, the
// reconcile schedule, the access log, alarms and outputs. Bundling is skipped (see bundles.test).
import { Match, type Template } from 'aws-cdk-lib/assertions';
import { type FunctionName, functionSpecs, httpRoutes } from '../../functions/contracts/routes';
import { CALLBACK_MAX_RECEIVE_COUNT, SQS_MAX_MESSAGE_BYTES } from '../../functions/contracts/queue';
import { ENV } from '../../functions/schemas/config';
import { type LoadedStage, loadStage, QUEUE_VISIBILITY_TIMEOUT_SECONDS } from '../../lib/config';
import { buildApp, devStage, functionIdOf, grantsOf, kindOf, templatesOf } from './support';

let api: Template;
let stage: LoadedStage;
const cap = (n: string) => n[0]!.toUpperCase() + n.slice(1);
const resources = (type: string) =>
  Object.entries(api.findResources(type)) as [string, { Properties: any }][];
const fnProps = (name: FunctionName) =>
  api.findResources('AWS::Lambda::Function')[functionIdOf(api, cap(name))]!.Properties;

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
      ].sort(),
      handover: all,
      messages: all,
      owner: all,
      services: [ENV.config, ENV.serviceSecretArns, ENV.auditorsSecretArn].sort(),
      audit: [ENV.config, ENV.serviceSecretArns, ENV.auditorsSecretArn, ENV.historyTable].sort(),
      reconcile: all,
      verify: all,
      health: [ENV.config, ENV.serviceSecretArns].sort(),
      openapi: [ENV.config, ENV.serviceSecretArns].sort(),
    });
    // A function without secrets is told so explicitly, and has no grant (see least privilege).
    expect(fnProps('health').Environment.Variables[ENV.serviceSecretArns]).toBe('{}');
    // The internet-facing webhook reads callback tokens only, never a Service's Parley secret.
    expect(fnProps('inbound').Environment.Variables[ENV.serviceSecretArns]).toBe('{}');
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
  const consume = [
    'queue sqs:ChangeMessageVisibility',
    'queue sqs:DeleteMessage',
    'queue sqs:GetQueueAttributes',
    'queue sqs:GetQueueUrl',
    'queue sqs:ReceiveMessage',
  ];
  const expected: Record<FunctionName, string[]> = {
    inbound: [...logs, ...callbackTokens, 'queue sqs:SendMessage'],
    processor: [
      ...logs,
      ...historyAppend,
      ...state,
      'state dynamodb:UpdateItem',
      ...serviceSecrets,
      ...consume,
    ],
    handover: [...logs, ...historyAppend, ...state, ...serviceSecrets, ...auditors],
    messages: [...logs, ...historyAppend, ...state, ...serviceSecrets, ...auditors],
    owner: [
      ...logs,
      ...historyAppend,
      'history-index dynamodb:Query',
      ...state,
      ...serviceSecrets,
      ...auditors,
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
    ],
    verify: [
      ...logs,
      'history dynamodb:GetItem',
      'history dynamodb:Query',
      'state dynamodb:GetItem',
      'state dynamodb:Scan',
      ...serviceSecrets,
      ...auditors,
    ],
    health: logs,
    openapi: logs,
  };

  it.each(Object.keys(expected) as FunctionName[])('grants %s exactly what it uses', (name) => {
    expect(grantsOf(api, cap(name))).toEqual([...expected[name]].sort());
  });

  it('never allows rewriting history, deleting, scanning or wildcards, on any role', () => {
    const forbidden = /^(dynamodb:(DeleteItem|BatchWriteItem|Scan|PartiQL.*|Transact.*)|\*|.*:\*)$/;
    const verifyRole = { Ref: fnProps('verify').Role['Fn::GetAtt'][0] };
    let scans = 0;
    for (const [, policy] of resources('AWS::IAM::Policy')) {
      const isVerify = JSON.stringify(policy.Properties.Roles) === JSON.stringify([verifyRole]);
      for (const st of policy.Properties.PolicyDocument.Statement) {
        const actions: string[] = [st.Action].flat();
        for (const r of [st.Resource].flat()) {
          expect(r).not.toBe('*');
          for (const a of actions) {
            if (kindOf(r).startsWith('history')) expect(a).not.toBe('dynamodb:UpdateItem');
            // The one exception: verify lists users by scanning the state table (no index has them).
            if (a === 'dynamodb:Scan' && isVerify && kindOf(r) === 'state') {
              scans++;
              continue;
            }
            expect(a).not.toMatch(forbidden);
          }
        }
      }
    }
    expect(scans).toBe(1);
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
    expect(resources('AWS::Lambda::EventSourceMapping')).toHaveLength(1);
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

describe('schedule and alarms', () => {
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
    expect(alarms).toContainEqual(
      expect.objectContaining({
        Namespace: 'ParleyHandover',
        MetricName: 'HandoverFailed',
        Dimensions: [{ Name: 'service', Value: 'parley-handover' }],
        Threshold: 0,
      }),
    );
    expect(alarms).toContainEqual(
      expect.objectContaining({
        Namespace: 'ParleyHandover',
        MetricName: 'OldestPendingAgeSeconds',
        Statistic: 'Maximum',
        Threshold: stage.config.staleAfterSeconds,
      }),
    );
    // No e-mail in config/dev.json: no topic, no alarm actions.
    expect(resources('AWS::SNS::Topic')).toHaveLength(0);
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
      expect.arrayContaining(['CallbackQueueUrl', 'DeadLetterQueueArn', 'DeadLetterQueueUrl']),
    );
  });
});
