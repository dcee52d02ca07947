/** The planner's warnings, each with links to the cells it is about. */
import { h } from '../dom';
import type { ICellLocation } from '../logic';
import type { INotebookState } from '../model';
import { cellLink, IPanelContext, ISection, section } from './section';

export const warningsSection: ISection = {
  name: 'warnings',
  key: state => [state.plan?.warnings, !!state.error],
  render(state: INotebookState, context: IPanelContext): HTMLElement | null {
    const warnings = state.plan?.warnings ?? [];
    if (!warnings.length || state.error) {
      return null;
    }
    return section(
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
              // A warning's cells are locations ({cell, cell_id, line, text}); the Plan types them as objects.
              ...((w.cells ?? []) as ICellLocation[]).map(c =>
                h('li', null, cellLink(context, c), c.text ? h('code', null, ` ${c.text}`) : null)
              )
            )
          )
        )
      )
    );
  }
};
