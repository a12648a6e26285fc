// Writes functions/console/static/htmx.ts from the installed npm package htmx.org (a
// devDependency): its dist/htmx.min.js as base64 (a module, so every bundle carries it and no
// build step copies files), its version and its SRI hash. `npm run console:vendor-htmx` after an
// upgrade of htmx.org; test/console/static.test.ts fails while the two differ.
import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export const VENDORED_HTMX = join(__dirname, '../../functions/console/static/htmx.ts');

export const installedHtmx = (): { version: string; text: Buffer } => {
  const dir = join(__dirname, '../../node_modules/htmx.org');
  const { version } = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as {
    version: string;
  };
  return { version, text: readFileSync(join(dir, 'dist/htmx.min.js')) };
};

export const vendoredModule = ({ version, text }: { version: string; text: Buffer }): string => {
  const sri = `sha384-${createHash('sha384').update(text).digest('base64')}`;
  return [
    `// Vendored: htmx.org ${version} (0BSD), dist/htmx.min.js, written by npm run console:vendor-htmx.`,
    '// Do not edit: test/console/static.test.ts holds it equal to the installed package.',
    `export const HTMX_VERSION = '${version}';`,
    `export const HTMX_SRI = '${sri}';`,
    `export const HTMX_MIN_JS_BASE64 =\n  '${text.toString('base64')}';`,
    '',
  ].join('\n');
};

if (require.main === module) {
  writeFileSync(VENDORED_HTMX, vendoredModule(installedHtmx()));
  console.log(`Wrote ${VENDORED_HTMX}`);
}
