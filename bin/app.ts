#!/usr/bin/env node
// The CDK app: load the stage configuration (`-c stage=NAME` or `-c config=PATH`, default
// config/dev.json), add both stacks and the cdk-nag checks. A bad configuration ends the process
// with one sentence on stderr, no stack trace.
import { App } from 'aws-cdk-lib';
import { ConfigError, loadStage } from '../lib/config';
import { addNagChecks } from '../lib/constructs/nag';
import { addParleyHandover } from '../lib/parley-handover';

const app = new App();
const context = (key: string): string | undefined => {
  const value = app.node.tryGetContext(key);
  return value === undefined || value === null || value === '' ? undefined : String(value);
};

try {
  const stage = loadStage({ stage: context('stage'), configPath: context('config') });
  addParleyHandover(app, stage, {
    env: { account: process.env.CDK_DEFAULT_ACCOUNT, region: process.env.CDK_DEFAULT_REGION },
  });
  addNagChecks(app);
} catch (err) {
  if (!(err instanceof ConfigError)) throw err;
  console.error(err.message);
  process.exit(1);
}
