/** The notebook's parameters, editable: a changed value is passed to Run and Verify. */
import { h } from '../dom';
import { formatParamValue } from '../logic';
import type { INotebookState } from '../model';
import { cellLink, IPanelContext, ISection, section } from './section';

export const parametersSection: ISection = {
  name: 'parameters',
  key: state => [state.plan?.parameters, state.plan?.cells.map(c => c.id)],
  render(state: INotebookState, context: IPanelContext): HTMLElement | null {
    const plan = state.plan;
    const params = Object.values(plan?.parameters ?? {});
    if (!plan || !params.length) {
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
      const mark = () => input.classList.toggle('jp-mod-changed', input.value.trim() !== formatParamValue(p).trim());
      input.addEventListener('input', () => {
        context.model.setParameter(p.name, input.value);
        mark();
      });
      mark();
      return h(
        'tr',
        null,
        h('td', null, cellLink(context, { cell: p.cell, line: p.line, cell_id: plan.cells[p.cell]?.id }, p.name)),
        h('td', null, input),
        h('td', { className: 'jp-Workbench-dim' }, p.type)
      );
    });
    return section('parameters', 'Parameters', h('table', { className: 'jp-Workbench-table' }, ...rows));
  }
};
