/**
 * Pure logic of the Workbench frontend: the graph layout, tag editing, parameters, what a job's
 * events say. Nothing here touches the DOM or JupyterLab, so `test/` runs it under node's test
 * runner. The Plan's types are generated (plan_types.ts), the events' hand-written (events.ts);
 * both are imported as types only, so this module stays one file of JavaScript.
 */
import type { EventKind, IEventKinds, IPackageFinishedEvent, JobEvent } from './events';
import type { IParameter, IPlan, ITask } from './plan_types';

export type { IParameter, IPlan, ITask } from './plan_types';

export interface ICellLocation {
  notebook?: string;
  cell?: number | null;
  cell_id?: string | null;
  line?: number | null;
  text?: string;
}

export interface IPlanError {
  kind: string;
  message: string;
  hint?: string;
  detail?: string;
  location?: ICellLocation | null;
}

// ---------------------------------------------------------------------------------------------
// The dependency graph

export interface IEdgeVariable {
  name: string;
  /** The cell (index) whose code defines it, and the line, when known. */
  cell: number | null;
  line: number | null;
}

export interface IGraphEdge {
  from: string;
  to: string;
  variables: IEdgeVariable[];
  files: string[];
  randomState: string[];
  after: boolean;
  /** The edge exists only because a trace of a real run showed it (`workbench trace`). */
  traced: boolean;
  /** Why, from the trace ("found by trace: task `clean` changed `train`, cell 4"). */
  evidence: string[];
  /** Short text drawn on the edge. */
  label: string;
  /** The full explanation, shown on hover. */
  title: string;
  /** The drawn path (SVG `d`) and where the label sits. */
  path: string;
  labelX: number;
  labelY: number;
}

export interface IGraphNode {
  name: string;
  layer: number;
  x: number;
  y: number;
  width: number;
  height: number;
}

export interface IGraphLayout {
  nodes: IGraphNode[];
  edges: IGraphEdge[];
  width: number;
  height: number;
}

export interface ILayoutOptions {
  nodeWidth?: number;
  nodeHeight?: number;
  layerGap?: number;
  nodeGap?: number;
  margin?: number;
}

/**
 * Topological layers: a task with no upstream is in layer 0, any other one layer below its
 * deepest upstream. Tasks missing from `order` are appended in plan order; upstream names that are
 * not tasks are ignored; a cycle (which the planner reports as an error) cannot loop forever.
 */
export function layers(plan: Pick<IPlan, 'tasks' | 'order'>): string[][] {
  const byName = new Map(plan.tasks.map(t => [t.name, t]));
  const order = [...(plan.order ?? []).filter(n => byName.has(n))];
  for (const t of plan.tasks) {
    if (!order.includes(t.name)) {
      order.push(t.name);
    }
  }
  const depth = new Map<string, number>();
  const visiting = new Set<string>();
  const depthOf = (name: string): number => {
    const known = depth.get(name);
    if (known !== undefined) {
      return known;
    }
    if (visiting.has(name)) {
      return 0;
    }
    visiting.add(name);
    let d = 0;
    for (const up of Object.keys(byName.get(name)?.upstream ?? {})) {
      if (byName.has(up) && up !== name) {
        d = Math.max(d, depthOf(up) + 1);
      }
    }
    visiting.delete(name);
    depth.set(name, d);
    return d;
  };
  const result: string[][] = [];
  for (const name of order) {
    const d = depthOf(name);
    while (result.length <= d) {
      result.push([]);
    }
    result[d].push(name);
  }
  return result;
}

/** About how wide an edge label is drawn (10px monospace), for the layout and its background. */
export function labelWidth(label: string): number {
  return Math.min(150, 6.2 * label.length + 8);
}

function shorten(names: string[], max = 18): string {
  let text = names.join(', ');
  if (text.length > max) {
    text = text.slice(0, max - 1) + '…';
  }
  return text;
}

