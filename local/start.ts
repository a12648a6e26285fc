// `npm start`: the whole system on this machine (see local/stack.ts), with one banner, data kept
// under `.local/` between runs, and a clean stop on Ctrl-C. Configuration problems end with one
// sentence and exit code 1; a wrong command line with exit code 2.
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import type { DemoAgent } from './demo-agent';
import { startDemoAgent } from './demo-agent';
import { startDemoBot } from './demo-bot';
import { LocalSetupError } from './dynamo';
import type { ForwardReceiver } from './forward-receiver';
import {
  defaultServicesFile,
  localDir,
  removeRunInfo,
  servicesFilePath,
  writeRunInfo,
} from './paths';
import {
  type LocalSettings,
  loadOrCreateServicesFile,
  parseServicesFile,
  readServicesFile,
  tokensOf,
} from './services-file';
import { generateSimulatorServicesFile, type LocalStack, startLocalStack } from './stack';
import { demoServices } from './demo';

const HELP = `Usage: npm start [-- --memory] [-- --demo]

Runs parley-handover locally: dynalite, the Parley simulator (or a real Parley), the local queue
and the HTTP API on http://localhost:3000, through the same handlers as in AWS.

Options:
  --memory   a throwaway run: data in memory only, nothing written
  --demo     attach the demo bot and agent desk (then "npm run demo" uses this stack)
  --help     this text

Environment:
  PORT                   API port (default 3000)
  HOST                   API address (default 127.0.0.1)
  PARLEY_SERVICES_FILE   the services file (default .local/services.json, generated on first run)
  PARLEY_API_URL         a real Parley's Service API base URL: then no simulator starts
  PARLEY_SIM_PORT        the simulator's port (default: a free one)
  PARLEY_LOCAL_DIR       where data lives (default .local/ in the project)`;

export interface StartIo {
  env: NodeJS.ProcessEnv;
  out: (line: string) => void;
  err: (line: string) => void;
}

export interface Started {
  stack: LocalStack;
  /** A throwaway run (--memory): nothing survives it. */
  memory: boolean;
  close(): Promise<void>;
}

const portOf = (value: string | undefined, name: string, fallback: number): number => {
  if (value === undefined || value === '') return fallback;
  const port = Number(value);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new LocalSetupError(`${name} must be a port number from 0 to 65535.`);
  }
  return port;
};

/** The services file to use, generated when it is the default one and does not exist yet. */
const loadSettings = (
  env: NodeJS.ProcessEnv,
  memory: boolean,
): { settings: LocalSettings; path: string; origin: string; onDisk: boolean } => {
  const path = servicesFilePath(env);
  const isDefault = !env.PARLEY_SERVICES_FILE;
  if (env.PARLEY_API_URL && !existsSync(path)) {
    throw new LocalSetupError(
      `PARLEY_API_URL is set but the services file ${path} does not exist: set PARLEY_SERVICES_FILE to a file with your Parley services (format in the README).`,
    );
  }
  if (!isDefault || existsSync(path)) {
    return { settings: readServicesFile(path), path, origin: 'read', onDisk: true };
  }
  if (memory) {
    return {
      settings: parseServicesFile(generateSimulatorServicesFile()),
      path,
      origin: 'generated in memory for this run',
      onDisk: false,
    };
  }
  const { settings } = loadOrCreateServicesFile(path, generateSimulatorServicesFile);
  return { settings, path, origin: 'generated now, with fresh tokens', onDisk: true };
};

const bannerOf = (
  stack: LocalStack,
  info: { servicesFile: string; origin: string; memory: boolean; demo: boolean },
): string[] => {
  const url = stack.url.replace('127.0.0.1', 'localhost');
  const t = stack.tokens;
  const lines = [
    '',
    'parley-handover is running locally',
    `  API           ${url}   (GET /health answers 200)`,
    stack.parley
      ? `  Parley        the simulator at ${stack.parleyBaseUrl} (control API ${stack.parley.url}/_sim/)`
      : `  Parley        a real Parley at ${stack.parleyBaseUrl}`,
    info.memory
      ? '  Data          in memory: gone when this run stops'
      : `  Data          ${join(stack.dataDir ?? '', 'dynamo')} (kept between runs; --memory for a throwaway run)`,
    `  Services file ${info.servicesFile} (${info.origin})`,
    ...(info.demo ? ['  Demo          bot and agent desk attached: run "npm run demo"'] : []),
    '',
    '  Tokens (local development only)',
  ];
  const width = Math.max(...Object.values(t.services).map((s) => s.name.length), 7);
  for (const [id, s] of Object.entries(t.services)) {
    lines.push(`    ${s.name.padEnd(width)}  ${id}`);
    lines.push(`    ${''.padEnd(width)}  apiToken      ${s.apiToken}`);
    lines.push(`    ${''.padEnd(width)}  callbackToken ${s.callbackToken}`);
  }
  if (t.auditor)
    lines.push(`    ${'auditor'.padEnd(width)}  ${t.auditor.name}: ${t.auditor.token}`);

  const first = Object.values(t.services)[0];
  const auditor = t.auditor?.token ?? '<auditor token>';
  const other = Object.values(t.services)[1]?.name ?? 'default';
  lines.push('', '  Try');
  if (stack.parley) {
    lines.push(
      '    # user 20 writes to the account (Parley calls our webhook):',
      `    curl -s -X POST ${stack.parley.url}/_sim/users/20/messages -H 'Content-Type: application/json' -d '{"text":"Hello"}'`,
    );
  } else {
    lines.push(
      '    # who owns user 20:',
      `    curl -s ${url}/users/20/owner -H 'Authorization: Bearer ${auditor}'`,
    );
  }
  lines.push(
    `    # the owner hands user 20 to the ${other}:`,
    `    curl -s -X POST ${url}/handovers -H 'Authorization: Bearer ${first?.apiToken ?? '<apiToken>'}' -H 'Content-Type: application/json' -d '{"userId":"20","newOwner":"${other}","metadata":{"reason":"question_too_complex"}}'`,
    '    # the audit trail of user 20:',
    `    curl -s ${url}/users/20/handovers -H 'Authorization: Bearer ${auditor}'`,
    '',
    '  Ctrl-C stops everything.',
    '',
  );
  return lines;
};

