// The simulator's lifecycle: close() ends what it holds open.
import { BOT_SERVICE_ID, startParleySimulator } from '../../../local/parley-sim';
import { authorization, until } from './support';

describe('Parley simulator: lifecycle', () => {
  it('closes while a timed-out call is still held open', async () => {
    const sim = await startParleySimulator({
      port: 0,
      faults: [{ route: 'getOwner', timeoutRate: 1 }],
    });
    const outcome = fetch(`${sim.baseUrl}/users/20/owner`, {
      headers: { authorization: authorization(BOT_SERVICE_ID) },
    });
    const settled = outcome.then(
      () => 'answered',
      () => 'cut',
    );
    await until(() => sim.log().length === 1);

    await sim.close();

    expect(await settled).toBe('cut');
  });
});
