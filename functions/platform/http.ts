// HTTP for API Gateway v2 (payload 2.0): responses, request helpers, and the ONE error mapper that
// turns an AppError into DESIGN.md's `{ error: { code, message, ...details } }` shape. Anything
// else becomes a generic 500; its name and stack frames are logged, never the request and never
// the error message (which may quote input), and no stack trace ever reaches a response.
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import type * as z from 'zod/mini';
import { safeParse } from 'zod/mini';
import { AppError, PayloadTooLargeError, ValidationError } from '../domain/errors';
import type { Log } from '../domain/ports';
import { MAX_BODY_BYTES } from '../contracts/routes';
import { QUERY_ERROR_CODES } from '../schemas/api';

export type HttpResult = APIGatewayProxyStructuredResultV2;
type Headers = Record<string, string>;

const JSON_TYPE = 'application/json; charset=utf-8';
const CSV_TYPE = 'text/csv; charset=utf-8';

export function json(status: number, body: unknown, headers: Headers = {}): HttpResult {
  return {
    statusCode: status,
    headers: { 'Content-Type': JSON_TYPE, ...headers },
    body: JSON.stringify(body),
  };
}

export function csv(status: number, text: string, headers: Headers = {}): HttpResult {
  return { statusCode: status, headers: { 'Content-Type': CSV_TYPE, ...headers }, body: text };
}

/** Stack frames without the first line, which repeats the (possibly input-quoting) message. */
const stackFrames = (err: Error): string | undefined =>
  err.stack
    ?.split('\n')
    .filter((line) => /^\s+at /.test(line))
    .join('\n');

/** The one error mapper: AppError -> its status and body; anything else -> a generic 500. */
export function toHttpResponse(err: unknown, log?: Log): HttpResult {
  if (err instanceof AppError) {
    const body: Record<string, unknown> = { code: err.code, message: err.message };
    for (const [key, value] of Object.entries(err.details)) {
      if (key !== 'code' && key !== 'message') body[key] = value;
    }
    const headers: Headers = {};
    if (err.retryAfterSeconds !== undefined) {
      headers['Retry-After'] = String(Math.max(0, Math.ceil(err.retryAfterSeconds)));
    }
    if (err.httpStatus >= 500) {
      log?.warn('request failed', { errorName: err.name, code: err.code, status: err.httpStatus });
    }
    return json(err.httpStatus, { error: body }, headers);
  }
  const name = err instanceof Error ? err.name : typeof err;
  const frames = err instanceof Error ? stackFrames(err) : undefined;
  log?.error('unexpected error', { errorName: name, ...(frames ? { stack: frames } : {}) });
  return json(500, { error: { code: 'internal_error', message: 'Internal error.' } });
}

// ---------------------------------------------------------------- request helpers

const tooLarge = (): PayloadTooLargeError =>
  new PayloadTooLargeError(`The request body is larger than ${MAX_BODY_BYTES / 1024} KB.`);

/** The raw body as text (base64 decoded when API Gateway encoded it); 413 above MAX_BODY_BYTES. */
export function readBody(event: Pick<APIGatewayProxyEventV2, 'body' | 'isBase64Encoded'>): string {
  const raw = event.body ?? '';
  if (!event.isBase64Encoded) {
    // A UTF-16 code unit is at most 3 UTF-8 bytes: skip the byte count for clearly small bodies.
    if (raw.length * 3 > MAX_BODY_BYTES && Buffer.byteLength(raw, 'utf8') > MAX_BODY_BYTES) {
      throw tooLarge();
    }
    return raw;
  }
  // Refuse clearly oversized input before decoding it (4 base64 characters carry 3 bytes).
  if (Math.floor(raw.length / 4) * 3 > MAX_BODY_BYTES + 3) throw tooLarge();
  const bytes = Buffer.from(raw, 'base64');
  if (bytes.length > MAX_BODY_BYTES) throw tooLarge();
  return bytes.toString('utf8');
}

/** Keys that must never become properties of parsed input (prototype pollution). */
const FORBIDDEN_KEYS = new Set(['__proto__', 'constructor', 'prototype']);

/**
 * JSON.parse that refuses `__proto__`, `constructor` and `prototype` keys at any depth (400): they
 * could pollute objects, and the history could not keep them as sent (dropping them would change
 * what the caller asked to record).
 */
export function parseJsonSafely(text: string): unknown {
  return JSON.parse(text, (key, value) => {
    if (FORBIDDEN_KEYS.has(key)) {
      throw new ValidationError(
        `The key "${key}" is not allowed in a request body.`,
        'invalid_request',
      );
    }
    return value;
  });
}

const describePath = (path: readonly PropertyKey[]): string => {
  let out = '';
  for (const part of path) {
    if (typeof part === 'number') out += `[${part}]`;
    else {
      // Keys can come from the caller (records): keep them short and printable.
      const key = String(part)
        .replace(/[^\x20-\x7e]/g, '?')
        .slice(0, 40);
      out += out ? `.${key}` : key;
    }
  }
  return out.slice(0, 120);
};

const lowerFirst = (s: string): string => s.charAt(0).toLowerCase() + s.slice(1);

const isMissing = (issue: z.core.$ZodIssue): boolean =>
  issue.code === 'invalid_type' && /received undefined$/.test(issue.message);

