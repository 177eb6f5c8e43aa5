// `npm run test:asan`: builds the addon with AddressSanitizer and
// UndefinedBehaviorSanitizer into native/build-asan, then runs the command
// given (the test suite) with that addon and the sanitizer runtimes preloaded
// into node, which is not itself instrumented. Any report fails the run.
import { spawnSync } from 'node:child_process';
import { cpSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const dir = join(here, 'build-asan');
mkdirSync(dir, { recursive: true });
for (const f of ['src', 'binding.gyp', 'build.mjs', 'gyp.mjs']) cpSync(join(here, f), join(dir, f), { recursive: true });

const flags = '-fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer -g';
const run = (cmd, args, env) => {
  const r = spawnSync(cmd, args, { stdio: 'inherit', env: { ...process.env, ...env } });
  if (r.status !== 0) process.exit(r.status ?? 1);
};
run(process.execPath, [join(dir, 'build.mjs')], { CFLAGS: flags, LDFLAGS: flags });

const lib = (name) => spawnSync('gcc', [`-print-file-name=${name}`], { encoding: 'utf8' }).stdout.trim();
const [cmd, ...args] = process.argv.slice(2);
run(cmd, args, {
  BATCHGRAM_ADDON: join(dir, 'build', 'Release', 'batchgram.node'),
  LD_PRELOAD: `${lib('libasan.so')}:${lib('libubsan.so')}`,
  // node's own allocations are not ours to judge at exit; reports from our
  // code abort the process, which fails the test that made it.
  ASAN_OPTIONS: 'detect_leaks=0:abort_on_error=1:halt_on_error=1',
  UBSAN_OPTIONS: 'halt_on_error=1:print_stacktrace=1',
});
