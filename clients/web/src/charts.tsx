// Dependency-free SVG charts: a line (equity curve) and signed bars (P&L by bucket).
import type { JSX } from "preact";
import { formatInr } from "./format";

const W = 640;
const H = 200;
const PAD = 28;

export function LineChart({ points, label }: { points: { x: number; y: bigint; title: string }[]; label: string }): JSX.Element {
  if (points.length === 0) return <p class="muted empty-chart">No closed round trips in this period yet.</p>;
  const ys = [0n, ...points.map((p) => p.y)].map(Number);
  const min = Math.min(...ys);
  const max = Math.max(...ys);
  const span = max - min || 1;
  const sx = (i: number): number => PAD + ((W - 2 * PAD) * i) / Math.max(1, points.length);
  const sy = (v: number): number => H - PAD - ((H - 2 * PAD) * (v - min)) / span;
  const path = [`M ${sx(0)} ${sy(0)}`, ...points.map((p, i) => `L ${sx(i + 1)} ${sy(Number(p.y))}`)].join(" ");
  return (
    <svg viewBox={`0 0 ${W} ${H}`} class="chart" role="img" aria-label={label}>
      <line x1={PAD} x2={W - PAD} y1={sy(0)} y2={sy(0)} class="axis" />
      <path d={path} class="line" />
      {points.map((p, i) => (
        <circle key={i} cx={sx(i + 1)} cy={sy(Number(p.y))} r={3} class={p.y >= 0n ? "pt pos" : "pt neg"}>
          <title>{p.title}</title>
        </circle>
      ))}
      <text x={4} y={sy(max) + 4} class="tick">{formatInr(BigInt(Math.round(max)))}</text>
      <text x={4} y={sy(min) + 4} class="tick">{formatInr(BigInt(Math.round(min)))}</text>
    </svg>
  );
}

export function BarChart({ bars, label }: { bars: { label: string; value: bigint; count: bigint }[]; label: string }): JSX.Element {
  const values = bars.map((b) => Number(b.value));
  const extent = Math.max(1, ...values.map(Math.abs));
  const bw = (W - 2 * PAD) / Math.max(1, bars.length);
  const mid = H / 2;
  return (
    <svg viewBox={`0 0 ${W} ${H + 16}`} class="chart" role="img" aria-label={label}>
      <line x1={PAD} x2={W - PAD} y1={mid} y2={mid} class="axis" />
      {bars.map((b, i) => {
        const h = ((H / 2 - PAD / 2) * Math.abs(Number(b.value))) / extent;
        const x = PAD + i * bw + bw * 0.15;
        return (
          <g key={b.label}>
            <rect x={x} width={bw * 0.7} y={b.value >= 0n ? mid - h : mid} height={Math.max(h, b.count > 0n ? 1 : 0)} class={b.value >= 0n ? "bar pos" : "bar neg"}>
              <title>{`${b.label}: ${formatInr(b.value, true)} over ${b.count} round trip(s)`}</title>
            </rect>
            <text x={x + bw * 0.35} y={H + 12} class="tick" text-anchor="middle">
              {b.label}
            </text>
          </g>
        );
      })}
    </svg>
  );
}
