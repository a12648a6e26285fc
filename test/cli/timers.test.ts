// The CLI's lease and offer commands: usage mistakes refused before any request, then each command
// against the local stack (real gateway, handlers, dynalite and the Parley simulator), acting as
// the side the services file names, with what the service stored checked through the API.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { type CliIo, runCli } from '../../cli/parley-handover/main';
import { removeRunInfo, writeRunInfo } from '../../local/paths';
import { parseServicesFile } from '../../local/services-file';
import {
  AGENT_SERVICE_ID as AGENT,
  BOT_SERVICE_ID as BOT,
  generateSimulatorServicesFile,
  type LocalStack,
  startLocalStack,
} from '../../local/stack';
import { tempDir } from '../local/support';

const run = async (env: NodeJS.ProcessEnv, argv: string[]) => {
  const out: string[] = [];
  const err: string[] = [];
  const io: CliIo = { env, stdout: (t) => out.push(t), stderr: (t) => err.push(t) };
  const code = await runCli(argv, io);
  return { code, stdout: out.join(''), stderr: err.join('') };
};

describe('lease and offer commands, on the command line alone', () => {
  // Nothing listens here: a mistake must be refused before any request is made.
  const env: NodeJS.ProcessEnv = { PARLEY_HANDOVER_URL: 'http://127.0.0.1:9' };
  const cli = (...argv: string[]) => run(env, argv);

  it('explains each command in its --help', async () => {
    const lease = await cli('lease', 'extend', '--help');
    const offer = await cli('offer', 'create', '--help');
    const offers = await cli('offers', '--help');

    expect([lease.code, offer.code, offers.code]).toEqual([0, 0, 0]);
    expect(lease.stdout).toContain('parley-handover lease extend <userId> --seconds N');
    expect(lease.stdout).toContain('lease_limit_exceeded');
    expect(offer.stdout).toContain('--on-timeout keep|default|SERVICE');
    expect(offer.stdout).toContain('5 to 3600');
    expect(offers.stdout).toContain('parley-handover offers <userId>');
  });

  it.each([
    [['lease'], 'lease needs "extend <userId> --seconds N" or "show <userId>".'],
    [['lease', 'renew'], 'Unknown lease command "renew": use "lease extend" or "lease show".'],
    [
      ['offer', 'take'],
      'Unknown offer command "take": use create, accept, decline, cancel or show.',
    ],
    [
      ['lease', 'extend', '20'],
      'lease extend needs --seconds N: how far past its expiry the lease should run.',
    ],
    [['lease', 'extend', '20', '--seconds', '0'], '--seconds must be a positive whole number.'],
    [['lease', 'extend', '20', '--seconds', '1.5'], '--seconds must be a positive whole number.'],
    [['lease', 'extend', '--seconds', '60'], 'Missing <userId>.'],
    [['offer'], 'offer needs "create", "accept", "decline", "cancel" or "show".'],
    [['offer', 'create', '21'], 'offer create needs --to SERVICE.'],
    [['offer', 'create', '21', '--to', ' '], '--to needs a value.'],
    [
      ['offer', 'create', '21', '--to', 'Agent Service', '--timeout', '4'],
      '--timeout must be a whole number from 5 to 3600.',
    ],
    [
      ['offer', 'create', '21', '--to', 'Agent Service', '--timeout', '3601'],
      '--timeout must be a whole number from 5 to 3600.',
    ],
    [
      ['offer', 'create', '21', '--to', 'Agent Service', '--metadata', '[1]'],
      '--metadata must be a JSON object, e.g. \'{"reason":"billing"}\'.',
    ],
    [
      ['offer', 'create', '21', '--to', 'Agent Service', '--metadata', '{reason'],
      '--metadata must be a JSON object, e.g. \'{"reason":"billing"}\'.',
    ],
    [['offer', 'accept'], 'Missing <offerId>.'],
    // Only a decline records a reason: the others would drop it.
    [
      ['offer', 'accept', 'off-1', '--reason', 'x'],
      "An offer's accept records no reason: only a decline does.",
    ],
    [
      ['offer', 'cancel', 'off-1', '--reason', 'x'],
      "An offer's cancel records no reason: only a decline does.",
    ],
    [['offer', 'decline', 'off-1', 'extra'], 'Unexpected argument "extra".'],
    [['offers'], 'Missing <userId>.'],
    [['offer', 'show', 'off-1', '--format', 'csv'], '--format must be one of table, json.'],
    // A deployed stage has no services file to find a Service's token in.
    [
      ['offer', 'accept', 'off-1', '--as', 'Agent Service'],
      '--as works with the local services file only.',
    ],
  ])('refuses %j with exit code 2 and one sentence', async (argv, sentence) => {
    const out = await cli(...argv);

    expect({ code: out.code, stderr: out.stderr, stdout: out.stdout }).toEqual({
      code: 2,
      stderr: `${sentence} Try --help.\n`,
      stdout: '',
    });
  });
});

