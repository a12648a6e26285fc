// `set-service`: a Service's Parley values and (optionally) fresh tokens, in its secret and its
// callback-token secret; callback tokens an earlier version kept in the secret are copied over.
import type { Command } from 'commander';
import { mergeServiceSecret, SecretInputError } from '../../../lib/secret-values';
import { checkedOptions, type Register } from '../context';
import { updateServiceSecrets } from '../service-secrets';

interface SetServiceOptions {
  service: string;
  account?: string;
  sharedSecretStdin?: boolean;
  generateTokens?: boolean;
  prune?: boolean;
  secretId?: string;
  callbackSecretId?: string;
}

export const registerSetService: Register = (program, ctx, sink) => {
  program
    .command('set-service')
    .description(
      "set a Service's Parley values and (optionally) generate its tokens; writes its secret and its callback-token secret",
    )
    .usage('--stage <stage> --service <identification> [options]')
    .option('--service <identification>', 'the Service (as in the stage configuration)')
    .option('--account <accountIdentification>', "Parley account (default: the stage's)")
    .option('--shared-secret-stdin', "read Parley's shared service-account secret from stdin")
    .option(
      '--generate-tokens',
      "replace the callback and API tokens with fresh ones, printed once (with the Service's signing secret, for its program)",
    )
    .option(
      '--prune',
      "remove the callback tokens an earlier version kept in the Service's secret (they are copied to its callback-token secret on any run; prune once this version is deployed)",
    )
    .option('--secret-id <arn>', "the Service secret's ARN (default: found by its tags)")
    .option('--callback-secret-id <arn>', "the callback-token secret's ARN (default: by its tags)")
    .action(async (...args: unknown[]) => {
      const command = args.at(-1) as Command;
      const options = checkedOptions<SetServiceOptions>(command, ['service']);
      sink.code = await updateServiceSecrets(
        ctx,
        { ...options, stage: options.stage! },
        { writesMain: true, writesCallback: true, showSigningSecret: !!options.generateTokens },
        async (current, stage) => {
          const account = options.account ?? stage.config.accountIdentification;
          if (account !== stage.config.accountIdentification) {
            throw new SecretInputError(
              `--account ${account} differs from the stage's account ${stage.config.accountIdentification}: one stage serves one Parley account.`,
            );
          }
          return mergeServiceSecret(current, {
            accountIdentification: account,
            sharedServiceAccountSecret: options.sharedSecretStdin ? await ctx.stdin() : undefined,
            generateTokens: !!options.generateTokens,
            prune: !!options.prune,
          });
        },
      );
    });
};
