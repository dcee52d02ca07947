/** The panel's head: its title, the notebook shown and where planning stands (redrawn each time). */
import { NotebookPanel } from '@jupyterlab/notebook';

import { h } from '../dom';
import type { INotebookState } from '../model';

export function renderHead(panel: NotebookPanel | null, state: INotebookState | null): Node[] {
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
