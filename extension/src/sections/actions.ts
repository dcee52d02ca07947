/** The pipeline's actions: Export, Run, Verify, Package, Cancel, Check hidden state; export's outcome. */
import { Dialog, showDialog } from '@jupyterlab/apputils';

import { h } from '../dom';
import { INotebookState, jobRunning, WorkbenchModel } from '../model';
import { IPanelContext, ISection, section } from './section';

async function confirmForceExport(model: WorkbenchModel): Promise<void> {
  const result = await showDialog({
    title: 'Overwrite edited files?',
    body: 'Export replaces the generated files you edited by hand and keeps a backup of each.',
    buttons: [Dialog.cancelButton(), Dialog.warnButton({ label: 'Overwrite' })]
  });
  if (result.button.accept) {
    await model.exportPipeline(true);
  }
}

const hasModel = (state: INotebookState) => !!state.plan?.tasks.some(t => t.model);

export const actionsSection: ISection = {
  name: 'actions',
  key: state => [
    state.busy,
    jobRunning(state),
    !!state.error,
    state.exportMessage,
    state.exportError,
    state.exportConflict,
    hasModel(state),
    !!state.check?.running
  ],
  render(state: INotebookState, { model }: IPanelContext): HTMLElement {
    const running = jobRunning(state);
    const disabled = !!state.busy || running || !!state.error;
    const packageable = hasModel(state);
    const button = (label: string, cls: string, title: string, onclick: () => void, off: boolean) =>
      h('button', { className: `jp-Button jp-mod-styled ${cls}`, title, onclick, disabled: off }, label);
    const force = h('input', { type: 'checkbox', className: 'jp-Workbench-force' }) as HTMLInputElement;
    force.checked = state.force;
    force.addEventListener('change', () => model.setForce(force.checked));
    return section(
      'actions',
      'Pipeline',
      h(
        'div',
        { className: 'jp-Workbench-buttons' },
        button('Export', 'jp-mod-accept jp-Workbench-export', 'write the Ploomber project (saves the notebook first)', () => void model.exportPipeline(), disabled),
        button('Run', 'jp-mod-accept jp-Workbench-run', 'run what is outdated, with the parameters below', () => void model.startJob('run'), disabled),
        button('Verify', 'jp-Workbench-verify', 'run notebook and pipeline and compare their results', () => void model.startJob('verify'), disabled),
        button(
          'Package',
          'jp-Workbench-package',
          packageable
            ? 'package the model of the latest run: MLflow model, Dockerfile, model card, ONNX; registered in the Model Registry'
            : 'tag the cell that fits the model `model:VAR` to package it',
          () => void model.startJob('package'),
          disabled || !packageable
        ),
        running ? button('Cancel', 'jp-mod-warn jp-Workbench-cancel', 'cancel the running job', () => void model.cancelJob(), false) : null,
        button(
          'Check hidden state',
          'jp-Workbench-checkbutton',
          "compare the kernel's live variables with a clean top-to-bottom run of the saved notebook",
          () => void model.checkHiddenState(),
          !!state.check?.running || !!state.error
        )
      ),
      h('label', { className: 'jp-Workbench-forcelabel', title: 'Run/Verify: rerun every task' }, force, ' rerun everything'),
      state.exportMessage ? h('div', { className: 'jp-Workbench-exported' }, state.exportMessage) : null,
      state.exportError
        ? h(
            'div',
            { className: 'jp-Workbench-error jp-Workbench-exporterror' },
            state.exportError,
            state.exportConflict
              ? h(
                  'div',
                  null,
                  h(
                    'button',
                    { className: 'jp-Button jp-mod-styled jp-mod-warn', onclick: () => void confirmForceExport(model) },
                    'Overwrite (keeps a backup)'
                  )
                )
              : null
          )
        : null
    );
  }
};
