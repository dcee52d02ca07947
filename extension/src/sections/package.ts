/** A package job's outcome, from its package_finished event: the folder, the version, the files. */
import type { IPackageFinishedEvent } from '../events';
import { h } from '../dom';
import { packageLines } from '../logic';

export function renderPackage(result: IPackageFinishedEvent): HTMLElement {
  return h(
    'div',
    { className: 'jp-Workbench-packaged', 'data-model': result.model, 'data-version': result.version ?? null },
    ...packageLines(result).map(line => h('div', null, line)),
    result.files?.length
      ? h('ul', { className: 'jp-Workbench-packagefiles' }, ...result.files.map(f => h('li', null, h('code', null, f))))
      : null
  );
}
