// The standalone simulator's command line.
import { unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { seedFixture } from '../../../local/parley-sim';
import { parseCliArgs, UsageError } from '../../../local/parley-sim/main';

describe('Parley simulator: CLI', () => {
  it('parses the CLI flags into options', () => {
    const options = parseCliArgs(['--port', '0', '--latency', '50', '--random-seed', '9']);

    expect(options).toEqual({
      help: false,
      port: 0,
      host: '127.0.0.1',
      seed: seedFixture(),
      faults: [{ route: '*', latencyMs: 50 }],
      randomSeed: 9,
    });
  });

  it('reads a seed file', () => {
    const file = path.join(tmpdir(), `parley-sim-seed-${process.pid}.json`);
    const custom = seedFixture({ accountIdentification: 'otherAccount' });
    writeFileSync(file, JSON.stringify(custom));

    const options = parseCliArgs(['--seed', file]);
    unlinkSync(file);

    expect(options.seed.accountIdentification).toBe('otherAccount');
  });

  it.each([
    [['--bogus']],
    [['--port', 'abc']],
    [['--latency', '80-20']],
    [['--seed', path.join(tmpdir(), 'no-such-seed-file.json')]],
  ])('refuses %j with a usage error', (argv) => {
    expect(() => parseCliArgs(argv)).toThrow(UsageError);
  });
});
