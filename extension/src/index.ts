/**
 * Workbench for JupyterLab: a side panel with the active notebook's pipeline (tasks, data flow,
 * parameters, products, warnings, runs), tagging commands in the palette, the cell context menu
 * and the cell toolbar, and a label beside each cell naming its task.
 */
import {
  ILayoutRestorer,
  JupyterFrontEnd,
  JupyterFrontEndPlugin
} from '@jupyterlab/application';
import { ICommandPalette, InputDialog, showErrorMessage } from '@jupyterlab/apputils';
import { Cell } from '@jupyterlab/cells';
import { IDocumentManager } from '@jupyterlab/docmanager';
import { INotebookTracker } from '@jupyterlab/notebook';
import { LabIcon } from '@jupyterlab/ui-components';
import { Menu } from '@lumino/widgets';

import {
  hasFlag,
  lastAssigned,
  modelOf,
  suggestTaskName,
  taskOf,
  toggledFlag,
  validTaskName,
  withModel,
  withoutWorkbenchTags,
  withTaskStart
} from './logic';
import { labelCells } from './cells';
import { WorkbenchModel } from './model';
import { WorkbenchPanel } from './panel';

const PLUGIN_ID = 'jupyterlab-workbench:plugin';

const workbenchIcon = new LabIcon({
  name: 'workbench:graph',
  svgstr:
    '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 24 24" width="16">' +
    '<g class="jp-icon3" fill="#616161">' +
    '<rect x="8" y="2" width="8" height="5" rx="1.5"/>' +
    '<rect x="2" y="17" width="8" height="5" rx="1.5"/>' +
    '<rect x="14" y="17" width="8" height="5" rx="1.5"/>' +
    '<path d="M11.2 7h1.6v4.2h5.4V17h-1.6v-4.2H7.4V17H5.8v-5.8h5.4z"/>' +
    '</g></svg>'
});

export namespace CommandIDs {
  export const open = 'workbench:open';
  export const taskStart = 'workbench:mark-task-start';
  export const model = 'workbench:set-model';
  export const clear = 'workbench:clear-tags';
  export const cellMenu = 'workbench:cell-menu';
  export const exportPipeline = 'workbench:export';
  export const run = 'workbench:run';
  export const verify = 'workbench:verify';
  export const cancel = 'workbench:cancel';
  export const refresh = 'workbench:refresh';
  export const check = 'workbench:check-hidden-state';
  export const flag = (name: string) => `workbench:toggle-${name}`;
}

/** The flags, with the words the palette and menus show. */
const FLAGS: [string, string, string][] = [
  ['skip', 'Skip Cell (never exported)', 'skip: the cell stays in the notebook, out of the pipeline'],
  ['parameters', 'Mark Cell as Parameters', 'parameters: the pipeline\'s parameters (papermill\'s parameters cell)'],
  ['imports', 'Mark Cell as Shared Imports', 'imports: every task keeps the imports it uses'],
  ['functions', 'Mark Cell as Shared Functions', 'functions: every task keeps the definitions it uses'],
  ['metrics', 'Mark Cell as Metrics', 'metrics: the scalars the cell defines are the run\'s metrics'],
  ['gpu', 'Cell\'s Task Needs a GPU', 'gpu: the task this cell belongs to needs a GPU']
];

function tagsOf(cell: Cell): string[] {
  const tags = cell.model.getMetadata('tags');
  return Array.isArray(tags) ? tags.filter((t): t is string => typeof t === 'string') : [];
}

function setTags(cell: Cell, tags: string[]): void {
  if (tags.length) {
    cell.model.setMetadata('tags', tags);
  } else {
    cell.model.deleteMetadata('tags');
  }
}

