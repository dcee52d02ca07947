/**
 * A package job's outcome, from its package_finished event: the folder, the registered version and
 * the files; the files of a subfolder (the MLflow model's) are folded under it.
 */
import { PageConfig } from '@jupyterlab/coreutils';

import type { IPackageFinishedEvent } from '../events';
import { h } from '../dom';
import { packageLines, relativeToRoot } from '../logic';

function fileList(files: readonly string[]): HTMLElement {
  const top: string[] = [];
  const folders = new Map<string, string[]>();
  for (const file of files) {
    const i = file.indexOf('/');
    if (i < 0) {
      top.push(file);
    } else {
      const folder = file.slice(0, i + 1);
      folders.set(folder, [...(folders.get(folder) ?? []), file]);
    }
  }
  return h(
    'ul',
    { className: 'jp-Workbench-packagefiles' },
    ...top.map(f => h('li', null, h('code', null, f))),
    ...[...folders].map(([folder, inside]) =>
      h(
        'li',
        null,
        h(
          'details',
          null,
          h('summary', null, h('code', null, folder), ` ${inside.length} file${inside.length === 1 ? '' : 's'}`),
          h('ul', null, ...inside.map(f => h('li', null, h('code', null, f))))
        )
      )
    )
  );
}

export function renderPackage(result: IPackageFinishedEvent): HTMLElement {
  const folder = relativeToRoot(result.folder, PageConfig.getOption('serverRoot'));
  return h(
    'div',
    { className: 'jp-Workbench-packaged', 'data-model': result.model, 'data-version': result.version ?? null },
    ...packageLines({ ...result, folder }).map(line => h('div', null, line)),
    result.files?.length ? fileList(result.files) : null
  );
}
