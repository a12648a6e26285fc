// `npm start`: the whole system on this machine (see local/stack.ts), with one banner, data kept
// under `.local/` between runs, and a clean stop on Ctrl-C. Configuration problems end with one
// sentence and exit code 1; a wrong command line with exit code 2.
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { type DemoAgent, startDemoAgent } from './demo-agent';
import { startDemoBot } from './demo-bot';
import { LocalSetupError } from './dynamo';
import {
  defaultServicesFile,
  localDir,
  removeRunInfo,
  servicesFilePath,
  writeRunInfo,
} from './paths';
import {
  EXAMPLE_RULE,
  type LocalSettings,
  loadOrCreateServicesFile,
  parseServicesFile,
  readServicesFile,
  tokensOf,
} from './services-file';
import { shellWord } from './shell';
import { type LocalStack, startLocalStack } from './stack';
import { demoServices, generateStartServicesFile, serviceNames } from './demo';

const HELP = `Usage: npm start [-- --memory] [-- --demo] [-- --bundles DIR [--node PATH]]

Runs parley-handover locally: dynalite, the Parley simulator (or a real Parley), the local queue
and the HTTP API on http://localhost:3000, through the same handlers as in AWS. With the services
file it generates itself, the demo bot and agent desk receive the Services' forwards (a Service
the file gives a downstreamUrl keeps it); a file given with PARLEY_SERVICES_FILE is used as written.

Options:
  --memory   a throwaway run: data in memory only, nothing written
  --demo     attach the demo bot and agent desk whatever the services file says
  --bundles DIR  run the functions from the esbuild bundles of a cdk synth output folder (the code
                 "npx cdk synth" builds for AWS, e.g. cdk.out), each in a Node process of its own,
                 instead of the TypeScript sources
  --node PATH    with --bundles: the Node binary for the functions (e.g. the Lambda runtime's major)
  --help     this text

Environment:
  PORT                   API port (default 3000)
  HOST                   API address (default 127.0.0.1)
  PARLEY_SERVICES_FILE   the services file (default .local/services.json, generated on first run)
  PARLEY_API_URL         a real Parley's Service API base URL: then no simulator starts
  PARLEY_SIM_PORT        the simulator's port (default 3001)
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

/** Fixed ports, so that a curl copied from the banner still works after a restart. */
export const localPorts = (env: NodeJS.ProcessEnv): { api: number; simulator: number } => ({
  api: portOf(env.PORT, 'PORT', 3000),
  simulator: portOf(env.PARLEY_SIM_PORT, 'PARLEY_SIM_PORT', 3001),
});

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
      settings: parseServicesFile(generateStartServicesFile()),
      path,
      origin: 'generated in memory for this run',
      onDisk: false,
    };
  }
  const { settings } = loadOrCreateServicesFile(path, generateStartServicesFile);
  return { settings, path, origin: 'generated now, with fresh tokens', onDisk: true };
};

/** What the demo attached: the receivers' URLs by service identification. */
interface Attached {
  bot?: { id: string; url: string };
  desk?: { id: string; url: string };
}

/** Where each Service's forwards go, one line per Service. */
const forwardLines = (stack: LocalStack, attached: Attached): string[] =>
  stack.config.services.map((s, i) => {
    const target =
      attached.bot?.id === s.identification && attached.bot.url === s.downstreamUrl
        ? `the demo bot at ${s.downstreamUrl}`
        : attached.desk?.id === s.identification && attached.desk.url === s.downstreamUrl
          ? `the demo desk at ${s.downstreamUrl}`
          : (s.downstreamUrl ?? 'nowhere (no downstreamUrl): its callbacks are only recorded');
    return `  ${i === 0 ? 'Forwards' : ''.padEnd(8)}      ${s.name} -> ${target}`;
  });

/**
 * `export NAME=value ...` for the README's examples: the API, a bot and an agent, an auditor and
 * an operator.
 */
const exportLine = (stack: LocalStack, url: string, attached: Attached): string => {
  const byRole = (role: 'bot' | 'agent') =>
    stack.settings.file.services.find((s) => (s.role ?? 'bot') === role)?.serviceIdentification;
  const bot = byRole('bot');
  const agent = byRole('agent');
  const tokens = (id: string | undefined) => (id ? stack.tokens.services[id] : undefined);
  const vars: [string, string | undefined][] = [
    ['API', url],
    ['BOT', bot],
    ['AGENT', agent],
    ['BOT_TOKEN', tokens(bot)?.apiToken],
    ['AGENT_TOKEN', tokens(agent)?.apiToken],
    ['BOT_CALLBACK_TOKEN', tokens(bot)?.callbackToken],
    ['AUDITOR_TOKEN', stack.tokens.auditor?.token],
    ['OPERATOR_TOKEN', stack.tokens.operator?.token],
    // The README's failover walk: the simulator's control API and the demo desk's fault mode.
    ['SIM', stack.parley?.url.replace('127.0.0.1', 'localhost')],
    ['DESK_URL', attached.desk?.url.replace(/\/+$/, '')],
  ];
  const set = vars.filter((v): v is [string, string] => v[1] !== undefined);
  return `    export ${set.map(([k, v]) => `${k}=${shellWord(v)}`).join(' ')}`;
};

/** The banner's curls: with the simulator, a user of its own writes (the rule when there is one). */
const tryLines = (stack: LocalStack, url: string, userId: string, attached: Attached): string[] => {
  const auth = (token: string) => `-H ${shellWord(`Authorization: Bearer ${token}`)}`;
  const json = `-H 'Content-Type: application/json'`;
  const t = stack.tokens;
  const auditor = t.auditor?.token ?? '<auditor token>';
  const services = stack.config.services;
  const first = services[0]!;
  const handover = (from: string, to: string, user: string, reason: string) =>
    `    curl -s -X POST ${url}/handovers ${auth(t.services[from]!.apiToken)} ${json} -d ${shellWord(JSON.stringify({ userId: user, newOwner: to, metadata: { reason } }))}`;
  const trail = (user: string) => [
    `    # the audit trail of user ${user}:`,
    `    curl -s ${url}/users/${user}/handovers ${auth(auditor)}`,
  ];
  if (!stack.parley) {
    const other = services[1]?.name ?? 'default';
    return [
      '    # who owns user 20:',
      `    curl -s ${url}/users/20/owner ${auth(auditor)}`,
      `    # the owner hands user 20 to the ${other}:`,
      handover(first.identification, other, '20', 'question_too_complex'),
      ...trail('20'),
    ];
  }
  const sim = stack.parley.url.replace('127.0.0.1', 'localhost');
  const lower = (name: string) => name.toLowerCase();
  const ruled = first.rules.some((r) => r.match === EXAMPLE_RULE.match);
  const target = ruled
    ? services.find(
        (s) =>
          s.identification === EXAMPLE_RULE.newOwner ||
          lower(s.name) === lower(EXAMPLE_RULE.newOwner),
      )
    : undefined;
  const answers = (s: (typeof services)[number]) =>
    attached.desk?.id === s.identification
      ? ', whose demo desk answers'
      : s.downstreamUrl
        ? ', whose program answers'
        : ' (no program behind it answers)';
  const lines: string[] = [];
  if (target) {
    lines.push(
      `    # user ${userId} asks for a human: the ${first.name}'s rule hands them to the ${target.name}${answers(target)}`,
      `    curl -s -X POST ${sim}/_sim/users/${userId}/messages ${json} -d '{"text":"I want a human"}'`,
    );
  } else {
    lines.push(
      `    # user ${userId} writes to the account (Parley calls our webhook):`,
      `    curl -s -X POST ${sim}/_sim/users/${userId}/messages ${json} -d '{"text":"Hello"}'`,
    );
  }
  lines.push(
    `    # what the Services sent user ${userId}:`,
    `    curl -s ${sim}/_sim/users/${userId}/messages`,
  );
  if (target) {
    lines.push(
      `    # the ${target.name} hands user ${userId} back to the ${first.name}:`,
      handover(target.identification, first.name, userId, 'conversation_closed'),
    );
  } else if (services[1]) {
    lines.push(
      `    # the ${first.name} hands user ${userId} to the ${services[1].name}:`,
      handover(first.identification, services[1].name, userId, 'question_too_complex'),
    );
  }
  return [...lines, ...trail(userId)];
};

