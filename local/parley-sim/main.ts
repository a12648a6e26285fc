// Command line for a standalone Parley simulator:
//   npm run parley-sim -- --port 4010 [--host H] [--seed file.json] [--services-file FILE]
//                         [--webhook-base URL] [--latency 50 | 20-80] [--random-seed N] [--help]
// It writes (or reuses) a services file for its account, so that `npm start` can use it as its
// Parley (PARLEY_API_URL + PARLEY_SERVICES_FILE), points each Service's callbacks at that
// service's webhook with the file's callback token, prints all of it, and runs until Ctrl-C.
// A bad flag prints one sentence and exits with code 2; an unusable services file with code 1.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { LocalSetupError } from '../dynamo';
import { localDir } from '../paths';
import {
  generateServicesFile,
  type LocalSettings,
  loadOrCreateServicesFile,
  servicesForSeed,
} from '../services-file';
import { shellWord } from '../shell';
import { parseSeed, seedFixture } from './seed';
import { startParleySimulator } from './server';
import type { FaultRule, ParleySimulator, SimSeed } from './types';

/** Where `npm start` listens by default: the simulator calls back there. */
const DEFAULT_WEBHOOK_BASE = 'http://127.0.0.1:3000';

export const USAGE = `Usage: npm run parley-sim -- [options]

Runs the Parley simulator alone: Parley's Service API (what this service calls) and a control API
under /_sim/ that plays the users. It writes a services file for its account and prints the
command that runs the service against it:
  PARLEY_API_URL=<its Service API URL> PARLEY_SERVICES_FILE=<that file> npm start
and sends each Service's callbacks to that service's webhook, with the file's callback tokens.

  --port N              port to listen on (default 4010; 0 picks a free one)
  --host H              interface to bind (default 127.0.0.1)
  --seed FILE           JSON seed: { accountIdentification, services: [...], owners? }
  --services-file FILE  the services file to write, or reuse with its tokens (default
                        .local/parley-sim/services.json, under PARLEY_LOCAL_DIR when set)
  --webhook-base URL    where the service listens (default ${DEFAULT_WEBHOOK_BASE}): callbacks go
                        to URL/webhooks/parley/{serviceId}
  --latency MS          added latency on every Service API call: 50, or a range 20-80
  --random-seed N       seed of the fault generator (default 1)
  --help                this text`;

export class UsageError extends Error {}

export interface CliOptions {
  help: boolean;
  port: number;
  host: string;
  seed: SimSeed;
  faults: FaultRule[];
  randomSeed: number;
  /** Undefined: the default one under the local directory. */
  servicesFile: string | undefined;
  webhookBase: string;
}

/** Parses the flags; throws a UsageError whose message is one sentence. */
export function parseCliArgs(argv: string[]): CliOptions {
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({
      args: argv,
      strict: true,
      allowPositionals: false,
      options: {
        port: { type: 'string' },
        host: { type: 'string' },
        seed: { type: 'string' },
        'services-file': { type: 'string' },
        'webhook-base': { type: 'string' },
        latency: { type: 'string' },
        'random-seed': { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    }));
  } catch (err) {
    const message = (err as Error).message.split('\n')[0] ?? 'Bad arguments.';
    throw new UsageError(`${message.replace(/\.$/, '')}; see --help.`);
  }
  const str = (name: string) => values[name] as string | undefined;

  const port = str('port') === undefined ? 4010 : integer('--port', str('port')!, 0, 65535);
  const randomSeed =
    str('random-seed') === undefined
      ? 1
      : integer('--random-seed', str('random-seed')!, 0, 0xffffffff);
  const host = str('host') ?? '127.0.0.1';
  if (host.length === 0) throw new UsageError('--host needs a value.');
  const servicesFile = str('services-file');
  if (servicesFile === '') throw new UsageError('--services-file needs a value.');
  const webhookBase = str('webhook-base') ?? DEFAULT_WEBHOOK_BASE;
  if (!isHttpUrl(webhookBase)) {
    throw new UsageError('--webhook-base must be an http:// or https:// URL.');
  }

  const faults: FaultRule[] = [];
  const latency = str('latency');
  if (latency !== undefined) {
    const range = /^(\d+)-(\d+)$/.exec(latency);
    if (range) {
      const min = Number(range[1]);
      const max = Number(range[2]);
      if (min > max) throw new UsageError('--latency range must be MIN-MAX with MIN <= MAX.');
      faults.push({ route: '*', latencyMs: [min, max] });
    } else {
      faults.push({ route: '*', latencyMs: integer('--latency', latency, 0, 600_000) });
    }
  }

  let seed = seedFixture();
  const seedFile = str('seed');
  if (seedFile !== undefined) {
    let text: string;
    try {
      text = readFileSync(seedFile, 'utf8');
    } catch {
      throw new UsageError('--seed names a file that cannot be read.');
    }
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      throw new UsageError('--seed file is not valid JSON.');
    }
    try {
      seed = parseSeed(json);
    } catch (err) {
      throw new UsageError((err as Error).message);
    }
  }

  return {
    help: values.help === true,
    port,
    host,
    seed,
    faults,
    randomSeed,
    servicesFile,
    webhookBase,
  };
}

function integer(flag: string, raw: string, min: number, max: number): number {
  if (!/^\d+$/.test(raw) || Number(raw) < min || Number(raw) > max) {
    throw new UsageError(`${flag} must be a whole number from ${min} to ${max}.`);
  }
  return Number(raw);
}

function isHttpUrl(value: string): boolean {
  try {
    const url = new URL(value);
    return url.protocol === 'http:' || url.protocol === 'https:';
  } catch {
    return false;
  }
}