/** Where each variable crossing an edge is defined: the producing task's output record. */
function edgeVariables(producer: ITask | undefined, names: string[]): IEdgeVariable[] {
  return names.map(name => {
    const out = producer?.outputs?.[name];
    return { name, cell: out ? out.cell : null, line: out ? out.line : null };
  });
}

export function edgeTitle(
  edge: Pick<IGraphEdge, 'from' | 'to' | 'variables' | 'files' | 'randomState' | 'after'> & Partial<Pick<IGraphEdge, 'traced' | 'evidence'>>
): string {
  const lines = [`${edge.from} → ${edge.to}${edge.traced ? ' (traced: found by running the notebook, not by reading the code)' : ''}`];
  for (const v of edge.variables) {
    const where = v.cell === null ? '' : ` (cell ${v.cell}${v.line ? `, line ${v.line}` : ''})`;
    lines.push(`  variable ${v.name}${where}`);
  }
  for (const f of edge.files) {
    lines.push(`  file ${f}`);
  }
  for (const r of edge.randomState) {
    lines.push(`  random state ${r}`);
  }
  if (edge.after) {
    lines.push(edge.traced ? '  ordering only' : '  ordering only (after: tag)');
  }
  for (const why of edge.evidence ?? []) {
    lines.push(`  ${why}`);
  }
  return lines.join('\n');
}

/**
 * Lay the tasks out top to bottom in topological layers, centred, and route each edge from the
 * bottom of its upstream to the top of its downstream. An edge that skips layers bends out to the
 * right so that it does not run through the tasks between.
 */
export function layoutGraph(plan: Pick<IPlan, 'tasks' | 'order'>, options: ILayoutOptions = {}): IGraphLayout {
  const nodeWidth = options.nodeWidth ?? 120;
  const nodeHeight = options.nodeHeight ?? 34;
  const layerGap = options.layerGap ?? 44;
  const nodeGap = options.nodeGap ?? 16;
  const margin = options.margin ?? 12;
  const rows = layers(plan);
  const widest = Math.max(1, ...rows.map(r => r.length));
  const innerWidth = widest * nodeWidth + (widest - 1) * nodeGap;
  let width = innerWidth + 2 * margin;
  const nodes: IGraphNode[] = [];
  const at = new Map<string, IGraphNode>();
  rows.forEach((row, layer) => {
    const rowWidth = row.length * nodeWidth + (row.length - 1) * nodeGap;
    const x0 = margin + (innerWidth - rowWidth) / 2;
    row.forEach((name, i) => {
      const node: IGraphNode = {
        name,
        layer,
        x: x0 + i * (nodeWidth + nodeGap),
        y: margin + layer * (nodeHeight + layerGap),
        width: nodeWidth,
        height: nodeHeight
      };
      nodes.push(node);
      at.set(name, node);
    });
  });
  const byName = new Map(plan.tasks.map(t => [t.name, t]));
  const edges: IGraphEdge[] = [];
  let skipIndex = 0;
  for (const node of nodes) {
    const task = byName.get(node.name)!;
    for (const [up, info] of Object.entries(task.upstream ?? {})) {
      const from = at.get(up);
      if (!from || up === node.name) {
        continue;
      }
      const variables = edgeVariables(byName.get(up), info.variables ?? []);
      const files = info.files ?? [];
      const randomState = info.random_state ?? [];
      const after = !!info.after;
      const traced = !!info.traced;
      const evidence = info.evidence ?? [];
      const names = [...variables.map(v => v.name), ...files, ...randomState.map(r => `🎲${r}`)];
      const label = names.length ? shorten(names) : after ? 'after' : '';
      const x1 = from.x + from.width / 2;
      const y1 = from.y + from.height;
      const x2 = node.x + node.width / 2;
      const y2 = node.y;
      let path: string;
      let labelX: number;
      let labelY: number;
      if (node.layer - from.layer > 1) {
        // Bend out to the right of everything in between.
        skipIndex += 1;
        const side = margin + innerWidth + 14 + 10 * ((skipIndex - 1) % 4);
        const sx1 = from.x + from.width;
        const sy1 = from.y + from.height / 2;
        const sx2 = node.x + node.width;
        const sy2 = node.y + node.height / 2;
        path = `M${sx1},${sy1} C${side},${sy1} ${side},${sy1} ${side},${(sy1 + sy2) / 2} S${side},${sy2} ${sx2},${sy2}`;
        // The label sits just right of the bend, clear of the tasks it passes.
        const w = label ? labelWidth(label) : 0;
        labelX = side + 4 + w / 2;
        labelY = (sy1 + sy2) / 2;
        width = Math.max(width, side + 4 + w + margin);
      } else {
        const my = (y1 + y2) / 2;
        path = `M${x1},${y1} C${x1},${my} ${x2},${my} ${x2},${y2}`;
        labelX = (x1 + x2) / 2;
        labelY = my;
      }
      const edge = { from: up, to: node.name, variables, files, randomState, after, traced, evidence };
      edges.push({ ...edge, label, title: edgeTitle(edge), path, labelX, labelY });
    }
  }
  const height = rows.length ? margin * 2 + rows.length * nodeHeight + (rows.length - 1) * layerGap : 0;
  return { nodes, edges, width, height };
}

