/**
 * One convention for error codes (docs/conventions.md §9): a folder of src/
 * that owns SM_ERR_* codes lists them in one file, `<folder>-errors.ts`,
 * as a frozen `<Owner>Code` object (`Object.freeze({ ... } as const)`) whose
 * values are the SM_ERR_* strings; every other file imports that object.
 *
 * Fails when a file other than a `<folder>-errors.ts` defines an SM_ERR_*
 * literal as a property of an object (a code table of its own) or exports
 * one as a constant of its own (`export const SM_ERR_X = 'SM_ERR_X'`), when a
 * `*-errors.ts` is not named after its folder or its table is not a frozen
 * `<Owner>Code`, or when two tables define the same code. Passing a code
 * literal straight to an error's constructor is not a table and is left
 * alone.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { basename, dirname, join, relative, sep } from 'node:path';
import ts from 'typescript';
import { repoRoot, typeScriptFiles } from '../../testkit/repo-root.js';

interface CodeTable {
  /** src-relative file. */
  file: string;
  line: number;
  /** The variable the object is assigned to, or null (an anonymous object). */
  owner: string | null;
  frozen: boolean;
  codes: string[];
}

/**
 * Every object literal in `text` with at least one SM_ERR_* string property,
 * and every exported `const` whose value is an SM_ERR_* string (a loose code:
 * a table of one, owned by the constant's name and never frozen).
 */
export function codeTables(file: string, text: string): CodeTable[] {
  const sf = ts.createSourceFile(file, text, ts.ScriptTarget.ES2022, true);
  const tables: CodeTable[] = [];
  const visit = (node: ts.Node): void => {
    if (ts.isVariableStatement(node) && node.modifiers?.some((m) => m.kind === ts.SyntaxKind.ExportKeyword)) {
      for (const d of node.declarationList.declarations) {
        let init = d.initializer;
        while (init !== undefined && (ts.isAsExpression(init) || ts.isParenthesizedExpression(init))) init = init.expression;
        if (init !== undefined && ts.isStringLiteral(init) && init.text.startsWith('SM_ERR_')) {
          const owner = ts.isIdentifier(d.name) ? d.name.text : null;
          tables.push({ file, line: sf.getLineAndCharacterOfPosition(d.getStart(sf)).line + 1, owner, frozen: false, codes: [init.text] });
        }
      }
    }
    if (ts.isObjectLiteralExpression(node)) {
      const codes = node.properties
        .filter(ts.isPropertyAssignment)
        .map((p) => p.initializer)
        .filter((i): i is ts.StringLiteral => ts.isStringLiteral(i) && i.text.startsWith('SM_ERR_'))
        .map((i) => i.text);
      if (codes.length > 0) {
        let at: ts.Node = node.parent;
        while (ts.isAsExpression(at) || ts.isParenthesizedExpression(at)) at = at.parent;
        const frozen = ts.isCallExpression(at) && at.expression.getText(sf) === 'Object.freeze';
        if (frozen) at = at.parent;
        const owner = ts.isVariableDeclaration(at) && ts.isIdentifier(at.name) ? at.name.text : null;
        tables.push({ file, line: sf.getLineAndCharacterOfPosition(node.getStart(sf)).line + 1, owner, frozen, codes });
      }
    }
    ts.forEachChild(node, visit);
  };
  visit(sf);
  return tables;
}

/** What is wrong with `table` under the convention; [] when nothing is. */
export function tableProblems(table: CodeTable): string[] {
  const where = `src/${table.file}:${table.line}`;
  const name = basename(table.file);
  if (!name.endsWith('-errors.ts')) return [`${where}: SM_ERR_* codes defined outside a -errors.ts file (${table.codes.join(', ')})`];
  const problems: string[] = [];
  const folder = basename(dirname(`src/${table.file}`));
  if (name !== `${folder}-errors.ts`) problems.push(`${where}: a code file is named after its folder: ${folder}-errors.ts, not ${name}`);
  if (table.owner === null || !/^[A-Z][A-Za-z]*Code$/.test(table.owner)) problems.push(`${where}: the code table is a const named <Owner>Code, not ${table.owner ?? 'an anonymous object'}`);
  if (!table.frozen) problems.push(`${where}: ${table.owner ?? 'the code table'} is Object.freeze({ ... } as const)`);
  return problems;
}

