/** The task graph (graph.ts draws it): hover an edge for what crosses it, click to go to the cell. */
import { h } from '../dom';
import { renderGraph } from '../graph';
import { INotebookState, taskStatuses } from '../model';
import { IPanelContext, ISection, section } from './section';

export const graphSection: ISection = {
  name: 'graph',
  key: state => {
    const plan = state.plan;
    return [plan?.name, plan?.title, plan?.tasks, plan?.order, plan?.cells.map(c => c.id), taskStatuses(state), !!state.error];
  },
  render(state: INotebookState, context: IPanelContext): HTMLElement | null {
    const plan = state.plan;
    if (!plan) {
      return state.error ? null : section('graph', 'Tasks', h('p', { className: 'jp-Workbench-note' }, 'planning…'));
    }
    const hint =
      'Hover an arrow for the variables and files crossing it and the cells defining them (dotted orange: found by `workbench trace`, with why); click a task or an arrow to go to its cell.';
    const info = h('div', { className: 'jp-Workbench-note jp-Workbench-edgeinfo' }, hint);
    const graph = renderGraph(plan, {
      statuses: taskStatuses(state),
      onHover: title => {
        info.textContent = title ?? hint;
        info.classList.toggle('jp-mod-active', !!title);
      },
      onTask: name => {
        const task = plan.tasks.find(t => t.name === name);
        const first = task?.cells.length ? Math.min(...task.cells) : -1;
        if (first >= 0) {
          context.selectCell({ cell: first, cell_id: plan.cells[first]?.id ?? null });
        }
      },
      onEdge: (_from, _to, cell) => {
        if (cell !== null) {
          context.selectCell({ cell, cell_id: plan.cells[cell]?.id ?? null });
        }
      }
    });
    const n = plan.tasks.length;
    return section(
      'graph',
      `${plan.title || plan.name}: ${n} task${n === 1 ? '' : 's'}`,
      h('div', { className: `jp-Workbench-graphbox${state.error ? ' jp-mod-stale' : ''}` }, graph),
      info
    );
  }
};
