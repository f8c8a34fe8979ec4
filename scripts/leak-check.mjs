#!/usr/bin/env node
// leak-check.mjs DIR — reads the LeakSanitizer (and AddressSanitizer) reports that a run with
// ASAN_OPTIONS=detect_leaks=1:log_path=DIR/r wrote, one file per process, and fails on the
// leaks that are ours.
//
// Node does not free V8's heap, its Node-API bookkeeping for objects still alive, or its own
// allocations when a process exits, so every process of the suite reports thousands of bytes of
// "leaks" whose allocation stacks are all inside node. A leak is ours when the allocation was
// made by the addon's own code (an allocator called from a frame in native/), or is a Node-API
// reference it created (napi_create_reference called from native/): Node never frees those
// itself, so one that is unreachable at exit was never deleted. Externals and wraps whose JS
// objects were alive at exit are Node's to finalize and are not counted.
//
// Prints a summary and each of our leaks with its first frames; exits 1 when there is one, or
// when a report holds an AddressSanitizer / UBSan error (with log_path set, they go to these
// files, not to the test's stderr). The last line is `N passed, N failed` (one check).
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

const dir = process.argv[2];
if (!dir) {
  console.error('usage: node scripts/leak-check.mjs DIR');
  process.exit(2);
}

const ALLOCATORS = /\b(operator new|__interceptor_(malloc|calloc|realloc|posix_memalign|strdup|aligned_alloc)|malloc|calloc|realloc)\b/;
const frameRe = /^\s+#(\d+) 0x[0-9a-f]+ in (.*)$/;

let files = 0;
let records = 0;
const ours = [];
const errors = [];
for (const name of readdirSync(dir)) {
  files++;
  const text = readFileSync(join(dir, name), 'utf8');
  for (const m of text.matchAll(/^(?:==\d+==)?ERROR: (AddressSanitizer|UndefinedBehaviorSanitizer).*$/gm)) errors.push(`${name}: ${m[0]}`);
  for (const m of text.matchAll(/^.*runtime error: .*$/gm)) errors.push(`${name}: ${m[0]}`);
  for (const block of text.split(/\n(?=(?:Direct|Indirect) leak of )/)) {
    if (!/^(Direct|Indirect) leak of /.test(block)) continue;
    records++;
    const frames = block
      .split('\n')
      .map((l) => frameRe.exec(l)?.[2])
      .filter((f) => f !== undefined);
    // frames[0] is the sanitizer's interceptor; frames[1] what called it; frames[2] its caller.
    const caller = frames[1] ?? '';
    const next = frames[2] ?? '';
    const direct = /native\//.test(caller) && ALLOCATORS.test(frames[0] ?? '');
    const viaStd = /libstdc\+\+|std::/.test(caller) && /native\//.test(next);
    const napiRef = /\bnapi_create_reference\b/.test(caller) && /native\//.test(next);
    if (direct || viaStd || napiRef) ours.push(`${name}: ${block.split('\n').slice(0, 6).join('\n')}`);
  }
}

console.log(
  `leak-check: ${files} report files, ${records} leak records in all, ${ours.length} of them ours, ${errors.length} sanitizer errors`,
);
for (const o of ours.slice(0, 10)) console.log(o);
for (const e of errors.slice(0, 10)) console.log(e);
const ok = ours.length === 0 && errors.length === 0;
console.log(ok ? '1 passed, 0 failed' : '0 passed, 1 failed');
process.exit(ok ? 0 : 1);
