// Prints the run's totals as the very last line, in the plain form CI reads: "N passed, N failed".
// Written when the process exits, after everything jest itself prints.
class SummaryReporter {
  onRunComplete(_contexts, results) {
    const failed = results.numFailedTests + results.numRuntimeErrorTestSuites;
    const skipped = results.numPendingTests + results.numTodoTests;
    const line = `${results.numPassedTests} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}`;
    process.once('exit', () => {
      process.stdout.write(`${line}\n`);
    });
  }
}
module.exports = SummaryReporter;
