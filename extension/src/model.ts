/**
 * The Workbench panel's model: what it knows about each open notebook (plan, export, job, run
 * history, hidden-state check) and the requests that change it. No DOM here: the view
 * (panel.ts, sections/) renders `state` whenever `stateChanged` fires.
 *
 * Everything the server does is a request whose answer updates the state later: planning is
 * debounced, jobs are polled; nothing here waits on the server while the user works.
 */
import { PageConfig, PathExt } from '@jupyterlab/coreutils';
import { INotebookTracker, NotebookPanel } from '@jupyterlab/notebook';
import { ISignal, Signal } from '@lumino/signaling';

import { api, IJob, IPipelineFolder, IRuns, JobAction, WorkbenchAPIError } from './api';
import {
  checkExpression,
  ICheckResult,
  IPlanError,
  jobFinished,
  joinPath,
  paramOverrides,
  parseCheckReply,
  relativeToRoot
} from './logic';
import type { IPlan } from './plan_types';

/** How long edits settle before the plan is recomputed. */
export const REFRESH_DELAY_MS = 500;
/** How often a running job is polled. */
export const POLL_MS = 500;

export interface IJobState {
  id: string;
  action: JobAction;
  job: IJob | null;
  error: string | null;
  started: number;
}

/** The last hidden-state check of the live kernel against a clean replay. */
export interface ICheckState {
  running: boolean;
  result: ICheckResult | null;
  error: string | null;
}

/** What the panel knows about one notebook; kept while the notebook is open. */
export interface INotebookState {
  plan: IPlan | null;
  error: IPlanError | null;
  planning: boolean;
  updated: Date | null;
  seq: number;
  exportMessage: string | null;
  exportError: string | null;
  exportConflict: boolean;
  directory: string | null;
  /** The pipeline folder the server says this notebook exports to (with the plan). */
  pipeline: IPipelineFolder | null;
  job: IJobState | null;
  /** Product sizes from the last finished run: task -> variable -> bytes. */
  sizes: { [task: string]: { [variable: string]: number } };
  runs: IRuns | null;
  runsError: string | null;
  /** Parameter values as typed in the panel (name -> text). */
  typed: { [name: string]: string };
  force: boolean;
  busy: string | null;
  check: ICheckState | null;
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
    pipeline: null,
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

/** Whether a job was started and has not finished yet. */
export function jobRunning(state: INotebookState): boolean {
  const job = state.job;
  return !!job && !!job.id && !job.error && (!job.job || !jobFinished(job.job.status));
}

/** Task name -> status in the current job (to colour the graph and the task list). */
export function taskStatuses(state: INotebookState): { [task: string]: string } {
  return state.job?.job?.tasks ?? {};
}

export class WorkbenchModel {
  constructor(private readonly tracker: INotebookTracker) {
    tracker.currentChanged.connect(this._onCurrentChanged, this);
    this._onCurrentChanged();
  }

  /** Emitted whenever the shown notebook or anything about it changed. */
  get stateChanged(): ISignal<this, void> {
    return this._stateChanged;
  }

  /** Emitted after each plan update of a notebook (for the cell labels). */
  get planChanged(): ISignal<this, NotebookPanel> {
    return this._planChanged;
  }

  /** The notebook the panel shows (the active one). */
  get notebook(): NotebookPanel | null {
    return this._current;
  }

  /** The state of the notebook shown. */
  get state(): INotebookState | null {
    return this._current ? (this._states.get(this._current) ?? null) : null;
  }

  get isDisposed(): boolean {
    return this._isDisposed;
  }

  planOf(panel: NotebookPanel): IPlan | null {
    return this._states.get(panel)?.plan ?? null;
  }

  errorOf(panel: NotebookPanel): IPlanError | null {
    return this._states.get(panel)?.error ?? null;
  }

  dispose(): void {
    if (this._isDisposed) {
      return;
    }
    this._isDisposed = true;
    this._disconnect();
    this.tracker.currentChanged.disconnect(this._onCurrentChanged, this);
    window.clearTimeout(this._timer);
    Signal.clearData(this);
  }

  // ----- what the user types (no re-render: the input shows it already) -----

  setParameter(name: string, text: string): void {
    const state = this.state;
    if (state) {
      state.typed[name] = text;
    }
  }

