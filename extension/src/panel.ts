/**
 * The Workbench side panel: the active notebook's plan (task graph, parameters, products,
 * warnings and errors linked to their cells) and the Export / Run / Verify actions.
 *
 * Everything the server does is a request whose answer updates the panel later: planning is
 * debounced, jobs are polled; nothing here waits on the server while the user works.
 */
import { showDialog, Dialog } from '@jupyterlab/apputils';
import { PageConfig, PathExt } from '@jupyterlab/coreutils';
import { IDocumentManager } from '@jupyterlab/docmanager';
import { INotebookTracker, NotebookPanel } from '@jupyterlab/notebook';
import { ISignal, Signal } from '@lumino/signaling';
import { Widget } from '@lumino/widgets';

import { api, IJob, IRuns, JobAction, WorkbenchAPIError } from './api';
import { h } from './dom';
import { renderGraph } from './graph';
import {
  cellLabels,
  checkExpression,
  checkProblems,
  colorSlot,
  dataVersions,
  formatBytes,
  formatParamValue,
  formatTime,
  formatValue,
  ICellLocation,
  ICheckResult,
  IPlan,
  IPlanError,
  jobFinished,
  joinPath,
  paramOverrides,
  parseCheckReply,
  parseVerifyTable,
  relativeToRoot,
  statusClass,
  taskFinished
} from './logic';

/** How long edits settle before the plan is recomputed. */
export const REFRESH_DELAY_MS = 500;
/** How often a running job is polled. */
export const POLL_MS = 500;

interface IJobState {
  id: string;
  action: JobAction;
  job: IJob | null;
  error: string | null;
  started: number;
}

/** What the panel knows about one notebook; kept while the notebook is open. */
interface INotebookState {
  plan: IPlan | null;
  error: IPlanError | null;
  planning: boolean;
  updated: Date | null;
  seq: number;
  exportMessage: string | null;
  exportError: string | null;
  exportConflict: boolean;
  directory: string | null;
  job: IJobState | null;
  /** Product sizes from the last finished run: task -> variable -> bytes. */
  sizes: { [task: string]: { [variable: string]: number } };
  runs: IRuns | null;
  runsError: string | null;
  typed: { [name: string]: string };
  force: boolean;
  busy: string | null;
  /** The last hidden-state check of the live kernel against a clean replay. */
  check: { running: boolean; result: ICheckResult | null; error: string | null } | null;
}

function newState(): INotebookState {
  return {
    plan: null,
    error: null,
    planning: false,
    updated: null,
    seq: 0,
    exportMessage: null,
    exportError: null,
    exportConflict: false,
    directory: null,
    job: null,
    sizes: {},
    runs: null,
    runsError: null,
    typed: {},
    force: false,
    busy: null,
    check: null
  };
}

function messageOf(error: unknown): string {
  if (error instanceof Error) {
    return error.message;
  }
  return String(error);
}

/** The notebook JSON as the editor has it (unsaved edits included), without outputs. */
function notebookContent(panel: NotebookPanel): unknown {
  const nb = panel.model!.toJSON() as any;
  for (const cell of nb.cells ?? []) {
    if (cell.cell_type === 'code') {
      cell.outputs = [];
      cell.execution_count = null;
    }
    delete cell.attachments;
  }
  return nb;
}

export class WorkbenchPanel extends Widget {
  constructor(
    private readonly tracker: INotebookTracker,
    private readonly docManager: IDocumentManager,
    private readonly _activateById: (id: string) => void
  ) {
    super();
    this.id = 'workbench-panel';
    this.addClass('jp-Workbench');
    this.title.caption = 'Workbench: tasks, data flow and runs of the notebook';
    this.node.tabIndex = 0;
    this._head = h('div', { className: 'jp-Workbench-head' });
    this._body = h('div', { className: 'jp-Workbench-body' });
    this.node.append(this._head, this._body);
    tracker.currentChanged.connect(this._onCurrentChanged, this);
    this._onCurrentChanged();
  }

  /** Emitted after each plan update (for the cell labels). */
  get planChanged(): ISignal<this, NotebookPanel> {
    return this._planChanged;
  }

  /** The notebook the panel shows. */
  get notebook(): NotebookPanel | null {
    return this._current;
  }

  planOf(panel: NotebookPanel): IPlan | null {
    return this._states.get(panel)?.plan ?? null;
  }

  errorOf(panel: NotebookPanel): IPlanError | null {
    return this._states.get(panel)?.error ?? null;
  }

  dispose(): void {
    if (this.isDisposed) {
      return;
    }
    this._disconnect();
    window.clearTimeout(this._timer);
    super.dispose();
  }

  // ----- following the active notebook -----

