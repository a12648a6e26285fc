// A newcomer's walk through the README: `npm start` (as the quick start says), the variables from
// its banner, then every curl of the quick start and HTTP API sections, read from README.md itself
// and run in order, so the README and the service cannot drift apart.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { localPorts, type Started, type StartIo, startFromEnvironment } from '../../local/start';
import { commandLines, parseCurl, runCurl, shellBlocks, shellWords, type Vars } from './curl';
import { eventually, tempDir } from './support';

const ROOT = join(__dirname, '..', '..');
const README = readFileSync(join(ROOT, 'README.md'), 'utf8');
const WALKED = ['Quick start', 'HTTP API'];

const blocks = shellBlocks(README, WALKED);
const lines = blocks.flatMap(commandLines);
const curls = lines.filter((l) => l.startsWith('curl '));

/** Lines made only of NAME=value words: the variables the README asks the reader to set. */
const readmeVars = (): Vars => {
  const vars: Vars = {};
  for (const line of lines) {
    if (!/^[A-Z_][A-Z0-9_]*=/.test(line)) continue;
    const words = shellWords(line, { vars: {} });
    if (!words.every((w) => /^[A-Z_][A-Z0-9_]*=/.test(w))) continue;
    for (const w of words) vars[w.slice(0, w.indexOf('='))] = w.slice(w.indexOf('=') + 1);
  }
  return vars;
};

/** The banner's `export NAME=value ...` line. */
const bannerVars = (out: string[]): Vars => {
  const line = out.find((l) => /^ {4}export /.test(l));
  if (!line) throw new Error('the banner has no export line');
  const words = shellWords(line.trim(), { vars: {} }).slice(1);
  return Object.fromEntries(
    words.map((w) => [w.slice(0, w.indexOf('=')), w.slice(w.indexOf('=') + 1)]),
  );
};

describe("the README's walk", () => {
  const dir = tempDir('readme-walk-');
  const out: string[] = [];
  let run: Started;

  beforeAll(async () => {
    // `npm start` as the quick start runs it, with its data in a folder of its own and free ports.
    const io: StartIo = {
      env: { PARLEY_LOCAL_DIR: dir.dir, PORT: '0', PARLEY_SIM_PORT: '0' },
      out: (line) => out.push(line),
      err: () => undefined,
    };
    const started = await startFromEnvironment([], io);
    if (typeof started === 'number') throw new Error(`npm start exited with ${started}`);
    run = started;
  });
  afterAll(async () => {
    await run?.close();
    dir.remove();
  });

  it("defines the variables the examples use in the banner's export line", () => {
    const readme = readmeVars();
    const banner = bannerVars(out);
    const literal = Object.entries(readme).filter(([name, v]) => name !== 'API' && v !== '…');

    expect(Object.keys(banner).sort()).toEqual(Object.keys(readme).sort());
    expect(literal.length).toBeGreaterThan(0);
    for (const [name, value] of literal) expect([name, banner[name]]).toEqual([name, value]);
    expect(readme.API).toBe(`http://localhost:${localPorts({}).api}`);
    expect(banner.API).toBe(`http://localhost:${run.stack.port}`);
  });

  it('answers every curl of the quick start and the HTTP API sections with a 2xx', async () => {
    const vars = bannerVars(out);
    const answers: { curl: string; status: number; body: string }[] = [];

    for (const line of curls) {
      const res = await runCurl(parseCurl(shellWords(line, { vars })));
      answers.push({ curl: line, status: res.status, body: res.text.slice(0, 300) });
      // A reader pastes one at a time: let the queue settle what the last one started.
      await eventually('the local queue to settle', async () => {
        const stats = await run.stack.queue.stats();
        return stats.visible === 0 && stats.inFlight === 0;
      });
    }

    const statuses = answers.map((a) => a.status);
    console.log(
      `[figures] README walk: ${answers.length} curls answered ${[...new Set(statuses)]
        .map((s) => `${statuses.filter((x) => x === s).length}x ${s}`)
        .join(', ')}`,
    );
    expect(answers.length).toBe(blocks.join('\n').match(/^\s*curl /gm)?.length);
    expect(answers.length).toBeGreaterThan(0);
    expect(answers.filter((a) => a.status < 200 || a.status > 299)).toEqual([]);
  });

  it('writes no file into the working tree', () => {
    const targets = shellBlocks(
      README,
      [...README.matchAll(/^## (.+)$/gm)].map((m) => m[1]!),
    )
      .flatMap((b) => [...b.matchAll(/(?:^|\s)>\s*("?)([^\s"]+)\1/g)])
      .map((m) => m[2]!);

    expect(targets.filter((t) => !t.startsWith('/') && !t.startsWith('$'))).toEqual([]);
  });
});
