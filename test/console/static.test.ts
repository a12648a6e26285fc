import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { ASSETS, assetNamed } from '../../functions/console/static/assets';
import { HTMX_VERSION } from '../../functions/console/static/htmx';
import { installedHtmx, VENDORED_HTMX, vendoredModule } from './vendor-htmx';

describe("the console's static files", () => {
  it('vendors exactly the installed htmx.org (npm run console:vendor-htmx after an upgrade)', () => {
    const installed = installedHtmx();

    expect(HTMX_VERSION).toBe(installed.version);
    expect(ASSETS.htmx.body.equals(installed.text)).toBe(true);
    expect(readFileSync(VENDORED_HTMX, 'utf8')).toBe(vendoredModule(installed));
  });

  it('pins every file with the sha384 of its bytes, and names each by version or content', () => {
    for (const asset of Object.values(ASSETS)) {
      const digest = createHash('sha384').update(asset.body).digest('base64');
      expect([asset.file, asset.integrity]).toEqual([asset.file, `sha384-${digest}`]);
      expect(assetNamed(asset.file)).toBe(asset);
    }
    expect(ASSETS.htmx.file).toBe(`htmx-${HTMX_VERSION}.min.js`);
    expect(ASSETS.script.file).toMatch(/^console\.[0-9a-f]{10}\.js$/);
    expect(ASSETS.style.file).toMatch(/^console\.[0-9a-f]{10}\.css$/);
  });
});