  private _onCurrentChanged(): void {
    const next = this.tracker.currentWidget;
    if (next === this._current) {
      return;
    }
    this._disconnect();
    this._current = next;
    if (next) {
      if (!this._states.has(next)) {
        this._states.set(next, newState());
        next.disposed.connect(() => this._states.delete(next));
      }
      void next.context.ready.then(() => {
        if (this._current !== next || this.isDisposed) {
          return;
        }
        next.model?.contentChanged.connect(this._scheduleRefresh, this);
        next.context.pathChanged.connect(this._scheduleRefresh, this);
        const state = this._states.get(next)!;
        if (!state.plan && !state.error) {
          void this.refresh();
        } else {
          this._scheduleRefresh();
        }
        if (!state.runs) {
          void this.loadRuns();
        }
      });
    }
    this.render();
  }

  private _disconnect(): void {
    const old = this._current;
    if (old && !old.isDisposed) {
      old.model?.contentChanged.disconnect(this._scheduleRefresh, this);
      old.context.pathChanged.disconnect(this._scheduleRefresh, this);
    }
  }

  private _scheduleRefresh(): void {
    window.clearTimeout(this._timer);
    this._timer = window.setTimeout(() => void this.refresh(), REFRESH_DELAY_MS);
  }

  private get _state(): INotebookState | null {
    return this._current ? (this._states.get(this._current) ?? null) : null;
  }

  /** Recompute the plan from the notebook as edited; a newer request supersedes an older one. */
  async refresh(): Promise<void> {
    const panel = this._current;
    const state = this._state;
    if (!panel || !state || !panel.model || panel.isDisposed) {
      return;
    }
    const seq = ++state.seq;
    state.planning = true;
    this.render();
    try {
      const { plan } = await api.plan(panel.context.path, notebookContent(panel));
      if (seq !== state.seq) {
        return;
      }
      state.plan = plan;
      state.error = null;
    } catch (error) {
      if (seq !== state.seq) {
        return;
      }
      state.error =
        error instanceof WorkbenchAPIError && error.error
          ? error.error
          : { kind: 'ServerError', message: messageOf(error), hint: 'is the workbench server extension enabled?' };
    }
    state.planning = false;
    state.updated = new Date();
    this._planChanged.emit(panel);
    this.render();
  }

  async loadRuns(): Promise<void> {
    const panel = this._current;
    const state = this._state;
    const name = state?.plan?.name;
    if (!panel || !state || !name) {
      return;
    }
    try {
      state.runs = await api.runs(name);
      state.runsError = null;
    } catch (error) {
      state.runsError = messageOf(error);
    }
    if (this._current === panel) {
      this.render();
    }
  }

  // ----- actions -----

  private async _saveFirst(panel: NotebookPanel): Promise<void> {
    if (panel.context.model.dirty && !panel.context.model.readOnly) {
      await panel.context.save();
    }
  }

  async exportPipeline(force = false): Promise<void> {
    const panel = this._current;
    const state = this._state;
    if (!panel || !state || state.busy) {
      return;
    }
    state.busy = 'export';
    state.exportError = null;
    state.exportMessage = 'exporting…';
    state.exportConflict = false;
    this.render();
    try {
      await this._saveFirst(panel);
      const result = await api.export(panel.context.path, force);
      state.directory = relativeToRoot(result.directory, PageConfig.getOption('serverRoot'));
      const written = result.written?.length ?? 0;
      const unchanged = result.unchanged?.length ?? 0;
      state.exportMessage = `exported to ${state.directory}: ${written} file${written === 1 ? '' : 's'} written, ${unchanged} unchanged`;
    } catch (error) {
      state.exportMessage = null;
      state.exportError = messageOf(error);
      state.exportConflict = error instanceof WorkbenchAPIError && error.status === 409;
      if (error instanceof WorkbenchAPIError && error.error?.hint) {
        state.exportError += ` (${error.error.hint})`;
      }
    } finally {
      state.busy = null;
      this.render();
    }
  }

  async startJob(action: JobAction): Promise<void> {
    const panel = this._current;
    const state = this._state;
    if (!panel || !state || state.busy || this._running(state)) {
      return;
    }
    state.busy = action;
    this.render();
    const params = state.plan && action !== 'package' ? paramOverrides(state.plan.parameters, state.typed) : {};
    try {
      await this._saveFirst(panel);
      const { id } = await api.startJob(action, panel.context.path, params, state.force);
      state.job = { id, action, job: null, error: null, started: Date.now() };
      this._poll(panel, state, state.job);
    } catch (error) {
      state.job = { id: '', action, job: null, error: messageOf(error), started: Date.now() };
    } finally {
      state.busy = null;
      this.render();
    }
  }

  async cancelJob(): Promise<void> {
    const job = this._state?.job;
    if (!job || !job.id) {
      return;
    }
    try {
      await api.cancelJob(job.id);
    } catch (error) {
      job.error = messageOf(error);
      this.render();
    }
  }

