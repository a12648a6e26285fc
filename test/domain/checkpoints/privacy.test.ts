// What the checkpoint bucket may hold: nothing computable from a user id without the subject key.
// A run of the job over two users into the local directory store (the same keys as the bucket),
// then every object it wrote, its key and its body, searched for either user id and its SHA-256.
import { createHash } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { createDirCheckpointStore } from '../../../functions/adapters/dir-checkpoint-store';
import { makeCheckpoints } from '../../../functions/domain/checkpoints/job';
import { checkpointWorld, historyOf } from './world';

const USERS = ['privacy-user-20', 'Zoë 71'];

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'checkpoint-privacy-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

/** Every file under `root`: its path relative to it (the object's key) and its bytes. */
const objectsUnder = (root: string): { key: string; body: Buffer }[] =>
  readdirSync(root).flatMap((name) => {
    const path = join(root, name);
    return statSync(path).isDirectory()
      ? objectsUnder(path).map((o) => ({ ...o, key: `${name}/${o.key}` }))
      : [{ key: relative(root, path), body: readFileSync(path) }];
  });

describe('the checkpoint bucket', () => {
  it('holds no user id and no SHA-256 of one, in any key or body', async () => {
    const w = checkpointWorld();
    w.deps.store = createDirCheckpointStore(dir);
    for (const userId of USERS) await w.add(historyOf(userId, 2));
    const run = await makeCheckpoints(w.deps, { by: 'test' });
    expect(run.created.map((c) => c.treeSize)).toEqual([2]);

    const objects = objectsUnder(dir);
    // One checkpoint and a note per user.
    expect(objects.map((o) => o.key.split('/')[0]).sort()).toEqual([
      'checkpoints',
      'users',
      'users',
    ]);
    const found: string[] = [];
    for (const userId of USERS) {
      const forms = {
        userId,
        sha256: createHash('sha256').update(userId, 'utf8').digest('hex'),
      };
      for (const { key, body } of objects) {
        for (const [form, value] of Object.entries(forms)) {
          if (key.includes(value)) found.push(`${form} of ${userId} in the key ${key}`);
          if (body.includes(Buffer.from(value, 'utf8'))) {
            found.push(`${form} of ${userId} in the body of ${key}`);
          }
        }
      }
    }
    expect(found).toEqual([]);
  });
});
