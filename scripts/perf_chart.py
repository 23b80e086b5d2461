#!/usr/bin/env python3
"""Draws the side-by-side benchmark as an SVG bar chart: median records/s per tool for every
(broker, configuration), with the ratio ours/librdkafka written above each group.

    scripts/perf_chart.py docs/bench/side-by-side-2026-12-02b.csv docs/performance.svg [--title T]

Reads the CSV scripts/bench.sh writes (broker,config,tool,run,records_per_sec,...). No
dependencies beyond Python 3. scripts/bench.sh calls it at the end of every run.
"""
import argparse
import csv
import html
import statistics

TOOLS = [("ours", "kafka-blocking", "#2b6cb0"), ("rdkafka", "librdkafka", "#dd6b20"), ("java", "Java producer", "#718096")]
BROKERS = {"kafka": "Apache Kafka 4.4", "mock": "librdkafka mock", "tansu": "Tansu"}


def medians(path):
    rows = list(csv.DictReader(open(path)))
    groups = []
    for r in rows:
        k = (r["broker"], r["config"])
        if k not in groups:
            groups.append(k)
    out = []
    for b, c in groups:
        med = {}
        for t, _, _ in TOOLS:
            v = [float(r["records_per_sec"]) for r in rows if (r["broker"], r["config"], r["tool"]) == (b, c, t)]
            if v:
                med[t] = statistics.median(v)
        out.append((b, c, med))
    return out


def nice_max(v):
    step = 10 ** (len(str(int(v))) - 1)
    for m in (1, 2, 2.5, 5, 10):
        if v <= m * step:
            return m * step
    return 10 * step


def draw(data, title):
    bar, gap, left, top, plot_h = 18, 26, 70, 60, 300
    group_w = [len(m) * bar for _, _, m in data]
    width = left + sum(group_w) + gap * (len(data) + 1) + 20
    height = top + plot_h + 110
    vmax = nice_max(max(v for _, _, m in data for v in m.values()))
    y = lambda v: top + plot_h - v / vmax * plot_h
    s = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
         f'font-family="Helvetica, Arial, sans-serif" font-size="11">',
         f'<rect width="{width}" height="{height}" fill="white"/>',
         f'<text x="{left}" y="24" font-size="15" font-weight="bold">{html.escape(title)}</text>']
    for i in range(6):
        v = vmax * i / 5
        s.append(f'<line x1="{left}" x2="{width - 20}" y1="{y(v):.1f}" y2="{y(v):.1f}" stroke="#e2e8f0"/>')
        s.append(f'<text x="{left - 6}" y="{y(v) + 4:.1f}" text-anchor="end" fill="#4a5568">{v / 1e6:g}M</text>')
    s.append(f'<text x="14" y="{top + plot_h / 2}" transform="rotate(-90 14 {top + plot_h / 2})" text-anchor="middle" '
             f'fill="#4a5568">records/s (median)</text>')
    x = left + gap
    for (b, c, med), w in zip(data, group_w):
        bx = x
        for t, _, color in TOOLS:
            if t in med:
                v = med[t]
                s.append(f'<rect x="{bx}" y="{y(v):.1f}" width="{bar - 2}" height="{top + plot_h - y(v):.1f}" fill="{color}">'
                         f'<title>{html.escape(f"{b} {c} {t}: {v:,.0f} records/s")}</title></rect>')
                bx += bar
        if "ours" in med and "rdkafka" in med and med["rdkafka"]:
            ratio = med["ours"] / med["rdkafka"]
            s.append(f'<text x="{x + w / 2:.1f}" y="{y(max(med.values())) - 6:.1f}" text-anchor="middle" font-weight="bold">'
                     f'{ratio:.2f}x</text>')
        s.append(f'<text x="{x + w / 2:.1f}" y="{top + plot_h + 16}" text-anchor="middle">{html.escape(c)}</text>')
        s.append(f'<text x="{x + w / 2:.1f}" y="{top + plot_h + 30}" text-anchor="middle" fill="#4a5568">'
                 f'{html.escape(BROKERS.get(b, b))}</text>')
        x += w + gap
    lx = left
    for _, name, color in TOOLS:
        s.append(f'<rect x="{lx}" y="{height - 40}" width="12" height="12" fill="{color}"/>')
        s.append(f'<text x="{lx + 16}" y="{height - 30}">{html.escape(name)}</text>')
        lx += 130
    s.append(f'<text x="{lx + 10}" y="{height - 30}" fill="#4a5568">bold: kafka-blocking / librdkafka</text>')
    s.append('</svg>')
    return "\n".join(s) + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("csv")
    ap.add_argument("svg")
    ap.add_argument("--title", default="Producer throughput, same machine and broker (ratio of medians)")
    a = ap.parse_args()
    with open(a.svg, "w") as f:
        f.write(draw(medians(a.csv), a.title))


if __name__ == "__main__":
    main()
