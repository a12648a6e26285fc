// Canonical JSON per RFC 8785 (JSON Canonicalization Scheme), the byte form that the history's
// hash chain and the idempotency body hash are computed over.
//
// - object members sorted by their names' UTF-16 code units, `undefined` members left out;
// - no whitespace;
// - strings escaped as JSON.stringify does (the RFC's escaping rules are the same);
// - numbers in ECMAScript's shortest round-trip form (JSON.stringify of a finite number, so -0 is
//   0 and 1e21 is 1e+21); NaN and the infinities are not JSON and throw;
// - a `toJSON` method (Date) is honoured as JSON.stringify does; array holes and `undefined`
//   elements become null as in JSON.stringify; functions, symbols, bigints and cycles throw.

export class CanonicalJsonError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CanonicalJsonError';
  }
}

/** Compares by UTF-16 code units (not code points), as RFC 8785 section 3.2.3 requires. */
const byCodeUnits = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

export function canonicalJson(value: unknown): string {
  const out: string[] = [];
  write(value, out, new Set());
  return out.join('');
}

function write(input: unknown, out: string[], open: Set<object>): void {
  let value = input;
  if (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as { toJSON?: unknown }).toJSON === 'function'
  ) {
    value = (value as { toJSON: () => unknown }).toJSON();
  }
  switch (typeof value) {
    case 'string':
      out.push(JSON.stringify(value));
      return;
    case 'boolean':
      out.push(value ? 'true' : 'false');
      return;
    case 'number':
      if (!Number.isFinite(value)) throw new CanonicalJsonError('A number is not finite.');
      out.push(JSON.stringify(value));
      return;
    case 'object':
      break;
    default:
      throw new CanonicalJsonError(`A ${typeof value} value has no JSON form.`);
  }
  if (value === null) {
    out.push('null');
    return;
  }
  if (open.has(value)) throw new CanonicalJsonError('The value contains a cycle.');
  open.add(value);
  if (Array.isArray(value)) {
    out.push('[');
    for (let i = 0; i < value.length; i++) {
      if (i > 0) out.push(',');
      const element: unknown = value[i];
      write(element === undefined ? null : element, out, open);
    }
    out.push(']');
  } else {
    const record = value as Record<string, unknown>;
    const names = Object.keys(record)
      .filter((name) => record[name] !== undefined)
      .sort(byCodeUnits);
    out.push('{');
    names.forEach((name, i) => {
      if (i > 0) out.push(',');
      out.push(JSON.stringify(name), ':');
      write(record[name], out, open);
    });
    out.push('}');
  }
  open.delete(value);
}
