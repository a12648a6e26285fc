// The console's static files, served at /console/static/{file}. Each name carries its version or
// a hash of its content, so a long, immutable cache is safe (a change is a new name) and pages
// pin each one with Subresource Integrity. Modules rather than files beside the code: every
// function bundle then carries them, with no build step to copy files.
import { createHash } from 'node:crypto';
import { CONSOLE_CSS } from './console-css';
import { CONSOLE_JS } from './console-js';
import { HTMX_MIN_JS_BASE64, HTMX_SRI, HTMX_VERSION } from './htmx';

export interface StaticAsset {
  file: string;
  contentType: string;
  body: Buffer;
  /** The `integrity` attribute: `sha384-…`. */
  integrity: string;
}

const sha384 = (body: Buffer) => `sha384-${createHash('sha384').update(body).digest('base64')}`;

const ownAsset = (stem: string, ext: string, contentType: string, text: string): StaticAsset => {
  const body = Buffer.from(text, 'utf8');
  const short = createHash('sha256').update(body).digest('hex').slice(0, 10);
  return { file: `${stem}.${short}.${ext}`, contentType, body, integrity: sha384(body) };
};

export const ASSETS = {
  htmx: {
    file: `htmx-${HTMX_VERSION}.min.js`,
    contentType: 'text/javascript; charset=utf-8',
    body: Buffer.from(HTMX_MIN_JS_BASE64, 'base64'),
    integrity: HTMX_SRI,
  },
  script: ownAsset('console', 'js', 'text/javascript; charset=utf-8', CONSOLE_JS),
  style: ownAsset('console', 'css', 'text/css; charset=utf-8', CONSOLE_CSS),
} satisfies Record<string, StaticAsset>;

const byFile = new Map<string, StaticAsset>(Object.values(ASSETS).map((a) => [a.file, a]));

export const assetNamed = (file: string): StaticAsset | undefined => byFile.get(file);

export const assetUrl = (asset: StaticAsset): string => `/console/static/${asset.file}`;
