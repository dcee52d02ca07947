/** The task graph as SVG: tasks in topological layers, edges labelled with what crosses them. */
import { s } from './dom';
import { colorSlot, IPlan, labelWidth, layoutGraph, statusClass } from './logic';

export interface IGraphOptions {
  /** Task name -> job status, to colour the nodes during and after a run. */
  statuses?: { [task: string]: string };
  onTask?: (task: string) => void;
  onEdge?: (from: string, to: string, cell: number | null) => void;
  /** The pointer or focus entered (an edge's full description) or left (null) an edge. */
  onHover?: (title: string | null) => void;
}

export function renderGraph(plan: IPlan, options: IGraphOptions = {}): SVGElement {
  const layout = layoutGraph(plan);
  const svg = s('svg', {
    className: 'jp-Workbench-graph',
    viewBox: `0 0 ${layout.width} ${Math.max(layout.height, 1)}`,
    width: layout.width,
    height: layout.height,
    role: 'img',
    'aria-label': `task graph of ${plan.name}`
  });
  svg.style.maxWidth = '100%';
  svg.style.height = 'auto';
  const defs = s(
    'defs',
    null,
    s(
      'marker',
      {
        id: 'jp-Workbench-arrow',
        viewBox: '0 0 10 10',
        refX: 9,
        refY: 5,
        markerWidth: 7,
        markerHeight: 7,
        orient: 'auto-start-reverse'
      },
      s('path', { d: 'M0,0 L10,5 L0,10 z', className: 'jp-Workbench-arrowhead' })
    )
  );
  svg.appendChild(defs);
  const byName = new Map(plan.tasks.map(t => [t.name, t]));
  for (const edge of layout.edges) {
    const firstCell = edge.variables.find(v => v.cell !== null)?.cell ?? null;
    const g = s(
      'g',
      {
        className: `jp-Workbench-edge${edge.after && !edge.variables.length && !edge.files.length ? ' jp-Workbench-edge-after' : ''}${edge.traced ? ' jp-Workbench-edge-traced' : ''}`,
        'data-from': edge.from,
        'data-to': edge.to,
        tabindex: 0
      },
      s('title', null, edge.title),
      s('path', { d: edge.path, className: 'jp-Workbench-edge-hit' }),
      // a traced edge (found by running the notebook) is drawn dotted in the warning colour
      edge.traced
        ? s('path', {
            d: edge.path,
            className: 'jp-Workbench-edge-line',
            'marker-end': 'url(#jp-Workbench-arrow)',
            'stroke-dasharray': '2 3',
            style: 'stroke: var(--jp-warn-color1, #f57c00)'
          })
        : s('path', { d: edge.path, className: 'jp-Workbench-edge-line', 'marker-end': 'url(#jp-Workbench-arrow)' })
    );
    if (edge.label) {
      const width = labelWidth(edge.label);
      g.appendChild(
        s('rect', {
          className: 'jp-Workbench-edge-labelbg',
          x: edge.labelX - width / 2,
          y: edge.labelY - 8,
          width,
          height: 16,
          rx: 3
        })
      );
      g.appendChild(
        s('text', { className: 'jp-Workbench-edge-label', x: edge.labelX, y: edge.labelY + 4, 'text-anchor': 'middle' }, edge.label)
      );
    }
    g.addEventListener('click', () => options.onEdge?.(edge.from, edge.to, firstCell));
    g.addEventListener('mouseenter', () => options.onHover?.(edge.title));
    g.addEventListener('focus', () => options.onHover?.(edge.title));
    g.addEventListener('mouseleave', () => options.onHover?.(null));
    g.addEventListener('blur', () => options.onHover?.(null));
    svg.appendChild(g);
  }
  for (const node of layout.nodes) {
    const task = byName.get(node.name)!;
    const status = options.statuses?.[node.name];
    const details = [
      `task ${task.name}: cells ${task.cells.join(', ')}`,
      task.parameters.length ? `parameters: ${task.parameters.join(', ')}` : '',
      Object.keys(task.outputs).length ? `products: ${Object.keys(task.outputs).join(', ')}` : '',
      task.gpu ? `needs ${task.gpu} GPU${task.gpu > 1 ? 's' : ''}` : '',
      task.model ? `model: ${task.model}` : '',
      status ? `status: ${status}` : ''
    ].filter(Boolean);
    const badges = [task.gpu ? 'GPU' : '', task.model ? 'model' : '', task.metrics.length ? 'metrics' : '']
      .filter(Boolean)
      .join(' · ');
    const g = s(
      'g',
      {
        className: `jp-Workbench-node jp-Workbench-color-${colorSlot(task.name)}${status ? ` jp-Workbench-status-${statusClass(status)}` : ''}`,
        'data-task': task.name,
        'data-status': status ?? null,
        transform: `translate(${node.x},${node.y})`,
        tabindex: 0,
        role: 'button'
      },
      s('title', null, details.join('\n')),
      s('rect', { width: node.width, height: node.height, rx: 6 }),
      s(
        'text',
        { x: node.width / 2, y: badges ? 15 : node.height / 2 + 4, 'text-anchor': 'middle', className: 'jp-Workbench-node-name' },
        task.name.length > 16 ? task.name.slice(0, 15) + '…' : task.name
      )
    );
    if (badges) {
      g.appendChild(
        s('text', { x: node.width / 2, y: node.height - 6, 'text-anchor': 'middle', className: 'jp-Workbench-node-badges' }, badges)
      );
    }
    if (status) {
      g.appendChild(s('circle', { className: 'jp-Workbench-node-dot', cx: node.width - 8, cy: 8, r: 4 }));
    }
    g.addEventListener('click', () => options.onTask?.(task.name));
    g.addEventListener('keydown', (e: Event) => {
      if ((e as KeyboardEvent).key === 'Enter') {
        options.onTask?.(task.name);
      }
    });
    svg.appendChild(g);
  }
  return svg;
}
