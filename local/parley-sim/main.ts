// Command line for a standalone Parley simulator:
//   npm run parley-sim -- --port 4010 [--host H] [--seed file.json] [--latency 50 | 20-80]
//                         [--random-seed N] [--help]
// Prints its base URL and the seeded services with their local credentials, then runs until
// Ctrl-C. A bad flag prints one sentence and exits with code 2.
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { parseSeed, seedFixture } from './seed';
import { startParleySimulator } from './server';
import type { FaultRule, ParleySimulator, SimSeed } from './types';

export const USAGE = `Usage: npm run parley-sim -- [options]

  --port N           port to listen on (default 4010; 0 picks a free one)
  --host H           interface to bind (default 127.0.0.1)
  --seed FILE        JSON seed: { accountIdentification, services: [...], owners? }
  --latency MS       added latency on every Service API call: 50, or a range 20-80
  --random-seed N    seed of the fault generator (default 1)
  --help             this text`;

export class UsageError extends Error {}

export interface CliOptions {
  help: boolean;
  port: number;
  host: string;
  seed: SimSeed;
  faults: FaultRule[];
  randomSeed: number;
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

  return { help: values.help === true, port, host, seed, faults, randomSeed };
}

function integer(flag: string, raw: string, min: number, max: number): number {
  if (!/^\d+$/.test(raw) || Number(raw) < min || Number(raw) > max) {
    throw new UsageError(`${flag} must be a whole number from ${min} to ${max}.`);
  }
  return Number(raw);
}

/** The developer banner: a local simulator's generated credentials are printed on purpose. */
export function banner(sim: ParleySimulator): string {
  const lines = [
    `Parley simulator listening on ${sim.url}`,
    `  Service API base URL: ${sim.baseUrl}`,
    `  Control API:          ${sim.url}/_sim/ (log, faults, users/{id}/messages, ...)`,
    `  Account:              ${sim.seed.accountIdentification}`,
    '  Services (local simulator credentials, not for production):',
  ];
  for (const s of sim.seed.services) {
    lines.push(
      `    ${s.identification}  ${s.name}${s.default ? ' (default)' : ''}`,
      `      shared secret: ${s.sharedSecret}`,
    );
    if (s.callbackUrl) lines.push(`      callback URL:  ${s.callbackUrl}`);
  }
  lines.push('Press Ctrl-C to stop.');
  return lines.join('\n');
}

async function main(): Promise<void> {
  let options: CliOptions;
  try {
    options = parseCliArgs(process.argv.slice(2));
  } catch (err) {
    if (err instanceof UsageError) {
      console.error(err.message);
      process.exit(2);
    }
    throw err;
  }
  if (options.help) {
    console.log(USAGE);
    return;
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
    console.error(
      code === 'EADDRINUSE'
        ? `Port ${options.port} is already in use; pick another with --port.`
        : 'The simulator could not start on that host and port.',
    );
    process.exit(2);
  }
  console.log(banner(sim));

  let stopping = false;
  const stop = () => {
    if (stopping) return;
    stopping = true;
    sim.close().then(
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
