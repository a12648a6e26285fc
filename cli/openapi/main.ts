// `npm run openapi`: writes docs/openapi.json from the route table and the schemas
// (functions/contracts/openapi.ts). `--check` writes nothing and fails when the file differs.
// Exit codes: 0 written or up to date, 1 out of date (with --check), 2 a wrong command line.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { openApiText } from '../../functions/contracts/openapi';

export const OPENAPI_FILE = path.join(__dirname, '..', '..', 'docs', 'openapi.json');

interface Sink {
  write(text: string): unknown;
}

export function main(
  argv: string[],
  out: Sink = process.stdout,
  err: Sink = process.stderr,
): number {
  const unknown = argv.filter((arg) => arg !== '--check');
  if (unknown.length > 0) {
    err.write(`Unknown argument ${unknown[0]}. Usage: npm run openapi [-- --check]\n`);
    return 2;
  }
  const text = openApiText();
  const relative = path.relative(process.cwd(), OPENAPI_FILE);
  if (argv.includes('--check')) {
    const current = fs.existsSync(OPENAPI_FILE) ? fs.readFileSync(OPENAPI_FILE, 'utf8') : '';
    if (current === text) {
      out.write(`${relative} is up to date.\n`);
      return 0;
    }
    err.write(`${relative} is out of date: run npm run openapi and commit it.\n`);
    return 1;
  }
  fs.writeFileSync(OPENAPI_FILE, text);
  out.write(`Wrote ${relative} (${Buffer.byteLength(text)} bytes).\n`);
  return 0;
}

if (require.main === module) process.exitCode = main(process.argv.slice(2));
