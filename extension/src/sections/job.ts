/**
 * The job of the last Run, Verify or Package: its status, each task's (with the executed task
 * notebook to open), then what the job's structured results say (verify's comparison, package's
 * files); the CLI's raw output and log stay folded below.
 */
import { h } from '../dom';
import { jobFinished, packageResult, statusClass, taskFinished, taskSeconds } from '../logic';
import type { INotebookState } from '../model';
import { renderPackage } from './package';
import { IPanelContext, ISection, section } from './section';
import { renderVerify } from './verify';

const TITLES = { run: 'Run', verify: 'Verify', package: 'Package' };

export const jobSection: ISection = {
  name: 'job',
  key: state => [state.job?.id, state.job?.error, state.job?.job, state.plan?.order],
  render(state: INotebookState, context: IPanelContext): HTMLElement | null {
    const j = state.job;
    if (!j) {
      return null;
    }
    const job = j.job;
    const status = j.error ? 'error' : (job?.status ?? 'starting');
    const plan = state.plan;
    const order = j.action === 'package' ? [] : plan ? plan.order : Object.keys(job?.tasks ?? {});
    const seconds = taskSeconds(job?.events);
    const names = [...order, ...Object.keys(job?.tasks ?? {}).filter(t => !order.includes(t))];
    const rows = names.map(name => {
      const st = job?.tasks?.[name] ?? (job && jobFinished(job.status) ? '' : 'pending');
      return h(
        'tr',
        { className: `jp-Workbench-jobtask jp-Workbench-status-${statusClass(st)}`, 'data-task': name, 'data-status': st },
        h('td', null, name),
        h('td', { className: 'jp-Workbench-taskstatus' }, st),
        h('td', { className: 'jp-Workbench-dim' }, seconds[name] !== undefined ? `${seconds[name].toFixed(1)} s` : ''),
        h(
          'td',
          null,
          taskFinished(st) && j.action === 'run'
            ? h(
                'a',
                {
                  href: '#',
                  className: 'jp-Workbench-tasknb',
                  title: 'open the executed task notebook',
                  onclick: (e: Event) => {
                    e.preventDefault();
                    context.openTaskNotebook(name);
                  }
                },
                `${name}.ipynb`
              )
            : null
        )
      );
    });
    const verify = j.action === 'verify' && job?.verify ? job.verify : null;
    const packaged = j.action === 'package' ? packageResult(job?.events) : null;
    // Without a structured result (an older server), a finished package job's output is shown open.
    const unexplained = !!job && jobFinished(job.status) && ((j.action === 'package' && !packaged) || (!verify && job.status === 'failed'));
    return section(
      'job',
      `${TITLES[j.action]}: ${status}`,
      h(
        'div',
        { className: `jp-Workbench-jobstatus jp-Workbench-status-${statusClass(status)}`, 'data-status': status },
        status === 'running' || status === 'starting' ? `${status}…` : status,
        j.id ? h('span', { className: 'jp-Workbench-dim' }, ` job ${j.id}`) : null
      ),
      j.error ? h('div', { className: 'jp-Workbench-error' }, j.error) : null,
      job?.error && job.status === 'failed' ? h('pre', { className: 'jp-Workbench-error jp-Workbench-joberror' }, job.error) : null,
      rows.length ? h('table', { className: 'jp-Workbench-table jp-Workbench-jobtable' }, ...rows) : null,
      ...(verify ? renderVerify(verify) : []),
      packaged ? renderPackage(packaged) : null,
      job?.stdout
        ? h('details', { open: unexplained }, h('summary', null, 'output'), h('pre', { className: 'jp-Workbench-stdout' }, job.stdout))
        : null,
      job?.stderr
        ? h('details', { open: job.status === 'failed' }, h('summary', null, 'log'), h('pre', { className: 'jp-Workbench-stderr' }, job.stderr))
        : null
    );
  }
};
