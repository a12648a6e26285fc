#!/usr/bin/env node
// The `parley-handover` bin: loads the TypeScript CLI through tsx (installed with this package).
require('tsx/cjs');
const { main } = require('./main.ts');

main(process.argv.slice(2)).then((code) => {
  process.exitCode = code;
});
