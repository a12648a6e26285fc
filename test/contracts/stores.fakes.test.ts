// The store contract (./stores.contract.ts) against the in-memory fakes of the domain tests.
import { FakeHistoryStore, FakeStateStore } from '../support/fakes';
import { describeStoreContract } from './stores.contract';

describeStoreContract('in-memory fakes', async () => ({
  history: new FakeHistoryStore(),
  state: new FakeStateStore(),
}));
