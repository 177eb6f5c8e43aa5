import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MAX_IPV4_PAYLOAD, MAX_IPV6_PAYLOAD, resolveBatchSize } from '../../src/limits';
import { IDEAL_BATCH_SIZE, kernelHasMmsg } from '../../src/kernel/support';

describe('batch size', () => {
  const cases: Array<[string, number | undefined, string | undefined, number]> = [
    ['ideal by default', undefined, undefined, 128],
    ['environment override', undefined, '64', 64],
    ['environment clamped up to 1', undefined, '0', 1],
    ['environment clamped down to ideal', undefined, '1000', 128],
    ['environment that is not a number is ignored', undefined, 'lots', 128],
    ['empty environment is ignored', undefined, '', 128],
    ['option wins over the environment', 16, '64', 16],
    ['option clamped to ideal', 500, undefined, 128],
  ];
  for (const [name, option, env, want] of cases) it(name, () => assert.equal(resolveBatchSize(128, option, env), want));

  it('is 1 where batching is unavailable', () => assert.equal(resolveBatchSize(1, undefined, '64'), 1));
});

describe('platform', () => {
  it('takes 2.x kernels and non-Linux systems as without mmsg', () => {
    assert.equal(kernelHasMmsg('linux', '2.6.32-754.el6.x86_64'), false);
    assert.equal(kernelHasMmsg('linux', '3.10.0'), true);
    assert.equal(kernelHasMmsg('linux', '6.18.44'), true);
    assert.equal(kernelHasMmsg('darwin', '23.1.0'), false);
  });

  it('has the ideal batch size of the batch path here', { skip: process.platform !== 'linux' }, () => {
    assert.equal(IDEAL_BATCH_SIZE, 128);
  });

  it('knows the largest payloads', () => {
    assert.equal(MAX_IPV4_PAYLOAD, 65507);
    assert.equal(MAX_IPV6_PAYLOAD, 65527);
  });
});
