// What the handover use cases' tests share: the seed's request and checks of a consistent world.
import { verifyChain } from '../../../functions/domain/chain';
import type { HandoverInput } from '../../../functions/domain/handover/deps';
import { AGENT, BOT, type handoverWorld } from '../../support/fakes';

/** The seed's handover (Bot -> Agent, user 20, question_too_complex), with changes. */
export const seedRequest = (over: Partial<HandoverInput> = {}): HandoverInput => ({
  userId: '20',
  newOwner: AGENT,
  metadata: { reason: 'question_too_complex' },
  requestedBy: BOT,
  source: 'api',
  ...over,
});

export type World = ReturnType<typeof handoverWorld>;

/** Parley, the owner item and the history all tell the same story, with one record per change. */
export const expectConsistent = (w: World, owner: string) => {
  const records = w.history.userRecords('20');
  expect(w.parley.ownerOf('20')).toBe(owner);
  expect(w.state.owners.get('20')).toMatchObject({
    owner,
    pending: null,
    lastSeq: records.length,
    lastHash: records.at(-1)?.hash,
  });
  expect(verifyChain('20', records).ok).toBe(true);
};

/** The next PUT owner never leaves: the process died after writing its marker. */
export const crashAfterMarker = (w: World) => {
  w.parley.onSetOwner = () => {
    throw new Error('process died before the PUT');
  };
};
