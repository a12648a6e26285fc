// Where the CLI finds the API and with which token: --url / --token, else PARLEY_HANDOVER_URL /
// PARLEY_HANDOVER_TOKEN, else the running local stack (its run.json) with the auditor token of the
// local services file (the operator token for the commands that act). Tokens are never printed.
import { readRunInfo, servicesFilePath } from '../../local/paths';
import { type LocalSettings, readServicesFile } from '../../local/services-file';
import { UsageError } from '../usage';
import { type ApiClient, createApiClient } from './api-client';

export interface Target {
  api: ApiClient;
  /** The local services file, when talking to the local stack. */
  local: LocalSettings | null;
  /** A token given on the command line or in the environment (not taken from the local file). */
  explicitToken: boolean;
}

const localSettings = (env: NodeJS.ProcessEnv): LocalSettings | null => {
  try {
    return readServicesFile(servicesFilePath(env));
  } catch {
    return null;
  }
};

/** Whose local token a command uses by default: an auditor's reads, an operator's acts. */
export type LocalRole = 'auditor' | 'operator';

export const targetOf = (
  options: { url?: string; token?: string },
  io: { env: NodeJS.ProcessEnv; fetch?: typeof fetch },
  role: LocalRole = 'auditor',
): Target => {
  const env = io.env;
  const deployed = options.url !== undefined || env.PARLEY_HANDOVER_URL !== undefined;
  const url =
    options.url ??
    env.PARLEY_HANDOVER_URL ??
    readRunInfo(env)?.url ??
    `http://localhost:${env.PORT || 3000}`;
  const explicit = options.token ?? env.PARLEY_HANDOVER_TOKEN;
  const local = deployed ? null : localSettings(env);
  const token = explicit ?? (role === 'operator' ? local?.operators : local?.auditors)?.[0]?.token;
  return {
    api: createApiClient({ url, token, fetch: io.fetch }),
    local,
    explicitToken: explicit !== undefined,
  };
};

/** The apiToken of a Service of the local services file, by identification or name. */
export const localServiceToken = (local: LocalSettings, ref: string): string | undefined => {
  const service = local.file.services.find(
    (s) => s.serviceIdentification === ref || s.name.toLowerCase() === ref.toLowerCase(),
  );
  if (!service) throw new UsageError(`No service "${ref}" in the local services file.`);
  return local.secrets[service.serviceIdentification]!.apiTokens[0];
};

/**
 * The token of a command that acts as one Service (POST /handovers, the lease, an offer's sides):
 * undefined keeps the client's own (--token or PARLEY_HANDOVER_TOKEN, given without --as); locally
 * --as names the Service, else `side` finds the one that must act (the owner, the offeree...).
 */
export const actingToken = async (
  target: Target,
  as: string | undefined,
  side: () => Promise<string>,
): Promise<string | undefined> => {
  if (target.explicitToken && as === undefined) return undefined;
  const local = target.local;
  if (!local) {
    if (as !== undefined) throw new UsageError('--as works with the local services file only.');
    return undefined;
  }
  return localServiceToken(local, as ?? (await side()));
};

/** The identification of a user's current owner (asked with the target's own token). */
export const currentOwner = async (target: Target, userId: string): Promise<string> =>
  (
    await target.api.call<{ owner: { identification: string } }>(
      'GET',
      `/users/${encodeURIComponent(userId)}/owner`,
    )
  ).owner.identification;

/** Whether the CLI was pointed at a deployed stage (so the local hints do not apply). */
export const pointedElsewhere = (argv: string[], env: NodeJS.ProcessEnv): boolean =>
  env.PARLEY_HANDOVER_URL !== undefined ||
  argv.some((a) => a === '--url' || a.startsWith('--url='));
