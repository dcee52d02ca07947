/** The panel's sections, top to bottom. */
import { actionsSection } from './actions';
import { errorSection } from './error';
import { graphSection } from './graph';
import { hiddenStateSection } from './hiddenState';
import { historySection } from './history';
import { jobSection } from './job';
import { parametersSection } from './parameters';
import { productsSection } from './products';
import type { ISection } from './section';
import { warningsSection } from './warnings';

export { renderHead } from './head';
export type { IPanelContext, ISection } from './section';

export const SECTIONS: readonly ISection[] = [
  errorSection,
  graphSection,
  warningsSection,
  actionsSection,
  jobSection,
  hiddenStateSection,
  parametersSection,
  productsSection,
  historySection
];
