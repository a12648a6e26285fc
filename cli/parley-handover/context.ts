// What every command of `parley-handover` is given: the process's I/O, the global options (taken
// before or after the command), where the API is, and the checks of common arguments.
import type { Command } from 'commander';
import { instantSchema } from '../../functions/schemas/api';
import { noExtraOperands, UsageError } from '../usage';
import { type LocalRole, type Target, targetOf } from './target';

export interface CliIo {
  env: NodeJS.ProcessEnv;
  stdout: (text: string) => void;
  stderr: (text: string) => void;
  fetch?: typeof fetch;
  /** Whether stderr is a terminal (progress lines rewrite themselves). */
  stderrIsTty?: boolean;
}

/** Options of the program, valid with every command and anywhere on the line. */
export interface GlobalOptions {
  url?: string;
  token?: string;
  format?: string;
  json?: boolean;
}

export type Format = 'table' | 'json' | 'csv';

export interface Context {
  io: CliIo;
  /**
   * The API and the token to call it with, from the global options, the environment or run.json
   * (with the local services file's auditor token, or its operator's for `role: 'operator'`).
   */
  target(command: Command, role?: LocalRole): Target;
  /** The output format a command asked for (--format, or --json), among those it offers. */
  format(command: Command, allowed: readonly Format[]): Format;
}

export const createContext = (io: CliIo): Context => ({
  io,
  target: (command, role) => targetOf(command.optsWithGlobals<GlobalOptions>(), io, role),
  format(command, allowed) {
    const { format, json } = command.optsWithGlobals<GlobalOptions>();
    if (json && format !== undefined && format !== 'json') {
      throw new UsageError(`--json and --format ${format} ask for two formats: pick one.`);
    }
    const chosen = json ? 'json' : (format ?? 'table');
    if (!(allowed as readonly string[]).includes(chosen)) {
      throw new UsageError(`--format must be one of ${allowed.join(', ')}.`);
    }
    return chosen as Format;
  },
});

/** Where an action leaves its exit code (commander's actions return nothing to the caller). */
export interface ExitSink {
  code: number;
}

/** Adds one command (with its options, help and action) to the program. */
export type Register = (program: Command, ctx: Context, sink: ExitSink) => void;

/**
 * A command's action: refuses extra operands, runs, and leaves the exit code in the sink.
 * Commander passes the declared arguments, the options and the command itself.
 */
export const action =
  (
    sink: ExitSink,
    run: (command: Command, ...operands: (string | undefined)[]) => Promise<number>,
  ) =>
  async (...args: unknown[]): Promise<void> => {
    const command = args.at(-1) as Command;
    noExtraOperands(command);
    sink.code = await run(command, ...(command.processedArgs as (string | undefined)[]));
  };

/** An operand that must not be empty (commander lets "" through as present). */
export const required = (value: string | undefined, name: string): string => {
  if (value === undefined || value === '') throw new UsageError(`Missing <${name}>.`);
  return value;
};

/**
 * `--at`: an instant the API's owner route accepts, checked with the route's own schema (ISO-8601
 * with a time and a zone). A date alone is refused here, as the API refuses it: which moment of
 * that day would it be?
 */
export const instantOption = (value: string | undefined, name: string): string | undefined => {
  if (value === undefined) return undefined;
  if (/^\d{4}-\d{2}-\d{2}$/.test(value)) {
    throw new UsageError(
      `${name} names an instant, not a day: add a time and a zone, e.g. ${value}T23:59:59Z for the end of that day.`,
    );
  }
  if (!instantSchema.safeParse(value).success) {
    throw new UsageError(
      `${name} must be an ISO-8601 instant with a zone, e.g. 2026-03-01T14:00:00Z.`,
    );
  }
  return value;
};

/**
 * `--from` / `--to` of an audit range: a date (the API reads `--to` as the end of that day) or a
 * date-time with a zone, the forms the API's range query takes (it still has the last word, on
 * a day such as Feb 30).
 */
export const rangeBound = (value: string | undefined, name: string): string | undefined => {
  if (value === undefined) return undefined;
  if (
    !/^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:?\d{2}))?$/.test(value) ||
    Number.isNaN(Date.parse(value.replace(/([+-]\d{2})(\d{2})$/, '$1:$2')))
  ) {
    throw new UsageError(
      `${name} must be an ISO-8601 date or a date-time with a zone, e.g. 2026-03-01T00:00:00Z.`,
    );
  }
  return value;
};

/** A whole number from 1 to max. */
export const countOption = (value: string, name: string, max?: number): string => {
  if (!/^[1-9]\d*$/.test(value) || (max !== undefined && Number(value) > max)) {
    throw new UsageError(
      max === undefined
        ? `${name} must be a positive whole number.`
        : `${name} must be a whole number from 1 to ${max}.`,
    );
  }
  return value;
};
