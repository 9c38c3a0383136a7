// A latency histogram as a small standalone SVG.
import { percentile } from './observe.ts';

export function latencyHistogramSvg(latenciesMs: number[], title: string): string {
  const sorted = [...latenciesMs].sort((a, b) => a - b);
  const max = Math.max(1, percentile(sorted, 99.9));
  const bins = 40;
  const width = 760;
  const height = 360;
  const margin = { left: 60, right: 20, top: 40, bottom: 50 };
  const counts = new Array<number>(bins).fill(0);
  for (const value of sorted) counts[Math.min(bins - 1, Math.floor((value / max) * bins))]! += 1;
  const top = Math.max(...counts, 1);
  const plotWidth = width - margin.left - margin.right;
  const plotHeight = height - margin.top - margin.bottom;
  const barWidth = plotWidth / bins;
  const bars = counts
    .map((count, index) => {
      const barHeight = (count / top) * plotHeight;
      return `<rect x="${(margin.left + index * barWidth).toFixed(1)}" y="${(margin.top + plotHeight - barHeight).toFixed(1)}" width="${(barWidth - 1).toFixed(1)}" height="${barHeight.toFixed(1)}" fill="#4a7bd0"/>`;
    })
    .join('');
  const marks = [50, 95, 99]
    .map((p) => {
      const value = percentile(sorted, p);
      const x = margin.left + Math.min(1, value / max) * plotWidth;
      return `<line x1="${x.toFixed(1)}" x2="${x.toFixed(1)}" y1="${margin.top}" y2="${margin.top + plotHeight}" stroke="#c0392b" stroke-dasharray="4 3"/><text x="${(x + 3).toFixed(1)}" y="${margin.top + 12}" font-size="11" fill="#c0392b">p${p} ${value.toFixed(1)} ms</text>`;
    })
    .join('');
  const ticks = [0, 0.25, 0.5, 0.75, 1]
    .map((f) => `<text x="${(margin.left + f * plotWidth).toFixed(1)}" y="${height - margin.bottom + 18}" font-size="11" text-anchor="middle">${(f * max).toFixed(0)}</text>`)
    .join('');
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="sans-serif">
<rect width="100%" height="100%" fill="white"/>
<text x="${margin.left}" y="22" font-size="14">${title}</text>
${bars}${marks}${ticks}
<line x1="${margin.left}" x2="${width - margin.right}" y1="${margin.top + plotHeight}" y2="${margin.top + plotHeight}" stroke="#333"/>
<text x="${margin.left + plotWidth / 2}" y="${height - 12}" font-size="12" text-anchor="middle">command → event latency (ms), ${sorted.length} commands</text>
</svg>
`;
}

/** Throughput per phase as a small standalone SVG: the suite's bar next to its floor's (and the naive one's, where measured). */
export function throughputChartSvg(phases: { label: string; suite: number; floor: number; documents?: number; naive?: number }[], title: string): string {
  const width = 760;
  const rowHeight = 82;
  const margin = { left: 150, right: 120, top: 44, bottom: 34 };
  const height = margin.top + margin.bottom + phases.length * rowHeight;
  const plotWidth = width - margin.left - margin.right;
  const max = Math.max(1, ...phases.flatMap((phase) => [phase.suite, phase.floor, phase.documents ?? 0, phase.naive ?? 0]));
  const series = [
    { key: 'floor', label: 'floor', color: '#9aa5b1' },
    { key: 'documents', label: "floor with the suite's documents", color: '#c3ccd6' },
    { key: 'suite', label: 'suite', color: '#4a7bd0' },
    { key: 'naive', label: 'naive', color: '#d08a4a' },
  ] as const;
  const rows = phases
    .map((phase, row) => {
      const y0 = margin.top + row * rowHeight;
      const bars = series
        .filter((s) => phase[s.key] !== undefined)
        .map((s, index) => {
          const value = phase[s.key]!;
          const y = y0 + index * 18;
          const w = (value / max) * plotWidth;
          return `<rect x="${margin.left}" y="${y}" width="${w.toFixed(1)}" height="15" fill="${s.color}"/><text x="${(margin.left + w + 4).toFixed(1)}" y="${y + 12}" font-size="11">${Math.round(value).toLocaleString('en')}/s ${s.label}</text>`;
        })
        .join('');
      const ratio = phase.floor > 0 ? (phase.suite / phase.floor).toFixed(2) : '?';
      return `<text x="${margin.left - 8}" y="${y0 + 14}" font-size="12" text-anchor="end">${phase.label}</text><text x="${margin.left - 8}" y="${y0 + 30}" font-size="11" text-anchor="end" fill="#555">suite/floor ${ratio}</text>${bars}`;
    })
    .join('');
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="sans-serif">
<rect width="100%" height="100%" fill="white"/>
<text x="${margin.left}" y="24" font-size="14">${title}</text>
${rows}
<text x="${margin.left + plotWidth / 2}" y="${height - 10}" font-size="12" text-anchor="middle">commands per second, each phase in the same run as its floor</text>
</svg>
`;
}
