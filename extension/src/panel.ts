/**
 * The Workbench side panel, the view of a WorkbenchModel (model.ts): the active notebook's plan
 * (task graph, parameters, products, warnings and errors linked to their cells), the Export / Run
 * / Verify / Package actions, the job, the hidden-state check and the run history. Each section is
 * a module of sections/; this widget lays them out and redraws them when the model changes.
 */
import { IDocumentManager } from '@jupyterlab/docmanager';
import { Widget } from '@lumino/widgets';

import { h } from './dom';
import { joinPath } from './logic';
import { WorkbenchModel } from './model';
import { IPanelContext, renderHead, SECTIONS } from './sections';

export class WorkbenchPanel extends Widget implements IPanelContext {
  constructor(
    readonly model: WorkbenchModel,
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
    model.stateChanged.connect(this.render, this);
    this.render();
  }

  dispose(): void {
    if (this.isDisposed) {
      return;
    }
    this.model.stateChanged.disconnect(this.render, this);
    super.dispose();
  }

  openTaskNotebook(task: string): void {
    const dir = this.model.pipelineDirectory();
    if (dir) {
      this.docManager.openOrReveal(joinPath(dir, 'products', `${task}.ipynb`));
    }
  }

  /** Select a cell of the notebook (by id when known, else by index) and scroll to it. */
  selectCell(where: { cell?: number | null; cell_id?: string | null }): void {
    const panel = this.model.notebook;
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

  /**
   * Bring the panel up to date. Each section is rebuilt only when what it shows (its key)
   * changed, so that polling a job does not replace the graph under the pointer or the inputs
   * being typed in.
   */
  render(): void {
    if (this.isDisposed) {
      return;
    }
    const panel = this.model.notebook;
    const state = this.model.state;
    this._head.replaceChildren(...renderHead(panel, state));
    if (!panel || !state) {
      this._sections.clear();
      this._body.replaceChildren(
        h('p', { className: 'jp-Workbench-empty' }, 'Open a notebook to see its tasks, the data that flows between them and its runs.')
      );
      return;
    }
    const nodes: HTMLElement[] = [];
    for (const section of SECTIONS) {
      const key = JSON.stringify([panel.id, section.key(state)]);
      let entry = this._sections.get(section.name);
      if (!entry || entry.key !== key) {
        entry = { key, node: section.render(state, this) };
        this._sections.set(section.name, entry);
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

  private readonly _head: HTMLElement;
  private readonly _body: HTMLElement;
  private readonly _sections = new Map<string, { key: string; node: HTMLElement | null }>();
}
