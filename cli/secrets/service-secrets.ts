// The two secrets of one Service (its main secret and its callback-token secret), as set-service
// and rotate change them: read both, merge, write what changed, print new tokens, say what is
// still missing. Callback tokens are written first, so a Service secret is never left without
// them after a copy.
import { type LoadedStage, loadStage } from '../../lib/config';
import {
  type MergeResult,
  SECRET_TAGS,
  type ServiceSecrets,
  parseSecretJson,
  tokensOf,
} from '../../lib/secret-values';
import { callbackTokensSecretSchema, serviceSecretSchema } from '../../functions/schemas/config';
import { printIssued, type SecretsContext, serviceOf } from './context';

export interface ServiceSecretsOptions {
  stage: string;
  service: string;
  secretId?: string;
  callbackSecretId?: string;
}

export interface ServiceChange {
  writesMain: boolean;
  writesCallback: boolean;
  /** Print the signing secret with the tokens (the program behind the Service needs it). */
  showSigningSecret: boolean;
}

export const updateServiceSecrets = async (
  ctx: SecretsContext,
  options: ServiceSecretsOptions,
  change: ServiceChange,
  merge: (current: ServiceSecrets, stage: LoadedStage) => Promise<MergeResult> | MergeResult,
): Promise<number> => {
  const stage = loadStage({ stage: options.stage });
  const stageName = stage.config.stage;
  const service = serviceOf(stage, options.service);
  const secrets = ctx.store();
  const tagsOf = (kind: 'service' | 'callback-tokens') => ({
    [SECRET_TAGS.stage]: stageName,
    [SECRET_TAGS.kind]: kind,
    [SECRET_TAGS.service]: service.identification,
  });
  const mainId = options.secretId ?? (await secrets.find(tagsOf('service')));
  const callbackId = options.callbackSecretId ?? (await secrets.find(tagsOf('callback-tokens')));
  const current = {
    main: parseSecretJson(await secrets.read(mainId)),
    callback: parseSecretJson(await secrets.read(callbackId)),
  };
  const result = await merge(current, stage);
  const { writesMain, writesCallback } = change;
  if (writesCallback) await secrets.write(callbackId, JSON.stringify(result.next.callback));
  if (writesMain) await secrets.write(mainId, JSON.stringify(result.next.main));

  const signing =
    change.showSigningSecret && typeof result.next.main.signingSecret === 'string'
      ? result.next.main.signingSecret
      : undefined;
  printIssued(service.name, result.issued, signing);
  const tokens = (n: number) => `${n} callback token${n === 1 ? '' : 's'}`;
  if (result.copied > 0) {
    console.error(
      `Copied ${tokens(result.copied)} of ${service.name} into its callback-token secret (the ` +
        `webhook reads only that one). The Service secret still lists ${result.copied === 1 ? 'it' : 'them'} ` +
        'for a webhook deployed before the split: once this version is deployed, run set-service ' +
        `--stage ${stageName} --service ${service.identification} --prune.`,
    );
  }
  if (result.pruned > 0) {
    console.error(
      `Removed ${tokens(result.pruned)} from the secret of ${service.name}: ` +
        `${result.pruned === 1 ? 'it lives' : 'they live'} in its callback-token secret now.`,
    );
  }
  const incomplete = [
    ...(writesMain
      ? (serviceSecretSchema.safeParse(result.next.main).error?.issues ?? []).map((i) =>
          i.path.join('.'),
        )
      : []),
    ...(writesCallback &&
    (!callbackTokensSecretSchema.safeParse(result.next.callback).success ||
      tokensOf(result.next.callback, 'callback').length === 0)
      ? ['callbackTokens']
      : []),
  ];
  const where =
    writesMain && writesCallback
      ? `the secret of ${service.name} and to its callback-token secret`
      : writesMain
        ? `the secret of ${service.name}`
        : `the callback-token secret of ${service.name}`;
  console.error(
    incomplete.length === 0
      ? `Written to ${where}.`
      : `Written to ${where}; still missing: ${incomplete.join(', ')} (run with --shared-secret-stdin and --generate-tokens).`,
  );
  return 0;
};
