// Global settings for zod/mini, imported (for its effect) by every module of functions/ that
// builds a schema. functions/ uses `zod/mini`, zod 4's functional build, which esbuild can
// tree-shake: classic zod's chained API keeps the whole library (~440 KiB, ~25 ms to require) in
// every bundle. Two settings restore what classic zod does on import, or avoid work at cold start:
// - the English messages: classic zod installs them, mini does not (its issues would read
//   "Invalid input"); the error texts the API and the secrets errors quote depend on them;
// - jitless: zod compiles a parser per object schema with `new Function` on its first parse,
//   which a short-lived container pays for at every cold start; the interpreted path gives the
//   same results.
import { en } from 'zod/locales';
import { config } from 'zod/mini';

config({ ...en(), jitless: true });