// ---------------------------------------------------------------------------------------------
// Tags

/** Kale spellings Workbench accepts for task starts. */
const TASK_PREFIXES = ['task:', 'step:', 'block:'];

/** Flags the tagging commands toggle, with the aliases that mean the same thing. */
export const FLAG_TAGS: { [flag: string]: string[] } = {
  skip: ['skip'],
  parameters: ['parameters', 'pipeline-parameters'],
  metrics: ['metrics', 'pipeline-metrics'],
  imports: ['imports'],
  functions: ['functions'],
  gpu: ['gpu']
};

function isGpuTag(tag: string): boolean {
  return tag === 'gpu' || tag.startsWith('gpu:') || tag.startsWith('limit:nvidia.com/gpu');
}

function matchesFlag(flag: string, tag: string): boolean {
  if (flag === 'gpu') {
    return isGpuTag(tag);
  }
  return (FLAG_TAGS[flag] ?? [flag]).includes(tag);
}

export function isTaskTag(tag: string): boolean {
  return TASK_PREFIXES.some(p => tag.startsWith(p));
}

/** The task a cell's tags start, or null. */
export function taskOf(tags: readonly string[]): string | null {
  for (const tag of tags) {
    const prefix = TASK_PREFIXES.find(p => tag.startsWith(p));
    if (prefix) {
      return tag.slice(prefix.length);
    }
  }
  return null;
}

export function hasFlag(tags: readonly string[], flag: string): boolean {
  return tags.some(t => matchesFlag(flag, t));
}

/** A task name Workbench accepts: a Python-identifier-like slug. */
export function validTaskName(name: string): boolean {
  return /^[A-Za-z_][A-Za-z0-9_-]*$/.test(name);
}

/** Tags with this cell starting task `name` (replacing any other task start). */
export function withTaskStart(tags: readonly string[], name: string): string[] {
  return [...tags.filter(t => !isTaskTag(t)), `task:${name}`];
}

/** Tags with the flag switched on or off (all its aliases go when switched off). */
export function withFlag(tags: readonly string[], flag: string, on: boolean): string[] {
  const rest = tags.filter(t => !matchesFlag(flag, t));
  return on ? [...rest, flag] : rest;
}

export function toggledFlag(tags: readonly string[], flag: string): string[] {
  return withFlag(tags, flag, !hasFlag(tags, flag));
}

export function modelOf(tags: readonly string[]): string | null {
  const tag = tags.find(t => t.startsWith('model:'));
  return tag ? tag.slice('model:'.length) : null;
}

export function withModel(tags: readonly string[], variable: string | null): string[] {
  const rest = tags.filter(t => !t.startsWith('model:'));
  return variable ? [...rest, `model:${variable}`] : rest;
}