const plugin: JupyterFrontEndPlugin<void> = {
  id: PLUGIN_ID,
  description: 'Workbench: tasks, data flow, tagging, export, run and verify for tagged notebooks.',
  autoStart: true,
  requires: [INotebookTracker, IDocumentManager],
  optional: [ICommandPalette, ILayoutRestorer],
  activate: (
    app: JupyterFrontEnd,
    tracker: INotebookTracker,
    docManager: IDocumentManager,
    palette: ICommandPalette | null,
    restorer: ILayoutRestorer | null
  ) => {
    const { commands, shell } = app;
    const model = new WorkbenchModel(tracker);
    const panel = new WorkbenchPanel(model, docManager, id => shell.activateById(id));
    panel.title.icon = workbenchIcon;
    shell.add(panel, 'right', { rank: 600 });
    if (restorer) {
      restorer.add(panel, 'workbench-panel');
    }
    model.planChanged.connect((_, nb) => labelCells(nb, model.planOf(nb), model.errorOf(nb)));

    const activeCell = (): Cell | null => tracker.activeCell;
    const hasCell = () => !!tracker.currentWidget && !!tracker.activeCell;
    const hasNotebook = () => !!tracker.currentWidget;

    commands.addCommand(CommandIDs.open, {
      label: 'Open Workbench Panel',
      caption: 'Show the notebook\'s tasks, data flow, parameters and runs',
      icon: workbenchIcon,
      execute: () => shell.activateById(panel.id)
    });

    commands.addCommand(CommandIDs.taskStart, {
      label: args => (args.toolbar ? '' : 'Mark Cell as Task Start…'),
      caption: 'task:NAME: this cell starts task NAME; the cells after it belong to it',
      isEnabled: hasCell,
      isToggled: () => {
        const cell = activeCell();
        return !!cell && taskOf(tagsOf(cell)) !== null;
      },
      execute: async () => {
        const cell = activeCell();
        const nb = tracker.currentWidget;
        if (!cell || !nb) {
          return;
        }
        const tags = tagsOf(cell);
        const taken = (model.planOf(nb)?.tasks ?? []).map(t => t.name);
        const current = taskOf(tags);
        const result = await InputDialog.getText({
          title: 'Start a task at this cell',
          label: 'Task name (letters, digits, _ and -)',
          text: current ?? suggestTaskName(cell.model.sharedModel.getSource(), taken),
          okLabel: 'Mark'
        });
        if (!result.button.accept || result.value === null) {
          return;
        }
        const name = result.value.trim();
        if (!validTaskName(name)) {
          await showErrorMessage('Not a task name', `"${name}" is not a task name: use letters, digits, _ and -, starting with a letter.`);
          return;
        }
        setTags(cell, withTaskStart(tags, name));
      }
    });

    for (const [flag, label, caption] of FLAGS) {
      commands.addCommand(CommandIDs.flag(flag), {
        label,
        caption,
        isEnabled: hasCell,
        isToggled: () => {
          const cell = activeCell();
          return !!cell && hasFlag(tagsOf(cell), flag);
        },
        execute: () => {
          const cell = activeCell();
          if (cell) {
            setTags(cell, toggledFlag(tagsOf(cell), flag));
          }
        }
      });
    }

    commands.addCommand(CommandIDs.model, {
      label: 'Mark Model Variable…',
      caption: 'model:VAR: VAR, defined in this cell, is the deployable model',
      isEnabled: hasCell,
      isToggled: () => {
        const cell = activeCell();
        return !!cell && modelOf(tagsOf(cell)) !== null;
      },
      execute: async () => {
        const cell = activeCell();
        if (!cell) {
          return;
        }
        const tags = tagsOf(cell);
        const result = await InputDialog.getText({
          title: 'The deployable model',
          label: 'Variable holding the model (empty: none)',
          text: modelOf(tags) ?? lastAssigned(cell.model.sharedModel.getSource()) ?? '',
          okLabel: 'Mark'
        });
        if (!result.button.accept || result.value === null) {
          return;
        }
        const name = result.value.trim();
        if (name && !/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) {
          await showErrorMessage('Not a variable name', `"${name}" is not a Python variable name.`);
          return;
        }
        setTags(cell, withModel(tags, name || null));
      }
    });

    commands.addCommand(CommandIDs.clear, {
      label: 'Clear Workbench Tags of Cell',
      caption: 'remove task:, skip, parameters, … (other tags stay)',
      isEnabled: hasCell,
      execute: () => {
        const cell = activeCell();
        if (cell) {
          setTags(cell, withoutWorkbenchTags(tagsOf(cell)));
        }
      }
    });

    commands.addCommand(CommandIDs.exportPipeline, {
      label: 'Export Notebook as Pipeline',
      caption: 'write the Ploomber project for this notebook',
      isEnabled: hasNotebook,
      execute: () => {
        shell.activateById(panel.id);
        return model.exportPipeline();
      }
    });
    commands.addCommand(CommandIDs.run, {
      label: 'Run Pipeline',
      caption: 'run the outdated tasks of this notebook\'s pipeline',
      isEnabled: hasNotebook,
      execute: () => {
        shell.activateById(panel.id);
        return model.startJob('run');
      }
    });
    commands.addCommand(CommandIDs.verify, {
      label: 'Verify Pipeline Against Notebook',
      caption: 'run the notebook and the pipeline and compare their results',
      isEnabled: hasNotebook,
      execute: () => {
        shell.activateById(panel.id);
        return model.startJob('verify');
      }
    });
    commands.addCommand(CommandIDs.cancel, {
      label: 'Cancel Pipeline Job',
      isEnabled: hasNotebook,
      execute: () => model.cancelJob()
    });
    commands.addCommand(CommandIDs.check, {
      label: 'Check Hidden State Before Export',
      caption: "compare the kernel's live variables with a clean top-to-bottom run of the saved notebook",
      isEnabled: hasNotebook,
      execute: () => {
        shell.activateById(panel.id);
        return model.checkHiddenState();
      }
    });
    commands.addCommand(CommandIDs.refresh, {
      label: 'Refresh Workbench Plan',
      isEnabled: hasNotebook,
      execute: () => model.refresh()
    });

    const menu = new Menu({ commands });
    menu.title.label = 'Workbench';
    menu.title.icon = workbenchIcon;
    menu.addClass('jp-Workbench-menu');
    menu.addItem({ command: CommandIDs.taskStart });
    for (const [flag] of FLAGS) {
      menu.addItem({ command: CommandIDs.flag(flag) });
    }
    menu.addItem({ command: CommandIDs.model });
    menu.addItem({ type: 'separator' });
    menu.addItem({ command: CommandIDs.clear });
    menu.addItem({ command: CommandIDs.open });
    app.contextMenu.addItem({ type: 'submenu', submenu: menu, selector: '.jp-Notebook .jp-Cell', rank: 12 });

    // The cell toolbar button (declared in schema/plugin.json) opens the same menu under itself.
    commands.addCommand(CommandIDs.cellMenu, {
      label: args => (args.toolbar ? '' : 'Workbench Tags…'),
      caption: 'Workbench tags of this cell',
      icon: workbenchIcon,
      isEnabled: hasCell,
      execute: () => {
        const cell = activeCell();
        if (!cell) {
          return;
        }
        const button = cell.node.querySelector(`[data-command="${CommandIDs.cellMenu}"]`) ?? cell.node;
        const rect = button.getBoundingClientRect();
        menu.open(rect.left, rect.bottom);
      }
    });

    if (palette) {
      const category = 'Workbench';
      for (const command of [
        CommandIDs.open,
        CommandIDs.taskStart,
        ...FLAGS.map(([f]) => CommandIDs.flag(f)),
        CommandIDs.model,
        CommandIDs.clear,
        CommandIDs.exportPipeline,
        CommandIDs.run,
        CommandIDs.verify,
        CommandIDs.cancel,
        CommandIDs.check,
        CommandIDs.refresh
      ]) {
        palette.addItem({ command, category });
      }
    }

    // Labels follow the cells: re-apply them as cells are added, moved or re-rendered.
    tracker.widgetAdded.connect((_, nb) => {
      nb.content.modelChanged.connect(() => labelCells(nb, model.planOf(nb), model.errorOf(nb)));
      void nb.context.ready.then(() => {
        nb.model?.cells.changed.connect(() => window.requestAnimationFrame(() => labelCells(nb, model.planOf(nb), model.errorOf(nb))));
      });
    });
    tracker.activeCellChanged.connect(() => commands.notifyCommandChanged());
  }
};

export default plugin;
