// `rotate`: a fresh callback or API token next to the current one (both valid), or, with
// --retire, the oldest dropped once every caller uses the new one.
import type { Command } from 'commander';
import { rotateServiceToken } from '../../../lib/secret-values';
import { UsageError } from '../../usage';
import { checkedOptions, type Register } from '../context';
import { updateServiceSecrets } from '../service-secrets';

interface RotateOptions {
  service: string;
  kind?: string;
  retire?: boolean;
  secretId?: string;
  callbackSecretId?: string;
}

export const registerRotate: Register = (program, ctx, sink) => {
  program
    .command('rotate')
    .description('add a new callback or API token next to the current one, or retire the oldest')
    .usage('--stage <stage> --service <identification> --kind callback|api [options]')
    .option('--service <identification>', 'the Service (as in the stage configuration)')
    .option('--kind <kind>', 'callback or api')
    .option('--retire', 'drop the oldest token, once every caller uses the new one')
    .option('--secret-id <arn>', "the Service secret's ARN (default: found by its tags)")
    .option('--callback-secret-id <arn>', "the callback-token secret's ARN (default: by its tags)")
    .addHelpText(
      'after',
      [
        '',
        'Without --retire: adds a fresh token (printed once); the old one stays valid.',
        'With --retire: drops the oldest token, once every caller uses the new one.',
        "Callback tokens live in the Service's callback-token secret, API tokens in its secret.",
      ].join('\n'),
    )
    .action(async (...args: unknown[]) => {
      const command = args.at(-1) as Command;
      const options = checkedOptions<RotateOptions>(command, ['service']);
      const kind = options.kind;
      if (kind !== 'callback' && kind !== 'api') {
        throw new UsageError('--kind must be "callback" or "api".');
      }
      sink.code = await updateServiceSecrets(
        ctx,
        { ...options, stage: options.stage! },
        {
          writesMain: kind === 'api',
          writesCallback: kind === 'callback',
          showSigningSecret: false,
        },
        (current) => rotateServiceToken(current, { kind, retire: !!options.retire }),
      );
    });
};
