// The HTTP helpers and the one error mapper: response shapes, body limits, JSON and schema errors,
// prototype-pollution keys, and header lookup.
import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { z } from 'zod';
import {
  HandoverInProgressError,
  NotOwnerError,
  ParleyApiError,
  PayloadTooLargeError,
  QueueUnavailableError,
  ValidationError,
} from '../../functions/domain/errors';
import type { Log, LogAttributes } from '../../functions/domain/ports';
import {
  csv,
  header,
  json,
  parseJsonBody,
  readBody,
  toHttpResponse,
  UnsupportedMediaTypeError,
} from '../../functions/platform/http';
import { MAX_BODY_BYTES } from '../../functions/contracts/routes';

/** A JSON API request as API Gateway hands it over (the client said `application/json`). */
const event = (over: Partial<APIGatewayProxyEventV2> = {}): APIGatewayProxyEventV2 => ({
  version: '2.0',
  routeKey: 'POST /handovers',
  rawPath: '/handovers',
  rawQueryString: '',
  headers: { 'content-type': 'application/json' },
  isBase64Encoded: false,
  requestContext: {} as APIGatewayProxyEventV2['requestContext'],
  ...over,
});

const recordingLog = () => {
  const lines: { level: string; message: string; attributes?: LogAttributes }[] = [];
  const at =
    (level: string) =>
    (message: string, attributes?: LogAttributes): void => {
      lines.push({ level, message, attributes });
    };
  const log: Log = { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
  return { log, lines };
};

const bodyOf = (result: { body?: string }): unknown => JSON.parse(result.body ?? '');

const handoverSchema = z.object({
  userId: z.string().min(1),
  newOwner: z.string().min(1),
  metadata: z.record(z.string(), z.unknown()).optional(),
});

describe('json and csv', () => {
  it('serializes a JSON body with its content type and extra headers', () => {
    expect(json(200, { changed: false }, { 'X-Extra': '1' })).toEqual({
      statusCode: 200,
      headers: { 'Content-Type': 'application/json; charset=utf-8', 'X-Extra': '1' },
      body: '{"changed":false}',
    });
  });

  it('answers CSV text with a CSV content type', () => {
    expect(csv(200, 'a,b\n1,2\n', { 'X-Next-Cursor': 'c1' })).toEqual({
      statusCode: 200,
      headers: { 'Content-Type': 'text/csv; charset=utf-8', 'X-Next-Cursor': 'c1' },
      body: 'a,b\n1,2\n',
    });
  });
});

describe('toHttpResponse', () => {
  it('maps an AppError to its status, code, message and details', () => {
    const result = toHttpResponse(new NotOwnerError('svc-a', 'svc-b'));
    expect(result.statusCode).toBe(403);
    expect(bodyOf(result)).toEqual({
      error: {
        code: 'not_owner',
        message: 'The calling service does not own this user.',
        currentOwner: 'svc-b',
      },
    });
  });

  it('sends Retry-After when the error carries retryAfterSeconds', () => {
    const result = toHttpResponse(new HandoverInProgressError(2.2));
    expect(result.statusCode).toBe(409);
    expect(result.headers).toEqual({
      'Content-Type': 'application/json; charset=utf-8',
      'Retry-After': '3',
    });
    expect(bodyOf(result)).toEqual({
      error: {
        code: 'handover_in_progress',
        message: 'A handover of this user is in progress; retry shortly.',
      },
    });
  });

  it('maps a rejected Parley error to 502 with the Parley status and code', () => {
    const err = new ParleyApiError(403, 'service_is_not_owner', 'PUT', 'users/20/owner', null, 4);
    const result = toHttpResponse(err);
    expect(result.statusCode).toBe(502);
    expect(bodyOf(result)).toEqual({
      error: {
        code: 'parley_error',
        message: 'Parley answered PUT users/20/owner with HTTP 403 (service_is_not_owner).',
        parley: { status: 403, code: 'service_is_not_owner' },
      },
    });
  });

  it('maps a Parley 5xx after the retry budget to 503 parley_unavailable with Retry-After', () => {
    const err = new ParleyApiError(500, null, 'GET', 'users/20/owner', '20500', 40);
    const result = toHttpResponse(err);
    expect(result.statusCode).toBe(503);
    expect(result.headers?.['Retry-After']).toBe('5');
    expect(bodyOf(result)).toEqual({
      error: {
        code: 'parley_unavailable',
        message: 'Parley answered GET users/20/owner with HTTP 500.',
        parley: { status: 500, code: null },
      },
    });
  });

  it('maps a failed enqueue to 503 with Retry-After and logs it as a warning', () => {
    const { log, lines } = recordingLog();
    const result = toHttpResponse(new QueueUnavailableError(), log);
    expect(result.statusCode).toBe(503);
    expect(result.headers?.['Retry-After']).toBe('5');
    expect(lines).toEqual([
      {
        level: 'warn',
        message: 'request failed',
        attributes: { errorName: 'QueueUnavailableError', code: 'enqueue_failed', status: 503 },
      },
    ]);
  });

  it('answers anything else with a generic 500 and no stack or message in the body', () => {
    const result = toHttpResponse(new TypeError('secret-value-xyz is not a function'));
    expect(result.statusCode).toBe(500);
    expect(bodyOf(result)).toEqual({
      error: { code: 'internal_error', message: 'Internal error.' },
    });
    expect(result.body).not.toContain('secret-value-xyz');
    expect(result.body).not.toContain(' at ');
  });

  it('logs an unexpected error by name and stack frames, without its message', () => {
    const { log, lines } = recordingLog();
    toHttpResponse(new TypeError('Bearer tok-123456789abcdef leaked'), log);
    expect(lines).toHaveLength(1);
    expect(lines[0]!.level).toBe('error');
    expect(lines[0]!.attributes?.errorName).toBe('TypeError');
    expect(String(lines[0]!.attributes?.stack)).toMatch(/^\s+at /);
    expect(JSON.stringify(lines)).not.toContain('tok-123456789abcdef');
  });

  it('answers a thrown non-Error value with the generic 500', () => {
    const { log, lines } = recordingLog();
    const result = toHttpResponse('a string', log);
    expect(result.statusCode).toBe(500);
    expect(lines).toEqual([
      { level: 'error', message: 'unexpected error', attributes: { errorName: 'string' } },
    ]);
  });
});

describe('readBody', () => {
  it('returns a plain body as it is', () => {
    expect(readBody(event({ body: '{"a":1}' }))).toBe('{"a":1}');
  });

  it('decodes a base64-encoded body', () => {
    const body = Buffer.from('{"text":"héllo"}', 'utf8').toString('base64');
    expect(readBody(event({ body, isBase64Encoded: true }))).toBe('{"text":"héllo"}');
  });

  it('returns an empty string when there is no body', () => {
    expect(readBody(event())).toBe('');
  });

  it('accepts a body of exactly the limit', () => {
    expect(readBody(event({ body: 'a'.repeat(MAX_BODY_BYTES) })).length).toBe(MAX_BODY_BYTES);
  });

  it('refuses a body one byte over the limit with 413', () => {
    expect(() => readBody(event({ body: 'a'.repeat(MAX_BODY_BYTES + 1) }))).toThrow(
      PayloadTooLargeError,
    );
  });

  it('counts bytes, not characters, for multi-byte text', () => {
    const body = 'é'.repeat(MAX_BODY_BYTES / 2 + 1); // 2 bytes each
    expect(() => readBody(event({ body }))).toThrow(PayloadTooLargeError);
  });

  it('refuses an oversized base64 body', () => {
    const body = Buffer.alloc(MAX_BODY_BYTES + 1, 97).toString('base64');
    const err = (() => {
      try {
        readBody(event({ body, isBase64Encoded: true }));
      } catch (e) {
        return e;
      }
    })();
    expect(err).toBeInstanceOf(PayloadTooLargeError);
    expect(toHttpResponse(err).statusCode).toBe(413);
  });
});

describe('parseJsonBody', () => {
  const failure = (body: string | undefined): ValidationError => {
    try {
      parseJsonBody(handoverSchema, event({ body }));
    } catch (err) {
      if (err instanceof ValidationError) return err;
      throw err;
    }
    throw new Error('expected a ValidationError');
  };

  it('returns the parsed and checked body', () => {
    const body = '{"userId":"20","newOwner":"Agent Service","metadata":{"reason":"x"}}';
    expect(parseJsonBody(handoverSchema, event({ body }))).toEqual({
      userId: '20',
      newOwner: 'Agent Service',
      metadata: { reason: 'x' },
    });
  });

  it('refuses an empty body as invalid_json', () => {
    const err = failure('  ');
    expect([err.code, err.message]).toEqual([
      'invalid_json',
      'The request body must be a JSON document.',
    ]);
  });

  it('refuses malformed JSON as invalid_json without quoting the input', () => {
    const err = failure('{"userId": tok-secret-abc');
    expect([err.code, err.message]).toEqual([
      'invalid_json',
      'The request body is not valid JSON.',
    ]);
  });

  it('names a missing field', () => {
    const err = failure('{"userId":"20"}');
    expect([err.code, err.message]).toEqual(['invalid_request', 'Field "newOwner" is required.']);
  });

  it('names a field of the wrong type without echoing its value', () => {
    const err = failure('{"userId":"20","newOwner":{"v":"sensitive-value-1"}}');
    expect(err.code).toBe('invalid_request');
    expect(err.message).toBe(
      'Field "newOwner" is invalid: invalid input: expected string, received object.',
    );
    expect(err.message).not.toContain('sensitive-value-1');
  });

  it('describes a body that is not an object', () => {
    expect(failure('[1,2]').message).toBe(
      'The request body is invalid: invalid input: expected object, received array.',
    );
  });

  it('names a missing field that may be a string or a number', () => {
    const either = z.object({ userId: z.union([z.string(), z.number()]) });
    expect(() => parseJsonBody(either, event({ body: '{}' }))).toThrow(
      'Field "userId" is required.',
    );
  });

  it('names an unexpected field of a strict schema', () => {
    const strict = z.object({ text: z.string() }).strict();
    expect(() => parseJsonBody(strict, event({ body: '{"text":"hi","extra":1}' }))).toThrow(
      'Field "extra" is not allowed.',
    );
  });

  it.each([
    ['__proto__ at the top', '{"userId":"20","__proto__":{"polluted":true}}', '__proto__'],
    [
      'constructor in metadata',
      '{"userId":"20","metadata":{"constructor":{"x":1}}}',
      'constructor',
    ],
    ['prototype deep down', '{"userId":"20","metadata":{"a":[{"prototype":1}]}}', 'prototype'],
  ])(
    'refuses a body with a key that could pollute objects (%s), polluting nothing',
    (_c, body, key) => {
      const loose = z.looseObject({ userId: z.string(), metadata: z.looseObject({}).optional() });

      expect(() => parseJsonBody(loose, event({ body }))).toThrow(
        new ValidationError(
          `The key "${key}" is not allowed in a request body.`,
          'invalid_request',
        ),
      );
      expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    },
  );

  it('refuses a body over the limit with 413 before parsing', () => {
    const body = JSON.stringify({ userId: 'x'.repeat(MAX_BODY_BYTES), newOwner: 'a' });
    expect(() => parseJsonBody(handoverSchema, event({ body }))).toThrow(PayloadTooLargeError);
  });
});

describe('parseJsonBody and the Content-Type', () => {
  const body = '{"userId":"20","newOwner":"Agent Service"}';
  const refusal = (headers: Record<string, string>, over: Partial<APIGatewayProxyEventV2> = {}) => {
    try {
      parseJsonBody(handoverSchema, event({ body, headers, ...over }));
    } catch (err) {
      return err;
    }
    return null;
  };

  it.each([
    ['application/json'],
    ['application/json; charset=utf-8'],
    ['Application/JSON;charset="UTF-8"'],
    ['application/json ; charset=UTF-8'],
    ['application/json;'],
  ])('takes a body sent as %s', (type) => {
    expect(refusal({ 'content-type': type })).toBeNull();
  });

  it('finds the Content-Type whatever the case of its name', () => {
    expect(refusal({ 'Content-Type': 'application/json' })).toBeNull();
  });

  it.each([
    [
      'a form (curl -d without a Content-Type)',
      { 'content-type': 'application/x-www-form-urlencoded' },
      "The request body must be sent as Content-Type: application/json, not application/x-www-form-urlencoded (curl -d sends a form unless given -H 'Content-Type: application/json').",
    ],
    [
      'text/plain',
      { 'content-type': 'text/plain;charset=UTF-8' },
      'The request body must be sent as Content-Type: application/json, not text/plain.',
    ],
    [
      'no Content-Type',
      {},
      'The request body must be sent as Content-Type: application/json; the request named no Content-Type.',
    ],
    [
      'a JSON variant',
      { 'content-type': 'application/merge-patch+json' },
      'The request body must be sent as Content-Type: application/json, not application/merge-patch+json.',
    ],
    [
      'JSON in another charset',
      { 'content-type': 'application/json; charset=iso-8859-1' },
      'The request body must be sent as Content-Type: application/json in UTF-8 (charset=utf-8 or none).',
    ],
    [
      'a type that is not a media type',
      { 'content-type': '<script>x</script>' },
      'The request body must be sent as Content-Type: application/json.',
    ],
  ])('refuses %s with 415 unsupported_media_type', (_case, headers, message) => {
    const err = refusal(headers);
    expect(err).toBeInstanceOf(UnsupportedMediaTypeError);
    const result = toHttpResponse(err);
    expect([result.statusCode, bodyOf(result)]).toEqual([
      415,
      { error: { code: 'unsupported_media_type', message } },
    ]);
  });

  it('refuses a base64-encoded form the same way', () => {
    const err = refusal(
      { 'content-type': 'application/x-www-form-urlencoded' },
      { body: Buffer.from(body).toString('base64'), isBase64Encoded: true },
    );
    expect(err).toBeInstanceOf(UnsupportedMediaTypeError);
  });

  it('answers an absent body as before (400 invalid_json), whatever the Content-Type', () => {
    const err = refusal({ 'content-type': 'text/plain' }, { body: undefined });
    expect([(err as ValidationError).code, (err as Error).message]).toEqual([
      'invalid_json',
      'The request body must be a JSON document.',
    ]);
  });
});

describe('request helpers', () => {
  it('finds a header whatever the case of its name', () => {
    const e = event({ headers: { 'Idempotency-Key': 'k1', authorization: 'Bearer t' } });
    expect([header(e, 'idempotency-key'), header(e, 'Authorization')]).toEqual(['k1', 'Bearer t']);
  });

  it('does not mistake inherited properties for headers', () => {
    const e = event({ headers: {} });
    expect([header(e, 'constructor'), header(e, 'hasOwnProperty')]).toEqual([undefined, undefined]);
  });
});
