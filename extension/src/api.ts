/**
 * The Workbench server extension's REST API (`workbench/api/...`), through Jupyter's
 * authenticated ServerConnection (token and XSRF handled there).
 */
import { URLExt } from '@jupyterlab/coreutils';
import { ServerConnection } from '@jupyterlab/services';

import type { IVerifyResult, JobEvent } from './events';
import type { IPlanError } from './logic';
import type { IPlan } from './plan_types';

/** Where a notebook's pipeline goes: its folder's name (the pipeline's, its runs') and path. */
export interface IPipelineFolder {
  name: string;
  /** Relative to the Jupyter root. */
  directory: string;
}

/** A non-2xx answer: its status and, when the server sent one, the structured error. */
export class WorkbenchAPIError extends Error {
  constructor(
    readonly status: number,
    readonly error: IPlanError | null,
    message: string
  ) {
    super(message);
    this.name = 'WorkbenchAPIError';
  }
}

export async function requestAPI<T>(endPoint: string, init: RequestInit = {}): Promise<T> {
  const settings = ServerConnection.makeSettings();
  const url = URLExt.join(settings.baseUrl, 'workbench/api', endPoint);
  let response: Response;
  try {
    response = await ServerConnection.makeRequest(url, init, settings);
  } catch (error) {
    throw new ServerConnection.NetworkError(error as TypeError);
  }
  const text = await response.text();
  let data: any = text;
  if (text.length > 0) {
    try {
      data = JSON.parse(text);
    } catch {
      // not JSON: keep the text
    }
  }
  if (!response.ok) {
    const error: IPlanError | null =
      data && typeof data === 'object' && data.error && typeof data.error === 'object' ? data.error : null;
    const message =
      error?.message ??
      (data && typeof data === 'object' && typeof data.message === 'string' ? data.message : '') ??
      '';
    throw new WorkbenchAPIError(
      response.status,
      error,
      message || `${response.status} ${response.statusText || 'error'} from ${endPoint}`
    );
  }
  return data as T;
}

function post<T>(endPoint: string, body: unknown): Promise<T> {
  return requestAPI<T>(endPoint, { method: 'POST', body: JSON.stringify(body) });
}

export interface IExportResult {
  directory: string;
  written: string[];
  unchanged: string[];
}

export interface IJob {
  id?: string;
  action?: string;
  /** running | succeeded | failed | cancelled */
  status: string;
  /** Why a failed job failed (the CLI's error and hint). */
  error?: string | null;
  /** What the job reported so far, in order (`workbench/core/events.py`). */
  events: JobEvent[];
  /** task -> pending | running | done | up to date | failed | cancelled */
  tasks: { [task: string]: string };
  /** A verify job's verdict and every compared value; null until verify has compared. */
  verify?: IVerifyResult | null;
  /** The CLI's stdout (JSON lines of events) and stderr, as they came. */
  stdout: string;
  stderr: string;
  products: { [task: string]: { [variable: string]: number } };
}

export type JobAction = 'run' | 'verify' | 'package';

export interface IRun {
  id: string;
  status: string;
  started: string | number;
  params: { [name: string]: unknown };
  metrics: { [name: string]: unknown };
  data: unknown;
}

export interface IRuns {
  runs: IRun[];
  mlflow_ui: string | null;
}

export const api = {
  /** The plan, and the pipeline folder it exports to and records its runs under (its own when
   * another notebook of the same name already has pipelines/<name>/). */
  plan(path: string, content: unknown): Promise<{ plan: IPlan; pipeline: IPipelineFolder }> {
    return post('plan', { path, content });
  },
  export(path: string, force: boolean): Promise<IExportResult> {
    return post('export', { path, force });
  },
  startJob(action: JobAction, path: string, params: { [name: string]: unknown }, force: boolean): Promise<{ id: string }> {
    return post('jobs', { action, path, params, force });
  },
  job(id: string): Promise<IJob> {
    return requestAPI(`jobs/${encodeURIComponent(id)}`);
  },
  cancelJob(id: string): Promise<unknown> {
    return requestAPI(`jobs/${encodeURIComponent(id)}`, { method: 'DELETE' });
  },
  runs(pipeline: string): Promise<IRuns> {
    return requestAPI(`runs?pipeline=${encodeURIComponent(pipeline)}`);
  }
};
