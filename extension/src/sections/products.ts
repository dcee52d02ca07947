/** Each task with its cells, badges and upstream, and the products it saves (format, size, readers). */
import { h } from '../dom';
import { colorSlot, formatBytes, statusClass } from '../logic';
import { INotebookState, taskStatuses } from '../model';
import { cellLink, IPanelContext, ISection, section } from './section';

export const productsSection: ISection = {
  name: 'tasks',
  key: state => {
    const plan = state.plan;
    return [plan?.tasks, plan?.order, plan?.cells.map(c => c.id), taskStatuses(state), state.sizes];
  },
  render(state: INotebookState, context: IPanelContext): HTMLElement | null {
    const plan = state.plan;
    if (!plan || !plan.tasks.length) {
      return null;
    }
    const statuses = taskStatuses(state);
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
          first !== null ? cellLink(context, { cell: first, cell_id: plan.cells[first]?.id }, name) : name,
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
                  h('td', null, cellLink(context, { cell: o.cell, line: o.line, cell_id: plan.cells[o.cell]?.id }, o.name)),
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
    return section('tasks', 'Tasks and products', h('ul', { className: 'jp-Workbench-tasks' }, ...items));
  }
};