const bannerOf = (
  stack: LocalStack,
  info: {
    servicesFile: string;
    origin: string;
    memory: boolean;
    attached: Attached;
    userId: string;
  },
): string[] => {
  const url = stack.url.replace('127.0.0.1', 'localhost');
  const t = stack.tokens;
  const sim = stack.parley?.url.replace('127.0.0.1', 'localhost');
  const lines = [
    '',
    'parley-handover is running locally',
    `  API           ${url}   (GET /health answers 200)`,
    `  Console       ${url}/console   (log in with the auditor's or operator's token below)`,
    stack.parley
      ? `  Parley        the simulator at ${sim}${new URL(stack.parleyBaseUrl).pathname} (control API ${sim}/_sim/)`
      : `  Parley        the Parley at ${stack.parleyBaseUrl} (PARLEY_API_URL)`,
    info.memory
      ? '  Data          in memory: gone when this run stops'
      : `  Data          ${join(stack.dataDir ?? '', 'dynamo')} (kept between runs; --memory for a throwaway run)`,
    `  Services file ${info.servicesFile} (${info.origin})`,
    ...(stack.bundles
      ? [
          `  Functions     the bundles of ${stack.bundles.dir}, on Node ${stack.bundles.nodeVersion} (AWS: ${stack.bundles.runtime})`,
        ]
      : []),
    ...forwardLines(stack, info.attached),
    ...(info.attached.bot && info.attached.desk
      ? ['  Demo          "npm run demo" plays its story on this stack']
      : []),
    '',
    '  Tokens (local development only)',
  ];
  const width = Math.max(...Object.values(t.services).map((s) => s.name.length), 8);
  for (const [id, s] of Object.entries(t.services)) {
    lines.push(`    ${s.name.padEnd(width)}  ${id}`);
    lines.push(`    ${''.padEnd(width)}  apiToken      ${s.apiToken}`);
    lines.push(`    ${''.padEnd(width)}  callbackToken ${s.callbackToken}`);
  }
  if (t.auditor)
    lines.push(`    ${'auditor'.padEnd(width)}  ${t.auditor.name}: ${t.auditor.token}`);
  if (t.operator)
    lines.push(`    ${'operator'.padEnd(width)}  ${t.operator.name}: ${t.operator.token}`);
  lines.push(
    '',
    "  For the README's examples, paste into your shell:",
    exportLine(stack, url, info.attached),
    '',
    '  Try',
    ...tryLines(stack, url, info.userId, info.attached),
    '',
    '  Ctrl-C stops everything.',
    '',
  );
  return lines;
};

