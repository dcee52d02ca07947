// Unit tests of the frontend's pure logic (src/logic.ts, compiled to lib/ by `tsc`).
// Run with `npm test` (node --test) after `npm run build:lib`; `make extension` does both, and
// `make test` runs them through tests/test_frontend_logic.py (TypeScript alone, no JupyterLab build).
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';

// lib/ is ES module output in a package without "type": "module": load it as a module by URL.
// WORKBENCH_LOGIC_JS points at another compiled copy (the Python test suite compiles its own).
const compiled = process.env.WORKBENCH_LOGIC_JS || new URL('../lib/logic.js', import.meta.url);
const source = readFileSync(compiled, 'utf8');
const logic = await import('data:text/javascript;base64,' + Buffer.from(source).toString('base64'));

const task = (name, upstream = {}, outputs = {}) => ({
  name,
  cells: [],
  code_cells: [],
  upstream,
  inputs: {},
  outputs,
  parameters: [],
  gpu: 0,
  model: null,
  metrics: []
});
const up = (variables, extra = {}) => ({ variables, files: [], random_state: [], after: false, ...extra });
const out = (name, cell, line) => ({ name, format: 'auto', cell, line, needed_by: [] });

// The churn notebook's shape: a chain with one edge that skips a layer (split -> evaluate).
const churn = {
  order: ['load', 'features', 'split', 'train', 'evaluate'],
  tasks: [
    task('load', {}, { raw: out('raw', 5, 8) }),
    task('features', { load: up(['raw']) }, { data: out('data', 8, 2) }),
    task('split', { features: up(['data']) }, {
      X_train: out('X_train', 9, 1),
      y_train: out('y_train', 9, 1),
      X_test: out('X_test', 9, 1),
      y_test: out('y_test', 9, 1)
    }),
    task('train', { split: up(['X_train', 'y_train']) }, { clf: out('clf', 11, 4) }),
    task('evaluate', { train: up(['clf']), split: up(['X_test', 'y_test']) })
  ]
};

test('layers follow the longest upstream path', () => {
  assert.deepEqual(logic.layers(churn), [['load'], ['features'], ['split'], ['train'], ['evaluate']]);
  const diamond = {
    order: ['a', 'b', 'c', 'd'],
    tasks: [task('a'), task('b', { a: up(['x']) }), task('c', { a: up(['y']) }), task('d', { b: up([]), c: up([]) })]
  };
  assert.deepEqual(logic.layers(diamond), [['a'], ['b', 'c'], ['d']]);
});

test('layers survive unknown upstreams, tasks missing from order and cycles', () => {
  const plan = {
    order: ['b'],
    tasks: [task('a', { b: up([]) }), task('b', { a: up([]) }), task('c', { ghost: up(['z']) })]
  };
  const rows = logic.layers(plan);
  assert.deepEqual(rows.flat().sort(), ['a', 'b', 'c']);
});

test('layout: nodes by layer, an edge per upstream, labels name the variables and their cells', () => {
  const layout = logic.layoutGraph(churn);
  assert.equal(layout.nodes.length, 5);
  const y = Object.fromEntries(layout.nodes.map(n => [n.name, n.y]));
  assert.ok(y.load < y.features && y.features < y.split && y.split < y.train && y.train < y.evaluate);
  assert.equal(layout.edges.length, 5);
  const skip = layout.edges.find(e => e.from === 'split' && e.to === 'evaluate');
  assert.equal(skip.label, 'X_test, y_test');
  assert.match(skip.title, /split → evaluate/);
  assert.match(skip.title, /variable X_test \(cell 9, line 1\)/);
  // The skipping edge bends to the right of the nodes it passes.
  const right = Math.max(...layout.nodes.map(n => n.x + n.width));
  assert.ok(skip.labelX > right);
  const train = layout.edges.find(e => e.from === 'train');
  assert.deepEqual(train.variables, [{ name: 'clf', cell: 11, line: 4 }]);
  assert.ok(layout.width > right && layout.height > y.evaluate);
});

test('layout of files, random state and ordering-only edges', () => {
  const plan = {
    order: ['a', 'b'],
    tasks: [task('a'), task('b', { a: up([], { files: ['data/out.csv'], random_state: ['np.random'] }) })]
  };
  const [edge] = logic.layoutGraph(plan).edges;
  assert.match(edge.label, /data\/out\.csv/);
  assert.match(edge.title, /file data\/out\.csv/);
  assert.match(edge.title, /random state np\.random/);
  const after = logic.layoutGraph({ order: ['a', 'b'], tasks: [task('a'), task('b', { a: up([], { after: true }) })] });
  assert.equal(after.edges[0].label, 'after');
  assert.deepEqual(logic.layoutGraph({ order: [], tasks: [] }).nodes, []);
});