  setForce(force: boolean): void {
    const state = this.state;
    if (state) {
      state.force = force;
    }
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
        if (this._current !== next || this._isDisposed) {
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
    this._changed();
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

  private _changed(): void {
    if (!this._isDisposed) {
      this._stateChanged.emit();
    }
  }

  // ----- the plan and the run history -----

  /** Recompute the plan from the notebook as edited; a newer request supersedes an older one. */
  async refresh(): Promise<void> {
    const panel = this._current;
    const state = this.state;
    if (!panel || !state || !panel.model || panel.isDisposed) {
      return;
    }
    const seq = ++state.seq;
    state.planning = true;
    this._changed();
    try {
      const { plan, pipeline } = await api.plan(panel.context.path, notebookContent(panel));
      if (seq !== state.seq) {
        return;
      }
      state.plan = plan;
      state.pipeline = pipeline ?? null;
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
    this._changed();
  }

  async loadRuns(): Promise<void> {
    const panel = this._current;
    const state = this.state;
    // the runs of this notebook's pipeline folder, not those of another notebook of the same name
    const name = state?.pipeline?.name ?? state?.plan?.name;
    if (!panel || !state || !name) {
      return;
    }
    try {
      state.runs = await api.runs(name);
      state.runsError = null;
    } catch (error) {
      state.runsError = messageOf(error);
    }
    this._changed();
  }

  // ----- actions -----

  private async _saveFirst(panel: NotebookPanel): Promise<void> {
    if (panel.context.model.dirty && !panel.context.model.readOnly) {
      await panel.context.save();
    }
  }

  async exportPipeline(force = false): Promise<void> {
    const panel = this._current;
    const state = this.state;
    if (!panel || !state || state.busy) {
      return;
    }
    state.busy = 'export';
    state.exportError = null;
    state.exportMessage = 'exporting…';
    state.exportConflict = false;
    this._changed();
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
      this._changed();
    }
  }

  async startJob(action: JobAction): Promise<void> {
    const panel = this._current;
    const state = this.state;
    if (!panel || !state || state.busy || jobRunning(state)) {
      return;
    }
    state.busy = action;
    this._changed();
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
      this._changed();
    }
  }

  async cancelJob(): Promise<void> {
    const job = this.state?.job;
    if (!job || !job.id) {
      return;
    }
    try {
      await api.cancelJob(job.id);
    } catch (error) {
      job.error = messageOf(error);
      this._changed();
    }
  }

  private _poll(panel: NotebookPanel, state: INotebookState, job: IJobState): void {
    let failures = 0;
    const tick = async () => {
      if (state.job !== job || this._isDisposed) {
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
        this._changed();
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

  /**
   * Compare the notebook kernel's live variables with a clean top-to-bottom replay of the saved
   * notebook (`%workbench check`). It runs in the kernel itself, as a silent request: the cells,
   * their outputs and the kernel's history are left as they were.
   */
  async checkHiddenState(): Promise<void> {
    const panel = this._current;
    const state = this.state;
    if (!panel || !state || state.check?.running) {
      return;
    }
    const kernel = panel.sessionContext.session?.kernel;
    if (!kernel) {
      state.check = { running: false, result: null, error: 'no kernel: start the notebook\'s kernel and run its cells first' };
      this._changed();
      return;
    }
    const check: ICheckState = { running: true, result: null, error: null };
    state.check = check;
    this._changed();
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
        this._changed();
      }
    }
  }

  /** Stop a running check: interrupting the kernel stops the replay it is waiting on. */
  async cancelCheck(): Promise<void> {
    const kernel = this._current?.sessionContext.session?.kernel;
    if (kernel && this.state?.check?.running) {
      await kernel.interrupt();
    }
  }

  /** The folder of the exported pipeline, relative to the server root. */
  pipelineDirectory(): string | null {
    const state = this.state;
    if (!state?.plan) {
      return null;
    }
    return state.directory ?? state.pipeline?.directory ?? joinPath('pipelines', state.plan.name);
  }

  private _current: NotebookPanel | null = null;
  private readonly _states = new Map<NotebookPanel, INotebookState>();
  private _timer = 0;
  private _isDisposed = false;
  private readonly _stateChanged = new Signal<this, void>(this);
  private readonly _planChanged = new Signal<this, NotebookPanel>(this);
}