  /**
   * Compare the notebook kernel's live variables with a clean top-to-bottom replay of the saved
   * notebook (`%workbench check`). It runs in the kernel itself, as a silent request: the cells,
   * their outputs and the kernel's history are left as they were.
   */
  async checkHiddenState(): Promise<void> {
    const panel = this._current;
    const state = this._state;
    if (!panel || !state || state.check?.running) {
      return;
    }
    const kernel = panel.sessionContext.session?.kernel;
    if (!kernel) {
      state.check = { running: false, result: null, error: 'no kernel: start the notebook\'s kernel and run its cells first' };
      this.render();
      return;
    }
    const check: NonNullable<INotebookState['check']> = { running: true, result: null, error: null };
    state.check = check;
    this.render();
    try {
      await this._saveFirst(panel);
      const future = kernel.requestExecute({
        code: '',
        silent: true,
        store_history: false,
        user_expressions: { check: checkExpression(PathExt.basename(panel.context.path)) }
      });
      const reply = await future.done;
      const content = reply.content as any;
      const parsed =
        content.status === 'ok'
          ? parseCheckReply(content.user_expressions?.check)
          : parseCheckReply({ status: 'error', ename: content.ename, evalue: content.evalue });
      check.result = parsed.result;
      check.error = parsed.error;
    } catch (error) {
      check.error = messageOf(error);
    } finally {
      check.running = false;
      if (this._current === panel) {
        this.render();
      }
    }
  }

  /** Stop a running check: interrupting the kernel stops the replay it is waiting on. */
  async cancelCheck(): Promise<void> {
    const kernel = this._current?.sessionContext.session?.kernel;
    if (kernel && this._state?.check?.running) {
      await kernel.interrupt();
    }
  }

  private _running(state: INotebookState): boolean {
    const job = state.job;
    return !!job && !!job.id && !job.error && (!job.job || !jobFinished(job.job.status));
  }

  private _poll(panel: NotebookPanel, state: INotebookState, job: IJobState): void {
    let failures = 0;
    const tick = async () => {
      if (state.job !== job || this.isDisposed) {
        return;
      }
      try {
        job.job = await api.job(job.id);
        failures = 0;
      } catch (error) {
        // A blip is retried; a job the server no longer knows (404) or a server gone is reported.
        failures += 1;
        if ((error instanceof WorkbenchAPIError && error.status === 404) || failures >= 5) {
          job.error = messageOf(error);
        } else {
          window.setTimeout(() => void tick(), POLL_MS * 2);
          return;
        }
      }
      const done = !!job.error || (job.job && jobFinished(job.job.status));
      if (done && job.job?.products) {
        state.sizes = { ...state.sizes, ...job.job.products };
      }
      if (this._current === panel) {
        this.render();
      }
      if (done) {
        if (this._current === panel) {
          void this.loadRuns();
        }
        return;
      }
      window.setTimeout(() => void tick(), POLL_MS);
    };
    window.setTimeout(() => void tick(), 0);
  }

  /** The folder of the exported pipeline, relative to the server root. */
  pipelineDirectory(): string | null {
    const state = this._state;
    if (!state?.plan) {
      return null;
    }
    return state.directory ?? joinPath('pipelines', state.plan.name);
  }

  openTaskNotebook(task: string): void {
    const dir = this.pipelineDirectory();
    if (dir) {
      this.docManager.openOrReveal(joinPath(dir, 'products', `${task}.ipynb`));
    }
  }

  /** Select a cell of the notebook (by id when known, else by index) and scroll to it. */
  selectCell(where: { cell?: number | null; cell_id?: string | null }): void {
    const panel = this._current;
    if (!panel) {
      return;
    }
    const content = panel.content;
    let index = -1;
    if (where.cell_id) {
      index = content.widgets.findIndex(w => w.model.id === where.cell_id);
    }
    if (index < 0 && typeof where.cell === 'number') {
      index = where.cell;
    }
    if (index < 0 || index >= content.widgets.length) {
      return;
    }
    this._activateById(panel.id);
    content.mode = 'command';
    content.deselectAll();
    content.activeCellIndex = index;
    void content.scrollToItem(index, 'smart');
  }

  // ----- rendering -----