describe('lease and offer commands, against the local stack', () => {
  const dir = tempDir('cli-timers-');
  const env: NodeJS.ProcessEnv = { PARLEY_LOCAL_DIR: dir.dir };
  const cli = (...argv: string[]) => run(env, argv);
  let stack: LocalStack;

  beforeAll(async () => {
    const file = generateSimulatorServicesFile();
    writeFileSync(join(dir.dir, 'services.json'), JSON.stringify(file));
    stack = await startLocalStack({ settings: parseServicesFile(file), reconcileIntervalMs: 0 });
    writeRunInfo(
      {
        pid: process.pid,
        url: stack.url,
        simulatorUrl: stack.parley!.url,
        servicesFile: join(dir.dir, 'services.json'),
        demo: false,
      },
      env,
    );
  });
  afterAll(async () => {
    removeRunInfo(env);
    await stack?.close();
    dir.remove();
  });

  it("extends the owner's lease with the owner's token from the services file, and shows it", async () => {
    expect((await cli('handover', '70', 'Agent Service')).code).toBe(0);

    const extended = await cli('lease', 'extend', '70', '--seconds', '3600', '--json');
    const shown = await cli('lease', 'show', '70', '--json');
    const table = await cli('lease', 'show', '70');

    expect(extended.code).toBe(0);
    const lease = JSON.parse(extended.stdout);
    const { expiresAt, hardExpiresAt } = lease;
    // At least an hour from when it was asked, never past the hard cap.
    expect(Date.parse(expiresAt) - Date.now()).toBeGreaterThan(3590_000);
    expect(Date.parse(expiresAt)).toBeLessThanOrEqual(Date.parse(hardExpiresAt));
    expect(JSON.parse(shown.stdout)).toMatchObject({
      userId: '70',
      owner: { identification: AGENT },
      lease: { expiresAt, hardExpiresAt },
    });
    expect(table.stdout.split('\n').slice(0, 3)).toEqual([
      'user 70: Agent Service holds a lease',
      `  expires at      ${expiresAt}`,
      `  hard cap        ${hardExpiresAt}`,
    ]);
  });

  it('says what the service refused: a Service that does not own the user, a lease past its cap', async () => {
    expect((await cli('handover', '72', 'Agent Service')).code).toBe(0);

    const notOwner = await cli('lease', 'extend', '72', '--seconds', '60', '--as', 'Bot Service');
    const pastCap = await cli('lease', 'extend', '72', '--seconds', String(8 * 24 * 3600));
    const noLease = await cli('lease', 'show', '73');

    expect(notOwner.code).toBe(1);
    expect(notOwner.stderr).toMatch(/^The service answered 403 not_owner: /);
    expect(pastCap.code).toBe(1);
    expect(pastCap.stderr).toMatch(/^The service answered 422 lease_limit_exceeded: /);
    // A user of the default Service (the bot, which configures no lease).
    expect(noLease.stdout).toBe('user 73: Bot Service holds no lease\n');
  });

  it('offers a user, declines as the offered Service, then accepts a second offer', async () => {
    const first = await cli(
      'offer',
      'create',
      '71',
      '--to',
      'Agent Service',
      '--timeout',
      '60',
      '--metadata',
      '{"reason":"billing_question"}',
      '--json',
    );
    expect(first.code).toBe(0);
    const offered = JSON.parse(first.stdout).offer;
    expect(offered).toMatchObject({ from: BOT, to: AGENT, status: 'pending' });

    const shown = await cli('offer', 'show', offered.offerId);
    const declined = await cli('offer', 'decline', offered.offerId, '--reason', 'queue_full');
    const late = await cli('offer', 'accept', offered.offerId);
    const second = await cli('offer', 'create', '71', '--to', 'Agent Service');
    const secondId = /^offer (\S+) of user 71: /.exec(second.stdout)?.[1];
    const accepted = await cli('offer', 'accept', secondId ?? 'missing');
    const listed = await cli('offers', '71', '--json');
    const table = await cli('offers', '71');
    const owner = await cli('owner', '71', '--json');

    expect(shown.stdout).toBe(
      `offer ${offered.offerId} of user 71: ${BOT} -> ${AGENT}, pending until ${offered.expiresAt}\n`,
    );
    expect(declined).toMatchObject({ code: 0, stdout: `offer ${offered.offerId} declined\n` });
    expect(late.code).toBe(1);
    expect(late.stderr).toMatch(/^The service answered 409 offer_declined: /);
    expect(second.code).toBe(0);
    expect(accepted.code).toBe(0);
    expect(accepted.stdout).toMatch(
      new RegExp(
        `^offer ${secondId} accepted: the user now belongs to Agent Service \\(handover \\S+, seq \\d+\\)\\n$`,
      ),
    );
    expect(JSON.parse(owner.stdout).owner.identification).toBe(AGENT);
    const offers = JSON.parse(listed.stdout).offers as { offerId: string; status: string }[];
    expect(offers.map((o) => [o.offerId, o.status])).toEqual([
      [secondId, 'accepted'],
      [offered.offerId, 'declined'],
    ]);
    expect(table.stdout.split('\n')[0]).toMatch(
      /^offerId\s+status\s+from\s+to\s+createdAt\s+expiresAt$/,
    );
    expect(table.stdout.trim().split('\n')).toHaveLength(3);
  });

  it('cancels as the Service that offered, and refuses the offered side its cancel', async () => {
    expect((await cli('handover', '74', 'Agent Service')).code).toBe(0);
    const made = await cli('offer', 'create', '74', '--to', 'default', '--json');
    const { offerId } = JSON.parse(made.stdout).offer;

    const wrongSide = await cli('offer', 'cancel', offerId, '--as', 'Bot Service');
    const cancelled = await cli('offer', 'cancel', offerId);
    const shown = await cli('offer', 'show', offerId, '--json');

    expect(wrongSide.code).toBe(1);
    expect(wrongSide.stderr).toMatch(/^The service answered 403 not_offerer: /);
    expect(cancelled).toMatchObject({ code: 0, stdout: `offer ${offerId} cancelled\n` });
    expect(JSON.parse(shown.stdout).offer).toMatchObject({ offerId, status: 'cancelled' });
    expect(JSON.parse((await cli('owner', '74', '--json')).stdout).owner.identification).toBe(
      AGENT,
    );
  });
});
