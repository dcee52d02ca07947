/**
 * What every section of the panel shares: the contract a section keeps with the panel (panel.ts),
 * the `<section>` frame and the link that selects a notebook cell.
 */
import { h } from '../dom';
import type { ICellLocation } from '../logic';
import type { INotebookState, WorkbenchModel } from '../model';

/** What a section may do besides drawing: the model's actions and moving around JupyterLab. */
export interface IPanelContext {
  readonly model: WorkbenchModel;
  /** Select a cell of the notebook (by id when known, else by index) and scroll to it. */
  selectCell(where: { cell?: number | null; cell_id?: string | null }): void;
  /** Open the executed notebook of a task (`products/TASK.ipynb` of the exported pipeline). */
  openTaskNotebook(task: string): void;
}

/** One part of the panel, top to bottom in sections/index.ts. */
export interface ISection {
  /** Its `data-section` name. */
  readonly name: string;
  /**
   * Everything the section shows: it is rebuilt only when this changes (compared as JSON), so
   * that polling a job does not replace the graph under the pointer or the inputs being typed in.
   */
  key(state: INotebookState): unknown;
  /** The section's DOM, or null when it has nothing to show. */
  render(state: INotebookState, context: IPanelContext): HTMLElement | null;
}

export function section(name: string, title: string, ...children: (Node | string | null | false)[]): HTMLElement {
  return h(
    'section',
    { className: `jp-Workbench-section jp-Workbench-${name}`, 'data-section': name },
    h('h3', null, title),
    ...children
  );
}

export function cellLink(context: IPanelContext, loc: ICellLocation, text?: string): HTMLElement {
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
        context.selectCell(loc);
      }
    },
    label
  );
}