/** Every tag Workbench reads (so that "clear" leaves other extensions' tags alone). */
export function isWorkbenchTag(tag: string): boolean {
  return (
    isTaskTag(tag) ||
    Object.keys(FLAG_TAGS).some(f => matchesFlag(f, tag)) ||
    /^(after|prev|model|features|data):/.test(tag)
  );
}

export function withoutWorkbenchTags(tags: readonly string[]): string[] {
  return tags.filter(t => !isWorkbenchTag(t));
}

/** The name of the last top-level assignment in some code: a guess for model:VAR. */
export function lastAssigned(code: string): string | null {
  let found: string | null = null;
  for (const line of code.split('\n')) {
    const m = /^([A-Za-z_][A-Za-z0-9_]*)\s*=[^=]/.exec(line);
    if (m) {
      found = m[1];
    }
  }
  return found;
}

/** A name for a new task: the first identifier-ish words of a heading or assignment, else task_N. */
export function suggestTaskName(code: string, taken: readonly string[]): string {
  let base = '';
  const heading = /^#+\s*(.+)$/m.exec(code);
  if (heading) {
    base = heading[1]
      .toLowerCase()
      .replace(/[^a-z0-9]+/g, '_')
      .replace(/^_+|_+$/g, '')
      .slice(0, 24);
  } else {
    base = lastAssigned(code) ?? '';
  }
  if (!base || !validTaskName(base)) {
    base = 'task';
  }
  let name = base;
  for (let i = 2; taken.includes(name); i++) {
    name = `${base}_${i}`;
  }
  return name;
}

// ---------------------------------------------------------------------------------------------
// Labels beside cells

export interface ICellLabel {
  role: string;
  text: string;
  task: string | null;
  /** The first cell of its task. */
  start: boolean;
}

export function cellLabels(plan: Pick<IPlan, 'cells' | 'tasks'>): ICellLabel[] {
  const first = new Map<string, number>();
  for (const t of plan.tasks) {
    if (t.cells.length) {
      first.set(t.name, Math.min(...t.cells));
    }
  }
  return plan.cells.map(c => {
    const start = !!c.task && first.get(c.task) === c.index;
    let text: string;
    switch (c.role) {
      case 'task':
        text = c.task ? (start ? `task ${c.task}` : c.task) : '';
        break;
      case 'parameters':
        text = 'parameters';
        break;
      case 'shared':
        text = 'shared';
        break;
      case 'skip':
        text = 'skipped';
        break;
      case 'preamble':
        text = 'preamble';
        break;
      default:
        text = '';
    }
    return { role: c.role, text, task: c.task, start };
  });
}

/** A stable palette slot (0..n-1) for a task name. */
export function colorSlot(name: string, n = 8): number {
  let h = 0;
  for (let i = 0; i < name.length; i++) {
    h = (h * 31 + name.charCodeAt(i)) >>> 0;
  }
  return h % n;
}

// ---------------------------------------------------------------------------------------------
// Output

/** The events of one kind, in order (kinds this panel does not know are never matched). */
export function eventsOf<K extends EventKind>(events: readonly JobEvent[] | null | undefined, kind: K): IEventKinds[K][] {
  return (events ?? []).filter((e): e is IEventKinds[K] => !!e && e.event === kind);
}

/** How long each finished task took (task_finished events; a rerun's last time wins). */
export function taskSeconds(events: readonly JobEvent[] | null | undefined): { [task: string]: number } {
  const seconds: { [task: string]: number } = {};
  for (const e of eventsOf(events, 'task_finished')) {
    if (typeof e.seconds === 'number') {
      seconds[e.task] = e.seconds;
    }
  }
  return seconds;
}

/** What packaging made (the last package_finished event), or null before it is done. */
export function packageResult(events: readonly JobEvent[] | null | undefined): IPackageFinishedEvent | null {
  const done = eventsOf(events, 'package_finished');
  return done.length ? done[done.length - 1] : null;
}

