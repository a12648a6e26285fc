// Every function's bundle as the CDK stack builds it: the real app (lib/parley-handover, the same
// stacks `cdk synth` builds) is synthesized with asset bundling on, and each Lambda's staged asset
// is read. The cold-start floor and the hello-world handler are built by the same construct
// (ServiceFunction, whose NodejsFunction holds the esbuild options), so all bundles share one set
// of options without the bench restating them.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { gzipSync } from 'node:zlib';
import { App, Stack } from 'aws-cdk-lib';
import { RetentionDays } from 'aws-cdk-lib/aws-logs';
import { type FunctionName, functionSpecs } from '../functions/contracts/routes';
import { loadStage, REPO_ROOT } from '../lib/config';
import { ServiceFunction } from '../lib/constructs/service-function';
import { addParleyHandover } from '../lib/parley-handover';

export const FLOOR_BUNDLES = { floor: 'floor-function.ts', hello: 'hello.ts' } as const;
export type BundleName = FunctionName | keyof typeof FLOOR_BUNDLES;

export interface Bundle {
  name: BundleName;
  file: string;
  bytes: number;
  gzipBytes: number;
  /** The environment the template gives the function (deploy-time references left unresolved). */
  env: Record<string, unknown>;
  memoryMb: number;
}

export interface BuiltBundles {
  outdir: string;
  bundles: Map<BundleName, Bundle>;
  synthMs: number;
  dispose(): void;
}

type Resource = { Type: string; Properties: Record<string, any> };

const cdkContext = (): Record<string, unknown> =>
  JSON.parse(fs.readFileSync(path.join(REPO_ROOT, 'cdk.json'), 'utf8')).context ?? {};

const capitalized = (name: string) => `${name[0]!.toUpperCase()}${name.slice(1)}`;

export const buildBundles = (): BuiltBundles => {
  const started = performance.now();
  const outdir = fs.mkdtempSync(path.join(os.tmpdir(), 'parley-bench-cdk-'));
  const previous = process.env.CDK_VALIDATION;
  process.env.CDK_VALIDATION = 'false';
  try {
    const app = new App({ outdir, context: cdkContext() });
    const { api } = addParleyHandover(app, loadStage());
    const floors = new Stack(app, 'ParleyHandoverBenchFloors');
    for (const [name, entry] of Object.entries(FLOOR_BUNDLES)) {
      new ServiceFunction(floors, capitalized(name), {
        // The construct's `name` only labels the role; the spec decides what is built.
        name: 'health',
        spec: { entry, description: `bench ${name}`, memoryMb: 512, timeoutSeconds: 15 },
        configJson: '{}',
        logRetention: RetentionDays.ONE_DAY,
        handlersDir: path.join(__dirname, 'floors'),
      });
    }
    const assembly = app.synth();
    const bundles = new Map<BundleName, Bundle>();
    const read = (stackId: string, names: string[], memory: (n: string) => number) => {
      const resources = assembly.getStackArtifact(stackId).template.Resources as Record<
        string,
        Resource
      >;
      for (const name of names) {
        const prefix = `${capitalized(name)}Function`;
        const found = Object.entries(resources).find(
          ([id, r]) => id.startsWith(prefix) && r.Type === 'AWS::Lambda::Function',
        );
        if (!found) throw new Error(`No Lambda function ${prefix}* in ${stackId}.`);
        const fn = found[1].Properties;
        const hash = String(fn.Code.S3Key).replace(/\.zip$/, '');
        const file = path.join(outdir, `asset.${hash}`, 'index.js');
        const code = fs.readFileSync(file);
        bundles.set(name as BundleName, {
          name: name as BundleName,
          file,
          bytes: code.length,
          gzipBytes: gzipSync(code, { level: 9 }).length,
          env: fn.Environment?.Variables ?? {},
          memoryMb: memory(name),
        });
      }
    };
    read(
      api.artifactId,
      Object.keys(functionSpecs),
      (n) => functionSpecs[n as FunctionName].memoryMb,
    );
    read(floors.artifactId, Object.keys(FLOOR_BUNDLES), () => 512);
    return {
      outdir,
      bundles,
      synthMs: performance.now() - started,
      dispose: () => fs.rmSync(outdir, { recursive: true, force: true }),
    };
  } catch (err) {
    fs.rmSync(outdir, { recursive: true, force: true });
    throw err;
  } finally {
    if (previous === undefined) delete process.env.CDK_VALIDATION;
    else process.env.CDK_VALIDATION = previous;
  }
};