test('a traced edge says so and why on hover; a static edge is not marked', () => {
  const why = 'found by trace: task `a` changed `df`, cell 3';
  const plan = {
    order: ['a', 'b'],
    tasks: [task('a', {}, { df: out('df', 3, 1) }), task('b', { a: up(['df'], { traced: true, evidence: [why] }) })]
  };
  const [edge] = logic.layoutGraph(plan).edges;
  assert.equal(edge.traced, true);
  assert.match(edge.title, /traced: found by running the notebook/);
  assert.ok(edge.title.includes(why));
  const [plain] = logic.layoutGraph({ order: ['a', 'b'], tasks: [task('a'), task('b', { a: up(['x']) })] }).edges;
  assert.equal(plain.traced, false);
  assert.doesNotMatch(plain.title, /traced/);
});

test('task start replaces any other task start (Kale spellings too) and keeps other tags', () => {
  assert.deepEqual(logic.withTaskStart(['hide-input', 'step:old', 'metrics'], 'report'), ['hide-input', 'metrics', 'task:report']);
  assert.equal(logic.taskOf(['x', 'block:b']), 'b');
  assert.equal(logic.taskOf(['x']), null);
  assert.ok(logic.validTaskName('train_2'));
  assert.ok(!logic.validTaskName('2train'));
  assert.ok(!logic.validTaskName('a b'));
});

test('flags toggle with their aliases', () => {
  assert.deepEqual(logic.toggledFlag([], 'skip'), ['skip']);
  assert.deepEqual(logic.toggledFlag(['skip', 'x'], 'skip'), ['x']);
  assert.ok(logic.hasFlag(['pipeline-parameters'], 'parameters'));
  assert.deepEqual(logic.toggledFlag(['pipeline-metrics'], 'metrics'), []);
  assert.ok(logic.hasFlag(['gpu:2'], 'gpu'));
  assert.deepEqual(logic.toggledFlag(['gpu:2', 'task:t'], 'gpu'), ['task:t']);
  assert.deepEqual(logic.withFlag(['imports'], 'imports', true), ['imports']);
});

test('model tag and clearing only Workbench tags', () => {
  assert.deepEqual(logic.withModel(['model:old', 'task:t'], 'clf'), ['task:t', 'model:clf']);
  assert.deepEqual(logic.withModel(['model:old'], null), []);
  assert.equal(logic.modelOf(['model:clf']), 'clf');
  assert.deepEqual(
    logic.withoutWorkbenchTags(['task:a', 'after:b', 'skip', 'gpu:1', 'model:m', 'features:f', 'data:x.csv', 'hide-input']),
    ['hide-input']
  );
});

test('suggested names', () => {
  assert.equal(logic.lastAssigned('a = 1\nif a == 2:\n    pass\nclf = fit(a)'), 'clf');
  assert.equal(logic.suggestTaskName('## Feature engineering\n', []), 'feature_engineering');
  assert.equal(logic.suggestTaskName('report = 1', ['report']), 'report_2');
  assert.equal(logic.suggestTaskName('print(1)', ['task']), 'task_2');
});

test('cell labels', () => {
  const plan = {
    tasks: [{ ...task('load'), cells: [2, 3] }],
    cells: [
      { index: 0, role: 'parameters', task: null },
      { index: 1, role: 'shared', task: null },
      { index: 2, role: 'task', task: 'load' },
      { index: 3, role: 'task', task: 'load' },
      { index: 4, role: 'skip', task: null },
      { index: 5, role: 'markdown', task: null }
    ]
  };
  assert.deepEqual(
    logic.cellLabels(plan).map(l => [l.text, l.start]),
    [['parameters', false], ['shared', false], ['task load', true], ['load', false], ['skipped', false], ['', false]]
  );
  assert.equal(logic.colorSlot('load'), logic.colorSlot('load'));
  assert.ok(logic.colorSlot('x') >= 0 && logic.colorSlot('x') < 8);
});

test('job events: task times, package result, unknown kinds ignored', () => {
  const events = [
    { event: 'task_started', task: 'load', why: 'never run', time: 0.1 },
    { event: 'task_finished', task: 'load', seconds: 1.25, time: 1.4 },
    { event: 'task_skipped', task: 'features', reason: 'up to date', time: 1.5 },
    { event: 'something_newer', task: 'x', seconds: 9 },
    { event: 'task_finished', task: 'train', seconds: 3, peak_memory_mb: null, device: null, time: 4.5 },
    { event: 'task_finished', task: 'load', seconds: 0.5, time: 5 }
  ];
  assert.deepEqual(logic.taskSeconds(events), { load: 0.5, train: 3 });
  assert.deepEqual(logic.taskSeconds(undefined), {});
  assert.deepEqual(logic.eventsOf(events, 'task_skipped').map(e => e.task), ['features']);
  assert.equal(logic.packageResult(events), null);
  const done = {
    event: 'package_finished', model: 'churn', folder: 'pipelines/churn/package', version: '1', flavor: 'sklearn',
    files: ['model/MLmodel', 'Dockerfile', 'MODEL_CARD.md', 'model.onnx']
  };
  assert.deepEqual(logic.packageResult([...events, done]), done);
  assert.deepEqual(logic.packageLines(done), [
    'packaged churn -> pipelines/churn/package/ (MLflow sklearn model)',
    'registered churn version 1'
  ]);
  assert.match(logic.packageLines({ ...done, version: null, flavor: null })[1], /not registered/);
});

