// Pure logic of the secrets CLI (cli/secrets/): read a secret's JSON, merge Parley's values and
// fresh tokens, rotate token lists, add auditors. A Service has two secrets: the main one (Parley
// credentials, API tokens, signing secret) and its callback-token secret (what the webhook reads);
// callback tokens an earlier version kept in the main one are copied over, and pruned on request.
// No AWS calls (and no CDK) here: the CLI reads and writes.
import { randomBytes } from 'node:crypto';

/** Tags that the secrets CLI uses to find a stage's secrets (ListSecrets with a tag filter). */
export const SECRET_TAGS = {
  stage: 'parley-handover:stage',
  /** `service`, `callback-tokens` or `auditors`. */
  kind: 'parley-handover:kind',
  /** The Service's identification (service secrets only). */
  service: 'parley-handover:service',
} as const;

/** The key Secrets Manager fills with a random value in the auditors' placeholder. */
export const PLACEHOLDER_KEY = 'placeholder';

/** A fresh bearer token: 32 random bytes, base64url (43 characters). */
export const newToken = (random: (n: number) => Buffer = randomBytes): string =>
  random(32).toString('base64url');

export type TokenKind = 'callback' | 'api';
const LIST_KEY: Record<TokenKind, 'callbackTokens' | 'apiTokens'> = {
  callback: 'callbackTokens',
  api: 'apiTokens',
};
const SINGLE_KEY: Record<TokenKind, 'callbackToken' | 'apiToken'> = {
  callback: 'callbackToken',
  api: 'apiToken',
};

export type SecretJson = Record<string, unknown>;

/** A usage error of the CLI, told in one sentence. */
export class SecretInputError extends Error {
  override readonly name = 'SecretInputError';
}

/**
 * The JSON object in a secret string. A value that is not a JSON object (say, an unset secret)
 * counts as empty; the placeholder key that CloudFormation generated is dropped.
 */
export const parseSecretJson = (text: string | undefined): SecretJson => {
  let value: unknown;
  try {
    value = text ? JSON.parse(text) : {};
  } catch {
    value = {};
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return {};
  const { [PLACEHOLDER_KEY]: _placeholder, ...rest } = value as SecretJson;
  return rest;
};

/** The tokens of one kind, old single-string form included, oldest first. */
export const tokensOf = (secret: SecretJson, kind: TokenKind): string[] => {
  const list = secret[LIST_KEY[kind]];
  const single = secret[SINGLE_KEY[kind]];
  return [
    ...(Array.isArray(list) ? list.filter((t): t is string => typeof t === 'string') : []),
    ...(typeof single === 'string' ? [single] : []),
  ];
};

const withTokens = (secret: SecretJson, kind: TokenKind, tokens: string[]): SecretJson => {
  const { [SINGLE_KEY[kind]]: _single, ...rest } = secret;
  return { ...rest, [LIST_KEY[kind]]: tokens };
};

/** Both secrets of a Service, as JSON objects. */
export interface ServiceSecrets {
  /** Parley credentials, API tokens, signing secret. */
  main: SecretJson;
  /** Callback tokens only. */
  callback: SecretJson;
}

export interface SetServiceInput {
  /** Parley's account identification (the stage's one account). */
  accountIdentification?: string;
  /** Parley's shared service-account secret for this Service. */
  sharedServiceAccountSecret?: string;
  /** Replace both token lists with one fresh token each. */
  generateTokens: boolean;
  /** Remove callback tokens left in the main secret by an earlier version. */
  prune?: boolean;
  /** Where fresh tokens come from. @default newToken */
  token?: () => string;
}

export interface MergeResult {
  next: ServiceSecrets;
  /** Tokens created by this change: to print once, for the operator. */
  issued: Partial<Record<TokenKind, string>>;
  /** Callback tokens copied from the main secret into the callback-token secret. */
  copied: number;
  /** Callback tokens removed from the main secret. */
  pruned: number;
}

const withoutCallbackTokens = (main: SecretJson): SecretJson => {
  const { callbackTokens: _list, callbackToken: _single, ...rest } = main;
  return rest;
};

/**
 * The callback-token secret's tokens; when it has none, those an earlier version kept in the main
 * secret (copied, so that the tokens Parley presents today stay valid).
 */
const callbackTokensOf = (current: ServiceSecrets): { tokens: string[]; copied: number } => {
  const own = tokensOf(current.callback, 'callback');
  if (own.length > 0) return { tokens: own, copied: 0 };
  const legacy = tokensOf(current.main, 'callback');
  return { tokens: legacy, copied: legacy.length };
};

/** Merges Parley's values and (optionally) fresh tokens into a Service's two secrets. */
export const mergeServiceSecret = (
  current: ServiceSecrets,
  input: SetServiceInput,
): MergeResult => {
  const token = input.token ?? (() => newToken());
  let main: SecretJson = { ...current.main };
  if (input.accountIdentification !== undefined) {
    main.accountIdentification = input.accountIdentification;
  }
  if (input.sharedServiceAccountSecret !== undefined) {
    const shared = input.sharedServiceAccountSecret.trim();
    if (!shared) throw new SecretInputError('The shared service-account secret is empty.');
    main.sharedServiceAccountSecret = shared;
  }
  const issued: MergeResult['issued'] = {};
  let callbackTokens: string[];
  let copied = 0;
  if (input.generateTokens) {
    issued.callback = token();
    callbackTokens = [issued.callback];
    issued.api = token();
    main = withTokens(main, 'api', [issued.api]);
  } else {
    ({ tokens: callbackTokens, copied } = callbackTokensOf(current));
    main = withTokens(main, 'api', tokensOf(main, 'api'));
  }
  // Fresh tokens replace the old ones everywhere; otherwise old ones stay until pruned.
  const legacy = tokensOf(main, 'callback').length;
  const pruned = input.generateTokens || input.prune ? legacy : 0;
  if (pruned > 0) main = withoutCallbackTokens(main);
  else if (legacy > 0) main = withTokens(main, 'callback', tokensOf(main, 'callback'));
  if (typeof main.signingSecret !== 'string' || main.signingSecret.length < 16) {
    main.signingSecret = token();
  }
  const callback = withTokens(withoutCallbackTokens(current.callback), 'callback', callbackTokens);
  return { next: { main, callback }, issued, copied, pruned };
};

export interface RotateInput {
  kind: TokenKind;
  /** Drop the oldest token instead of adding one (after every caller moved to the new one). */
  retire: boolean;
  token?: () => string;
}

/**
 * Adds a token next to the current ones (both valid), or retires the oldest one: API tokens in
 * the main secret, callback tokens in the callback-token secret.
 */
export const rotateServiceToken = (current: ServiceSecrets, input: RotateInput): MergeResult => {
  const { tokens, copied } =
    input.kind === 'callback'
      ? callbackTokensOf(current)
      : { tokens: tokensOf(current.main, 'api'), copied: 0 };
  let next: string[];
  const issued: MergeResult['issued'] = {};
  if (input.retire) {
    if (tokens.length < 2) {
      throw new SecretInputError(
        `The ${input.kind} token cannot be retired: it is the only one (rotate first).`,
      );
    }
    next = tokens.slice(1);
  } else {
    issued[input.kind] = (input.token ?? (() => newToken()))();
    next = [...tokens, issued[input.kind]!];
  }
  const secrets =
    input.kind === 'callback'
      ? { main: current.main, callback: withTokens(current.callback, 'callback', next) }
      : { main: withTokens(current.main, 'api', next), callback: current.callback };
  return { next: secrets, issued, copied, pruned: 0 };
};
