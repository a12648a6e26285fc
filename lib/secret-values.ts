// Pure logic of the secrets CLI (bin/secrets.ts): read a secret's JSON, merge Parley's values and
// fresh tokens, rotate token lists, add auditors. No AWS calls (and no CDK) here: the CLI reads
// and writes.
import { randomBytes } from 'node:crypto';

/** Tags that `bin/secrets.ts` uses to find a stage's secrets (ListSecrets with a tag filter). */
export const SECRET_TAGS = {
  stage: 'parley-handover:stage',
  /** `service` or `auditors`. */
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

export interface SetServiceInput {
  /** Parley's account identification (the stage's one account). */
  accountIdentification?: string;
  /** Parley's shared service-account secret for this Service. */
  sharedServiceAccountSecret?: string;
  /** Replace both token lists with one fresh token each. */
  generateTokens: boolean;
  /** Where fresh tokens come from. @default newToken */
  token?: () => string;
}

export interface MergeResult {
  next: SecretJson;
  /** Tokens created by this change: to print once, for the operator. */
  issued: Partial<Record<TokenKind, string>>;
}

/** Merges Parley's values and (optionally) fresh tokens into a Service's secret. */
export const mergeServiceSecret = (current: SecretJson, input: SetServiceInput): MergeResult => {
  const token = input.token ?? (() => newToken());
  let next: SecretJson = { ...current };
  if (input.accountIdentification !== undefined) {
    next.accountIdentification = input.accountIdentification;
  }
  if (input.sharedServiceAccountSecret !== undefined) {
    const shared = input.sharedServiceAccountSecret.trim();
    if (!shared) throw new SecretInputError('The shared service-account secret is empty.');
    next.sharedServiceAccountSecret = shared;
  }
  const issued: MergeResult['issued'] = {};
  for (const kind of ['callback', 'api'] as const) {
    if (input.generateTokens) {
      issued[kind] = token();
      next = withTokens(next, kind, [issued[kind]]);
    } else {
      next = withTokens(next, kind, tokensOf(next, kind));
    }
  }
  if (typeof next.signingSecret !== 'string' || next.signingSecret.length < 16) {
    next.signingSecret = token();
  }
  return { next, issued };
};

export interface RotateInput {
  kind: TokenKind;
  /** Drop the oldest token instead of adding one (after every caller moved to the new one). */
  retire: boolean;
  token?: () => string;
}

/** Adds a token next to the current ones (both valid), or retires the oldest one. */
export const rotateServiceToken = (current: SecretJson, input: RotateInput): MergeResult => {
  const tokens = tokensOf(current, input.kind);
  if (input.retire) {
    if (tokens.length < 2) {
      throw new SecretInputError(
        `The ${input.kind} token cannot be retired: it is the only one (rotate first).`,
      );
    }
    return { next: withTokens(current, input.kind, tokens.slice(1)), issued: {} };
  }
  const fresh = (input.token ?? (() => newToken()))();
  return {
    next: withTokens(current, input.kind, [...tokens, fresh]),
    issued: { [input.kind]: fresh },
  };
};

/** Adds an auditor with a fresh token; names are unique. */
export const addAuditor = (
  current: SecretJson,
  name: string,
  token: () => string = () => newToken(),
): { next: SecretJson; token: string } => {
  const trimmed = name.trim();
  if (!trimmed || trimmed.length > 100) {
    throw new SecretInputError('An auditor name must be 1 to 100 characters.');
  }
  const auditors = Array.isArray(current.auditors)
    ? (current.auditors as unknown[]).filter(
        (a): a is { name: string; token: string } =>
          typeof a === 'object' && a !== null && typeof (a as { name?: unknown }).name === 'string',
      )
    : [];
  if (auditors.some((a) => a.name === trimmed)) {
    throw new SecretInputError(`An auditor named "${trimmed}" exists already.`);
  }
  const fresh = token();
  return {
    next: { ...current, auditors: [...auditors, { name: trimmed, token: fresh }] },
    token: fresh,
  };
};
