// The handover-gap profile's attribution: where a sample's code lives, and Node's own frames
// counted for the nearest caller whose code is known.
import { categoryOf, selfShareByCategory } from '../../bench/gap';

const frame = (id: number, url: string, functionName = 'f', children: number[] = []) => ({
  id,
  callFrame: { url, functionName },
  children,
});

describe('handover gap profile', () => {
  it('names where a frame lives', () => {
    expect(categoryOf('file:///r/node_modules/dynalite/db/index.js', 'f')).toBe('store');
    expect(categoryOf('file:///r/node_modules/memory-level/index.js', 'f')).toBe('store');
    expect(categoryOf('file:///r/node_modules/@smithy/core/dist-cjs/index.js', 'f')).toBe('sdk');
    expect(categoryOf('file:///r/functions/domain/handover/perform.ts', 'f')).toBe('ours');
    expect(categoryOf('file:///r/bench/floors.ts', 'f')).toBe('floor');
    expect(categoryOf('file:///r/local/gateway.ts', 'f')).toBe('local runtime');
    expect(categoryOf('file:///r/bench/instrument.ts', 'f')).toBe('node');
    expect(categoryOf('node:_http_client', 'f')).toBe('node');
    expect(categoryOf('', '(garbage collector)')).toBe('gc');
    expect(categoryOf('', '(idle)')).toBeNull();
  });

  it("counts Node's frames for their nearest known caller and leaves idle out", () => {
    const profile = {
      nodes: [
        frame(1, '', '(root)', [2, 5, 7]),
        frame(2, 'file:///r/functions/adapters/parley-client.ts', 'call', [3]),
        frame(3, 'file:///r/bench/instrument.ts', 'countingFetch', [4]),
        frame(4, 'node:internal/deps/undici/undici', 'write'),
        frame(5, 'node:_http_server', 'parserOnIncoming', [6]),
        frame(6, 'file:///r/node_modules/dynalite/index.js', 'handle'),
        frame(7, '', '(idle)'),
      ],
      // undici under our client 3 ms, the server's parser 1 ms, dynalite 2 ms, idle 4 ms.
      samples: [4, 4, 4, 5, 6, 6, 7, 7, 7, 7],
      timeDeltas: [1000, 1000, 1000, 1000, 1000, 1000, 1000, 1000, 1000, 1000],
    };
    const shares = selfShareByCategory(profile);
    expect(shares.ours).toBeCloseTo(3 / 6, 10);
    expect(shares.node).toBeCloseTo(1 / 6, 10);
    expect(shares.store).toBeCloseTo(2 / 6, 10);
    expect(shares.sdk).toBe(0);
  });
});