const SRC = join(repoRoot(), 'src');
const TABLES = typeScriptFiles(SRC).flatMap((f) => codeTables(relative(SRC, f).split(sep).join('/'), readFileSync(f, 'utf8')));

test('SM_ERR_* code tables live only in <folder>-errors.ts files, as frozen <Owner>Code objects', () => {
  assert.ok(TABLES.length >= 6, 'code tables found under src/');
  const problems = TABLES.flatMap(tableProblems);
  assert.deepEqual(problems, [], `error-code convention (docs/conventions.md §9):\n  ${problems.join('\n  ')}`);
});

test('no SM_ERR_* code is defined by two tables', () => {
  const owners = new Map<string, string[]>();
  for (const t of TABLES) for (const c of t.codes) owners.set(c, [...(owners.get(c) ?? []), `src/${t.file}:${t.line}`]);
  const twice = [...owners].filter(([, at]) => at.length > 1).map(([c, at]) => `${c}: ${at.join(', ')}`);
  assert.deepEqual(twice, [], `codes defined twice:\n  ${twice.join('\n  ')}`);
});

test('the convention checker names a stray table, a loose exported code, a misnamed file and an unfrozen table', () => {
  const stray = codeTables('node/foo.ts', "export const FooCode = Object.freeze({ A: 'SM_ERR_FOO_A' } as const);");
  assert.match(tableProblems(stray[0]!)[0] ?? '', /src\/node\/foo\.ts:1: SM_ERR_\* codes defined outside a -errors\.ts file \(SM_ERR_FOO_A\)/);
  const misnamed = codeTables('node/path/direct-errors.ts', "export const PathCode = Object.freeze({ A: 'SM_ERR_PATH_A' } as const);");
  assert.match(tableProblems(misnamed[0]!).join('\n'), /named after its folder: path-errors\.ts, not direct-errors\.ts/);
  const loose = codeTables('wire/wire-errors.ts', "export const WireCode = { A: 'SM_ERR_WIRE_A' } as const;");
  assert.match(tableProblems(loose[0]!).join('\n'), /WireCode is Object\.freeze/);
  const good = codeTables('wire/wire-errors.ts', "export const WireCode = Object.freeze({ A: 'SM_ERR_WIRE_A' } as const);");
  assert.deepEqual(tableProblems(good[0]!), []);
  assert.deepEqual(codeTables('cli/x.ts', "throw new ConfigError('SM_ERR_CONFIG_X', 'm');"), []);
  const looseConst = codeTables('crypto/checks.ts', "/** doc */\nexport const SM_ERR_CRYPTO_X = 'SM_ERR_CRYPTO_X';");
  assert.equal(looseConst.length, 1);
  assert.match(tableProblems(looseConst[0]!)[0] ?? '', /src\/crypto\/checks\.ts:2: SM_ERR_\* codes defined outside a -errors\.ts file \(SM_ERR_CRYPTO_X\)/);
  const looseInCodeFile = codeTables('crypto/crypto-errors.ts', "export const SM_ERR_CRYPTO_X = 'SM_ERR_CRYPTO_X' as const;");
  assert.match(tableProblems(looseInCodeFile[0]!).join('\n'), /the code table is a const named <Owner>Code, not SM_ERR_CRYPTO_X/);
  assert.deepEqual(codeTables('cli/x.ts', "const local = 'SM_ERR_CONFIG_X'; export const label = `SM_ERR_${local}`;"), []);
});
