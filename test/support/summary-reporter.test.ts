// The summary reporter's reliability table: written only after the whole reliability set ran and
// passed, from the fragments the suites left, one row per suite.
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { reportFigures } from './reliability';

interface Results {
  testResults: { testFilePath: string }[];
  wasInterrupted: boolean;
  numFailedTests: number;
  numFailedTestSuites: number;
  numRuntimeErrorTestSuites: number;
  numPendingTests: number;
  numTodoTests: number;
  numPassedTests: number;
  numPassedTestSuites: number;
}
interface Reporter {
  writeReliabilityDoc(results: Results): void;
}
interface ReporterClass {
  new (globalConfig: { rootDir: string }): Reporter;
  refusal(results: Results, suiteFiles: string[]): string | null;
}
const SummaryReporter = require('./summary-reporter.js') as ReporterClass;

const results = (files: string[], over: Partial<Results> = {}): Results => ({
  testResults: files.map((testFilePath) => ({ testFilePath })),
  wasInterrupted: false,
  numFailedTests: 0,
  numFailedTestSuites: 0,
  numRuntimeErrorTestSuites: 0,
  numPendingTests: 0,
  numTodoTests: 0,
  numPassedTests: 7,
  numPassedTestSuites: files.length,
  ...over,
});

describe('the reliability table', () => {
  let root: string;
  let files: string[];
  const saved = { ...process.env };

  beforeEach(() => {
    root = mkdtempSync(join(tmpdir(), 'reporter-'));
    mkdirSync(join(root, 'test', 'reliability'), { recursive: true });
    mkdirSync(join(root, 'docs'));
    files = ['races', 'auth', 'tamper'].map((name) => {
      const file = join(root, 'test', 'reliability', `${name}.test.ts`);
      writeFileSync(file, `const n = Number(process.env.RACE_ROUNDS ?? 8);\n`);
      return file;
    });
  });

  afterEach(() => {
    process.env = { ...saved };
    rmSync(root, { recursive: true, force: true });
  });

  it('refuses a run that left out a file, failed, was interrupted or skipped tests', () => {
    expect(SummaryReporter.refusal(results(files), files)).toBeNull();
    expect(SummaryReporter.refusal(results(files.slice(1)), files)).toBe(
      'not every reliability file ran (races.test.ts)',
    );
    expect(SummaryReporter.refusal(results(files, { numFailedTests: 1 }), files)).toBe(
      'a suite failed',
    );
    expect(SummaryReporter.refusal(results(files, { numRuntimeErrorTestSuites: 1 }), files)).toBe(
      'a suite failed',
    );
    expect(SummaryReporter.refusal(results(files, { wasInterrupted: true }), files)).toBe(
      'the run was interrupted',
    );
    expect(SummaryReporter.refusal(results(files, { numPendingTests: 2 }), files)).toBe(
      'tests were skipped',
    );
  });

  it('writes one row per suite from the fragments the suites left, with the date and command', () => {
    process.env.JEST_SUITE = 'reliability';
    process.env.RACE_ROUNDS = '3';
    const reporter = new SummaryReporter({ rootDir: root });
    const dir = process.env.RELIABILITY_FIGURES_DIR!;
    expect(dir.startsWith(join(root, '.reliability'))).toBe(true);
    const fragment = (file: string, suite: string, figures: Record<string, number | string>) => {
      mkdirSync(dir, { recursive: true });
      writeFileSync(
        join(dir, `${suite}.json`),
        JSON.stringify({ suite, testPath: file, figures, drives: `${suite} drive`, proved: 'a|b' }),
      );
    };
    fragment(files[0]!, 'races', { contests: 16, perRoute: 'x' });
    fragment(files[1]!, 'auth', { requests: 2175 });

    const write = jest.spyOn(process.stdout, 'write').mockImplementation(() => true);
    try {
      reporter.writeReliabilityDoc(results(files));
    } finally {
      write.mockRestore();
    }

    const doc = readFileSync(join(root, 'docs', 'reliability.md'), 'utf8');
    const rows = doc.split('\n').filter((l) => l.startsWith('| `') || l.startsWith('| ('));
    expect(rows).toEqual([
      '| `auth` (test/reliability/auth.test.ts) | auth drive | requests=2175 | a\\|b |',
      '| `races` (test/reliability/races.test.ts) | races drive | contests=16, perRoute=x | a\\|b |',
      '| (test/reliability/tamper.test.ts) | - | no figures reported | - |',
    ]);
    expect(doc).toMatch(/^- Date: \d{4}-\d\d-\d\dT/m);
    expect(doc).toMatch(/^- Command: `RACE_ROUNDS=3 .*`$/m);
    expect(doc).toContain('- Result: 7 tests in 3 files passed, 0 failed');
  });

  it('writes nothing when a suite failed', () => {
    process.env.JEST_SUITE = 'reliability';
    const reporter = new SummaryReporter({ rootDir: root });
    const write = jest.spyOn(process.stdout, 'write').mockImplementation(() => true);
    try {
      reporter.writeReliabilityDoc(results(files, { numFailedTests: 1 }));
    } finally {
      write.mockRestore();
    }
    expect(existsSync(join(root, 'docs', 'reliability.md'))).toBe(false);
  });

  it('leaves a fragment from reportFigures where the reporter looks', () => {
    process.env.RELIABILITY_FIGURES_DIR = join(root, 'figures');
    const write = jest.spyOn(process.stdout, 'write').mockImplementation(() => true);
    let printed: unknown[][];
    try {
      reportFigures('a suite', { cases: 3 }, { drives: 'd', proved: 'p' });
    } finally {
      printed = write.mock.calls;
      write.mockRestore();
    }
    expect(JSON.parse(readFileSync(join(root, 'figures', 'a_suite.json'), 'utf8'))).toEqual({
      suite: 'a suite',
      testPath: __filename,
      figures: { cases: 3 },
      drives: 'd',
      proved: 'p',
    });
    expect(printed).toEqual([['[figures] a suite: cases=3\n']]);
  });
});
