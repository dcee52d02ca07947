/** The notebook side of the panel: a label beside each cell naming its task, and the error's cell. */
import { NotebookPanel } from '@jupyterlab/notebook';

import { cellLabels, colorSlot, IPlanError } from './logic';
import type { IPlan } from './plan_types';

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
