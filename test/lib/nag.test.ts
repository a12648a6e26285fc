// cdk-nag (AwsSolutions, 3.x validation plugin): the app has zero unacknowledged findings, with
// and without the optional parts (alarm e-mail, tracing); a new finding fails synth; what is
// acknowledged is a known, short list, each with a reason that is true of what it covers.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { App, Stack, Validations } from 'aws-cdk-lib';
import { Queue } from 'aws-cdk-lib/aws-sqs';
import { AwsSolutionsChecks } from 'cdk-nag';
import { httpRoutes, routeKey } from '../../functions/contracts/routes';
import { addNagChecks } from '../../lib/constructs/nag';
import { addParleyHandover } from '../../lib/parley-handover';
import { buildApp, cdkJsonContext, devStage, stubHandlersDir } from './support';

const findings = (app: App) =>
  new AwsSolutionsChecks(app).validateScope(app).violations.map((v) => ({
    rule: v.ruleName,
    at: v.violatingResources.map((r) => r.constructPath ?? r.resourceLogicalId),
  }));

let outdir: string;
beforeAll(() => {
  outdir = fs.mkdtempSync(path.join(os.tmpdir(), 'nag-'));
});
afterAll(() => fs.rmSync(outdir, { recursive: true, force: true }));

it('finds nothing unacknowledged in the default stage', () => {
  expect(findings(buildApp().app)).toEqual([]);
});

it('finds nothing unacknowledged with an alarm e-mail topic and X-Ray tracing', () => {
  const stage = devStage((raw) => {
    raw.infra.alarmEmail = 'alarms@example.com';
    raw.infra.tracing = true;
  });
  expect(findings(buildApp(stage).app)).toEqual([]);
});

/** Every acknowledgement in the app: construct path, rule and reason. */
const acknowledged = (app: App) =>
  app.node.findAll().flatMap((c) =>
    c.node.metadata
      .filter((m) => m.type === Validations.ACKNOWLEDGED_RULES_METADATA_KEY)
      .flatMap((m) =>
        Object.entries(m.data as Record<string, string>).map(([rule, reason]) => ({
          path: c.node.path,
          rule: rule.replace(/^Annotation::/, ''),
          reason,
        })),
      ),
  );

it('acknowledges only the known findings: the runtime, the secrets rotation, the public key reader and each route authorizer', () => {
  const acks = acknowledged(buildApp().app);
  const routePath = (key: string) =>
    `ParleyHandover-dev-Api/Http/Api/${key.replace(/\//g, '--').replace(' ', '')}`;
  expect(acks.map((a) => `${a.rule} ${a.path}`).sort()).toEqual(
    [
      'AwsSolutions-L1 ParleyHandover-dev-Api',
      'AwsSolutions-SMG4 ParleyHandover-dev-Data/Secrets',
      // The erasure key is never rotated (every subjectRef depends on it).
      'AwsSolutions-SMG4 ParleyHandover-dev-Api/Erasures/Key',
      // The checkpoints: no access logs on a write-once bucket; the object prefixes of the two
      // functions that read them (one writes).
      'AwsSolutions-S1 ParleyHandover-dev-Data/Checkpoints/Bucket',
      // The public key output's custom resource: our reader on Node 22 like every function, and
      // the Provider framework's invoke of that one function's versions.
      'AwsSolutions-L1 ParleyHandover-dev-Data/CheckpointPublicKey/Function',
      'AwsSolutions-IAM5[Resource::<CheckpointPublicKeyFunctionDF9A22B6.Arn>:*] ParleyHandover-dev-Data/CheckpointPublicKey/ProviderRole',
      ...[
        ['Checkpoint', 'checkpoints'],
        ['Checkpoint', 'users'],
        ['Verify', 'checkpoints'],
        ['Console', 'checkpoints'],
        ['Erasure', 'checkpoints'],
        ['Eraser', 'checkpoints'],
      ].map(
        ([fn, prefix]) =>
          `AwsSolutions-IAM5[Resource::<CheckpointsBucket6BA0C50D.Arn>/${prefix}/*] ParleyHandover-dev-Api/${fn}/CheckpointObjects`,
      ),
      ...httpRoutes.map((r) => `AwsSolutions-APIG4 ${routePath(routeKey(r))}`),
    ].sort(),
  );
});

it('gives each route without an authorizer a true reason: the public ones say so, the others name the tokens their function checks', () => {
  const reasons = new Map(
    acknowledged(buildApp().app)
      .filter((a) => a.rule === 'AwsSolutions-APIG4')
      .map((a) => [a.path.split('/').pop()!, a.reason]),
  );
  for (const route of httpRoutes) {
    const reason = reasons.get(routeKey(route).replace(/\//g, '--').replace(' ', ''))!;
    const isPublic =
      route.fn === 'health' || route.fn === 'openapi' || route.path === '/checkpoints/public-key';
    expect({ route: routeKey(route), public: /public/.test(reason) }).toEqual({
      route: routeKey(route),
      public: isPublic,
    });
    expect({ route: routeKey(route), tokens: /bearer tokens/.test(reason) }).toEqual({
      route: routeKey(route),
      tokens: !isPublic,
    });
  }
});

it('synthesizes the app with the plugin registered as bin/app.ts does', () => {
  const app = new App({
    outdir,
    context: { ...cdkJsonContext(), 'aws:cdk:bundling-stacks': [] },
  });
  addParleyHandover(app, devStage(), { handlersDir: stubHandlersDir() });
  addNagChecks(app);
  expect(() => app.synth()).not.toThrow();
});

it('fails synth on a finding nobody acknowledged', () => {
  const app = new App({ outdir: path.join(outdir, 'bad') });
  new Queue(new Stack(app, 'Extra'), 'QueueWithoutDlq', { enforceSSL: true });
  addNagChecks(app);
  jest.spyOn(console, 'error').mockImplementation(() => {});
  expect(() => app.synth()).toThrow(/AwsSolutions-SQS3/);
});