  /**
   * Bring the panel up to date. Each section is rebuilt only when what it shows changed, so that
   * polling a job does not replace the graph under the pointer or the inputs being typed in.
   */
  render(): void {
    const panel = this._current;
    const state = this._state;
    this._head.replaceChildren(...this._renderHead(panel, state));
    if (!panel || !state) {
      this._sections.clear();
      this._body.replaceChildren(
        h('p', { className: 'jp-Workbench-empty' }, 'Open a notebook to see its tasks, the data that flows between them and its runs.')
      );
      return;
    }
    const plan = state.plan;
    const statuses = this._statuses(state);
    const running = this._running(state);
    const spec: [string, unknown, () => HTMLElement | null][] = [
      ['error', [state.error, !!plan], () => this._renderError(state)],
      ['graph', [plan?.name, plan?.title, plan?.tasks, plan?.order, plan?.cells.map(c => c.id), statuses, !!state.error], () => this._renderGraph(state)],
      ['warnings', [plan?.warnings, !!state.error], () => this._renderWarnings(state)],
      ['actions', [state.busy, running, !!state.error, state.exportMessage, state.exportError, state.exportConflict], () => this._renderActions(state)],
      ['job', [state.job?.id, state.job?.error, state.job?.job, plan?.order], () => this._renderJob(state)],
      ['check', [state.check, plan?.cells.map(c => c.id)], () => this._renderCheck(state)],
      ['parameters', [plan?.parameters, plan?.cells.map(c => c.id)], () => this._renderParams(state)],
      ['tasks', [plan?.tasks, plan?.order, plan?.cells.map(c => c.id), statuses, state.sizes], () => this._renderTasks(state)],
      ['runs', [!!plan, state.runs, state.runsError, plan?.parameters], () => this._renderRuns(state)]
    ];
    const nodes: HTMLElement[] = [];
    for (const [name, data, build] of spec) {
      const key = JSON.stringify([panel.id, data]);
      let entry = this._sections.get(name);
      if (!entry || entry.key !== key) {
        entry = { key, node: build() };
        this._sections.set(name, entry);
      }
      if (entry.node) {
        nodes.push(entry.node);
      }
    }
    const shown = Array.from(this._body.children);
    if (shown.length !== nodes.length || shown.some((n, i) => n !== nodes[i])) {
      this._body.replaceChildren(...nodes);
    }
  }

  private _renderHead(panel: NotebookPanel | null, state: INotebookState | null): Node[] {
    const title = h('div', { className: 'jp-Workbench-title' }, 'Workbench');
    if (!panel || !state) {
      return [title];
    }
    const status = state.planning
      ? 'planning…'
      : state.error
        ? 'plan failed'
        : state.updated
          ? `planned ${state.updated.toLocaleTimeString()}`
          : '';
    return [
      title,
      h(
        'div',
        { className: 'jp-Workbench-subtitle' },
        h('span', { className: 'jp-Workbench-path', title: panel.context.path }, panel.context.path),
        h('span', { className: `jp-Workbench-planstate${state.error ? ' jp-mod-error' : ''}` }, status)
      )
    ];
  }

  private _cellLink(loc: ICellLocation, text?: string): HTMLElement {
    const label =
      text ?? `cell ${loc.cell ?? '?'}${loc.cell_id ? ` (${loc.cell_id})` : ''}${loc.line ? `, line ${loc.line}` : ''}`;
    return h(
      'a',
      {
        className: 'jp-Workbench-celllink',
        href: '#',
        'data-cell': loc.cell ?? null,
        'data-cell-id': loc.cell_id ?? null,
        title: 'select this cell',
        onclick: (e: Event) => {
          e.preventDefault();
          this.selectCell(loc);
        }
      },
      label
    );
  }

  private _section(name: string, title: string, ...children: (Node | string | null | false)[]): HTMLElement {
    return h(
      'section',
      { className: `jp-Workbench-section jp-Workbench-${name}`, 'data-section': name },
      h('h3', null, title),
      ...children
    );
  }

  private _renderError(state: INotebookState): HTMLElement | null {
    const error = state.error;
    if (!error) {
      return null;
    }
    const loc = error.location;
    const hasCell = !!loc && (typeof loc.cell === 'number' || !!loc.cell_id);
    const box = h(
      'div',
      {
        className: `jp-Workbench-error${hasCell ? ' jp-mod-linked' : ''}`,
        role: 'alert',
        title: hasCell ? 'select the cell' : null,
        onclick: hasCell ? () => this.selectCell(loc!) : null
      },
      h('div', { className: 'jp-Workbench-error-kind' }, error.kind || 'Error'),
      h('div', { className: 'jp-Workbench-error-message' }, error.message),
      hasCell ? h('div', { className: 'jp-Workbench-error-where' }, this._cellLink(loc!)) : null,
      error.hint ? h('div', { className: 'jp-Workbench-error-hint' }, `fix: ${error.hint}`) : null,
      error.detail ? h('pre', { className: 'jp-Workbench-error-detail' }, error.detail) : null,
      state.plan ? h('div', { className: 'jp-Workbench-note' }, 'Below: the last plan that worked.') : null
    );
    return box;
  }

  private _renderWarnings(state: INotebookState): HTMLElement | null {
    const warnings = state.plan?.warnings ?? [];
    if (!warnings.length || state.error) {
      return null;
    }
    return this._section(
      'warnings',
      `Warnings (${warnings.length})`,
      h(
        'ul',
        null,
        ...warnings.map(w =>
          h(
            'li',
            { className: 'jp-Workbench-warning' },
            h('div', null, w.message),
            h(
              'ul',
              null,
              ...(w.cells ?? []).map(c =>
                h('li', null, this._cellLink(c), c.text ? h('code', null, ` ${c.text}`) : null)
              )
            )
          )
        )
      )
    );
  }

