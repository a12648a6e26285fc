// The console in a real browser (Debian's Chromium, driven by puppeteer-core) against `npm start`
// as a developer runs it, after the seed's story was played on it (npm run demo's first act). With
// CONSOLE_SCREENSHOTS=1 it writes a screenshot of each page into docs/console/.
import { execFileSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import axe from 'axe-core';
import puppeteer, { type Browser, type BrowserContext, type Page } from 'puppeteer-core';
import { demoServices, playDemo } from '../../local/demo';
import { type Started, startFromEnvironment } from '../../local/start';
import { eventually, http as api, tempDir } from '../local/support';

// The callbacks of page.evaluate run in the page; the project compiles without the DOM library.
declare const document: any;
declare const window: any;
declare const location: any;
declare const getComputedStyle: any;

const SHOTS = process.env.CONSOLE_SCREENSHOTS === '1';
const SHOT_DIR = join(__dirname, '../../docs/console');

const chromium = (): string => {
  try {
    return execFileSync('sh', ['-c', 'command -v chromium'], { encoding: 'utf8' }).trim();
  } catch {
    throw new Error('No chromium on PATH: apt-get install -y chromium (.ci/run does it).');
  }
};

describe('the console in a browser', () => {
  const dir = tempDir('console-e2e-');
  const banner: string[] = [];
  let run: Started;
  let browser: Browser;
  let base: string;
  let operator: { name: string; token: string };
  let auditor: { name: string; token: string };

  beforeAll(async () => {
    const started = await startFromEnvironment(['--memory'], {
      env: { PARLEY_LOCAL_DIR: dir.dir, PORT: '0', PARLEY_SIM_PORT: '0' },
      out: (line) => banner.push(line),
      err: () => undefined,
    });
    if (typeof started === 'number') throw new Error(`npm start exited with ${started}`);
    run = started;
    // The banner's URL (localhost, where Chromium keeps Secure cookies over http).
    const printed = banner.map((l) => /^ {2}Console +(\S+)\/console /.exec(l)?.[1]).find(Boolean);
    base = printed ?? 'the banner names no console';
    operator = run.stack.tokens.operator!;
    auditor = run.stack.tokens.auditor!;
    await playDemo(
      {
        url: run.stack.url,
        simulatorUrl: run.stack.parley!.url,
        auditorToken: auditor.token,
        ...demoServices(run.stack.settings),
        deskIdleSeconds: null,
      },
      { userId: '20', leaseAct: false },
    );
    browser = await puppeteer.launch({
      executablePath: chromium(),
      headless: true,
      args: ['--no-sandbox', '--disable-dev-shm-usage'],
    });
  }, 120_000);
  afterAll(async () => {
    await browser?.close();
    await run?.close();
    dir.remove();
  });

  const shot = async (page: Page, name: string) => {
    if (!SHOTS) return;
    mkdirSync(SHOT_DIR, { recursive: true });
    await page.screenshot({ path: join(SHOT_DIR, `${name}.png`), fullPage: true });
  };

  /** A fresh browser profile, logged in with `token`. */
  const loggedIn = async (token: string): Promise<{ context: BrowserContext; page: Page }> => {
    const context = await browser.createBrowserContext();
    const page = await context.newPage();
    await page.setViewport({ width: 1200, height: 900 });
    await page.goto(`${base}/console`);
    await page.type('#token', token);
    await Promise.all([page.waitForNavigation(), page.click('button[type=submit]')]);
    return { context, page };
  };

  const seriousViolations = async (page: Page) => {
    await page.evaluate(axe.source);
    const result = await page.evaluate(async () => {
      const run = (globalThis as unknown as { axe: typeof axe }).axe.run;
      return run(document, { resultTypes: ['violations'] });
    });
    return result.violations
      .filter((v) => v.impact === 'serious' || v.impact === 'critical')
      .map((v) => `${v.id}: ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`);
  };

  /** A user handed to the Agent Service through the API, as the bot would. */
  const toAgent = async (userId: string, metadata: Record<string, unknown>) => {
    const bot = demoServices(run.stack.settings).bot.identification;
    const agent = demoServices(run.stack.settings).agent.identification;
    const res = await api(`${run.stack.url}/handovers`, {
      token: run.stack.tokens.services[bot]!.apiToken,
      body: { userId, newOwner: agent, metadata },
    });
    expect(res.status).toBe(200);
  };

  it('is served where the banner of npm start says', () => {
    expect(base).toBe(`http://localhost:${run.stack.port}`);
  });

  it('logs in with the form and keeps the session in a __Host- cookie Chromium accepts over http://localhost', async () => {
    const context = await browser.createBrowserContext();
    const page = await context.newPage();
    await page.goto(`${base}/console`);
    await shot(page, 'login');
    expect(await seriousViolations(page)).toEqual([]);
    await page.type('#token', operator.token);
    await Promise.all([page.waitForNavigation(), page.click('button[type=submit]')]);
    const cookies = (await context.cookies()).filter((c) => c.domain === 'localhost');

    expect(page.url()).toBe(`${base}/console`);
    expect(await page.$eval('h1', (h) => h.textContent)).toBe('Overview');
    expect(await page.$eval('.who', (w) => w.textContent)).toContain(operator.name);
    expect(cookies.map((c) => [c.name, c.secure, c.httpOnly, c.sameSite, c.path])).toEqual([
      ['__Host-parley-console', true, true, 'Strict', '/'],
    ]);
    expect(page.url()).not.toContain(operator.token);
    await context.close();
  });

  it("shows the seed story's user 20 on the overview and the timeline, both records, and a green intact badge", async () => {
    const { context, page } = await loggedIn(auditor.token);
    await shot(page, 'overview');
    const overviewProblems = await seriousViolations(page);
    const chartBars = await page.$$eval('figure.chart rect', (r) => r.length);
    await page.goto(`${base}/console/users/20`);
    await shot(page, 'user');
    const rows = await page.$$eval('#timeline + table tbody tr', (trs) =>
      trs.map((tr) => [...tr.querySelectorAll('td')].slice(0, 6).map((td) => td.textContent ?? '')),
    );
    const badge = await page.$eval('.badge', (b) => ({
      text: b.textContent,
      colour: getComputedStyle(b).backgroundColor,
    }));
    const localTimes = await page.$$eval('.local', (s) => s.length);

    expect(overviewProblems).toEqual([]);
    expect(chartBars).toBeGreaterThan(0);
    expect(rows.map((r) => [r[0], r[2], r[3], r[4], r[5]])).toEqual([
      ['2', 'Agent Service → Bot Service', expect.any(String), 'api', 'completed'],
      ['1', 'Bot Service → Agent Service', 'question_too_complex', 'downstream', 'completed'],
    ]);
    expect(badge).toEqual({ text: 'intact', colour: 'rgb(11, 107, 47)' });
    expect(localTimes).toBeGreaterThan(0);
    expect(await seriousViolations(page)).toEqual([]);
    await context.close();
  });

  it('searches by reason and downloads the CSV', async () => {
    const { context, page } = await loggedIn(auditor.token);
    const downloads = tempDir('console-csv-');
    const cdp = await browser.target().createCDPSession();
    await cdp.send('Browser.setDownloadBehavior', {
      behavior: 'allow',
      downloadPath: downloads.dir,
      ...(context.id ? { browserContextId: context.id } : {}),
    });
    await page.goto(`${base}/console/search`);
    await page.type('#reason', 'question_too_complex');
    await Promise.all([page.waitForNavigation(), page.click('form.filters button[type=submit]')]);
    await shot(page, 'search');
    const users = await page.$$eval('#results-page tbody tr td:nth-child(2)', (tds) =>
      tds.map((td) => td.textContent),
    );
    const problems = await seriousViolations(page);
    await page.click('a[download]');
    const file = await eventually('the CSV download', () =>
      readdirSync(downloads.dir).find((f) => f.endsWith('.csv')),
    );
    const lines = readFileSync(join(downloads.dir, file), 'utf8').trim().split('\r\n');

    expect(users).toEqual(['20']);
    expect(problems).toEqual([]);
    expect(lines[0]!.startsWith('handoverId,userId,seq,')).toBe(true);
    expect(lines.slice(1).map((l) => l.split(',').slice(1, 3))).toEqual([['20', '1']]);
    downloads.remove();
    await context.close();
  });

  it('releases a user to the default Service as an operator and shows the record', async () => {
    await toAgent('e2e-release', { reason: 'needs_a_human' });
    const { context, page } = await loggedIn(operator.token);
    await page.goto(`${base}/console/stuck`);
    await shot(page, 'stuck');
    expect(await seriousViolations(page)).toEqual([]);
    await page.goto(`${base}/console/users/e2e-release`);
    await page.type('input[id$="-release-e2e-release"]', 'desk closed');
    await Promise.all([page.waitForNavigation(), page.click('form[action$="/release"] button')]);
    const flash = await page.$eval('.flash', (f) => f.textContent);
    const top = await page.$$eval('#timeline + table tbody tr:first-child td', (tds) =>
      tds.map((td) => td.textContent ?? ''),
    );

    expect(flash).toContain('Released to the default Service');
    expect([top[0], top[2], top[3], top[4], top[6]]).toEqual([
      '2',
      'Agent Service → Bot Service',
      'desk closed',
      'operator',
      `operator:${operator.name}`,
    ]);
    await context.close();
  });

  it('answers an auditor who posts an action with 403, and records nothing', async () => {
    await toAgent('e2e-auditor', { reason: 'needs_a_human' });
    const { context, page } = await loggedIn(auditor.token);
    await page.goto(`${base}/console/users/e2e-auditor`);
    const forms = await page.$$('form[action$="/release"]');
    // No form is shown to an auditor: post one anyway, with the session's own CSRF token.
    const [response] = await Promise.all([
      page.waitForNavigation(),
      page.evaluate(() => {
        const form = document.createElement('form');
        form.method = 'post';
        form.action = `${location.pathname}/release`;
        const csrf = document.querySelector('input[name=csrf]')!.value;
        for (const [name, value] of [
          ['csrf', csrf],
          ['reason', 'try'],
          ['key', 'k'.repeat(22)],
        ]) {
          const input = document.createElement('input');
          input.name = name!;
          input.value = value!;
          form.append(input);
        }
        document.body.append(form);
        form.submit();
      }),
    ]);

    expect(forms).toHaveLength(0);
    expect(response?.status()).toBe(403);
    expect(await page.$eval('h1', (h) => h.textContent)).toBe('Operators only');
    const history = await api(`${run.stack.url}/users/e2e-auditor/handovers`, {
      token: auditor.token,
    });
    expect(history.body.handovers).toHaveLength(1);
    await context.close();
  });

  it('renders a <script> in metadata and in a user id as text', async () => {
    // A user id holds no `/`: an unclosed tag and an event handler are as dangerous.
    const userId = 'x"><img src=x onerror="window.__pwned=1"><script>window.__pwned=1';
    await toAgent(userId, { reason: 'x', note: '<script>window.__pwned=2</script>' });
    const { context, page } = await loggedIn(auditor.token);
    const dialogs: string[] = [];
    page.on('dialog', (d) => {
      dialogs.push(d.message());
      void d.dismiss();
    });
    await page.goto(`${base}/console/users/${encodeURIComponent(userId)}`);
    const heading = await page.$eval('h1', (h) => h.textContent);
    const metadata = await page.$eval('#timeline + table pre', (p) => p.textContent);
    const pwned = await page.evaluate(() => (window as unknown as { __pwned?: number }).__pwned);

    expect(heading).toBe(`User ${userId}`);
    expect(metadata).toContain('<script>window.__pwned=2</script>');
    expect(pwned).toBeUndefined();
    expect(dialogs).toEqual([]);
    await context.close();
  });

  it("refuses a form posted from another site's page, and records nothing", async () => {
    await toAgent('e2e-csrf', { reason: 'needs_a_human' });
    const { context, page } = await loggedIn(operator.token);
    await page.goto(`${base}/console/users/e2e-csrf`);
    const csrf = await page.$eval('input[name=csrf]', (i) => (i as any).value);
    // Another site (127.0.0.1 is not localhost's site) whose page posts to the console at once.
    const evil = http.createServer((_req, res) => {
      res.setHeader('content-type', 'text/html');
      res.end(`<form method="post" action="${base}/console/users/e2e-csrf/release">
<input name="csrf" value="${csrf}"><input name="reason" value="x"><input name="key" value="${'e'.repeat(22)}">
</form><script>document.forms[0].submit()</script>`);
    });
    await new Promise<void>((resolve) => evil.listen(0, '127.0.0.1', resolve));
    const evilUrl = `http://127.0.0.1:${(evil.address() as AddressInfo).port}/`;
    // The attacker's page navigates away from itself as it loads: its goto may end aborted.
    const [response] = await Promise.all([
      page.waitForResponse((r) => r.url().endsWith('/console/users/e2e-csrf/release')),
      page.goto(evilUrl).catch(() => undefined),
    ]);
    const refused = response.status();
    evil.close();
    const history = await api(`${run.stack.url}/users/e2e-csrf/handovers`, {
      token: auditor.token,
    });

    expect(refused).toBe(403);
    expect(history.body.handovers).toHaveLength(1);
    await context.close();
  });
});