/** One short sentence naming the first failing field; zod 4 messages never quote the input. */
export function describeIssue(issue: z.core.$ZodIssue): string {
  if (issue.code === 'unrecognized_keys') {
    const key = describePath([...issue.path, issue.keys[0] ?? '?']);
    return `Field "${key}" is not allowed.`;
  }
  const field = describePath(issue.path);
  // zod does not keep the input in an issue: a missing field reads "received undefined" (in every
  // option, for a union).
  const missing =
    issue.code === 'invalid_union'
      ? issue.errors.length > 0 && issue.errors.every((option) => option.some(isMissing))
      : isMissing(issue);
  const detail = lowerFirst(issue.message).replace(/\.$/, '').slice(0, 160);
  if (!field) return `The request body is invalid: ${detail}.`;
  return missing ? `Field "${field}" is required.` : `Field "${field}" is invalid: ${detail}.`;
}

/**
 * 415: a JSON API route was sent a body of another media type. Parley's webhook never answers it:
 * Parley's callbacks are taken as whatever type they arrive with.
 */
export class UnsupportedMediaTypeError extends AppError {
  readonly httpStatus = 415;
  readonly code = 'unsupported_media_type';
}

const WANTED = 'The request body must be sent as Content-Type: application/json';
/** A media type as RFC 9110 writes one (a token, a slash, a token), safe to repeat in a message. */
const MEDIA_TYPE = /^[a-z0-9!#$&^_.+-]{1,64}\/[a-z0-9!#$&^_.+-]{1,64}$/;

/**
 * A request body must be `application/json`, with no parameter but `charset=utf-8` (JSON is
 * UTF-8: a body that says otherwise would be read wrong). A form or text that happens to hold
 * JSON is refused, so a client that forgot the header learns it at its first call.
 */
export function requireJsonContentType(event: EventParts): void {
  const given = header(event, 'content-type');
  if (given === undefined || given.trim() === '') {
    throw new UnsupportedMediaTypeError(`${WANTED}; the request named no Content-Type.`);
  }
  const [type = '', ...params] = given.split(';').map((part) => part.trim().toLowerCase());
  if (type !== 'application/json') {
    if (!MEDIA_TYPE.test(type)) throw new UnsupportedMediaTypeError(`${WANTED}.`);
    const hint =
      type === 'application/x-www-form-urlencoded'
        ? " (curl -d sends a form unless given -H 'Content-Type: application/json')"
        : '';
    throw new UnsupportedMediaTypeError(`${WANTED}, not ${type}${hint}.`);
  }
  for (const param of params) {
    if (param !== '' && !/^charset\s*=\s*"?utf-8"?$/.test(param)) {
      throw new UnsupportedMediaTypeError(`${WANTED} in UTF-8 (charset=utf-8 or none).`);
    }
  }
}

/**
 * The body parsed as JSON and checked with `schema`: 415 `unsupported_media_type` for a body that
 * is not sent as JSON, 400 `invalid_json` or `invalid_request`.
 */
export function parseJsonBody<T>(
  schema: z.core.$ZodType<T>,
  event: Pick<APIGatewayProxyEventV2, 'body' | 'isBase64Encoded' | 'headers'>,
): T {
  if (event.body) requireJsonContentType(event);
  const text = readBody(event);
  if (text.trim() === '') {
    throw new ValidationError('The request body must be a JSON document.', 'invalid_json');
  }
  let value: unknown;
  try {
    value = parseJsonSafely(text);
  } catch (err) {
    if (err instanceof ValidationError) throw err;
    // The parser's message quotes the input: never pass it on.
    throw new ValidationError('The request body is not valid JSON.', 'invalid_json');
  }
  const result = safeParse(schema, value);
  if (!result.success) {
    const first = result.error.issues[0];
    throw new ValidationError(
      first ? describeIssue(first) : 'The request body is invalid.',
      'invalid_request',
    );
  }
  return result.data;
}

/**
 * Query string parameters checked with `schema` (schemas/api.ts); an empty parameter counts as
 * absent. The first problem answers 400 with its parameter's code (QUERY_ERROR_CODES) and the
 * schema's sentence, which never quotes the value.
 */
export function parseQuery<T>(
  schema: z.core.$ZodType<T>,
  params: Record<string, string | undefined> | undefined,
): T {
  const given: Record<string, string> = {};
  for (const [key, value] of Object.entries(params ?? {})) {
    if (value !== undefined && value !== '') given[key] = value;
  }
  const result = safeParse(schema, given);
  if (result.success) return result.data;
  const issue = result.error.issues[0];
  const name = String(issue?.path[0] ?? '');
  throw new ValidationError(
    issue?.message ?? 'The query is invalid.',
    (Object.hasOwn(QUERY_ERROR_CODES, name) && QUERY_ERROR_CODES[name]) || 'invalid_request',
  );
}

type EventParts = Partial<Pick<APIGatewayProxyEventV2, 'headers'>>;

const own = (map: Record<string, string | undefined> | undefined, key: string) =>
  map && Object.hasOwn(map, key) ? map[key] : undefined;

/** A request header, by case-insensitive name. */
export function header(event: EventParts, name: string): string | undefined {
  const headers = event.headers;
  if (!headers) return undefined;
  const exact = own(headers, name) ?? own(headers, name.toLowerCase());
  if (exact !== undefined) return exact;
  const wanted = name.toLowerCase();
  for (const [key, value] of Object.entries(headers)) {
    if (key.toLowerCase() === wanted) return value;
  }
  return undefined;
}