  private _statuses(state: INotebookState): { [task: string]: string } {
    return state.job?.job?.tasks ?? {};
  }

  private _renderGraph(state: INotebookState): HTMLElement | null {
    const plan = state.plan;
    if (!plan) {
      return state.error ? null : this._section('graph', 'Tasks', h('p', { className: 'jp-Workbench-note' }, 'planning…'));
    }
    const hint = 'Hover an arrow for the variables and files crossing it and the cells defining them; click a task or an arrow to go to its cell.';
    const info = h('div', { className: 'jp-Workbench-note jp-Workbench-edgeinfo' }, hint);
    const graph = renderGraph(plan, {
      statuses: this._statuses(state),
      onHover: title => {
        info.textContent = title ?? hint;
        info.classList.toggle('jp-mod-active', !!title);
      },
      onTask: name => {
        const task = plan.tasks.find(t => t.name === name);
        const first = task?.cells.length ? Math.min(...task.cells) : -1;
        if (first >= 0) {
          this.selectCell({ cell: first, cell_id: plan.cells[first]?.id ?? null });
        }
      },
      onEdge: (_from, _to, cell) => {
        if (cell !== null) {
          this.selectCell({ cell, cell_id: plan.cells[cell]?.id ?? null });
        }
      }
    });
    const n = plan.tasks.length;
    return this._section(
      'graph',
      `${plan.title || plan.name}: ${n} task${n === 1 ? '' : 's'}`,
      h('div', { className: `jp-Workbench-graphbox${state.error ? ' jp-mod-stale' : ''}` }, graph),
      info
    );
  }

  private _renderParams(state: INotebookState): HTMLElement | null {
    const params = Object.values(state.plan?.parameters ?? {});
    if (!state.plan || !params.length) {
      return null;
    }
    const rows = params.map(p => {
      const input = h('input', {
        className: 'jp-mod-styled jp-Workbench-param',
        'data-param': p.name,
        value: state.typed[p.name] ?? formatParamValue(p),
        title: `default ${formatParamValue(p)} (${p.type}); a changed value is passed to Run and Verify`,
        spellcheck: 'false'
      }) as HTMLInputElement;
      input.addEventListener('input', () => {
        state.typed[p.name] = input.value;
        input.classList.toggle('jp-mod-changed', input.value.trim() !== formatParamValue(p).trim());
      });
      input.classList.toggle('jp-mod-changed', input.value.trim() !== formatParamValue(p).trim());
      return h(
        'tr',
        null,
        h('td', null, this._cellLink({ cell: p.cell, line: p.line, cell_id: state.plan!.cells[p.cell]?.id }, p.name)),
        h('td', null, input),
        h('td', { className: 'jp-Workbench-dim' }, p.type)
      );
    });
    return this._section('parameters', 'Parameters', h('table', { className: 'jp-Workbench-table' }, ...rows));
  }

  private _renderTasks(state: INotebookState): HTMLElement | null {
    const plan = state.plan;
    if (!plan || !plan.tasks.length) {
      return null;
    }
    const statuses = this._statuses(state);
    const byName = new Map(plan.tasks.map(t => [t.name, t]));
    const ordered = [...plan.order.filter(n => byName.has(n)), ...plan.tasks.map(t => t.name).filter(n => !plan.order.includes(n))];
    const items = ordered.map(name => {
      const task = byName.get(name)!;
      const first = task.cells.length ? Math.min(...task.cells) : null;
      const outputs = Object.values(task.outputs);
      const sizes = state.sizes[name] ?? {};
      const upstream = Object.keys(task.upstream);
      return h(
        'li',
        { className: `jp-Workbench-task jp-Workbench-color-${colorSlot(name)}`, 'data-task': name },
        h(
          'div',
          { className: 'jp-Workbench-task-head' },
          first !== null ? this._cellLink({ cell: first, cell_id: plan.cells[first]?.id }, name) : name,
          h('span', { className: 'jp-Workbench-dim' }, ` cells ${task.cells.join(', ')}`),
          task.gpu ? h('span', { className: 'jp-Workbench-badge' }, `GPU×${task.gpu}`) : null,
          task.model ? h('span', { className: 'jp-Workbench-badge' }, `model ${task.model}`) : null,
          statuses[name] ? h('span', { className: `jp-Workbench-badge jp-Workbench-status-${statusClass(statuses[name])}` }, statuses[name]) : null
        ),
        upstream.length ? h('div', { className: 'jp-Workbench-dim' }, `after ${upstream.join(', ')}`) : null,
        task.parameters.length ? h('div', { className: 'jp-Workbench-dim' }, `parameters ${task.parameters.join(', ')}`) : null,
        outputs.length
          ? h(
              'table',
              { className: 'jp-Workbench-table jp-Workbench-products' },
              ...outputs.map(o =>
                h(
                  'tr',
                  { 'data-product': `${name}/${o.name}` },
                  h('td', null, this._cellLink({ cell: o.cell, line: o.line, cell_id: plan.cells[o.cell]?.id }, o.name)),
                  task.volatile?.includes(o.name)
                    ? h('td', { className: 'jp-Workbench-dim', title: 'tagged volatile: verify checks it exists but does not compare it' }, `${o.format}, volatile`)
                    : h('td', { className: 'jp-Workbench-dim' }, o.format),
                  h('td', { className: 'jp-Workbench-size' }, formatBytes(sizes[o.name])),
                  h('td', { className: 'jp-Workbench-dim' }, o.needed_by.length ? `→ ${o.needed_by.join(', ')}` : '')
                )
              )
            )
          : null
      );
    });
    return this._section('tasks', 'Tasks and products', h('ul', { className: 'jp-Workbench-tasks' }, ...items));
  }