/** The lines that say what packaging made: where, which version was registered, its files. */
export function packageLines(result: Pick<IPackageFinishedEvent, 'model' | 'folder' | 'version' | 'flavor'>): string[] {
  const flavor = result.flavor ? `MLflow ${result.flavor} model` : 'MLflow model';
  const folder = result.folder.endsWith('/') ? result.folder : `${result.folder}/`;
  return [
    `packaged ${result.model} -> ${folder} (${flavor})`,
    result.version ? `registered ${result.model} version ${result.version}` : `${result.model} not registered in the Model Registry`
  ];
}

export function formatBytes(n: number | null | undefined): string {
  if (n === null || n === undefined || Number.isNaN(n)) {
    return '';
  }
  const units = ['B', 'KB', 'MB', 'GB', 'TB'];
  let v = n;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return u === 0 ? `${v} B` : `${v < 10 ? v.toFixed(1) : Math.round(v)} ${units[u]}`;
}

/** A parameter typed in the panel: JSON when it parses (numbers, booleans, lists), else a string. */
export function parseParamValue(text: string): unknown {
  const t = text.trim();
  if (t === 'True' || t === 'False') {
    return t === 'True';
  }
  if (t === 'None') {
    return null;
  }
  try {
    return JSON.parse(t);
  } catch {
    const quoted = /^'(.*)'$/.exec(t);
    return quoted ? quoted[1] : t;
  }
}

/** How a parameter's default is shown for editing (Python spelling, as in the notebook). */
export function formatParamValue(p: Pick<IParameter, 'value' | 'source'>): string {
  if (typeof p.source === 'string' && p.source) {
    return p.source;
  }
  return JSON.stringify(p.value);
}

/** The overrides: the parameters whose typed text differs from the notebook's. */
export function paramOverrides(
  params: { [name: string]: Pick<IParameter, 'value' | 'source'> },
  typed: { [name: string]: string }
): { [name: string]: unknown } {
  const result: { [name: string]: unknown } = {};
  for (const [name, text] of Object.entries(typed)) {
    const p = params[name];
    if (!p || text.trim() === formatParamValue(p).trim()) {
      continue;
    }
    result[name] = parseParamValue(text);
  }
  return result;
}

