/** The hidden-state check: the live kernel's variables against a clean replay of the saved notebook. */
import { h } from '../dom';
import { checkProblems, ICheckRow } from '../logic';
import type { INotebookState } from '../model';
import { IPanelContext, ISection, section } from './section';

/** Values that differ or live only in the kernel, in full; cells never run here, folded. */
function checkTables(problems: ICheckRow[]): (HTMLElement | null)[] {
  const table = (rows: ICheckRow[]) =>
    h(
      'table',
      { className: 'jp-Workbench-table jp-Workbench-checktable' },
      ...rows.map(r =>
        h(
          'tr',
          { 'data-variable': r.variable, 'data-status': r.status, title: r.detail },
          h('td', null, r.variable),
          h('td', { className: 'jp-Workbench-dim' }, r.status === 'different' && r.detail ? r.detail : r.status)
        )
      )
    );
  const live = problems.filter(r => r.status !== 'not in the live kernel');
  const notRun = problems.filter(r => r.status === 'not in the live kernel');
  return [
    live.length ? table(live) : null,
    notRun.length
      ? h(
          'details',
          null,
          h('summary', null, `${notRun.length} variable${notRun.length === 1 ? '' : 's'} not in the live kernel (cells not run here)`),
          table(notRun)
        )
      : null
  ];
}

export const hiddenStateSection: ISection = {
  name: 'check',
  key: state => [state.check, state.plan?.cells.map(c => c.id)],
  render(state: INotebookState, { model }: IPanelContext): HTMLElement | null {
    const check = state.check;
    if (!check) {
      return null;
    }
    const status = check.running ? 'running' : check.error ? 'error' : check.result?.ok ? 'clean' : 'hidden-state';
    const problems = check.result ? checkProblems(check.result) : [];
    return section(
      'check',
      'Hidden state',
      h(
        'div',
        { className: `jp-Workbench-checkstatus jp-Workbench-status-${status}`, 'data-status': status },
        check.running ? 'replaying the saved notebook in a fresh kernel…' : check.error ? '' : (check.result?.summary ?? ''),
        check.running
          ? h('button', { className: 'jp-Button jp-mod-styled jp-mod-warn jp-Workbench-cancelcheck', onclick: () => void model.cancelCheck() }, 'Cancel')
          : null
      ),
      check.error ? h('div', { className: 'jp-Workbench-error' }, check.error) : null,
      check.result?.errors.length
        ? h(
            'div',
            { className: 'jp-Workbench-error' },
            'The saved notebook does not run top to bottom in a fresh kernel:',
            h('ul', null, ...check.result.errors.map(e => h('li', null, e)))
          )
        : null,
      ...checkTables(problems)
    );
  }
};