  private _renderActions(state: INotebookState): HTMLElement {
    const running = this._running(state);
    const disabled = !!state.busy || running || !!state.error;
    const hasModel = !!state.plan?.tasks.some(t => t.model);
    const button = (label: string, cls: string, title: string, onclick: () => void, off: boolean) =>
      h('button', { className: `jp-Button jp-mod-styled ${cls}`, title, onclick, disabled: off }, label);
    const force = h('input', { type: 'checkbox', className: 'jp-Workbench-force' }) as HTMLInputElement;
    force.checked = state.force;
    force.addEventListener('change', () => {
      state.force = force.checked;
    });
    return this._section(
      'actions',
      'Pipeline',
      h(
        'div',
        { className: 'jp-Workbench-buttons' },
        button('Export', 'jp-mod-accept jp-Workbench-export', 'write the Ploomber project (saves the notebook first)', () => void this.exportPipeline(), disabled),
        button('Run', 'jp-mod-accept jp-Workbench-run', 'run what is outdated, with the parameters below', () => void this.startJob('run'), disabled),
        button('Verify', 'jp-Workbench-verify', 'run notebook and pipeline and compare their results', () => void this.startJob('verify'), disabled),
        button(
          'Package',
          'jp-Workbench-package',
          hasModel
            ? 'package the model of the latest run: MLflow model, Dockerfile, model card, ONNX; registered in the Model Registry'
            : 'tag the cell that fits the model `model:VAR` to package it',
          () => void this.startJob('package'),
          disabled || !hasModel
        ),
        running ? button('Cancel', 'jp-mod-warn jp-Workbench-cancel', 'cancel the running job', () => void this.cancelJob(), false) : null,
        button(
          'Check hidden state',
          'jp-Workbench-checkbutton',
          "compare the kernel's live variables with a clean top-to-bottom run of the saved notebook",
          () => void this.checkHiddenState(),
          !!state.check?.running || !!state.error
        )
      ),
      h('label', { className: 'jp-Workbench-forcelabel', title: 'Run/Verify: rerun every task' }, force, ' rerun everything'),
      state.exportMessage ? h('div', { className: 'jp-Workbench-exported' }, state.exportMessage) : null,
      state.exportError
        ? h(
            'div',
            { className: 'jp-Workbench-error jp-Workbench-exporterror' },
            state.exportError,
            state.exportConflict
              ? h(
                  'div',
                  null,
                  h(
                    'button',
                    {
                      className: 'jp-Button jp-mod-styled jp-mod-warn',
                      onclick: () => void this._confirmForceExport()
                    },
                    'Overwrite (keeps a backup)'
                  )
                )
              : null
          )
        : null
    );
  }

  private async _confirmForceExport(): Promise<void> {
    const result = await showDialog({
      title: 'Overwrite edited files?',
      body: 'Export replaces the generated files you edited by hand and keeps a backup of each.',
      buttons: [Dialog.cancelButton(), Dialog.warnButton({ label: 'Overwrite' })]
    });
    if (result.button.accept) {
      await this.exportPipeline(true);
    }
  }

