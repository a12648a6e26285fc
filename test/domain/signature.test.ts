import { createHmac } from 'node:crypto';
import { hostOf, signForward, verifyForwardSignature } from '../../functions/domain/signature';

const SECRET = 'downstream-signing-secret-1';
const BODY = '{"deliveryId":"svc#message#1","text":"hi"}';
const TS = 1_773_151_200;

describe('signForward', () => {
  it('signs "{ts}.{body}" with HMAC-SHA256 and prefixes the version', () => {
    const expected = createHmac('sha256', SECRET).update(`${TS}.${BODY}`).digest('hex');

    const signature = signForward(SECRET, TS, BODY);

    expect(signature).toEqual(`v1=${expected}`);
    expect(signature).toMatch(/^v1=[0-9a-f]{64}$/);
  });
});

describe('verifyForwardSignature', () => {
  const header = signForward(SECRET, TS, BODY);

  it('accepts a signature over the exact body within the tolerance window', () => {
    expect(verifyForwardSignature(SECRET, header, TS, BODY, TS)).toBe(true);
    expect(verifyForwardSignature(SECRET, header, TS, BODY, TS + 300)).toBe(true);
    expect(verifyForwardSignature(SECRET, header, TS, BODY, TS - 300)).toBe(true);
  });

  it('rejects a timestamp more than five minutes away, in either direction', () => {
    expect(verifyForwardSignature(SECRET, header, TS, BODY, TS + 301)).toBe(false);
    expect(verifyForwardSignature(SECRET, header, TS, BODY, TS - 301)).toBe(false);
  });

  it('honours a custom tolerance', () => {
    expect(verifyForwardSignature(SECRET, header, TS, BODY, TS + 30, 10)).toBe(false);
    expect(verifyForwardSignature(SECRET, header, TS, BODY, TS + 30, 60)).toBe(true);
  });

  it('rejects another secret, a changed body and a changed timestamp', () => {
    expect(verifyForwardSignature('another-secret', header, TS, BODY, TS)).toBe(false);
    expect(verifyForwardSignature(SECRET, header, TS, `${BODY} `, TS)).toBe(false);
    expect(verifyForwardSignature(SECRET, header, TS + 1, BODY, TS)).toBe(false);
  });

  it('rejects a missing, empty, unversioned or malformed header', () => {
    const hex = header.slice(3);
    expect(verifyForwardSignature(SECRET, undefined, TS, BODY, TS)).toBe(false);
    expect(verifyForwardSignature(SECRET, '', TS, BODY, TS)).toBe(false);
    expect(verifyForwardSignature(SECRET, hex, TS, BODY, TS)).toBe(false);
    expect(verifyForwardSignature(SECRET, `v2=${hex}`, TS, BODY, TS)).toBe(false);
    expect(verifyForwardSignature(SECRET, `v1=${hex.slice(2)}`, TS, BODY, TS)).toBe(false);
    expect(verifyForwardSignature(SECRET, 'v1=zz', TS, BODY, TS)).toBe(false);
  });

  it('accepts a list of signatures when one of them matches (secret rotation)', () => {
    const old = signForward('old-secret', TS, BODY);

    expect(verifyForwardSignature(SECRET, `${old}, ${header}`, TS, BODY, TS)).toBe(true);
    expect(verifyForwardSignature(SECRET, old, TS, BODY, TS)).toBe(false);
  });

  it('rejects a non-integer timestamp', () => {
    expect(verifyForwardSignature(SECRET, header, Number.NaN, BODY, TS)).toBe(false);
  });
});

describe('hostOf', () => {
  it('names the host and port of a URL, never its credentials, path or query', () => {
    expect([
      hostOf('https://user:pw@bot.example:8443/hooks/parley?key=k1#frag'),
      hostOf('http://127.0.0.1:4010/x'),
      hostOf('not a url /with?key=k1'),
      hostOf('file:///etc/passwd'),
    ]).toEqual(['bot.example:8443', '127.0.0.1:4010', 'invalid-url', 'unknown-host']);
  });
});
