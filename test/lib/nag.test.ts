// cdk-nag (AwsSolutions, 3.x validation plugin): the app has zero unacknowledged findings, with
// and without the optional parts (alarm e-mail, tracing); a new finding fails synth.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { App, Stack } from 'aws-cdk-lib';
import { Queue } from 'aws-cdk-lib/aws-sqs';
import { AwsSolutionsChecks } from 'cdk-nag';
import { addNagChecks } from '../../lib/constructs/nag';
import { addParleyHandover } from '../../lib/parley-handover';
import { buildApp, cdkJsonContext, devStage } from './support';

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

it('synthesizes the app with the plugin registered as bin/app.ts does', () => {
  const app = new App({
    outdir,
    context: { ...cdkJsonContext(), 'aws:cdk:bundling-stacks': [] },
  });
  addParleyHandover(app, devStage());
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
