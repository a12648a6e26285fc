// `npm run deploy`: `cdk deploy --all` with the options given (`-c stage=prod`, `--require-approval
// never`, ...), its stack outputs written to a file (`cdk.out/outputs-<stage>.json` unless
// `--outputs-file` is given), then what is left to do (cli/deploy/next-steps.ts) on stdout.
// `--next-steps-only` prints them again from the last deploy's file and deploys nothing.
// Exit codes: 0 ok, 1 failure (a bad configuration, cdk's own failure code, unreadable outputs),
// 2 a wrong command line.
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ConfigError, loadStage, REPO_ROOT, type StageSelection } from '../../lib/config';
import { EXIT, UsageError, usageLine } from '../usage';
import { nextSteps, OutputsError, parseOutputs } from './next-steps';

const HELP = `npm run deploy -- [options of cdk deploy]

Runs "cdk deploy --all" with your options (e.g. -c stage=prod, --require-approval never), its
outputs written to cdk.out/outputs-<stage>.json (or --outputs-file), then prints what is left to
do: each Service's secrets command, its callback URL and header for Parley, the first requests.

  --next-steps-only   print the next steps again from the last deploy's outputs; deploy nothing
  --help              this text ("npx cdk deploy --help" for the options of cdk deploy)`;

export interface DeployArgs {
  /** Passed on to `cdk deploy --all`, in order (this script's own options removed). */
  cdkArgs: string[];
  /** The stage, from `-c stage=` / `-c config=` as the CDK app reads them. */
  selection: StageSelection;
  /** `--outputs-file` / `-O` when given (it stays in cdkArgs). */
  outputsFile?: string;
  nextStepsOnly: boolean;
  help: boolean;
}

/** Reads the options this script needs and leaves every one of cdk's in place. */
export const parseDeployArgs = (argv: readonly string[]): DeployArgs => {
  const args: DeployArgs = { cdkArgs: [], selection: {}, nextStepsOnly: false, help: false };
  const context = (pair: string) => {
    const at = pair.indexOf('=');
    if (at < 0) return;
    const [key, value] = [pair.slice(0, at), pair.slice(at + 1)];
    if (key === 'stage') args.selection.stage = value;
    if (key === 'config') args.selection.configPath = value;
  };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--next-steps-only') {
      args.nextStepsOnly = true;
      continue;
    }
    args.cdkArgs.push(arg);
    if (arg === '--help' || arg === '-h') args.help = true;
    const inline = /^(--context|-c|--outputs-file|-O)=(.*)$/.exec(arg);
    const flag = inline?.[1] ?? arg;
    if (flag === '--context' || flag === '-c') {
      if (inline) context(inline[2]!);
      // cdk takes several KEY=VALUE pairs after one -c.
      while (!inline && i + 1 < argv.length && /^[^-][^=]*=/.test(argv[i + 1]!)) {
        context(argv[++i]!);
        args.cdkArgs.push(argv[i]!);
      }
    }
    if (flag === '--outputs-file' || flag === '-O') {
      const value = inline ? inline[2] : argv[i + 1];
      if (!value || (!inline && value.startsWith('-'))) {
        throw new UsageError(`${flag} needs a file name.`);
      }
      args.outputsFile = value;
      if (!inline) args.cdkArgs.push(argv[++i]!);
    }
  }
  return args;
};

export interface DeployIo {
  out: (text: string) => void;
  err: (text: string) => void;
  /** The command line of the CDK CLI. @default this repository's aws-cdk, on this Node */
  cdk?: readonly string[];
  /** Where the outputs file goes when none is given. @default cdk.out in this repository */
  outputsDir?: string;
}

const defaultCdk = (): string[] => [process.execPath, require.resolve('aws-cdk/bin/cdk')];

/** Runs a command with this terminal (cdk asks its approval question there). */
const runInTerminal = (command: readonly string[]): Promise<number> =>
  new Promise((resolve, reject) => {
    const child = spawn(command[0]!, command.slice(1), { stdio: 'inherit' });
    child.on('error', reject);
    child.on('exit', (code, signal) => resolve(code ?? (signal ? EXIT.failure : EXIT.ok)));
  });

const shown = (file: string): string => {
  const relative = path.relative(process.cwd(), file);
  return relative && !relative.startsWith('..') ? relative : file;
};

/** The command that prints the next steps again, with the options that chose the stage. */
const againCommand = (args: DeployArgs): string =>
  [
    'npm run -s deploy -- --next-steps-only',
    ...(args.selection.stage ? [`-c stage=${args.selection.stage}`] : []),
    ...(args.selection.configPath ? [`-c config=${args.selection.configPath}`] : []),
    ...(args.outputsFile ? [`--outputs-file ${args.outputsFile}`] : []),
  ].join(' ');

/** Deploys (unless --next-steps-only) and prints the next steps; resolves with the exit code. */
export const run = async (argv: readonly string[], io: DeployIo): Promise<number> => {
  let args: DeployArgs;
  try {
    args = parseDeployArgs(argv);
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    io.err(usageLine(err.message));
    return EXIT.usage;
  }
  if (args.help) {
    io.out(HELP);
    return EXIT.ok;
  }

  try {
    // The same check cdk's synth makes, before cdk starts: a placeholder costs no waiting.
    const stage = loadStage(args.selection);
    const file = path.resolve(
      args.outputsFile ??
        path.join(
          io.outputsDir ?? path.join(REPO_ROOT, 'cdk.out'),
          `outputs-${stage.config.stage}.json`,
        ),
    );
    if (!args.nextStepsOnly) {
      const outputsOption = args.outputsFile ? [] : ['--outputs-file', file];
      const code = await runInTerminal([
        ...(io.cdk ?? defaultCdk()),
        'deploy',
        '--all',
        ...outputsOption,
        ...args.cdkArgs,
      ]);
      // cdk has said what went wrong; no next steps for a deploy that did not finish.
      if (code !== EXIT.ok) return code;
    }
    let text: string;
    try {
      text = fs.readFileSync(file, 'utf8');
    } catch {
      throw new OutputsError(
        `No stack outputs in ${shown(file)}: run npm run deploy${args.selection.stage ? ` -- -c stage=${args.selection.stage}` : ''} first.`,
      );
    }
    io.out(nextSteps(stage, parseOutputs(text, shown(file)), shown(file), againCommand(args)));
    return EXIT.ok;
  } catch (err) {
    if (!(err instanceof ConfigError || err instanceof OutputsError)) throw err;
    io.err(err.message);
    return EXIT.failure;
  }
};

if (require.main === module) {
  run(process.argv.slice(2), {
    out: (text) => console.log(text),
    err: (text) => console.error(text),
  }).then(
    (code) => {
      process.exitCode = code;
    },
    (err: unknown) => {
      console.error(`deploy: ${err instanceof Error ? err.message.split('\n')[0] : String(err)}`);
      process.exitCode = EXIT.failure;
    },
  );
}
