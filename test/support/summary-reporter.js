// Prints the run's totals as the very last line, in the plain form CI reads: "N passed, N failed".
// Written when the process exits, after everything jest itself prints.
//
// In a reliability run (JEST_SUITE=reliability) it also names a folder for the figures the suites
// count (reportFigures in test/support/reliability.ts leaves one JSON fragment per suite there)
// and, when every reliability file ran and passed, rewrites docs/reliability.md from them.
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const DOC = path.join('docs', 'reliability.md');
const SUITES_DIR = path.join('test', 'reliability');

const cell = (text) =>
  String(text ?? '-')
    .replace(/\s+/g, ' ')
    .replace(/\|/g, '\\|')
    .trim();

class SummaryReporter {
  constructor(globalConfig) {
    this.globalConfig = globalConfig;
    this.started = Date.now();
    if (process.env.JEST_SUITE === 'reliability') {
      // Per run, so that two runs at once never mix their figures. Workers inherit the variable.
      this.figuresDir = path.join(
        globalConfig.rootDir,
        '.reliability',
        `run-${process.pid}-${this.started}`,
      );
      process.env.RELIABILITY_FIGURES_DIR = this.figuresDir;
    }
  }

  onRunStart() {
    this.started = Date.now();
  }

  onRunComplete(_contexts, results) {
    const failed = results.numFailedTests + results.numRuntimeErrorTestSuites;
    const skipped = results.numPendingTests + results.numTodoTests;
    const line = `${results.numPassedTests} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}`;
    if (this.figuresDir) {
      try {
        this.writeReliabilityDoc(results);
      } finally {
        fs.rmSync(this.figuresDir, { recursive: true, force: true });
      }
    }
    process.once('exit', () => {
      process.stdout.write(`${line}\n`);
    });
  }

  /** Why this run may not write the doc, or null when it was the whole reliability set, green. */
  static refusal(results, suiteFiles) {
    const ran = new Set(results.testResults.map((r) => r.testFilePath));
    const missing = suiteFiles.filter((f) => !ran.has(f));
    if (missing.length > 0) {
      return `not every reliability file ran (${missing.map((f) => path.basename(f)).join(', ')})`;
    }
    if (results.wasInterrupted) return 'the run was interrupted';
    if (results.numFailedTests + results.numFailedTestSuites + results.numRuntimeErrorTestSuites) {
      return 'a suite failed';
    }
    if (results.numPendingTests + results.numTodoTests > 0) return 'tests were skipped';
    return null;
  }

  /** The markdown of docs/reliability.md: the run, then one row per suite's fragment. */
  static render({ root, fragments, suiteFiles, results, run }) {
    const fileOf = (fragment) => (fragment.testPath ? path.relative(root, fragment.testPath) : '');
    const sorted = [...fragments].sort(
      (a, b) => fileOf(a).localeCompare(fileOf(b)) || String(a.suite).localeCompare(b.suite),
    );
    const rows = sorted.map((f) => {
      const figures = Object.entries(f.figures ?? {})
        .map(([k, v]) => `${k}=${v}`)
        .join(', ');
      return `| \`${cell(f.suite)}\` (${cell(fileOf(f))}) | ${cell(f.drives)} | ${cell(figures)} | ${cell(f.proved)} |`;
    });
    for (const f of suiteFiles.filter((file) => !fragments.some((x) => x.testPath === file))) {
      rows.push(`| (${cell(path.relative(root, f))}) | - | no figures reported | - |`);
    }
    return [
      '# Reliability: the latest full run',
      '',
      'Written by the reliability run itself (`test/support/summary-reporter.js`), only when every',
      'file of `test/reliability/` ran and passed; do not edit it by hand. Each figure was counted',
      "by its suite from what happened: the Parley simulator's log, the downstream programs' logs,",
      'the history and state tables (read through the stores), the queue and the answers. The',
      "suites' `[figures]` lines in the run's output carry the same numbers.",
      '',
      `- Date: ${run.date}`,
      `- Command: \`${run.command}\``,
      `- Result: ${results.numPassedTests} tests in ${results.numPassedTestSuites} files passed, ${results.numFailedTests} failed, ${run.seconds} s`,
      `- Machine: ${run.machine}`,
      '',
      '| suite | what it drives | figures | what the assertions proved |',
      '|---|---|---|---|',
      ...rows,
      '',
    ].join('\n');
  }

  writeReliabilityDoc(results) {
    const root = this.globalConfig.rootDir;
    const suitesDir = path.join(root, SUITES_DIR);
    const suiteFiles = fs
      .readdirSync(suitesDir)
      .filter((f) => f.endsWith('.test.ts'))
      .map((f) => path.join(suitesDir, f));
    const refusal = SummaryReporter.refusal(results, suiteFiles);
    if (refusal) {
      process.stdout.write(`${DOC} not written: ${refusal}.\n`);
      return;
    }
    const fragments = fs.existsSync(this.figuresDir)
      ? fs
          .readdirSync(this.figuresDir)
          .filter((f) => f.endsWith('.json'))
          .map((f) => JSON.parse(fs.readFileSync(path.join(this.figuresDir, f), 'utf8')))
      : [];
    const cpus = os.cpus();
    const run = {
      date: new Date().toISOString(),
      command: this.command(suiteFiles),
      seconds: Math.round((Date.now() - this.started) / 1000),
      machine: `${cpus.length} cores (${cpus[0]?.model.trim() ?? 'unknown'}), Node ${process.version}, ${process.platform} ${process.arch}`,
    };
    fs.writeFileSync(
      path.join(root, DOC),
      SummaryReporter.render({ root, fragments, suiteFiles, results, run }),
    );
    process.stdout.write(`${DOC} written: ${fragments.length} suites.\n`);
  }

  /** The command that ran, with any size knob of the suites that was set in the environment. */
  command(suiteFiles) {
    const knobs = new Set();
    for (const f of suiteFiles) {
      for (const m of fs.readFileSync(f, 'utf8').matchAll(/process\.env\.([A-Z][A-Z0-9_]*)/g)) {
        if (m[1] !== 'JEST_SUITE' && process.env[m[1]] !== undefined) knobs.add(m[1]);
      }
    }
    const env = [...knobs].sort().map((k) => `${k}=${process.env[k]} `);
    const args = process.argv.slice(2);
    const run =
      process.env.npm_lifecycle_event === 'test:reliability'
        ? ['npm run test:reliability', ...(args.length > 0 ? ['--', ...args] : [])]
        : ['JEST_SUITE=reliability npx jest', ...args];
    return `${env.join('')}${run.join(' ')}`;
  }
}
module.exports = SummaryReporter;
