#!/usr/bin/env node
// gen-contract.mjs — writes native/contract.h and src/contract.ts from contract/contract.json,
// the one list of numbers the C++ addon and the TypeScript side must agree on (docs/contract.md).
//
//   node scripts/gen-contract.mjs            rewrite both generated files
//   node scripts/gen-contract.mjs --check    exit 1 if either differs from what the spec gives
//   --root <dir>                             work on another tree (the drift test uses a copy)
//
// No dependencies: it runs before anything is installed or built.
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const args = process.argv.slice(2);
const check = args.includes('--check');
const rootAt = args.indexOf('--root');
const root = rootAt >= 0 ? args[rootAt + 1] : join(dirname(fileURLToPath(import.meta.url)), '..');

const SPEC = 'contract/contract.json';
const HEADER = 'generated from contract/contract.json by scripts/gen-contract.mjs: do not edit';

/** Reads and validates the spec: groups of uniquely named integer constants. */
function readSpec() {
  const spec = JSON.parse(readFileSync(join(root, SPEC), 'utf8'));
  const groups = spec.groups;
  if (!Array.isArray(groups)) throw new Error(`${SPEC}: no "groups" array`);
  const seen = new Set();
  for (const g of groups) {
    if (!/^[A-Z][A-Za-z0-9]*$/.test(g.name ?? '')) throw new Error(`${SPEC}: bad group name ${JSON.stringify(g.name)}`);
    if (seen.has(g.name)) throw new Error(`${SPEC}: group ${g.name} twice`);
    seen.add(g.name);
    const names = new Set();
    for (const v of g.values ?? []) {
      if (!/^[A-Z][A-Za-z0-9]*$/.test(v.name ?? '')) throw new Error(`${SPEC}: ${g.name}: bad name ${JSON.stringify(v.name)}`);
      if (names.has(v.name)) throw new Error(`${SPEC}: ${g.name}.${v.name} twice`);
      names.add(v.name);
      if (!Number.isSafeInteger(v.value) || v.value < -0x80000000 || v.value > 0xffffffff)
        throw new Error(`${SPEC}: ${g.name}.${v.name}: ${v.value} is not a 32-bit integer`);
    }
  }
  return groups;
}

const hex = (v) => (v > 0xffff ? `0x${v.toString(16).toUpperCase()}` : String(v));

/** The opening comment of a generated file: its name, the do-not-edit line, then `about`. */
const banner = (file, prefix, about) => [`${prefix} ${file} — ${HEADER}.`, ...about.map((line) => `${prefix} ${line}`)];

/** C++: constexpr constants kGroupName in namespace shm::contract (int32_t, or uint32_t above INT32_MAX). */
function cpp(groups) {
  const about = [
    'The numbers shared by native/ and src/ (docs/contract.md). static_asserts tying them to the',
    'real layout live next to that layout (native/binding/, native/core/events.h, store.h).',
  ];
  const out = [...banner('contract.h', '//', about), '#pragma once', '#include <cstdint>', '', 'namespace shm::contract {', ''];
  for (const g of groups) {
    out.push(`// ${g.name}: ${g.doc}`);
    for (const v of g.values) {
      const type = v.value > 0x7fffffff ? 'uint32_t' : 'int32_t';
      const suffix = type === 'uint32_t' ? 'u' : '';
      out.push(`constexpr ${type} k${g.name}${v.name} = ${hex(v.value)}${suffix};${v.doc ? `  // ${v.doc}` : ''}`);
    }
    out.push('');
  }
  out.push(
    '// Every constant by its TypeScript name, for the addon to export (the drift test compares it',
    "// with src/contract.ts's contractValues).",
    'struct Entry {',
    '  const char* name;',
    '  int64_t value;',
    '};',
    'inline constexpr Entry kAll[] = {',
  );
  for (const g of groups) for (const v of g.values) out.push(`    {"${g.name}.${v.name}", k${g.name}${v.name}},`);
  out.push('};', '', '}  // namespace shm::contract', '');
  return out.join('\n');
}

/**
 * TypeScript: one const enum per group (inlined by tsc, so a hot path pays nothing), one line each;
 * the group's doc and its members' docs go in the JSDoc above it.
 */
function ts(groups) {
  const about = [
    'The numbers shared by the C++ addon (native/contract.h) and TypeScript: return codes, store',
    'commands, statuses, buffer layout, meta buffer offsets, the event record format. See docs/contract.md.',
  ];
  const out = [...banner('contract.ts', '//', about), ''];
  for (const g of groups) {
    const notes = g.values.filter((v) => v.doc).map((v) => ` * - ${v.name}: ${v.doc}`);
    out.push(...(notes.length ? ['/**', ` * ${g.doc}`, ...notes, ' */'] : [`/** ${g.doc} */`]));
    out.push(`export const enum ${g.name} { ${g.values.map((v) => `${v.name} = ${hex(v.value)}`).join(', ')} }`, '');
  }
  out.push(
    "/** Every constant by name (`Group.Name`), at run time: the drift test compares it with the addon's `native.contract`. */",
    'export const contractValues: Readonly<Record<string, number>> = Object.freeze({',
  );
  for (const g of groups) out.push(`  ${g.values.map((v) => `'${g.name}.${v.name}': ${g.name}.${v.name}`).join(', ')},`);
  out.push('});', '');
  return out.join('\n');
}

const groups = readSpec();
const files = { 'native/contract.h': cpp(groups), 'src/contract.ts': ts(groups) };
let stale = 0;
for (const [rel, text] of Object.entries(files)) {
  const path = join(root, rel);
  if (check) {
    let have = '';
    try {
      have = readFileSync(path, 'utf8');
    } catch {}
    if (have !== text) {
      stale++;
      console.error(
        `contract drift: ${rel} is not what ${SPEC} gives. Edit ${SPEC} (never the generated file), then run: node scripts/gen-contract.mjs`,
      );
    }
  } else {
    writeFileSync(path, text);
  }
}
if (stale) process.exit(1);
if (check) console.log('contract: native/contract.h and src/contract.ts match contract/contract.json');
