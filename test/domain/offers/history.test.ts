// Offer records in the history: chained like every record (the hash covers `kind` and `offer`, a
// handover record's hash unchanged), verified against the owner item (an offer marker's records
// too), skipped by ownerAt (they move no one), written into the audit CSV, and leaving the
// owner's `since` alone.
import { CSV_COLUMNS, recordsToCsv } from '../../../functions/domain/audit';
import { canonicalJson } from '../../../functions/domain/canonical';
import { finalizeRecord, hashRecord, verifyChain } from '../../../functions/domain/chain';
import { ownerAt } from '../../../functions/domain/handover/owner';
import { performHandover } from '../../../functions/domain/handover/perform';
import { verifyUser } from '../../../functions/domain/verify';
import type { HandoverRecord } from '../../../functions/domain/types';
import { AGENT, BOT, botOffers, DESK2, offersWorld, USER } from './world';

const offerRecord = (over: Partial<HandoverRecord> = {}): HandoverRecord =>
  finalizeRecord(
    {
      handoverId: 'h0002',
      userId: USER,
      seq: 2,
      fromOwner: BOT,
      toOwner: BOT,
      reason: null,
      metadata: null,
      metadataDigest: '74234e98afe7498fb5daf1f36ac2d78acc339464f950703b8c019892f982b90b',
      requestedBy: BOT,
      source: 'offer',
      createdAt: '2026-03-10T14:00:00.001Z',
      prevHash: 'a'.repeat(64),
      kind: 'offer',
      offer: {
        offerId: 'ofr_MjA.AAAAAAAAAAAAAAAA',
        event: 'created',
        from: BOT,
        to: AGENT,
        expiresAt: '2026-03-10T14:00:30.001Z',
        onTimeout: 'keep',
      },
      ...over,
    },
    'completed',
    null,
  );

describe('the hash chain over offer records', () => {
  it('hashes the canonical form with kind and offer, keys sorted at every depth', () => {
    const { hash: _h, metadata: _m, ...chained } = offerRecord();

    expect(canonicalJson(chained)).toBe(
      '{"createdAt":"2026-03-10T14:00:00.001Z","fromOwner":"as272d6g2ds766fcdfgh",' +
        '"handoverId":"h0002","kind":"offer","metadataDigest":' +
        '"74234e98afe7498fb5daf1f36ac2d78acc339464f950703b8c019892f982b90b",' +
        '"offer":{"event":"created","expiresAt":"2026-03-10T14:00:30.001Z",' +
        '"from":"as272d6g2ds766fcdfgh","offerId":"ofr_MjA.AAAAAAAAAAAAAAAA",' +
        '"onTimeout":"keep","to":"Jlk9e7cSf9g3FFsaqe39"},"parley":null,"prevHash":"' +
        `${'a'.repeat(64)}","reason":null,"requestedBy":"as272d6g2ds766fcdfgh","seq":2,` +
        '"source":"offer","status":"completed","toOwner":"as272d6g2ds766fcdfgh","userId":"20"}',
    );
  });

  it('breaks on an edited offer (another offeree, another event)', () => {
    const record = offerRecord();

    expect(hashRecord({ ...record, offer: { ...record.offer!, to: DESK2 } })).not.toBe(record.hash);
    expect(hashRecord({ ...record, offer: { ...record.offer!, event: 'accepted' } })).not.toBe(
      record.hash,
    );
    expect(hashRecord({ ...record, kind: undefined })).not.toBe(record.hash);
  });

  it('hashes a handover record as before: an absent kind and offer add nothing', () => {
    const { kind: _k, offer: _o, ...handover } = offerRecord({ source: 'api', toOwner: AGENT });

    expect(hashRecord({ ...handover, kind: undefined, offer: undefined })).toBe(
      hashRecord(handover),
    );
  });
});