  private _renderJob(state: INotebookState): HTMLElement | null {
    const j = state.job;
    if (!j) {
      return null;
    }
    const job = j.job;
    const status = j.error ? 'error' : (job?.status ?? 'starting');
    const plan = state.plan;
    const order = j.action === 'package' ? [] : plan ? plan.order : Object.keys(job?.tasks ?? {});
    const seconds: { [task: string]: number } = {};
    for (const e of job?.events ?? []) {
      if (typeof e.seconds === 'number') {
        seconds[e.task] = e.seconds;
      }
    }
    const names = [...order, ...Object.keys(job?.tasks ?? {}).filter(t => !order.includes(t))];
    const rows = names.map(name => {
      const st = job?.tasks?.[name] ?? (job && jobFinished(job.status) ? '' : 'pending');
      return h(
        'tr',
        { className: `jp-Workbench-jobtask jp-Workbench-status-${statusClass(st)}`, 'data-task': name, 'data-status': st },
        h('td', null, name),
        h('td', { className: 'jp-Workbench-taskstatus' }, st),
        h('td', { className: 'jp-Workbench-dim' }, seconds[name] !== undefined ? `${seconds[name].toFixed(1)} s` : ''),
        h(
          'td',
          null,
          taskFinished(st) && j.action === 'run'
            ? h(
                'a',
                {
                  href: '#',
                  className: 'jp-Workbench-tasknb',
                  title: 'open the executed task notebook',
                  onclick: (e: Event) => {
                    e.preventDefault();
                    this.openTaskNotebook(name);
                  }
                },
                `${name}.ipynb`
              )
            : null
        )
      );
    });
    const verify = j.action === 'verify' && job && jobFinished(job.status) ? parseVerifyTable(job.stdout ?? '') : null;
    const packaged = j.action === 'package' && job?.status === 'succeeded';
    return this._section(
      'job',
      `${{ run: 'Run', verify: 'Verify', package: 'Package' }[j.action]}: ${status}`,
      h(
        'div',
        { className: `jp-Workbench-jobstatus jp-Workbench-status-${statusClass(status)}`, 'data-status': status },
        status === 'running' || status === 'starting' ? `${status}…` : status,
        j.id ? h('span', { className: 'jp-Workbench-dim' }, ` job ${j.id}`) : null
      ),
      j.error ? h('div', { className: 'jp-Workbench-error' }, j.error) : null,
      job?.error && job.status === 'failed' ? h('pre', { className: 'jp-Workbench-error jp-Workbench-joberror' }, job.error) : null,
      rows.length ? h('table', { className: 'jp-Workbench-table jp-Workbench-jobtable' }, ...rows) : null,
      verify
        ? h(
            'table',
            { className: 'jp-Workbench-table jp-Workbench-verifytable' },
            h('tr', null, ...verify.headers.map(x => h('th', null, x))),
            ...verify.rows.map(r =>
              h('tr', { className: `jp-Workbench-verify-${r[2] ?? ''}` }, ...r.map(x => h('td', null, x)))
            )
          )
        : null,
      verify?.summary ? h('div', { className: 'jp-Workbench-verifysummary' }, verify.summary) : null,
      job?.stdout
        ? h('details', { open: packaged || (!verify && job.status === 'failed') }, h('summary', null, 'output'), h('pre', { className: 'jp-Workbench-stdout' }, job.stdout))
        : null,
      job?.stderr
        ? h('details', { open: job.status === 'failed' }, h('summary', null, 'log'), h('pre', { className: 'jp-Workbench-stderr' }, job.stderr))
        : null
    );
  }

  private _renderCheck(state: INotebookState): HTMLElement | null {
    const check = state.check;
    if (!check) {
      return null;
    }
    const status = check.running ? 'running' : check.error ? 'error' : check.result?.ok ? 'clean' : 'hidden-state';
    const problems = check.result ? checkProblems(check.result) : [];
    return this._section(
      'check',
      'Hidden state',
      h(
        'div',
        { className: `jp-Workbench-checkstatus jp-Workbench-status-${status}`, 'data-status': status },
        check.running ? 'replaying the saved notebook in a fresh kernel…' : check.error ? '' : (check.result?.summary ?? ''),
        check.running
          ? h('button', { className: 'jp-Button jp-mod-styled jp-mod-warn jp-Workbench-cancelcheck', onclick: () => void this.cancelCheck() }, 'Cancel')
          : null
      ),
      check.error ? h('div', { className: 'jp-Workbench-error' }, check.error) : null,
      check.result?.errors.length
        ? h(
            'div',
            { className: 'jp-Workbench-error' },
            'The saved notebook does not run top to bottom in a fresh kernel:',
            h('ul', null, ...check.result.errors.map(e => h('li', null, e)))
          )
        : null,
      ...this._checkTables(problems)
    );
  }

  /** Values that differ or live only in the kernel, in full; cells never run here, folded. */
  private _checkTables(problems: { variable: string; status: string; detail: string }[]): (HTMLElement | null)[] {
    const table = (rows: typeof problems) =>
      h(
        'table',
        { className: 'jp-Workbench-table jp-Workbench-checktable' },
        ...rows.map(r =>
          h(
            'tr',
            { 'data-variable': r.variable, 'data-status': r.status, title: r.detail },
            h('td', null, r.variable),
            h('td', { className: 'jp-Workbench-dim' }, r.status === 'different' && r.detail ? r.detail : r.status)
          )
        )
      );
    const live = problems.filter(r => r.status !== 'not in the live kernel');
    const notRun = problems.filter(r => r.status === 'not in the live kernel');
    return [
      live.length ? table(live) : null,
      notRun.length
        ? h(
            'details',
            null,
            h('summary', null, `${notRun.length} variable${notRun.length === 1 ? '' : 's'} not in the live kernel (cells not run here)`),
            table(notRun)
          )
        : null
    ];
  }

