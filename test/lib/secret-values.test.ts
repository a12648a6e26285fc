// The secrets CLI's pure logic (merge, rotate, auditors): tokens are fresh, old tokens stay valid
// until retired; each Service's callback tokens go to their own secret (tokens left in the Service
// secret by an earlier version are copied over, and pruned on request). The CLI's commands are
// tested in test/cli/secrets.test.ts.
import { callbackTokensSecretSchema, serviceSecretSchema } from '../../functions/schemas/config';
import {
  mergeServiceSecret,
  newToken,
  parseSecretJson,
  rotateServiceToken,
  SecretInputError,
  tokensOf,
} from '../../lib/secret-values';

const counter = () => {
  let n = 0;
  return () => `token-${String(++n).padStart(12, '0')}`;
};

describe('tokens', () => {
  it('are 32 random bytes in base64url', () => {
    const a = newToken();
    expect(a).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(Buffer.from(a, 'base64url')).toHaveLength(32);
    expect(newToken()).not.toBe(a);
  });
});

describe('parseSecretJson', () => {
  it('drops the placeholder key and treats a non-object as empty', () => {
    expect(parseSecretJson('{"auditors":[],"placeholder":"xyz"}')).toEqual({ auditors: [] });
    expect(parseSecretJson('random-password')).toEqual({});
    expect(parseSecretJson('[1]')).toEqual({});
    expect(parseSecretJson(undefined)).toEqual({});
  });
});

describe('mergeServiceSecret', () => {
  it('merges Parley values and fresh tokens into the placeholders, keeping the signing secret', () => {
    const signing = 's'.repeat(48);
    const { next, issued } = mergeServiceSecret(
      { main: { apiTokens: [], signingSecret: signing }, callback: { callbackTokens: [] } },
      {
        accountIdentification: 'acc-1',
        sharedServiceAccountSecret: ' shared \n',
        generateTokens: true,
        token: counter(),
      },
    );
    expect(next).toEqual({
      main: {
        accountIdentification: 'acc-1',
        sharedServiceAccountSecret: 'shared',
        apiTokens: ['token-000000000002'],
        signingSecret: signing,
      },
      callback: { callbackTokens: ['token-000000000001'] },
    });
    expect(issued).toEqual({ callback: 'token-000000000001', api: 'token-000000000002' });
    expect(serviceSecretSchema.safeParse(next.main).success).toBe(true);
    expect(callbackTokensSecretSchema.parse(next.callback)).toEqual(['token-000000000001']);
  });

  it('keeps existing tokens (single-string form folded into the list) without --generate-tokens', () => {
    const { next, issued } = mergeServiceSecret(
      {
        main: { apiToken: 'old-api-token-0001' },
        callback: { callbackToken: 'old-callback-token-1' },
      },
      { sharedServiceAccountSecret: 'new-shared', generateTokens: false, token: counter() },
    );
    expect(next.callback).toEqual({ callbackTokens: ['old-callback-token-1'] });
    expect(next.main.apiTokens).toEqual(['old-api-token-0001']);
    expect(next.main.apiToken).toBeUndefined();
    expect(next.main.signingSecret).toBe('token-000000000001');
    expect(issued).toEqual({});
  });

  it('copies callback tokens left in the Service secret by an earlier version, keeping them there', () => {
    const { next, copied, pruned } = mergeServiceSecret(
      { main: { callbackTokens: ['legacy-callback-token1'], apiTokens: [] }, callback: {} },
      { generateTokens: false, token: counter() },
    );
    expect(next.callback).toEqual({ callbackTokens: ['legacy-callback-token1'] });
    expect(next.main.callbackTokens).toEqual(['legacy-callback-token1']);
    expect([copied, pruned]).toEqual([1, 0]);
  });

  it('prunes them from the Service secret on request, once they are in their own secret', () => {
    const { next, copied, pruned } = mergeServiceSecret(
      {
        main: { callbackToken: 'legacy-callback-token1', apiTokens: [] },
        callback: { callbackTokens: ['legacy-callback-token1'] },
      },
      { generateTokens: false, prune: true, token: counter() },
    );
    expect(next.main).not.toHaveProperty('callbackToken');
    expect(next.main).not.toHaveProperty('callbackTokens');
    expect(next.callback).toEqual({ callbackTokens: ['legacy-callback-token1'] });
    expect([copied, pruned]).toEqual([0, 1]);
  });

  it('drops old callback tokens from the Service secret when fresh ones are generated', () => {
    const { next, pruned } = mergeServiceSecret(
      { main: { callbackTokens: ['legacy-callback-token1'] }, callback: {} },
      { generateTokens: true, token: counter() },
    );
    expect(next.main).not.toHaveProperty('callbackTokens');
    expect(next.callback).toEqual({ callbackTokens: ['token-000000000001'] });
    expect(pruned).toBe(1);
  });

  it('refuses an empty shared secret', () => {
    expect(() =>
      mergeServiceSecret(
        { main: {}, callback: {} },
        { sharedServiceAccountSecret: '  ', generateTokens: false },
      ),
    ).toThrow(SecretInputError);
  });
});

describe('rotateServiceToken', () => {
  it('adds a new callback token next to the current one in its own secret, then retires the oldest', () => {
    const token = counter();
    const start = {
      main: { apiTokens: ['api-token-000000'] },
      callback: { callbackTokens: ['first-callback-token'] },
    };
    const rotated = rotateServiceToken(start, { kind: 'callback', retire: false, token });
    expect(tokensOf(rotated.next.callback, 'callback')).toEqual([
      'first-callback-token',
      'token-000000000001',
    ]);
    expect(rotated.issued).toEqual({ callback: 'token-000000000001' });
    expect(rotated.next.main).toEqual(start.main);

    const retired = rotateServiceToken(rotated.next, { kind: 'callback', retire: true });
    expect(tokensOf(retired.next.callback, 'callback')).toEqual(['token-000000000001']);
    expect(retired.issued).toEqual({});
  });

  it('rotates from callback tokens left in the Service secret, so the current one stays valid', () => {
    const rotated = rotateServiceToken(
      { main: { callbackToken: 'legacy-callback-token1' }, callback: { callbackTokens: [] } },
      { kind: 'callback', retire: false, token: counter() },
    );
    expect(rotated.next.callback).toEqual({
      callbackTokens: ['legacy-callback-token1', 'token-000000000001'],
    });
    expect(rotated.copied).toBe(1);
  });

  it('rotates API tokens in the Service secret', () => {
    const rotated = rotateServiceToken(
      {
        main: { apiTokens: ['api-token-000000'] },
        callback: { callbackTokens: ['cb-0000000000000'] },
      },
      { kind: 'api', retire: false, token: counter() },
    );
    expect(rotated.next).toEqual({
      main: { apiTokens: ['api-token-000000', 'token-000000000001'] },
      callback: { callbackTokens: ['cb-0000000000000'] },
    });
  });

  it('never retires the last token', () => {
    expect(() =>
      rotateServiceToken(
        { main: { apiTokens: ['only-api-token-0001'] }, callback: {} },
        { kind: 'api', retire: true },
      ),
    ).toThrow(/only one/);
  });
});