/** Starts everything as `npm start` does; the caller prints and stops. */
export const startFromEnvironment = async (
  argv: string[],
  io: StartIo,
): Promise<Started | number> => {
  let args: { memory?: boolean; demo?: boolean; help?: boolean };
  try {
    args = parseArgs({
      args: argv,
      options: {
        memory: { type: 'boolean' },
        demo: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
      allowPositionals: false,
    }).values;
  } catch (err) {
    const message = (err as Error).message.replace(/\.?$/, '.');
    io.err(`${message} Try --help.`);
    return 2;
  }
  if (args.help) {
    io.out(HELP);
    return 0;
  }
  const env = io.env;
  const memory = args.memory === true;
  const demo = args.demo === true;
  const port = portOf(env.PORT, 'PORT', 3000);
  const simPort = portOf(env.PARLEY_SIM_PORT, 'PARLEY_SIM_PORT', 0);
  const { settings, path, origin, onDisk } = loadSettings(env, memory);

  const extras: (ForwardReceiver | DemoAgent)[] = [];
  const downstreamUrls: Record<string, string> = {};
  let agent: DemoAgent | null = null;
  let services: ReturnType<typeof demoServices> | null = null;
  if (demo) {
    services = demoServices(settings);
    const tokens = tokensOf(settings);
    const bot = await startDemoBot({
      signingSecret: tokens.services[services.bot.identification]?.signingSecret ?? '',
      agentService: services.agent.identification,
    });
    extras.push(bot);
    agent = await startDemoAgent({
      signingSecret: tokens.services[services.agent.identification]?.signingSecret ?? '',
    });
    extras.push(agent);
    downstreamUrls[services.bot.identification] = bot.url;
    downstreamUrls[services.agent.identification] = agent.url;
  }

  let stack: LocalStack;
  try {
    stack = await startLocalStack({
      settings,
      port,
      host: env.HOST || '127.0.0.1',
      dataDir: memory ? undefined : localDir(env),
      parleyApiUrl: env.PARLEY_API_URL || undefined,
      simulator: { port: simPort },
      downstreamUrls,
    });
  } catch (err) {
    for (const e of extras) await e.close();
    throw err;
  }
  if (agent && services) {
    agent.connect(stack.url, stack.tokens.services[services.agent.identification]!.apiToken);
  }
  if (onDisk) {
    // run.json is what outside tools rely on (local/README.md); a --memory run given a services
    // file writes it too, into a PARLEY_LOCAL_DIR that may not exist yet.
    try {
      mkdirSync(localDir(env), { recursive: true });
      writeRunInfo(
        {
          pid: process.pid,
          url: stack.url,
          simulatorUrl: stack.parley?.url ?? null,
          servicesFile: path,
          demo,
          dynamoEndpoint: stack.dynamo.endpoint,
        },
        env,
      );
    } catch (err) {
      await stack.close();
      for (const e of extras) await e.close();
      throw new LocalSetupError(
        `Could not write ${join(localDir(env), 'run.json')}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}. Check PARLEY_LOCAL_DIR.`,
      );
    }
  }
  for (const line of bannerOf(stack, {
    servicesFile: onDisk ? path : `${defaultServicesFile(env)} (not written)`,
    origin,
    memory,
    demo,
  })) {
    io.out(line);
  }
  return {
    stack,
    memory,
    close: async () => {
      if (onDisk) removeRunInfo(env);
      await stack.close();
      for (const e of extras) await e.close();
    },
  };
};

export const main = async (argv: string[]): Promise<void> => {
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  const io: StartIo = {
    env: process.env,
    out: (line) => console.log(line),
    err: (line) => console.error(line),
  };
  let started: Started | number;
  try {
    started = await startFromEnvironment(argv, io);
  } catch (err) {
    io.err(
      err instanceof LocalSetupError
        ? err.message
        : `The local stack could not start: ${err instanceof Error ? err.message : String(err)}`,
    );
    process.exitCode = 1;
    return;
  }
  if (typeof started === 'number') {
    process.exitCode = started;
    return;
  }
  const running = started;
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) {
      io.err('Stopping now.');
      process.exit(130);
    }
    stopping = true;
    io.err(
      running.memory
        ? `\n${signal}: stopping (an in-memory run: its data goes with it)...`
        : `\n${signal}: stopping (accepted callbacks stay queued for the next run)...`,
    );
    running
      .close()
      .then(() => {
        io.err('Stopped.');
        process.exit(0);
      })
      .catch((err) => {
        io.err(`Stopping failed: ${err instanceof Error ? err.message : String(err)}`);
        process.exit(1);
      });
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));
};

if (require.main === module) {
  void main(process.argv.slice(2));
}