  private _renderRuns(state: INotebookState): HTMLElement | null {
    if (!state.plan) {
      return null;
    }
    const runs = state.runs?.runs ?? [];
    const refresh = h(
      'button',
      { className: 'jp-Button jp-mod-minimal jp-Workbench-refreshruns', title: 'reload the run history', onclick: () => void this.loadRuns() },
      '↻'
    );
    const header = h('h3', null, 'Past runs ', refresh);
    const defaults = state.plan.parameters;
    const rows = runs.slice(0, 15).map(r => {
      const changed = Object.entries(r.params ?? {})
        .filter(([k, v]) => !defaults[k] || JSON.stringify(defaults[k].value) !== JSON.stringify(v))
        .map(([k, v]) => `${k}=${formatValue(v)}`);
      const metrics = Object.entries(r.metrics ?? {})
        .filter(([, v]) => typeof v === 'number' || typeof v === 'string' || typeof v === 'boolean')
        .map(([k, v]) => `${k} ${formatValue(v)}`);
      return h(
        'tr',
        { className: `jp-Workbench-runrow jp-Workbench-status-${statusClass(r.status)}`, 'data-run': r.id },
        h('td', { title: r.id }, formatTime(r.started)),
        h('td', null, r.status),
        h('td', null, metrics.join(', ')),
        h('td', { className: 'jp-Workbench-dim' }, changed.join(', ')),
        h('td', { className: 'jp-Workbench-dim jp-Workbench-data', title: 'DVC versions: `workbench checkout RUN` restores them' },
          dataVersions(r.data).join(', '))
      );
    });
    const section = h('section', { className: 'jp-Workbench-section jp-Workbench-runs', 'data-section': 'runs' }, header);
    if (state.runsError) {
      section.appendChild(h('div', { className: 'jp-Workbench-note' }, `run history unavailable: ${state.runsError}`));
    } else if (!runs.length) {
      section.appendChild(h('div', { className: 'jp-Workbench-note' }, state.runs ? 'no runs yet' : 'loading…'));
    } else {
      section.appendChild(
        h(
          'table',
          { className: 'jp-Workbench-table' },
          h('tr', null, h('th', null, 'started'), h('th', null, 'status'), h('th', null, 'metrics'), h('th', null, 'parameters'), h('th', null, 'data')),
          ...rows
        )
      );
    }
    if (state.runs?.mlflow_ui) {
      section.appendChild(
        h('a', { href: state.runs.mlflow_ui, target: '_blank', rel: 'noopener', className: 'jp-Workbench-mlflow' }, 'open in MLflow')
      );
    }
    return section;
  }

  private readonly _head: HTMLElement;
  private readonly _body: HTMLElement;
  private _current: NotebookPanel | null = null;
  private readonly _states = new Map<NotebookPanel, INotebookState>();
  private _timer = 0;
  private readonly _sections = new Map<string, { key: string; node: HTMLElement | null }>();
  private readonly _planChanged = new Signal<this, NotebookPanel>(this);
}

/**
 * Put the task each cell belongs to beside the cell (a label and a coloured edge, via CSS), and
 * mark the cell a planning error points at.
 */
export function labelCells(panel: NotebookPanel, plan: IPlan | null, error: IPlanError | null = null): void {
  const widgets = panel.content.widgets;
  const labels = plan && plan.cells.length === widgets.length ? cellLabels(plan) : null;
  let errorIndex = -1;
  if (error?.location) {
    const { cell, cell_id } = error.location;
    errorIndex = cell_id ? widgets.findIndex(w => w.model.id === cell_id) : -1;
    if (errorIndex < 0 && typeof cell === 'number') {
      errorIndex = cell;
    }
  }
  widgets.forEach((cell, i) => {
    const node = cell.node;
    const label = labels?.[i];
    const isError = i === errorIndex;
    node.classList.toggle('jp-Workbench-errorcell', isError);
    if (isError) {
      node.title = `Workbench: ${error!.message}`;
    } else if (node.title.startsWith('Workbench: ')) {
      node.title = '';
    }
    const text = isError ? 'plan error' : label?.text;
    if (!text) {
      delete node.dataset.workbenchLabel;
      delete node.dataset.workbenchRole;
      node.classList.remove('jp-Workbench-labelled', 'jp-Workbench-taskstart');
      for (let k = 0; k < 8; k++) {
        node.classList.remove(`jp-Workbench-color-${k}`);
      }
      return;
    }
    node.dataset.workbenchLabel = text;
    node.dataset.workbenchRole = isError ? 'error' : label!.role;
    node.classList.add('jp-Workbench-labelled');
    node.classList.toggle('jp-Workbench-taskstart', !isError && !!label?.start);
    const slot = !isError && label?.task ? colorSlot(label.task) : -1;
    for (let k = 0; k < 8; k++) {
      node.classList.toggle(`jp-Workbench-color-${k}`, k === slot);
    }
  });
}
