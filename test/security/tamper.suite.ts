// Tamper evidence: histories written by real handovers, then edited, deleted or reordered directly
// in the store (as someone with table access, not through this service). `verifyUserChain`, given
// the owner item's head, reports each one and names the first broken record; an untouched history
// and an erased metadata (allowed) verify.
import { DeleteCommand, GetCommand, PutCommand } from '@aws-sdk/lib-dynamodb';
import { type ChainReport, verifyUserChain } from '../../functions/domain/chain';
import { AGENT, BOT, type Harness, startHarness } from '../support/harness';
import { type Invoker, invoker, reportFigures } from '../support/reliability';

type Item = Record<string, unknown>;
type Tamper = {
  name: string;
  /** Changes the stored items; answers the seq that must be named as the first broken one. */
  apply(
    items: Item[],
    io: { put(item: Item): Promise<void>; remove(item: Item): Promise<void> },
  ): Promise<number>;
};

/** seq is 1-based; items are the stored items in ascending seq. */
const at = (items: Item[], seq: number) => items[seq - 1]!;

const TAMPERS = (pick: (n: number) => number): Tamper[] => [
  {
    name: 'edit toOwner',
    apply: async (items, io) => {
      const seq = pick(items.length);
      await io.put({ ...at(items, seq), toOwner: at(items, seq).toOwner === BOT ? AGENT : BOT });
      return seq;
    },
  },
  {
    name: 'edit the reason',
    apply: async (items, io) => {
      const seq = pick(items.length);
      await io.put({ ...at(items, seq), reason: 'nothing_to_see' });
      return seq;
    },
  },
  {
    name: 'backdate createdAt',
    apply: async (items, io) => {
      const seq = pick(items.length);
      await io.put({ ...at(items, seq), createdAt: '2020-01-01T00:00:00.000Z' });
      return seq;
    },
  },
  {
    name: 'flip the status',
    apply: async (items, io) => {
      const seq = pick(items.length);
      await io.put({
        ...at(items, seq),
        status: at(items, seq).status === 'completed' ? 'failed' : 'completed',
      });
      return seq;
    },
  },
  {
    name: 'edit the metadata',
    apply: async (items, io) => {
      const seq = pick(items.length);
      await io.put({ ...at(items, seq), metadata: { reason: 'forged' } });
      return seq;
    },
  },
  {
    name: 'edit a field and recompute its own hash',
    apply: async (items, io) => {
      // The edited record looks sound alone; the next link gives it away.
      const { hashRecord } = await import('../../functions/domain/chain');
      const seq = pick(items.length - 1);
      const edited: Item = { ...at(items, seq), requestedBy: 'someone-else' };
      const { pk: _pk, sk: _sk, dayPk: _d, toPk: _t, timeSk: _ts, ...record } = edited;
      await io.put({ ...edited, hash: hashRecord(record as never) });
      return seq + 1;
    },
  },
  {
    name: 'delete a record',
    apply: async (items, io) => {
      const seq = pick(items.length - 1);
      await io.remove(at(items, seq));
      return seq;
    },
  },
  {
    name: 'delete the newest record',
    apply: async (items, io) => {
      await io.remove(at(items, items.length));
      return items.length;
    },
  },
  {
    name: 'reorder two records',
    apply: async (items, io) => {
      const seq = pick(items.length - 1);
      const a = at(items, seq);
      const b = at(items, seq + 1);
      await io.put({ ...b, pk: a.pk, sk: a.sk, seq: a.seq });
      await io.put({ ...a, pk: b.pk, sk: b.sk, seq: b.seq });
      return seq;
    },
  },
];

export const defineTamperSuite = (
  usersPerTamper: number,
  recordsPerUser: number,
  label: string,
): void => {
  let h: Harness;
  let api: Invoker;
  let userCount = 0;
  const figures = { histories: 0, records: 0, tampered: 0, detected: 0, namedFirstBroken: 0 };

  beforeAll(async () => {
    h = await startHarness();
    api = invoker(h.source);
  });

  afterAll(async () => {
    await h.close();
    reportFigures(label, { ...figures });
  });

  /** A user with `recordsPerUser` records written through the real handover route. */
  const historyOfHandovers = async (): Promise<string> => {
    const userId = `tamper-${userCount++}`;
    for (let i = 0; i < recordsPerUser; i++) {
      const [token, newOwner] = i % 2 === 0 ? [h.tokens.bot.api, AGENT] : [h.tokens.agent.api, BOT];
      const res = await api.call({
        method: 'POST',
        path: '/handovers',
        token,
        body: { userId, newOwner, metadata: { reason: `step_${i}`, ticket: i } },
      });
      expect(res.statusCode).toBe(200);
    }
    figures.histories++;
    figures.records += recordsPerUser;
    return userId;
  };

  const storedItems = async (userId: string): Promise<Item[]> => {
    const items: Item[] = [];
    for (let seq = 1; seq <= recordsPerUser; seq++) {
      const out = await h.dynamo.client.send(
        new GetCommand({
          TableName: h.dynamo.tables.history,
          Key: { pk: `USER#${userId}`, sk: `SEQ#${String(seq).padStart(10, '0')}` },
        }),
      );
      items.push(out.Item!);
    }
    return items;
  };

  const io = {
    put: async (item: Item) => {
      await h.dynamo.client.send(
        new PutCommand({ TableName: h.dynamo.tables.history, Item: item }),
      );
    },
    remove: async (item: Item) => {
      await h.dynamo.client.send(
        new DeleteCommand({
          TableName: h.dynamo.tables.history,
          Key: { pk: item.pk, sk: item.sk },
        }),
      );
    },
  };

  const verify = async (userId: string): Promise<ChainReport> => {
    const head = (await h.deps.state.getOwner(userId))!;
    return verifyUserChain(userId, h.deps.history, head);
  };

  it('verifies untouched histories, and one whose metadata was erased', async () => {
    const userId = await historyOfHandovers();
    expect(await verify(userId)).toMatchObject({ ok: true, count: recordsPerUser });
    const items = await storedItems(userId);
    await io.put({ ...items[0]!, metadata: null });
    expect(await verify(userId)).toMatchObject({ ok: true, count: recordsPerUser });
  });

  let counter = 0;
  const pick = (n: number) => 1 + (counter++ % n);

  it.each(TAMPERS(pick).map((t) => [t.name, t] as const))(
    'reports "%s" naming the first broken record',
    async (_name, tamper) => {
      for (let u = 0; u < usersPerTamper; u++) {
        const userId = await historyOfHandovers();
        const firstBroken = await tamper.apply(await storedItems(userId), io);
        figures.tampered++;

        const report = await verify(userId);

        expect(report.ok).toBe(false);
        if (!report.ok) {
          figures.detected++;
          expect(report.firstBroken.seq).toBe(firstBroken);
          expect(report.count).toBe(firstBroken - 1);
          figures.namedFirstBroken++;
        }
      }
    },
  );
};
