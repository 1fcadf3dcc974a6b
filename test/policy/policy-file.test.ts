/**
 * The policy file parser (src/policy/policy-file.ts): a good file becomes
 * the rules it says, and every kind of problem is reported, all at once,
 * each at its own line:column.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parsePolicyText, type PolicySpec } from '../../src/policy/policy-file.js';

const GOOD = `# the example of docs/configuration.md
outbound: true
rules:
  - name: web-to-db
    from: group:web
    to: group:db
    proto: tcp
    ports: [5432, 8000-8100]
  - name: block-legacy
    action: deny
    from: 10.20.0.0/16
    to: any
    proto: [tcp, udp]
  - name: ops-anything
    from: [group:ops, member:carol, fd00::/64, 10.10.0.9]
    to: any
    proto: any
chat:
  - name: no-web-db-chat
    action: deny
    from: group:web
    to: group:db
  - name: chat-all
    from: any
    to: any
`;

test('a good file: every rule with its fields, in order', () => {
  const spec: PolicySpec = parsePolicyText(GOOD, 'p.yaml');
  assert.equal(spec.outbound, true);
  assert.deepEqual(spec.rules.map((r) => r.name), ['web-to-db', 'block-legacy', 'ops-anything']);
  const [web, legacy, ops] = spec.rules;
  assert.equal(web!.action, 'allow');
  assert.deepEqual(web!.protocols, ['tcp']);
  assert.deepEqual(web!.ports, [{ from: 5432, to: 5432 }, { from: 8000, to: 8100 }]);
  assert.deepEqual(web!.from.map((s) => s.kind), ['group']);
  assert.equal(web!.line, 4);
  assert.equal(legacy!.action, 'deny');
  assert.deepEqual(legacy!.protocols, ['tcp', 'udp']);
  assert.deepEqual(legacy!.ports, []);
  assert.deepEqual(ops!.protocols, [], 'proto any = no protocol restriction');
  assert.deepEqual(ops!.from.map((s) => s.kind), ['group', 'member', 'cidr', 'cidr']);
  const host = ops!.from[3]!;
  assert.ok(host.kind === 'cidr' && host.prefix === 32);
  assert.deepEqual(spec.chat!.map((r) => [r.name, r.action]), [['no-web-db-chat', 'deny'], ['chat-all', 'allow']]);
});

test('no chat section: chat is not governed (null); outbound defaults to false; an empty rule list is valid', () => {
  const spec = parsePolicyText('rules: []\n');
  assert.equal(spec.chat, null);
  assert.equal(spec.outbound, false);
  assert.deepEqual(spec.rules, []);
});

function problemsOf(text: string): string[] {
  try {
    parsePolicyText(text, 'p.yaml');
  } catch (err) {
    assert.equal((err as { code?: string }).code, 'SM_ERR_POLICY_INVALID');
    return (err as { problems: string[] }).problems;
  }
  assert.fail('expected SM_ERR_POLICY_INVALID');
}

test('every kind of problem, all reported at once with line:column', () => {
  const text = [
    'outbound: maybe', //                                   1
    'colour: blue', //                                      2
    'rules:', //                                            3
    '  - name: ok-rule', //                                 4
    '    from: group:we b', //                              5
    '    to: 10.0.0.1/8', //                                6
    '    proto: tcpx', //                                   7
    '  - name: ok-rule', //                                 8
    '    from: any', //                                     9
    '    to: any', //                                       10
    '    proto: icmp', //                                   11
    '    ports: 22', //                                     12
    '  - name: bad name!', //                               13
    '    from: any', //                                     14
    '    to: any', //                                       15
    '    proto: tcp', //                                    16
    '    ports: [0, 70000, 90-80, x]', //                   17
    '    action: maybe', //                                 18
    '    extra: 1', //                                      19
    '  - name: lonely', //                                  20
    '  - just text', //                                     21
    '  - name: default-deny', //                            22
    '    from: "member:"', //                                 23
    '    to: fd00::1/200', //                               24
    '    proto: udp', //                                    25
    'chat:', //                                             26
    '  - name: chat1', //                                   27
    '    from: 10.0.0.0/8', //                              28
    '    to: group:db', //                                  29
    '',
  ].join('\n');
  const problems = problemsOf(text);
  const expect: Array<[string, RegExp]> = [
    ['p.yaml:1:11', /outbound: expected true or false/],
    ['p.yaml:2:1', /unknown key "colour"/],
    ['p.yaml:5:11', /group name "we b"/],
    ['p.yaml:6:9', /bits set beyond the \/8 prefix/],
    ['p.yaml:7:12', /"tcpx" is not tcp, udp, icmp or any/],
    ['p.yaml:8:11', /name "ok-rule" is used by an earlier rule/],
    ['p.yaml:12:12', /ports apply to proto tcp or udp only/],
    ['p.yaml:13:11', /name must be 1\.\.64/],
    ['p.yaml:17:13', /"0" is not a port/],
    ['p.yaml:17:16', /"70000" is not a port/],
    ['p.yaml:17:23', /"90-80" is not a port/],
    ['p.yaml:17:30', /"x" is not a port/],
    ['p.yaml:18:13', /action must be allow or deny/],
    ['p.yaml:19:5', /unknown key "extra"/],
    ['p.yaml:20:5', /missing from/],
    ['p.yaml:21:5', /expected a map/],
    ['p.yaml:22:11', /reserved/],
    ['p.yaml:23:11', /member name ""/],
    ['p.yaml:24:9', /prefix must be 0\.\.128/],
    ['p.yaml:28:11', /chat rules take no addresses/],
  ];
  for (const [where, what] of expect) {
    assert.ok(problems.some((p) => p.startsWith(`${where}: `) && what.test(p)), `expected ${where} ${what}; got:\n${problems.join('\n')}`);
  }
});

test('YAML syntax errors and duplicate keys are reported with their line', () => {
  const syntax = problemsOf('rules:\n  - name: a\n    from: [any\n');
  assert.ok(syntax.length >= 1);
  assert.match(syntax[0]!, /^p\.yaml:\d+:\d+: not valid YAML/);
  const dup = problemsOf('rules: []\nrules: []\n');
  assert.match(dup[0]!, /^p\.yaml:2:1: not valid YAML/);
});

test('a document that is not a map, a missing rules list, and oversize input are refused', () => {
  assert.match(problemsOf('- a\n- b\n')[0]!, /expected a map with a rules list/);
  assert.match(problemsOf('outbound: true\n')[0]!, /missing rules/);
  assert.match(problemsOf('rules: 3\n')[0]!, /p\.yaml:1:8: rules: expected a list of rules/);
  assert.match(problemsOf('rules:\n')[0]!, /p\.yaml:1:7: rules: expected a list of rules/);
  assert.match(problemsOf(`rules: []\n#${'x'.repeat(300 * 1024)}\n`)[0]!, /more than 262144 bytes/);
});

test('an alias bomb is refused, not expanded', () => {
  const lines = ['a: &a [x, x, x, x, x, x, x, x, x, x]'];
  for (let i = 0; i < 8; i++) lines.push(`${String.fromCharCode(98 + i)}: &${String.fromCharCode(98 + i)} [*${String.fromCharCode(97 + i)}, *${String.fromCharCode(97 + i)}, *${String.fromCharCode(97 + i)}, *${String.fromCharCode(97 + i)}, *${String.fromCharCode(97 + i)}, *${String.fromCharCode(97 + i)}, *${String.fromCharCode(97 + i)}, *${String.fromCharCode(97 + i)}, *${String.fromCharCode(97 + i)}, *${String.fromCharCode(97 + i)}]`);
  lines.push('rules: []');
  assert.ok(problemsOf(lines.join('\n')).length >= 1);
});
