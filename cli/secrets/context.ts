// What the secrets CLI's commands share: the store and standard input (both injected by tests),
// the usage checks made before any AWS call, and the lines that print tokens (stdout, once).
import type { Command } from 'commander';
import type { LoadedStage } from '../../lib/config';
import { type MergeResult, SecretInputError } from '../../lib/secret-values';
import { noExtraOperands, UsageError } from '../usage';
import type { SecretStore } from './store';

export interface SecretsContext {
  /** Built only once the command line is known good: a usage mistake touches no secret. */
  store: () => SecretStore;
  stdin: () => Promise<string>;
}

/** Options of the program, valid with every command and anywhere on the line. */
export interface GlobalOptions {
  stage?: string;
}

/** Adds one command to the program; its action leaves the exit code in the sink. */
export type Register = (program: Command, ctx: SecretsContext, sink: { code: number }) => void;

/** The command's options with the global ones; refuses operands and missing required flags. */
export const checkedOptions = <T extends object>(
  command: Command,
  requiredFlags: readonly (keyof T & string)[],
): T & GlobalOptions => {
  noExtraOperands(command);
  const options = command.optsWithGlobals<T & GlobalOptions>();
  const missing = (['stage', ...requiredFlags] as string[])
    .filter((flag) => !(options as Record<string, unknown>)[flag])
    .map((flag) => `--${flag}`);
  if (missing.length) {
    throw new UsageError(`${missing.join(' and ')} ${missing.length > 1 ? 'are' : 'is'} required.`);
  }
  return options;
};

/** The Service of the stage configuration named by --service. */
export const serviceOf = (stage: LoadedStage, identification: string) => {
  const service = stage.config.services.find((s) => s.identification === identification);
  if (!service) {
    throw new SecretInputError(
      `Service "${identification}" is not in ${stage.source}: one of ${stage.config.services
        .map((s) => s.identification)
        .join(', ')}.`,
    );
  }
  return service;
};

/** New tokens, on stdout (nothing else goes there), each shown this once. */
export const printIssued = (
  label: string,
  issued: MergeResult['issued'],
  signingSecret?: string,
): void => {
  if (issued.callback) {
    console.log(`${label} callback header for Parley: Authorization: Bearer ${issued.callback}`);
  }
  if (issued.api) console.log(`${label} API token: ${issued.api}`);
  if (signingSecret) {
    console.log(`${label} signing secret (verifies X-Handover-Signature): ${signingSecret}`);
  }
};
