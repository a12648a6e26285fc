// The notification headers (notify/sign.ts): the README's test vector, and what a receiver with a
// stock Standard Webhooks library or our forward check makes of a notification the sender sent.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Webhook } from 'standardwebhooks';
import { finalizeRecord, GENESIS_HASH, metadataDigest } from '../../../functions/domain/chain';
import { notificationsFor } from '../../../functions/domain/notify/build';
import { emitNotifications } from '../../../functions/domain/notify/emit';
import { sendNotification } from '../../../functions/domain/notify/send';
import {
  notificationHeaders,
  standardWebhookSecret,
  verifyStandardWebhook,
} from '../../../functions/domain/notify/sign';
import { verifyForwardSignature } from '../../../functions/domain/signature';
import { AGENT, BOT } from '../../support/fakes';
import { notifyWorld, recordOf, SECRETS } from './world';

/** The README's vector: `name: value` lines of the fenced block under "### Notifications". */
const readmeVector = (): Record<string, string> => {
  const readme = readFileSync(join(__dirname, '../../../README.md'), 'utf8');
  const section = readme.slice(readme.indexOf('### Notifications'));
  const block = /A test vector[\s\S]*?```text\n([\s\S]*?)```/.exec(section)?.[1];
  if (!block) throw new Error('The README has no notification test vector.');
  return Object.fromEntries(
    block
      .trim()
      .split('\n')
      .map((line) => {
        const at = line.indexOf(':');
        return [line.slice(0, at), line.slice(at + 1).trim()];
      }),
  );
};

describe('the README test vector', () => {
  const v = readmeVector();

  it('is what the sender computes for its secret, timestamp, id and body', () => {
    const headers = notificationHeaders(v.secret, v.id!, Number(v.timestamp), v.body!);
    expect(headers).toEqual({
      'Content-Type': 'application/json',
      'X-Handover-Timestamp': v.timestamp,
      'X-Handover-Delivery': v.id,
      'X-Handover-Signature': v['X-Handover-Signature'],
      'webhook-id': v.id,
      'webhook-timestamp': v.timestamp,
      'webhook-signature': v['webhook-signature'],
    });
    expect(standardWebhookSecret(v.secret!)).toBe(v.whsec);
  });

  it('is the body the sender builds for the seed handover, as the new owner gets it', () => {
    const metadata = { reason: 'question_too_complex' };
    const record = finalizeRecord(
      {
        handoverId: '0b6f9a2e-5c1d-4e8a-9f3b-2d7c6e1a4b90',
        userId: '20',
        seq: 1,
        fromOwner: BOT,
        toOwner: AGENT,
        reason: 'question_too_complex',
        metadata,
        metadataDigest: metadataDigest(metadata),
        requestedBy: BOT,
        source: 'api',
        createdAt: '2026-03-10T14:00:00.000Z',
        prevHash: GENESIS_HASH,
      },
      'completed',
      null,
    );
    const services = {
      get: (id: string) => ({
        identification: id,
        name: id,
        role: 'agent' as const,
        default: false,
        rules: [],
        downstreamUrl: 'https://desk.example/in',
      }),
    };
    const toAgent = notificationsFor(record, services, '2026-03-10T14:00:00.100Z')[1]!;
    expect([toAgent.id, toAgent.body]).toEqual([v.id, v.body]);
  });

  it('verifies with the standardwebhooks package (whsec form) and with verifyForwardSignature', () => {
    const headers = notificationHeaders(v.secret, v.id!, Number(v.timestamp), v.body!);
    const receiver = new Webhook(v.whsec!);
    // The library checks the timestamp against its own clock: sign the vector's bytes with it.
    const signed = receiver.sign(v.id!, new Date(Number(v.timestamp) * 1000), v.body!);
    expect(signed).toBe(headers['webhook-signature']);
    const ts = Number(v.timestamp);
    expect(
      verifyForwardSignature(v.secret!, headers['X-Handover-Signature'], ts, v.body!, ts),
    ).toBe(true);
    expect(
      verifyForwardSignature('another-secret-0123456', v['X-Handover-Signature'], ts, v.body!, ts),
    ).toBe(false);
  });
});

describe('a sent notification, as its receiver checks it', () => {
  it('passes the standardwebhooks verify and the forward check, and fails both once tampered with', async () => {
    const w = notifyWorld();
    // Real time: the library refuses timestamps more than 5 minutes from its own clock.
    w.send.clock = { now: () => Date.now() };
    const items = await emitNotifications(recordOf(), w.emit);
    const toAgent = items.find((i) => i.recipient === AGENT)!;

    expect(await sendNotification(toAgent.id, w.send)).toEqual({ outcome: 'sent', status: 200 });
    const [sent] = w.downstream.posted;
    const receiver = new Webhook(standardWebhookSecret(SECRETS[AGENT]!));
    expect(receiver.verify(sent!.body, sent!.headers)).toEqual(JSON.parse(toAgent.body));
    const ts = Number(sent!.headers['X-Handover-Timestamp']);
    expect(
      verifyForwardSignature(
        SECRETS[AGENT]!,
        sent!.headers['X-Handover-Signature'],
        ts,
        sent!.body,
        Math.floor(Date.now() / 1000),
      ),
    ).toBe(true);
    expect(sent!.headers['X-Handover-Delivery']).toBe(toAgent.id);

    const tampered = sent!.body.replace('"seq":1', '"seq":9');
    expect(() => receiver.verify(tampered, sent!.headers)).toThrow('No matching signature found');
    expect(
      verifyForwardSignature(
        SECRETS[AGENT]!,
        sent!.headers['X-Handover-Signature'],
        ts,
        tampered,
        Math.floor(Date.now() / 1000),
      ),
    ).toBe(false);
  });
});

describe('verifyStandardWebhook', () => {
  const v = readmeVector();
  const ts = Number(v.timestamp);
  const headers = { id: v.id!, timestamp: v.timestamp!, signature: v['webhook-signature']! };

  it('accepts the README vector, also among several signatures (a sender rotating its secret)', () => {
    expect(verifyStandardWebhook(v.secret!, headers, v.body!, ts)).toBe(true);
    const rotating = { ...headers, signature: `v1,${'A'.repeat(44)} ${headers.signature}` };
    expect(verifyStandardWebhook(v.secret!, rotating, v.body!, ts + 300)).toBe(true);
  });

  it('refuses another secret, a changed body or id, a stale timestamp and missing headers', () => {
    expect(verifyStandardWebhook('another-secret-0123456', headers, v.body!, ts)).toBe(false);
    expect(
      verifyStandardWebhook(v.secret!, headers, v.body!.replace('"seq":1', '"seq":2'), ts),
    ).toBe(false);
    expect(verifyStandardWebhook(v.secret!, { ...headers, id: 'ntf_other' }, v.body!, ts)).toBe(
      false,
    );
    expect(verifyStandardWebhook(v.secret!, headers, v.body!, ts + 301)).toBe(false);
    expect(verifyStandardWebhook(v.secret!, headers, v.body!, ts - 301)).toBe(false);
    expect(
      verifyStandardWebhook(v.secret!, { ...headers, signature: undefined }, v.body!, ts),
    ).toBe(false);
    expect(verifyStandardWebhook(v.secret!, { ...headers, timestamp: '17e8' }, v.body!, ts)).toBe(
      false,
    );
    expect(verifyStandardWebhook(v.secret!, { ...headers, signature: 'v1,***' }, v.body!, ts)).toBe(
      false,
    );
  });
});
