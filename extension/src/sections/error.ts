/** The planning error, linked to the cell it is about (clicking the box selects that cell). */
import { h } from '../dom';
import type { INotebookState } from '../model';
import { cellLink, IPanelContext, ISection } from './section';

export const errorSection: ISection = {
  name: 'error',
  key: state => [state.error, !!state.plan],
  render(state: INotebookState, context: IPanelContext): HTMLElement | null {
    const error = state.error;
    if (!error) {
      return null;
    }
    const loc = error.location;
    const hasCell = !!loc && (typeof loc.cell === 'number' || !!loc.cell_id);
    return h(
      'div',
      {
        className: `jp-Workbench-error${hasCell ? ' jp-mod-linked' : ''}`,
        role: 'alert',
        title: hasCell ? 'select the cell' : null,
        onclick: hasCell ? () => context.selectCell(loc!) : null
      },
      h('div', { className: 'jp-Workbench-error-kind' }, error.kind || 'Error'),
      h('div', { className: 'jp-Workbench-error-message' }, error.message),
      hasCell ? h('div', { className: 'jp-Workbench-error-where' }, cellLink(context, loc!)) : null,
      error.hint ? h('div', { className: 'jp-Workbench-error-hint' }, `fix: ${error.hint}`) : null,
      error.detail ? h('pre', { className: 'jp-Workbench-error-detail' }, error.detail) : null,
      state.plan ? h('div', { className: 'jp-Workbench-note' }, 'Below: the last plan that worked.') : null
    );
  }
};
