// cdk-nag wiring (3.x API): the AwsSolutions pack as a validation plugin, and one helper that
// records an acknowledgement with its written reason.
import { type App, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import type { IConstruct } from 'constructs';

export interface NagAcknowledgement {
  /** A rule id, optionally narrowed to one finding: `AwsSolutions-IAM5[Resource::*]`. */
  id: string;
  /** Why the finding is acceptable here: required, never empty. */
  reason: string;
}

/** Acknowledges findings on a construct and everything below it. */
export const acknowledge = (scope: IConstruct, ...rules: NagAcknowledgement[]): void => {
  for (const rule of rules) {
    if (rule.reason.trim().length < 20) {
      throw new Error(`cdk-nag acknowledgement ${rule.id} at ${scope.node.path} needs a reason.`);
    }
  }
  Validations.of(scope).acknowledge(...rules);
};

/** Registers the AwsSolutions checks: synth fails on any unacknowledged finding. */
export const addNagChecks = (app: App): AwsSolutionsChecks => {
  const checks = new AwsSolutionsChecks(app);
  Validations.of(app).addPlugins(checks);
  return checks;
};