interface DemoSide {
  extras: { close(): Promise<void> }[];
  downstreamUrls: Record<string, string>;
  attached: Attached;
  agent: (DemoAgent & { serviceId: string }) | null;
}

/**
 * The demo bot and desk behind the first `bot` and the first `agent` Service: `all` attaches both
 * (--demo), `free` only behind a Service the file gives no downstreamUrl, `none` neither.
 */
const startDemoSide = async (
  settings: LocalSettings,
  options: { mode: 'all' | 'free' | 'none'; out: (line: string) => void },
): Promise<DemoSide> => {
  const side: DemoSide = { extras: [], downstreamUrls: {}, attached: {}, agent: null };
  if (options.mode === 'none') return side;
  let services: ReturnType<typeof demoServices>;
  try {
    services = demoServices(settings);
  } catch (err) {
    if (options.mode === 'all') throw err;
    return side;
  }
  const free = (id: string) =>
    options.mode === 'all' ||
    !settings.file.services.find((s) => s.serviceIdentification === id)?.downstreamUrl;
  const tokens = tokensOf(settings);
  const secretOf = (id: string) => tokens.services[id]?.signingSecret ?? '';
  const bot = services.bot.identification;
  const desk = services.agent.identification;
  try {
    if (free(bot)) {
      const receiver = await startDemoBot({
        signingSecret: secretOf(bot),
        agentService: desk,
        out: options.out,
        names: serviceNames(settings),
      });
      side.extras.push(receiver);
      side.downstreamUrls[bot] = receiver.url;
      side.attached.bot = { id: bot, url: receiver.url };
    }
    if (free(desk)) {
      const agent = await startDemoAgent({
        signingSecret: secretOf(desk),
        out: options.out,
        names: serviceNames(settings),
      });
      side.extras.push(agent);
      side.downstreamUrls[desk] = agent.url;
      side.attached.desk = { id: desk, url: agent.url };
      side.agent = Object.assign(agent, { serviceId: desk });
    }
  } catch (err) {
    for (const e of side.extras) await e.close();
    throw err;
  }
  return side;
};

/** Starts everything as `npm start` does; the caller prints and stops. */
export const startFromEnvironment = async (
  argv: string[],
  io: StartIo,
): Promise<Started | number> => {
  let args: {
    memory?: boolean;
    demo?: boolean;
    help?: boolean;
    bundles?: string;
    node?: string;
  };
  try {
    args = parseArgs({
      args: argv,
      options: {
        memory: { type: 'boolean' },
        demo: { type: 'boolean' },
        bundles: { type: 'string' },
        node: { type: 'string' },
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
  if (args.node !== undefined && args.bundles === undefined) {
    io.err('--node needs --bundles: the sources run in this process. Try --help.');
    return 2;
  }
  const env = io.env;
  const memory = args.memory === true;
  const demo = args.demo === true;
  const ports = localPorts(env);
  const { settings, path, origin, onDisk } = loadSettings(env, memory);

  const demoSide = await startDemoSide(settings, {
    // By default only for a services file this command generated (never one given through
    // PARLEY_SERVICES_FILE, nor with a real Parley), and only where it names no downstreamUrl.
    mode: demo ? 'all' : !env.PARLEY_SERVICES_FILE && !env.PARLEY_API_URL ? 'free' : 'none',
    // The notifications they receive are printed after the banner, one line each.
    out: io.out,
  });
  const { extras, downstreamUrls, attached, agent } = demoSide;

  let stack: LocalStack;
  try {
    stack = await startLocalStack({
      settings,
      port: ports.api,
      host: env.HOST || '127.0.0.1',
      dataDir: memory ? undefined : localDir(env),
      parleyApiUrl: env.PARLEY_API_URL || undefined,
      simulator: { port: ports.simulator },
      downstreamUrls,
      ...(args.bundles !== undefined ? { bundles: { dir: args.bundles, node: args.node } } : {}),
    });
  } catch (err) {
    for (const e of extras) await e.close();
    throw err;
  }
  if (agent) agent.connect(stack.url, stack.tokens.services[agent.serviceId]!.apiToken);
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
          demo: Boolean(attached.bot && attached.desk),
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
    attached,
    // A user of this run's own, so that the banner's rule curl hands over on every run.
    userId: String(Date.now()),
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
