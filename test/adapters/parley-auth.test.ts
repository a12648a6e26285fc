// The Parley Authorization value against an independent computation of PARLEY.md's formula, and
// the cache that reuses it until shortly before it expires.
import { createHmac } from 'node:crypto';
import {
  createAuthorizationCache,
  type ParleyCredentials,
  parleyAuthorization,
} from '../../functions/adapters/parley-auth';

const creds: ParleyCredentials = {
  serviceIdentification: 'as272d6g2ds766fcdfgh',
  accountIdentification: 'acc-test-account',
  sharedServiceAccountSecret: 'a-shared-secret-for-tests',
};

/** PARLEY.md written out step by step, without the code under test. */
function expectedAuthorization(c: ParleyCredentials, validUntil: number): string {
  const data = `${c.serviceIdentification}${c.accountIdentification}${validUntil}`;
  const hmac = createHmac('sha512', Buffer.from(c.sharedServiceAccountSecret, 'utf8'));
  hmac.update(Buffer.from(data, 'utf8'));
  const verifyHash = hmac.digest('hex');
  const plain = `${c.serviceIdentification}|${c.accountIdentification}|${validUntil}|${verifyHash}`;
  return Buffer.from(plain, 'utf8').toString('base64');
}

const decode = (value: string): string[] =>
  Buffer.from(value, 'base64').toString('utf8').split('|');

const manualClock = (startMs: number) => {
  let nowMs = startMs;
  return {
    now: () => nowMs,
    advance: (ms: number) => {
      nowMs += ms;
    },
  };
};

describe('parleyAuthorization', () => {
  it('equals base64 of the four pipe-separated fields with a hex HMAC-SHA512 hash', () => {
    const validUntil = 1_700_000_300;

    const value = parleyAuthorization(creds, validUntil);

    expect(value).toEqual(expectedAuthorization(creds, validUntil));
  });

  it('decodes to the service, the account, validUntil and a 128-character hex hash', () => {
    const value = parleyAuthorization(creds, 1_700_000_300);

    const [service, account, validUntil, hash] = decode(value);
    expect([service, account, validUntil]).toEqual([
      'as272d6g2ds766fcdfgh',
      'acc-test-account',
      '1700000300',
    ]);
    expect(hash).toMatch(/^[0-9a-f]{128}$/);
  });

  it('changes the hash when the secret changes', () => {
    const other = parleyAuthorization(
      { ...creds, sharedServiceAccountSecret: 'other' },
      1_700_000_300,
    );

    expect(decode(other)[3]).not.toEqual(decode(parleyAuthorization(creds, 1_700_000_300))[3]);
  });

  it('contains no plain copy of the secret', () => {
    const value = parleyAuthorization(creds, 1_700_000_300);

    expect(value.includes(creds.sharedServiceAccountSecret)).toBe(false);
    expect(decode(value).join('|').includes(creds.sharedServiceAccountSecret)).toBe(false);
  });
});

describe('createAuthorizationCache', () => {
  it('sets validUntil five minutes ahead of the clock by default', () => {
    const clock = manualClock(1_700_000_000_500);
    const cache = createAuthorizationCache({ clock });

    const value = cache.get(creds);

    expect(decode(value)[2]).toEqual('1700000300');
    expect(value).toEqual(expectedAuthorization(creds, 1_700_000_300));
  });

  it('reuses the same value until 30 seconds before it expires', () => {
    const clock = manualClock(1_700_000_000_000);
    const cache = createAuthorizationCache({ clock });
    const first = cache.get(creds);

    clock.advance(269_999);
    const beforeRenewal = cache.get(creds);

    expect(beforeRenewal).toEqual(first);
  });

  it('makes a new value from 30 seconds before expiry', () => {
    const clock = manualClock(1_700_000_000_000);
    const cache = createAuthorizationCache({ clock });
    const first = cache.get(creds);

    clock.advance(270_000);
    const renewed = cache.get(creds);

    expect(renewed).not.toEqual(first);
    expect(decode(renewed)[2]).toEqual('1700000570');
  });

  it('makes a new value when the credentials change', () => {
    const clock = manualClock(1_700_000_000_000);
    const cache = createAuthorizationCache({ clock });
    cache.get(creds);
    const rotated = { ...creds, sharedServiceAccountSecret: 'rotated-secret' };

    const value = cache.get(rotated);

    expect(value).toEqual(expectedAuthorization(rotated, 1_700_000_300));
  });

  it('makes a new value after clear', () => {
    const clock = manualClock(1_700_000_000_000);
    const cache = createAuthorizationCache({ clock, lifetimeSeconds: 120 });
    cache.get(creds);
    clock.advance(5_000);

    cache.clear();
    const value = cache.get(creds);

    expect(decode(value)[2]).toEqual('1700000125');
  });

  it('rejects a lifetime that is not longer than the renewal margin', () => {
    const act = () =>
      createAuthorizationCache({
        clock: manualClock(0),
        lifetimeSeconds: 30,
        renewBeforeSeconds: 30,
      });

    expect(act).toThrow(RangeError);
  });
});
