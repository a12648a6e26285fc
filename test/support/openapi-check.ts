// Every response the suites see, held against the committed OpenAPI document: the status must be
// one its operation lists, a JSON body must pass that status's schema (JSON Schema 2020-12, ajv),
// and a documented header that is present must pass its schema.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import Ajv2020, { type ValidateFunction } from 'ajv/dist/2020';
import addFormats from 'ajv-formats';

type Json = any;

const DOC_ID = 'https://parley-handover.invalid/openapi.json';

export const openapiDocument: Json = JSON.parse(
  readFileSync(join(__dirname, '../../docs/openapi.json'), 'utf8'),
);

// The document's refs point into components; ajv sees those schemas as the $defs of one root.
const rebase = (schema: Json): Json =>
  JSON.parse(JSON.stringify(schema).replaceAll('"#/components/schemas/', `"${DOC_ID}#/$defs/`));

const ajv = new Ajv2020({ strict: true, allErrors: true });
addFormats(ajv);
// OpenAPI's own annotations inside schemas.
ajv.addVocabulary(['example', 'discriminator', 'xml', 'externalDocs']);
ajv.addSchema({ $id: DOC_ID, $defs: rebase(openapiDocument.components?.schemas ?? {}) });

interface Operation {
  method: string;
  template: string;
  pattern: RegExp;
  responses: Record<string, Json>;
}

const operations: Operation[] = Object.entries(openapiDocument.paths as Json).flatMap(
  ([template, item]: [string, Json]) =>
    Object.entries(item)
      .filter(([method]) => method !== 'parameters')
      .map(([method, op]: [string, Json]) => ({
        method: method.toUpperCase(),
        template,
        // A path parameter is one whole segment.
        pattern: new RegExp(
          `^${template
            .split(/\{[^}]+\}/)
            .map((part) => part.replace(/[.*+?^$()|[\]\\]/g, '\\$&'))
            .join('[^/]+')}$`,
        ),
        responses: op.responses,
      })),
);

/** The operation a request reaches; literal templates win over ones with parameters. */
export const findOperation = (method: string, rawPath: string): Operation | undefined => {
  const path = rawPath.split('?')[0]!;
  const candidates = operations.filter(
    (op) => op.method === method.toUpperCase() && op.pattern.test(path),
  );
  return candidates.find((op) => !op.template.includes('{')) ?? candidates[0];
};

const validators = new Map<string, ValidateFunction>();
const validatorFor = (key: string, schema: Json): ValidateFunction => {
  let validate = validators.get(key);
  if (!validate) {
    validate = ajv.compile(rebase(schema));
    validators.set(key, validate);
  }
  return validate;
};

const describeErrors = (validate: ValidateFunction): string =>
  (validate.errors ?? [])
    .slice(0, 3)
    .map((e) => `${e.instancePath || '(body)'} ${e.message}`)
    .join('; ');

export type HeaderBag = Headers | Record<string, string | number | boolean | undefined> | undefined;

const headerOf = (headers: HeaderBag, name: string): string | undefined => {
  if (!headers) return undefined;
  if (headers instanceof Headers) return headers.get(name) ?? undefined;
  const hit = Object.entries(headers).find(([k]) => k.toLowerCase() === name.toLowerCase());
  return hit?.[1] === undefined ? undefined : String(hit[1]);
};

/**
 * The mismatches of one response with the document ([] when it conforms). A request that reaches
 * no operation of the document (the Parley simulator, a downstream bot) gives [].
 */
export const responseProblems = (
  method: string,
  rawPath: string,
  status: number,
  headers: HeaderBag,
  body: string | undefined,
): string[] => {
  const op = findOperation(method, rawPath);
  if (!op) return [];
  const where = `${op.method} ${op.template} ${status}`;
  const response = op.responses[String(status)];
  if (!response) return [`${where}: a status the operation does not list`];
  const problems: string[] = [];
  for (const [name, header] of Object.entries((response.headers ?? {}) as Json)) {
    const value = headerOf(headers, name);
    if (value === undefined || !(header as Json).schema) continue;
    const validate = validatorFor(`${where} header ${name}`, (header as Json).schema);
    if (!validate(value)) problems.push(`${where}: header ${name} ${describeErrors(validate)}`);
  }
  const content = response.content as Json;
  // No content documented (HEAD, API Gateway's own 429), or a non-JSON body it lists (CSV).
  if (!content || op.method === 'HEAD') return problems;
  const type = (headerOf(headers, 'content-type') ?? '').split(';')[0]!.trim().toLowerCase();
  if (type && type !== 'application/json') {
    if (!content[type]) problems.push(`${where}: content type ${type} is not documented`);
    return problems;
  }
  const schema = content['application/json']?.schema;
  if (!schema) return [...problems, `${where}: a JSON body the operation does not document`];
  let json: unknown;
  try {
    json = JSON.parse(body ?? '');
  } catch {
    return [...problems, `${where}: the body is not JSON`];
  }
  const validate = validatorFor(where, schema);
  if (!validate(json)) problems.push(`${where}: ${describeErrors(validate)}`);
  return problems;
};

/** Throws, naming every mismatch, when a response does not conform to the document. */
export const checkResponse = (
  method: string,
  rawPath: string,
  status: number,
  headers: HeaderBag,
  body: string | undefined,
): void => {
  const problems = responseProblems(method, rawPath, status, headers, body);
  if (problems.length > 0) {
    throw new Error(`Response does not match docs/openapi.json: ${problems.join(' | ')}`);
  }
};
