// Shared helpers of the CDK tests: build the app exactly as bin/app.ts does (same cdk.json
// context), without asset bundling, and read IAM grants out of a template per function.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { App } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { functionSpecs } from '../../functions/contracts/routes';
import { type LoadedStage, loadStage, parseStageConfig, REPO_ROOT } from '../../lib/config';
import { PUBLIC_KEY_FUNCTION } from '../../lib/constructs/checkpoint-public-key';
import { addParleyHandover } from '../../lib/parley-handover';

/** The context cdk.json gives every synth. */
export const cdkJsonContext = (): Record<string, unknown> =>
  JSON.parse(fs.readFileSync(path.join(REPO_ROOT, 'cdk.json'), 'utf8')).context ?? {};

/** config/dev.json with changes applied (for variants of the default stage). */
export const devStage = (change?: (raw: Record<string, any>) => void): LoadedStage => {
  if (!change) return loadStage();
  const raw = JSON.parse(fs.readFileSync(path.join(REPO_ROOT, 'config', 'dev.json'), 'utf8'));
  change(raw);
  return parseStageConfig(raw, 'config/dev.json (test variant)');
};

/**
 * A folder with one placeholder module per function entry. With bundling skipped the template
 * never reads a handler's code, so the grants and the wiring do not wait for a handler to be
 * written; bundles.test.ts builds the real ones, and api-stack.test.ts checks that each exists.
 * It lies under the project (esbuild's root, even when it does not run), in an ignored folder
 * shared by every test process (the same files, written once).
 */
export const stubHandlersDir = (): string => {
  const dir = path.join(REPO_ROOT, 'node_modules', '.cache', 'handler-stubs');
  fs.mkdirSync(dir, { recursive: true });
  for (const spec of [...Object.values(functionSpecs), PUBLIC_KEY_FUNCTION]) {
    const file = path.join(dir, spec.entry);
    if (!fs.existsSync(file))
      fs.writeFileSync(file, 'export const handler = async () => undefined;\n');
  }
  return dir;
};

/**
 * Both stacks of a stage. Without `bundle`, bundling is skipped and the entries are placeholders
 * (stack tests check the template, not code); with it, the real handlers are bundled.
 */
export const buildApp = (stage: LoadedStage = loadStage(), bundle = false) => {
  const app = new App({
    context: { ...cdkJsonContext(), ...(bundle ? {} : { 'aws:cdk:bundling-stacks': [] }) },
  });
  const stacks = addParleyHandover(app, stage, bundle ? {} : { handlersDir: stubHandlersDir() });
  return { app, ...stacks };
};

export const templatesOf = (built: ReturnType<typeof buildApp>) => ({
  data: Template.fromStack(built.data),
  api: Template.fromStack(built.api),
});

type Resources = Record<string, { Type: string; Properties?: any; [k: string]: any }>;

/** Logical id of the Lambda function whose construct path contains `/{Name}/Function`. */
export const functionIdOf = (template: Template, constructName: string): string => {
  const fns = template.findResources('AWS::Lambda::Function') as Resources;
  const hit = Object.keys(fns).filter((id) => id.startsWith(`${constructName}Function`));
  if (hit.length !== 1) throw new Error(`no single function ${constructName}: ${hit.join(', ')}`);
  return hit[0]!;
};

/**
 * Every (resource kind, action) pair a function's role is granted, as `kind action` strings.
 * The kind is read from what the resource refers to (a table, an index, a secret, the queue).
 */
export const grantsOf = (template: Template, constructName: string): string[] => {
  const fnId = functionIdOf(template, constructName);
  const fns = template.findResources('AWS::Lambda::Function') as Resources;
  const roleId = fns[fnId]!.Properties.Role['Fn::GetAtt'][0] as string;
  const policies = template.findResources('AWS::IAM::Policy') as Resources;
  const grants = new Set<string>();
  for (const policy of Object.values(policies)) {
    const roles = JSON.stringify(policy.Properties.Roles);
    if (!roles.includes(`"${roleId}"`)) continue;
    for (const st of policy.Properties.PolicyDocument.Statement) {
      expect(st.Effect).toBe('Allow');
      const actions: string[] = [st.Action].flat();
      const resources: unknown[] = [st.Resource].flat();
      for (const r of resources) {
        let kind = kindOf(r);
        if (kind === 'own-logs' && !JSON.stringify(r).includes(`"${constructName}Logs`)) {
          kind = 'other-logs';
        }
        for (const a of actions) grants.add(`${kind} ${a}`);
      }
    }
  }
  return [...grants].sort();
};

/** A readable name for an IAM resource reference of this app's templates. */
export const kindOf = (resource: unknown): string => {
  const s = JSON.stringify(resource);
  const index = s.includes('/index/') ? '-index' : '';
  if (s === '"*"') return '*';
  if (/History/.test(s)) return `history${index}`;
  if (/State/.test(s)) return `state${index}`;
  if (/SecretsCallbackTokensas272d6g2ds766fcdfgh/.test(s)) return 'callback-tokens:bot';
  if (/SecretsCallbackTokensJlk9e7cSf9g3FFsaqe39/.test(s)) return 'callback-tokens:agent';
  if (/SecretsServiceas272d6g2ds766fcdfgh/.test(s)) return 'secret:bot';
  if (/SecretsServiceJlk9e7cSf9g3FFsaqe39/.test(s)) return 'secret:agent';
  if (/SecretsAuditors/.test(s)) return 'secret:auditors';
  if (/CallbacksDeadLetterQueue/.test(s)) return 'dlq';
  if (/CallbacksQueue/.test(s)) return 'queue';
  if (/NotifyDeadLetterQueue/.test(s)) return 'notify-dlq';
  if (/NotifyQueue/.test(s)) return 'notify-queue';
  if (/CheckpointsBucket/.test(s))
    return s.includes('/*') ? 'checkpoint-objects' : 'checkpoint-bucket';
  if (/CheckpointsKey/.test(s)) return 'checkpoint-key';
  if (/ErasuresKey/.test(s)) return 'erasure-key';
  if (/Logs/.test(s)) return 'own-logs';
  return `unknown:${s}`;
};