/** True when the file is for this seed: its account, and its Services with their shared secrets. */
const fitsSeed = (settings: LocalSettings, seed: SimSeed): boolean =>
  settings.accountIdentification === seed.accountIdentification &&
  settings.file.services.length === seed.services.length &&
  seed.services.every((s) =>
    settings.file.services.some(
      (f) =>
        f.serviceIdentification === s.identification &&
        f.sharedServiceAccountSecret === s.sharedSecret,
    ),
  );

/**
 * Points each Service's callbacks at `webhookBase`/webhooks/parley/{id} with the first callback
 * token the services file gives it, as Parley's registered callback header would.
 */
export function connectCallbacks(
  sim: ParleySimulator,
  settings: LocalSettings,
  webhookBase: string,
): void {
  const base = webhookBase.replace(/\/+$/, '');
  for (const s of settings.file.services) {
    const id = s.serviceIdentification;
    sim.setCallback(id, `${base}/webhooks/parley/${encodeURIComponent(id)}`, {
      Authorization: `Bearer ${settings.secrets[id]!.callbackTokens[0]}`,
    });
  }
}

/** The developer banner: a local simulator's credentials are printed on purpose. */
export function banner(
  sim: ParleySimulator,
  info: { servicesFile: string; origin: string; webhookBase: string },
): string {
  const base = info.webhookBase.replace(/\/+$/, '');
  const lines = [
    `Parley simulator listening on ${sim.url}`,
    `  Service API base URL: ${sim.baseUrl}`,
    `  Control API:          ${sim.url}/_sim/ (GET it for the list)`,
    `  Account:              ${sim.seed.accountIdentification}`,
    `  Services file:        ${info.servicesFile} (${info.origin})`,
    '  Services (local simulator credentials, not for production):',
  ];
  for (const s of sim.seed.services) {
    lines.push(
      `    ${s.identification}  ${s.name}${s.default ? ' (default)' : ''}`,
      `      shared secret: ${s.sharedSecret}`,
      `      callbacks to:  ${base}/webhooks/parley/${encodeURIComponent(s.identification)}`,
    );
  }
  lines.push(
    '',
    `Run the service against it (it must listen on ${base}: set PORT, or --webhook-base here):`,
    `    PARLEY_API_URL=${shellWord(sim.baseUrl)} PARLEY_SERVICES_FILE=${shellWord(info.servicesFile)} npm start`,
    'Then a user writes (the simulator calls the service back), and the log shows what happened:',
    `    curl -s -X POST ${sim.url}/_sim/users/20/messages -H 'Content-Type: application/json' -d '{"text":"I want a human"}'`,
    `    curl -s ${sim.url}/_sim/log`,
    'Press Ctrl-C to stop.',
  );
  return lines.join('\n');
}

export interface SimCliIo {
  env: NodeJS.ProcessEnv;
  out: (line: string) => void;
  err: (line: string) => void;
}

export interface RunningSimulator {
  sim: ParleySimulator;
  servicesFile: string;
  close(): Promise<void>;
}

/** The services file for npm start: reused when it fits the seed, else written with fresh tokens. */
const servicesFileFor = (
  path: string,
  seed: SimSeed,
): { settings: LocalSettings; origin: string } => {
  const existed = existsSync(path);
  const { settings } = loadOrCreateServicesFile(path, () =>
    generateServicesFile(
      seed.accountIdentification,
      servicesForSeed(seed, { sharedSecrets: true }),
    ),
  );
  if (!fitsSeed(settings, seed)) {
    throw new LocalSetupError(
      `The services file ${path} does not fit this simulator's seed (its account, services or shared secrets differ): delete it, or name another with --services-file.`,
    );
  }
  return { settings, origin: existed ? 'read' : 'written now' };
};

/** Starts the simulator as `npm run parley-sim` does; an exit code when it does not run. */
export async function runSimulatorCli(
  argv: string[],
  io: SimCliIo,
): Promise<RunningSimulator | number> {
  let options: CliOptions;
  try {
    options = parseCliArgs(argv);
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    io.err(err.message);
    return 2;
  }
  if (options.help) {
    io.out(USAGE);
    return 0;
  }
  const servicesFile =
    options.servicesFile ?? join(localDir(io.env), 'parley-sim', 'services.json');
  let settings: LocalSettings;
  let origin: string;
  try {
    ({ settings, origin } = servicesFileFor(servicesFile, options.seed));
  } catch (err) {
    if (!(err instanceof LocalSetupError)) throw err;
    io.err(err.message);
    return 1;
  }

  let sim: ParleySimulator;
  try {
    sim = await startParleySimulator({
      port: options.port,
      host: options.host,
      seed: options.seed,
      faults: options.faults,
      randomSeed: options.randomSeed,
    });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    io.err(
      code === 'EADDRINUSE'
        ? `Port ${options.port} is already in use; pick another with --port.`
        : 'The simulator could not start on that host and port.',
    );
    return 2;
  }
  connectCallbacks(sim, settings, options.webhookBase);
  io.out(banner(sim, { servicesFile, origin, webhookBase: options.webhookBase }));
  return { sim, servicesFile, close: () => sim.close() };
}

async function main(): Promise<void> {
  const started = await runSimulatorCli(process.argv.slice(2), {
    env: process.env,
    out: (line) => console.log(line),
    err: (line) => console.error(line),
  });
  if (typeof started === 'number') {
    process.exitCode = started;
    return;
  }
  let stopping = false;
  const stop = () => {
    if (stopping) return;
    stopping = true;
    started.close().then(
      () => {
        console.log('Parley simulator stopped.');
        process.exit(0);
      },
      () => process.exit(1),
    );
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}

if (require.main === module) {
  void main();
}