test('no parser of CLI output is left: verify rows come structured from the job', () => {
  assert.equal(logic.parseVerifyTable, undefined);
});

test('parameters typed in the panel become overrides only when changed', () => {
  const params = {
    seed: { value: 7, source: '7' },
    name: { value: 'a', source: "'a'" },
    flag: { value: true, source: 'True' }
  };
  assert.deepEqual(logic.paramOverrides(params, { seed: '7', name: "'a'", flag: 'True' }), {});
  assert.deepEqual(logic.paramOverrides(params, { seed: '8', name: "'b'", flag: 'False', ghost: '1' }), {
    seed: 8,
    name: 'b',
    flag: false
  });
  assert.deepEqual(logic.parseParamValue('[1, 2]'), [1, 2]);
  assert.equal(logic.parseParamValue('None'), null);
  assert.equal(logic.parseParamValue('plain'), 'plain');
});

test('formatting helpers', () => {
  assert.equal(logic.formatBytes(512), '512 B');
  assert.equal(logic.formatBytes(35961), '35 KB');
  assert.equal(logic.formatBytes(1536), '1.5 KB');
  assert.equal(logic.formatBytes(undefined), '');
  assert.equal(logic.relativeToRoot('/srv/nb/pipelines/churn', '/srv/nb'), 'pipelines/churn');
  assert.equal(logic.relativeToRoot('pipelines/churn', '/srv/nb/'), 'pipelines/churn');
  assert.equal(logic.relativeToRoot('./pipelines/churn', ''), 'pipelines/churn');
  assert.equal(logic.joinPath('', 'pipelines/churn', 'products', 'load.ipynb'), 'pipelines/churn/products/load.ipynb');
  assert.equal(logic.dirname('a/b.ipynb'), 'a');
  assert.equal(logic.dirname('b.ipynb'), '');
  assert.equal(logic.formatValue(0.812345678), '0.8123');
  assert.equal(logic.formatValue(3), '3');
  assert.ok(logic.formatTime(1795432057).startsWith('20'));
  assert.equal(logic.formatTime('not a date'), 'not a date');
  assert.ok(logic.jobFinished('succeeded') && !logic.jobFinished('running'));
  assert.ok(logic.taskFinished('succeeded') && !logic.taskFinished('pending'));
});

test('the hidden-state check: expression, problems first, replies and errors', () => {
  assert.equal(
    logic.checkExpression('dir/a "b".ipynb'),
    `__import__('workbench.lab.kernel', fromlist=['panel_check']).panel_check("dir/a \\"b\\".ipynb")`
  );
  const rows = [
    { variable: 'a', status: 'equal', detail: '' },
    { variable: 'z', status: 'only in the live kernel', detail: '' },
    { variable: 'x', status: 'different', detail: '2 vs 3' },
    { variable: 'b', status: 'not in the live kernel', detail: '' }
  ];
  assert.deepEqual(logic.checkProblems({ rows }).map(r => r.variable), ['x', 'z', 'b']);
  const report = { notebook: 'n.ipynb', ok: false, summary: 'HIDDEN STATE', rows, errors: [], seconds: 1 };
  assert.deepEqual(logic.parseCheckReply({ status: 'ok', data: { [logic.CHECK_MIME]: report } }), { result: report, error: null });
  assert.match(logic.parseCheckReply({ status: 'error', ename: 'ModuleNotFoundError', evalue: "No module named 'workbench'" }).error, /install Workbench/);
  assert.equal(logic.parseCheckReply({ status: 'error', ename: 'KeyboardInterrupt', evalue: '' }).error, 'check cancelled');
  const failed = logic.parseCheckReply({ status: 'ok', data: { [logic.CHECK_MIME]: { error: { kind: 'WorkbenchError', message: 'x.ipynb: no such notebook', hint: 'save it' } } } });
  assert.equal(failed.error, 'x.ipynb: no such notebook (fix: save it)');
  assert.match(logic.parseCheckReply(undefined).error, /did not evaluate/);
});

test('data versions of a run, short and sorted', () => {
  assert.deepEqual(
    logic.dataVersions({ 'pipelines/churn/products': '9f8e7d6c5b4a39281706.dir', 'data/customers.csv': { md5: '1a2b3c4d5e6f' } }),
    ['customers.csv@1a2b3c4d', 'products@9f8e7d6c']
  );
  assert.deepEqual(logic.dataVersions(null), []);
  assert.deepEqual(logic.dataVersions({ x: null }), []);
});
