// The bundle mode end to end: the local stack serves the esbuild bundles of a `cdk synth` output
// (the code the stacks deploy), each function in its own Node process, and a user's message goes
// webhook -> queue -> processor -> bot downstream -> handover, then a handover back and the owner
// and history reads, all through the bundles. The synth output is PARLEY_TEST_CDK_OUT (CI: the one
// `cdk synth` it runs first), else one synthesized here. On the Node running the tests, which CI
// also sets to the Lambda runtime's major.
import { cpSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { App } from 'aws-cdk-lib';
import { addParleyHandover } from '../../lib/parley-handover';
import { functionSpecs } from '../../functions/contracts/routes';
import { silentLog } from '../../functions/domain/ports';
import { type BundleFunctions, readSynthOutput, startBundleFunctions } from '../../local/bundles';
import { botAnswer } from '../../local/demo-bot';
import { startForwardReceiver } from '../../local/forward-receiver';
import { parseServicesFile, toStageConfig, tokensOf } from '../../local/services-file';
import {
  AGENT_SERVICE_ID as AGENT,
  BOT_SERVICE_ID as BOT,
  generateSimulatorServicesFile,
  type LocalStack,
  startLocalStack,
} from '../../local/stack';
import { cdkJsonContext, devStage } from '../lib/support';
import { eventually, http, tempDir } from './support';

describe('local stack on the bundles of cdk synth', () => {
  const settings = parseServicesFile(generateSimulatorServicesFile());
  const tokens = tokensOf(settings);
  const auditor = tokens.auditor!.token;
  const temp = tempDir('parley-bundles-e2e-');
  let synthDir: string;
  let bot: Awaited<ReturnType<typeof startForwardReceiver>>;
  let stack: LocalStack;

  beforeAll(async () => {
    synthDir = process.env.PARLEY_TEST_CDK_OUT ?? join(temp.dir, 'cdk.out');
    if (!process.env.PARLEY_TEST_CDK_OUT) {
      process.env.CDK_VALIDATION = 'false';
      const app = new App({ outdir: synthDir, context: cdkJsonContext() });
      addParleyHandover(app, devStage());
      app.synth();
    }
    bot = await startForwardReceiver({
      signingSecret: tokens.services[BOT]!.signingSecret!,
      onForward: async (forward) =>
        forward.type === 'message' && forward.text ? botAnswer(forward.text, AGENT) : {},
    });
    stack = await startLocalStack({
      settings,
      bundles: { dir: synthDir, quiet: true },
      downstreamUrls: { [BOT]: bot.url },
      reconcileIntervalMs: 0,
      queue: { pollIntervalMs: 20 },
    });
  }, 60_000);
  afterAll(async () => {
    await stack?.close();
    await bot?.close();
    temp.remove();
  });

  it('runs the functions on this Node from the synth output, with the runtime its template names', () => {
    const health = readSynthOutput(synthDir).get('health')!;
    expect(stack.bundles).toEqual({
      dir: synthDir,
      nodeVersion: process.versions.node,
      runtime: health.runtime,
    });
    expect(health.runtime).toMatch(/^nodejs\d+\.x$/);
  });

  it('hands a user over from a webhook and back through the bundles, and reads owner and history', async () => {
    const user = `b-${Date.now()}`;
    const delivered = await http(`${stack.parley!.url}/_sim/users/${user}/messages`, {
      body: { text: 'I was charged twice for my last order.' },
    });
    expect(delivered.body).toMatchObject({ delivered: true, serviceId: BOT });

    const owner = await eventually(`user ${user} to be owned by the Agent Service`, async () => {
      const res = await http(`${stack.url}/users/${user}/owner`, { token: auditor });
      return res.body.owner?.identification === AGENT ? res.body : undefined;
    });
    expect(owner.owner).toEqual({ identification: AGENT, name: 'Agent Service', default: false });

    const back = await http(`${stack.url}/handovers`, {
      token: tokens.services[AGENT]!.apiToken,
      body: { userId: user, newOwner: 'default', metadata: { reason: 'conversation_closed' } },
    });
    expect(back.status).toBe(200);
    expect(back.body).toMatchObject({ changed: true, owner: { identification: BOT } });

    const now = await http(`${stack.url}/users/${user}/owner`, { token: auditor });
    expect(now.body.owner.identification).toBe(BOT);
    const trail = await http(`${stack.url}/users/${user}/handovers`, { token: auditor });
    expect(
      trail.body.handovers.map((h: any) => [h.seq, h.fromOwner, h.toOwner, h.source, h.status]),
    ).toEqual([
      [2, AGENT, BOT, 'api', 'completed'],
      [1, BOT, AGENT, 'downstream', 'completed'],
    ]);
    const verify = await http(`${stack.url}/users/${user}/verify`, { token: auditor });
    expect(verify.body).toMatchObject({ ok: true, count: 2, lastSeq: 2 });
    // Parley saw both owner changes, each made as the owner of the moment.
    const puts = stack
      .parley!.log()
      .filter(
        (e: any) => e.kind === 'request' && e.method === 'PUT' && e.path === `users/${user}/owner`,
      );
    expect(puts.map((e: any) => e.caller)).toEqual([BOT, AGENT]);
  });

  it('refuses to start on a bundle that does not load, naming its function', async () => {
    const broken = join(temp.dir, 'broken.out');
    cpSync(synthDir, broken, { recursive: true });
    writeFileSync(readSynthOutput(broken).get('owner')!.file, "throw new Error('broken bundle');");
    await expect(
      startLocalStack({ settings, bundles: { dir: broken, quiet: true }, reconcileIntervalMs: 0 }),
    ).rejects.toThrow(/The owner function's bundle did not load: broken bundle/);
  });

  it('names the missing synth output', async () => {
    await expect(
      startLocalStack({
        settings,
        bundles: { dir: join(temp.dir, 'nothing') },
        reconcileIntervalMs: 0,
      }),
    ).rejects.toThrow(/holds no cdk synth output \(no manifest\.json\): run "npx cdk synth" first/);
  });
});

describe('bundle functions, each in a process of its own', () => {
  const settings = parseServicesFile(generateSimulatorServicesFile());
  const config = toStageConfig(settings, { parleyBaseUrl: 'http://127.0.0.1:9/api' });
  const temp = tempDir('parley-bundles-fake-');
  const sent: unknown[] = [];
  let fns: BundleFunctions;

  /** A synth output whose every function is one small bundle that counts its events. */
  const fakeSynth = (dir: string, variables: Record<string, unknown>) => {
    mkdirSync(join(dir, 'asset.fake'), { recursive: true });
    writeFileSync(
      join(dir, 'asset.fake', 'index.js'),
      `let events = 0;
exports.handler = async (event) => {
  events += 1;
  if (event.hang) return new Promise(() => {});
  return { events, pid: process.pid, config: process.env.HANDOVER_CONFIG, queue: process.env.CALLBACK_QUEUE_URL ?? null };
};`,
    );
    const resources: Record<string, unknown> = {};
    for (const name of Object.keys(functionSpecs)) {
      resources[`${name[0]!.toUpperCase()}${name.slice(1)}FunctionAbC123`] = {
        Type: 'AWS::Lambda::Function',
        Properties: {
          Handler: 'index.handler',
          Runtime: 'nodejs22.x',
          Timeout: 1,
          MemorySize: 128,
          Code: { S3Key: 'fake.zip' },
          Environment: { Variables: variables },
        },
      };
    }
    writeFileSync(join(dir, 'Stack.template.json'), JSON.stringify({ Resources: resources }));
    writeFileSync(
      join(dir, 'manifest.json'),
      JSON.stringify({
        artifacts: {
          Stack: {
            type: 'aws:cloudformation:stack',
            properties: { templateFile: 'Stack.template.json' },
          },
        },
      }),
    );
  };

  beforeAll(async () => {
    fakeSynth(join(temp.dir, 'ok'), { HANDOVER_CONFIG: '{"placeholder":true}', NODE_OPTIONS: '' });
    fns = await startBundleFunctions({
      dir: join(temp.dir, 'ok'),
      settings,
      config,
      dynamoEndpoint: 'http://127.0.0.1:9',
      tables: { history: 'h', state: 's' },
      queue: { send: async (m) => void sent.push(m), changeVisibility: async () => undefined },
      quiet: true,
      log: silentLog,
    });
  });
  afterAll(async () => {
    await fns?.close();
    temp.remove();
  });

  it('gives a function the local configuration and only the variables its template sets', async () => {
    const answer = (await fns.handlers.health({})) as { config: string; queue: string | null };
    expect(JSON.parse(answer.config)).toEqual(JSON.parse(JSON.stringify(config)));
    expect(answer.queue).toBeNull();
  });

  it('ends a function that runs past its timeout and starts it afresh at the next event', async () => {
    const first = (await fns.handlers.owner({})) as { events: number; pid: number };
    await expect(fns.handlers.owner({ hang: true })).rejects.toThrow(
      'The owner function timed out after 1000 ms.',
    );
    const after = (await fns.handlers.owner({})) as { events: number; pid: number };
    expect(after.events).toBe(1);
    expect(after.pid).not.toBe(first.pid);
  });

  it('refuses a deploy-time value the local runtime cannot resolve, naming function and variable', async () => {
    fakeSynth(join(temp.dir, 'token'), { SOME_ARN: { Ref: 'SomeResource' } });
    await expect(
      startBundleFunctions({
        dir: join(temp.dir, 'token'),
        settings,
        config,
        dynamoEndpoint: 'http://127.0.0.1:9',
        tables: { history: 'h', state: 's' },
        queue: { send: async () => undefined, changeVisibility: async () => undefined },
        quiet: true,
        log: silentLog,
      }),
    ).rejects.toThrow(
      "The inbound function's SOME_ARN is resolved at deploy time; the local runtime has no value for it.",
    );
  });
});
