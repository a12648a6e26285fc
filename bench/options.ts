// The bench's command line.
import type { FunctionName } from '../functions/contracts/routes';
import { functionSpecs } from '../functions/contracts/routes';

export const SECTIONS = ['bundles', 'cold', 'warm', 'counts', 'scaling', 'cost'] as const;
export type Section = (typeof SECTIONS)[number];

export interface BenchOptions {
  quick: boolean;
  /** Measured samples per gated arm and concurrency. */
  samples: number;
  /** Samples per arm for the reported-only routes (owner, audit). */
  reportedSamples: number;
  warmupRounds: number;
  concurrencies: number[];
  coldRounds: number;
  functions: FunctionName[];
  scaleSizes: number[];
  countRequests: number;
  parleyLatencyMs: number;
  only: Section[];
  help: boolean;
}

export const HELP = `npm run bench -- [options]

Measures DESIGN.md's budgets against floors measured in the same run, prints a table, and writes
bench/reports/bench-<time>.json and bench/latest.md.

  --quick                 smoke run (~1-2 min): 200 samples, 3 cold rounds, 1e3/1e4 records
  --samples N             measured samples per gated arm and concurrency (default 2000)
  --reported-samples N    samples per reported-only route: owner, audit (default 300)
  --warmup N              warm-up rounds per load worker (default 20)
  --concurrency A,B       load concurrencies (default 1,8; the first gates)
  --cold-rounds N         interleaved cold-start rounds (default 30)
  --functions a,b         functions for the cold starts (default all)
  --scale-sizes A,B       history sizes for the scaling reads (default 1000,100000)
  --count-requests N      requests per scenario for the counts (default 20)
  --parley-latency MS     simulator latency for the warm runs (default 50)
  --only a,b              sections: ${SECTIONS.join(', ')} (default all)
  --help                  this text
`;

const intList = (value: string, name: string): number[] => {
  const list = value.split(',').map((v) => Number(v.trim()));
  if (list.length === 0 || list.some((n) => !Number.isInteger(n) || n < 1)) {
    throw new Error(`${name} takes positive whole numbers separated by commas.`);
  }
  return list;
};

export const parseOptions = (argv: string[]): BenchOptions => {
  const quick = argv.includes('--quick');
  const options: BenchOptions = {
    quick,
    samples: quick ? 200 : 2000,
    reportedSamples: quick ? 40 : 300,
    warmupRounds: quick ? 5 : 20,
    concurrencies: [1, 8],
    coldRounds: quick ? 3 : 30,
    functions: Object.keys(functionSpecs) as FunctionName[],
    scaleSizes: quick ? [1000, 10_000] : [1000, 100_000],
    countRequests: quick ? 6 : 20,
    parleyLatencyMs: 50,
    only: [...SECTIONS],
    help: argv.includes('--help') || argv.includes('-h'),
  };
  for (let i = 0; i < argv.length; i += 1) {
    const arg = argv[i]!;
    const [flag, inline] = arg.includes('=')
      ? (arg.split(/=(.*)/s) as [string, string])
      : [arg, undefined];
    const value = () => {
      const v = inline ?? argv[++i];
      if (v === undefined) throw new Error(`${flag} needs a value.`);
      return v;
    };
    switch (flag) {
      case '--quick':
      case '--help':
      case '-h':
        break;
      case '--samples':
        options.samples = intList(value(), flag)[0]!;
        break;
      case '--reported-samples':
        options.reportedSamples = intList(value(), flag)[0]!;
        break;
      case '--warmup':
        options.warmupRounds = intList(value(), flag)[0]!;
        break;
      case '--concurrency':
        options.concurrencies = intList(value(), flag);
        break;
      case '--cold-rounds':
        options.coldRounds = intList(value(), flag)[0]!;
        break;
      case '--functions': {
        const names = value()
          .split(',')
          .map((s) => s.trim());
        for (const n of names) if (!(n in functionSpecs)) throw new Error(`Unknown function ${n}.`);
        options.functions = names as FunctionName[];
        break;
      }
      case '--scale-sizes':
        options.scaleSizes = intList(value(), flag);
        break;
      case '--count-requests':
        options.countRequests = intList(value(), flag)[0]!;
        break;
      case '--parley-latency':
        options.parleyLatencyMs = Number(value());
        break;
      case '--only': {
        const names = value()
          .split(',')
          .map((s) => s.trim());
        for (const n of names)
          if (!SECTIONS.includes(n as Section)) throw new Error(`Unknown section ${n}.`);
        options.only = names as Section[];
        break;
      }
      default:
        throw new Error(`Unknown option ${arg} (see --help).`);
    }
  }
  return options;
};
