/** A verify job's outcome: every compared value with its whole detail, and the verdict. */
import type { IVerifyResult } from '../events';
import { h } from '../dom';
import { statusClass } from '../logic';

export function renderVerify(verify: IVerifyResult): HTMLElement[] {
  const table = h(
    'table',
    { className: 'jp-Workbench-table jp-Workbench-verifytable' },
    h('tr', null, h('th', null, 'variable'), h('th', null, 'task'), h('th', null, 'result'), h('th', null, 'detail')),
    ...verify.rows.map(r =>
      h(
        'tr',
        { className: `jp-Workbench-verify-${statusClass(r.verdict)}`, 'data-variable': r.name, 'data-task': r.task, 'data-verdict': r.verdict, 'data-compared': r.compared },
        h('td', null, r.name),
        h('td', null, r.task),
        h('td', null, r.verdict),
        h('td', { className: 'jp-Workbench-verifydetail' }, r.detail)
      )
    )
  );
  const summary = verify.summary
    ? h('div', { className: 'jp-Workbench-verifysummary', 'data-ok': String(verify.ok) }, verify.summary)
    : null;
  return summary ? [table, summary] : [table];
}
