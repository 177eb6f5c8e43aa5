// The public API, as the built declarations state it, is the one committed in
// api/batchgram.api.md (made by scripts/api-report.mjs): a change of what
// users can name and call is a change of that file, seen in review.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { pathToFileURL } from 'node:url';

const repo = join(__dirname, '..', '..');

describe('public API', () => {
  it('is the one in the committed report', async () => {
    const report = await import(pathToFileURL(join(repo, 'scripts', 'api-report.mjs')).href) as {
      checkReport(root: string): string | null;
    };
    const difference = report.checkReport(repo);
    if (difference !== null) assert.fail(difference);
  });
});