describe('verify with offers', () => {
  it('finds a history of offers, an accepted one and a superseded one whole', async () => {
    const w = offersWorld();
    const { offer } = await botOffers(w);
    await botOffers(w, { newOwner: DESK2 });
    await performHandover(
      { userId: USER, newOwner: AGENT, requestedBy: BOT, source: 'api' },
      w.deps,
    );

    const report = await verifyUser(USER, w.deps);

    expect(report).toMatchObject({ ok: true, count: 5, lastSeq: 5 });
    expect(w.history.userRecords(USER).map((r) => r.offer?.event ?? r.source)).toEqual([
      'created',
      'created',
      'superseded',
      'api',
      'superseded',
    ]);
    expect(offer.offerId).toBeDefined();
  });

  it('reports an offer marker whose two records are written as pending, not as a break', async () => {
    const w = offersWorld();
    await botOffers(w);
    // The change's marker was stored and both records written; the final CAS never came.
    w.state.beforeNextCas = null;
    const cas = w.state.compareAndSetOwner.bind(w.state);
    let calls = 0;
    w.state.compareAndSetOwner = async (item, expected) =>
      ++calls === 2 ? false : cas(item, expected);
    await botOffers(w, { newOwner: DESK2 });
    w.state.compareAndSetOwner = cas;

    const report = await verifyUser(USER, w.deps);

    expect(report).toMatchObject({
      ok: true,
      count: 3,
      lastSeq: 1,
      pending: { seq: 2, recorded: true },
    });
  });

  it('reports a handover that superseded an offer, both records written before its final CAS, as pending', async () => {
    const w = offersWorld();
    await botOffers(w);
    const cas = w.state.compareAndSetOwner.bind(w.state);
    let calls = 0;
    // The marker's CAS goes through; the one that would clear it never comes.
    w.state.compareAndSetOwner = async (item, expected) =>
      ++calls === 2 ? false : cas(item, expected);
    await performHandover(
      { userId: USER, newOwner: AGENT, requestedBy: BOT, source: 'api' },
      w.deps,
    ).catch(() => undefined);
    w.state.compareAndSetOwner = cas;

    const report = await verifyUser(USER, w.deps);

    expect(w.history.userRecords(USER).map((r) => r.offer?.event ?? r.source)).toEqual([
      'created',
      'api',
      'superseded',
    ]);
    expect(report).toMatchObject({ ok: true, count: 3, lastSeq: 1, pending: { seq: 2 } });
  });

  it('names an edited offer record', async () => {
    const w = offersWorld();
    await botOffers(w);
    const [created] = w.history.userRecords(USER);
    w.history.records.set(`${USER}#${'1'.padStart(10, '0')}`, {
      ...created!,
      offer: { ...created!.offer!, to: DESK2 },
    });

    const report = await verifyUser(USER, w.deps);

    expect(report.firstBroken).toEqual({
      seq: 1,
      handoverId: created!.handoverId,
      problem: 'hash_mismatch',
    });
  });
});

describe('ownerAt and the owner item skip offer records', () => {
  it('answers the owner and since of the last change of owner, not of a later offer', async () => {
    const w = offersWorld();
    const handover = await performHandover(
      { userId: USER, newOwner: AGENT, requestedBy: BOT, source: 'api' },
      w.deps,
    );
    w.clock.advance(5_000);
    await botOffers(w, { requestedBy: AGENT, newOwner: DESK2 });
    const offerAt = w.history.userRecords(USER)[1]!.createdAt;

    const then = await ownerAt(USER, offerAt, w.deps);

    expect(then).toMatchObject({
      owner: { identification: AGENT },
      known: true,
      since: handover.handover!.createdAt,
      handoverId: handover.handover!.handoverId,
    });
    expect(w.state.owners.get(USER)).toMatchObject({
      owner: AGENT,
      since: handover.handover!.createdAt,
      lastSeq: 2,
    });
  });

  it('answers the offerer, since unknown, when an offer is the only record', async () => {
    const w = offersWorld();
    await botOffers(w);

    const then = await ownerAt(USER, w.history.userRecords(USER)[0]!.createdAt, w.deps);

    expect(then).toEqual({
      userId: USER,
      at: w.history.userRecords(USER)[0]!.createdAt,
      owner: { identification: BOT, name: 'Bot Service', default: true },
      known: true,
    });
  });
});

describe('the audit CSV', () => {
  it('has a kind, the offer id and its event for offer records, empty cells for handovers', () => {
    const record = offerRecord();
    const { kind: _k, offer: _o, ...handover } = offerRecord({ source: 'api', toOwner: AGENT });

    const lines = recordsToCsv([record, handover]).trimEnd().split('\r\n');

    expect(CSV_COLUMNS.slice(-3)).toEqual(['kind', 'offerId', 'offerEvent']);
    expect(lines[1]!.split(',').slice(-3)).toEqual([
      'offer',
      'ofr_MjA.AAAAAAAAAAAAAAAA',
      'created',
    ]);
    expect(lines[2]!.split(',').slice(-3)).toEqual(['handover', '', '']);
  });

  it('keeps the chain verifiable from what it wrote (the records are unchanged)', () => {
    expect(verifyChain(USER, [offerRecord({ seq: 1, prevHash: '0'.repeat(64) })]).ok).toBe(true);
  });
});
