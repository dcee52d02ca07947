// generated from workbench.core.plan.json_schema() by extension/scripts/gen_plan_types.py; do not edit.
// The Plan (urn:workbench.plan/1): the JSON that POST workbench/api/plan answers with (`Plan.to_dict()`).

export const PLAN_SCHEMA_ID = 'urn:workbench.plan/1';

/** The Plan: what a tagged notebook means as a pipeline. Schema workbench.plan/1. */
export interface IPlan {
  schema: string;
  notebook: string;
  notebook_sha256: string;
  name: string;
  title: string;
  description: string;
  kernel: string | null;
  parameters: { [key: string]: IParameter };
  tasks: ITask[];
  definitions: { [key: string]: IDefinition };
  cells: ICellPlan[];
  warnings: IWarning[];
  requirements: string[];
  order: string[];
}

export interface ICellPlan {
  index: number;
  id: string | null;
  type: string;
  role: string;
  task: string | null;
  source: string;
  code: string;
  tags: string[];
}

/** A statement any task may copy: an import, a function or class, or a line of a shared cell. */
export interface IDefinition {
  id: string;
  cell: number;
  line: number;
  kind: string;
  binds: string[];
  source: string;
}

/** What one task takes from an upstream task. `traced`: the edge exists only because a trace of a real run showed it (`workbench trace`), not by reading the code; `evidence`: why, from the trace ("found by trace: task `clean` changed `train`, cell 4"), on traced and static edges. */
export interface IEdge {
  variables: string[];
  files: string[];
  random_state: string[];
  /** Default: false. */
  after: boolean;
  /** Default: false. */
  traced: boolean;
  evidence: string[];
}

export interface IOutput {
  name: string;
  format: string;
  cell: number;
  line: number;
  needed_by: string[];
}

export interface IParameter {
  name: string;
  value: unknown;
  type: string;
  source: string;
  cell: number;
  line: number;
}

export interface ITask {
  name: string;
  cells: number[];
  code_cells: number[];
  upstream: { [key: string]: IEdge };
  inputs: { [key: string]: string };
  outputs: { [key: string]: IOutput };
  parameters: string[];
  definitions: string[];
  imports_needed: string[];
  /** Default: 0. */
  gpu: number;
  /** Default: null. */
  memory_mb: number | null;
  /** Default: null. */
  timeout_s: number | null;
  /** Default: null. */
  cpus: number | null;
  /** Default: null. */
  model: string | null;
  /** Default: null. */
  features: string | null;
  sensitive: string[];
  volatile: string[];
  metrics: string[];
  random_state: { [key: string]: string | null };
  aliases: string[][];
  file_reads: string[];
  file_writes: string[];
}

export interface IWarning {
  message: string;
  cells: { [key: string]: unknown }[];
}