/** A path relative to the server root: absolute paths under `root` lose it; others stay. */
export function relativeToRoot(path: string, root: string): string {
  const p = path.replace(/\\/g, '/');
  const r = root.replace(/\\/g, '/').replace(/\/+$/, '');
  if (r && (p === r || p.startsWith(r + '/'))) {
    return p.slice(r.length + 1);
  }
  return p.replace(/^\.\//, '');
}

export function joinPath(...parts: string[]): string {
  return parts
    .filter(p => p !== '' && p !== '.')
    .join('/')
    .replace(/\/+/g, '/');
}

/** The folder part of a notebook path ('' at the root). */
export function dirname(path: string): string {
  const i = path.lastIndexOf('/');
  return i < 0 ? '' : path.slice(0, i);
}

/** Run start times arrive as epoch seconds, milliseconds or ISO text. */
export function formatTime(value: unknown): string {
  let d: Date | null = null;
  if (typeof value === 'number') {
    d = new Date(value < 1e12 ? value * 1000 : value);
  } else if (typeof value === 'string' && value) {
    const t = Date.parse(value);
    if (!Number.isNaN(t)) {
      d = new Date(t);
    } else {
      return value;
    }
  }
  if (!d) {
    return '';
  }
  const pad = (n: number) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

export function formatValue(value: unknown): string {
  if (typeof value === 'number') {
    return Number.isInteger(value) ? String(value) : String(Number(value.toPrecision(4)));
  }
  if (typeof value === 'string') {
    return value;
  }
  return JSON.stringify(value);
}

/** Statuses after which a task's executed notebook exists ('up to date': it did not need to run). */
export function taskFinished(status: string): boolean {
  return ['succeeded', 'success', 'done', 'ok', 'finished', 'skipped', 'up to date', 'failed'].includes(status);
}

/** A status as a CSS class suffix: 'up to date' -> 'up-to-date'. */
export function statusClass(status: string | null | undefined): string {
  return (status || 'none').toLowerCase().replace(/[^a-z0-9]+/g, '-');
}

export function jobFinished(status: string): boolean {
  return status !== 'running' && status !== 'pending' && status !== 'queued';
}

// ----- hidden state (`%workbench check` from the panel) -----

/** The MIME type under which the kernel's `workbench.lab.kernel.panel_check` answers. */
export const CHECK_MIME = 'application/vnd.workbench.check+json';

export interface ICheckRow {
  variable: string;
  status: string;
  detail: string;
}

export interface ICheckResult {
  notebook: string;
  ok: boolean;
  summary: string;
  rows: ICheckRow[];
  errors: string[];
  seconds: number;
}

/**
 * The expression the panel asks the notebook's kernel to evaluate: a silent `user_expressions`
 * request, so that the check leaves no output in any cell and nothing in the kernel's history.
 * The path goes in as a JSON string, which is also a valid Python string literal.
 */
export function checkExpression(notebookPath: string): string {
  return `__import__('workbench.lab.kernel', fromlist=['panel_check']).panel_check(${JSON.stringify(notebookPath)})`;
}

/** The rows a user must look at: values a clean run would change, first the ones that differ. */
export function checkProblems(result: Pick<ICheckResult, 'rows'>): ICheckRow[] {
  const order = ['different', 'only in the live kernel', 'not in the live kernel'];
  return result.rows
    .filter(r => order.includes(r.status))
    .sort((a, b) => order.indexOf(a.status) - order.indexOf(b.status) || a.variable.localeCompare(b.variable));
}

/**
 * What a kernel's reply to the check says: the report, or an error a person can act on (Workbench
 * not installed in that kernel's environment, the notebook not found, the kernel interrupted).
 */
export function parseCheckReply(
  expression: { status: string; data?: { [mime: string]: unknown }; ename?: string; evalue?: string } | undefined
): { result: ICheckResult | null; error: string | null } {
  if (!expression) {
    return { result: null, error: 'the kernel did not evaluate the check' };
  }
  if (expression.status !== 'ok') {
    if (expression.ename === 'ModuleNotFoundError' || expression.ename === 'ImportError') {
      return { result: null, error: `${expression.evalue}: install Workbench in this kernel's environment (pip install workbench)` };
    }
    if (expression.ename === 'KeyboardInterrupt') {
      return { result: null, error: 'check cancelled' };
    }
    return { result: null, error: `${expression.ename ?? 'error'}: ${expression.evalue ?? ''}` };
  }
  const data = expression.data?.[CHECK_MIME] as (ICheckResult & { error?: IPlanError }) | undefined;
  if (!data) {
    return { result: null, error: 'the kernel answered without a check report' };
  }
  if (data.error) {
    return { result: null, error: data.error.hint ? `${data.error.message} (fix: ${data.error.hint})` : data.error.message };
  }
  return { result: data, error: null };
}

/**
 * A run's data versions, short: `customers.csv@1a2b3c4d`, `products@9f8e7d6c` (the DVC md5 of each
 * input file and of the products folder, as `workbench runs` and `workbench checkout` know them).
 */
export function dataVersions(data: unknown): string[] {
  if (!data || typeof data !== 'object') {
    return [];
  }
  return Object.entries(data as { [path: string]: unknown })
    .map(([path, entry]) => {
      const md5 = typeof entry === 'string' ? entry : (entry as { md5?: string } | null)?.md5;
      const name = path.split('/').filter(Boolean).pop() ?? path;
      return md5 ? `${name}@${String(md5).replace(/\.dir$/, '').slice(0, 8)}` : '';
    })
    .filter(Boolean)
    .sort();
}
