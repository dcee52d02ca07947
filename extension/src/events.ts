/**
 * The events long work reports (`workbench/core/events.py`, `--events jsonl`), as a job's
 * `GET workbench/api/jobs/ID` answer carries them in `events`: each is the event's dict,
 * `{"event": kind, ...fields}`, plus `time`, seconds since the job started.
 *
 * Types only (no code), so that logic.ts can use them and still load on its own under node.
 */

interface IEventBase {
  /** Seconds since the job started, stamped by the server. */
  time?: number;
}

/** Progress in words; `level` is info or warning. */
export interface IMessageEvent extends IEventBase {
  event: 'message';
  text: string;
  level: string;
}

export interface ITaskStartedEvent extends IEventBase {
  event: 'task_started';
  task: string;
  /** Why it runs: "never run", "code changed", "upstream load changed", ... */
  why: string;
}

export interface ITaskFinishedEvent extends IEventBase {
  event: 'task_finished';
  task: string;
  seconds: number;
  peak_memory_mb?: number | null;
  device?: string | null;
}

export interface ITaskSkippedEvent extends IEventBase {
  event: 'task_skipped';
  task: string;
  reason: string;
}

export interface ITaskFailedEvent extends IEventBase {
  event: 'task_failed';
  task: string;
  error: string;
  cell: number | null;
  line: number | null;
}

export interface IRunFinishedEvent extends IEventBase {
  event: 'run_finished';
  run_id: string | null;
  /** FINISHED | FAILED | UP_TO_DATE */
  status: string;
  ran: string[];
  tasks: number;
  seconds: number;
  metrics: { [name: string]: number };
  /** The products folder. */
  products: string | null;
  mlflow_run_id: string | null;
}

/** One compared value, its detail whole. */
export interface IVerifyRow {
  task: string;
  name: string;
  /** equal | different | missing | not comparable | volatile | ... */
  verdict: string;
  detail: string;
  /** value: a product compared value by value; output: what a cell displayed */
  compared: 'value' | 'output';
}

export interface IVerifyRowEvent extends IVerifyRow, IEventBase {
  event: 'verify_row';
}

export interface IVerifyFinishedEvent extends IEventBase {
  event: 'verify_finished';
  ok: boolean;
  summary: string;
  /** verdict -> number of values */
  counts: { [verdict: string]: number };
}

export interface IPackageFinishedEvent extends IEventBase {
  event: 'package_finished';
  /** The registered model's name. */
  model: string;
  folder: string;
  /** The registered version; null when it was not registered. */
  version: string | null;
  flavor: string | null;
  files: string[];
}

/** Every kind the panel knows, by its `event` name. */
export interface IEventKinds {
  message: IMessageEvent;
  task_started: ITaskStartedEvent;
  task_finished: ITaskFinishedEvent;
  task_skipped: ITaskSkippedEvent;
  task_failed: ITaskFailedEvent;
  run_finished: IRunFinishedEvent;
  verify_row: IVerifyRowEvent;
  verify_finished: IVerifyFinishedEvent;
  package_finished: IPackageFinishedEvent;
}

export type EventKind = keyof IEventKinds;

/** A known event; a newer server may send kinds not listed here (the panel skips them). */
export type WorkbenchEvent = IEventKinds[EventKind];

/** What a job's list holds: known events, or another kind seen as its bare dict. */
export type JobEvent = WorkbenchEvent | { event: string; [field: string]: unknown };

/** A verify job's outcome (`job.verify`): null until verify has finished comparing. */
export interface IVerifyResult {
  ok: boolean;
  summary: string;
  rows: IVerifyRow[];
}
