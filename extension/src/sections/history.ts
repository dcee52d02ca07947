/** Past runs of the pipeline: when, outcome, metrics, changed parameters, data versions; MLflow link. */
import { h } from '../dom';
import { dataVersions, formatTime, formatValue, statusClass } from '../logic';
import type { INotebookState } from '../model';
import { IPanelContext, ISection } from './section';

export const historySection: ISection = {
  name: 'runs',
  key: state => [!!state.plan, state.runs, state.runsError, state.plan?.parameters],
  render(state: INotebookState, { model }: IPanelContext): HTMLElement | null {
    if (!state.plan) {
      return null;
    }
    const runs = state.runs?.runs ?? [];
    const refresh = h(
      'button',
      { className: 'jp-Button jp-mod-minimal jp-Workbench-refreshruns', title: 'reload the run history', onclick: () => void model.loadRuns() },
      '↻'
    );
    const header = h('h3', null, 'Past runs ', refresh);
    const defaults = state.plan.parameters;
    const rows = runs.slice(0, 15).map(r => {
      const changed = Object.entries(r.params ?? {})
        .filter(([k, v]) => !defaults[k] || JSON.stringify(defaults[k].value) !== JSON.stringify(v))
        .map(([k, v]) => `${k}=${formatValue(v)}`);
      const metrics = Object.entries(r.metrics ?? {})
        .filter(([, v]) => typeof v === 'number' || typeof v === 'string' || typeof v === 'boolean')
        .map(([k, v]) => `${k} ${formatValue(v)}`);
      return h(
        'tr',
        { className: `jp-Workbench-runrow jp-Workbench-status-${statusClass(r.status)}`, 'data-run': r.id },
        h('td', { title: r.id }, formatTime(r.started)),
        h('td', null, r.status),
        h('td', null, metrics.join(', ')),
        h('td', { className: 'jp-Workbench-dim' }, changed.join(', ')),
        h('td', { className: 'jp-Workbench-dim jp-Workbench-data', title: 'DVC versions: `workbench checkout RUN` restores them' },
          dataVersions(r.data).join(', '))
      );
    });
    const section = h('section', { className: 'jp-Workbench-section jp-Workbench-runs', 'data-section': 'runs' }, header);
    if (state.runsError) {
      section.appendChild(h('div', { className: 'jp-Workbench-note' }, `run history unavailable: ${state.runsError}`));
    } else if (!runs.length) {
      section.appendChild(h('div', { className: 'jp-Workbench-note' }, state.runs ? 'no runs yet' : 'loading…'));
    } else {
      section.appendChild(
        h(
          'table',
          { className: 'jp-Workbench-table' },
          h('tr', null, h('th', null, 'started'), h('th', null, 'status'), h('th', null, 'metrics'), h('th', null, 'parameters'), h('th', null, 'data')),
          ...rows
        )
      );
    }
    if (state.runs?.mlflow_ui) {
      section.appendChild(
        h('a', { href: state.runs.mlflow_ui, target: '_blank', rel: 'noopener', className: 'jp-Workbench-mlflow' }, 'open in MLflow')
      );
    }
    return section;
  }
};
