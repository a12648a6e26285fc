#!/usr/bin/env node
// The `parley-handover` bin: loads the TypeScript CLI through tsx (a dependency of this package).
require('tsx/cjs');
const { main } = require('./cli.ts');

main(process.argv.slice(2)).then((code) => {
  process.exitCode = code;
});
