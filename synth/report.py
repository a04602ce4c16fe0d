"""``hjem synth report REAL SYNTH``: fidelity, privacy, realism and utility as one HTML page.

Plots are inline SVG (no plotting dependency). Each realism row puts a cited reference
figure (docs/synthetic.md) beside the synthetic one.
"""

from __future__ import annotations

import html
from pathlib import Path

import numpy as np

from synth.data import Long, load
from synth.fit import FIT_MEASURES, per_resident
from synth.metrics import Privacy, fidelity, privacy
from synth.utility import Utility, utility

__all__ = ["REFERENCES", "build_report"]

# (what, reference text, source key, function of the synthetic long table)
REFERENCES: list[tuple[str, str, str]] = [
    ("SpO2 mean, %", "about 95-96 in people >= 65; lower limit of normal ~91-92", "S5"),
    ("resting pulse mean, /min", "about 70-75 in older adults", "S6"),
    ("systolic mean (home, daytime), mmHg", "about 130-145 in people >= 75", "S7"),
    ("oral temperature mean, °C", "36.3-36.6 (97.3-97.8 °F) in people ~80", "S8"),
    ("temperature evening minus morning, °C", "+0.1 to +0.3 (6 am 97.3 °F, 10 pm 97.8 °F)", "S8"),
]


_STYLE = (
    "<style>body{font-family:sans-serif;max-width:60em;margin:auto}td,th{padding:2px 8px;"
    "border-bottom:1px solid #ccc}.flag{color:#b00;font-weight:bold}.ok{color:#070}</style>"
)


def _profile(long: Long, measure: str) -> np.ndarray:
    """Mean by local hour (UTC+1), NaN where empty."""
    part = long.of(measure)
    hour = ((part.t + 3600) // 3600) % 24
    n = np.bincount(hour, minlength=24).astype(float)
    s = np.bincount(hour, part.value, minlength=24)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.asarray(s / n)


def _svg_lines(series: dict[str, np.ndarray], title: str) -> str:
    width, height, pad = 360, 160, 30
    finite = np.concatenate([v[np.isfinite(v)] for v in series.values()] or [np.zeros(1)])
    lo, hi = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
    hi = hi if hi > lo else lo + 1
    colours = ["#1f77b4", "#d62728"]
    parts = [
        f'<svg width="{width}" height="{height}" role="img" aria-label="{html.escape(title)}">',
        f'<text x="{pad}" y="14" font-size="12">{html.escape(title)} ({lo:.1f}-{hi:.1f})</text>',
    ]
    for colour, (name, values) in zip(colours, series.items(), strict=False):
        points = [
            f"{pad + i * (width - 2 * pad) / max(1, values.size - 1):.1f},"
            f"{height - pad - (v - lo) / (hi - lo) * (height - 2 * pad):.1f}"
            for i, v in enumerate(values)
            if np.isfinite(v)
        ]
        parts.append(
            f'<polyline fill="none" stroke="{colour}" points="{" ".join(points)}">'
            f"<title>{html.escape(name)}</title></polyline>"
        )
    parts.append("</svg>")
    return "".join(parts)


def _realism(synth: Long) -> list[tuple[str, str, str, str]]:
    temp = synth.of("temperature")
    hour = ((temp.t + 3600) // 3600) % 24
    morning, evening = temp.value[hour < 11], temp.value[hour >= 17]
    diff = (evening.mean() - morning.mean()) if morning.size and evening.size else float("nan")
    values = [
        synth.of("spo2").value.mean(),
        synth.of("pulse").value.mean(),
        synth.of("systolic").value.mean(),
        temp.value.mean(),
        diff,
    ]
    return [(w, ref, src, f"{v:.2f}") for (w, ref, src), v in zip(REFERENCES, values, strict=True)]


def _table(rows: list[list[str]], head: list[str]) -> str:
    cells = "".join(f"<th>{html.escape(h)}</th>" for h in head)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in r) + "</tr>" for r in rows
    )
    return f"<table><tr>{cells}</tr>{body}</table>"


def _privacy_html(p: Privacy | None) -> str:
    if p is None:
        return "<p>Not computed: give --holdout (real records not used to fit the twin).</p>"
    rows = [
        ["DCR median, synthetic to real", f"{p.dcr_synth_median:.3f}"],
        ["DCR median, hold-out to real (baseline)", f"{p.dcr_holdout_median:.3f}"],
        ["DCR ratio (synthetic / baseline)", f"{p.dcr_ratio:.3f}"],
        ["membership-inference AUC (0.5 = no signal)", f"{p.mia_auc:.3f}"],
        [
            f"attribute disclosure, {p.rare_records} rare records: synthetic",
            f"{p.disclosure_synth:.3f}",
        ],
        ["attribute disclosure: hold-out baseline", f"{p.disclosure_holdout:.3f}"],
    ]
    verdict = (
        "<p class='flag'>FLAGGED: " + "; ".join(html.escape(f) for f in p.flagged) + "</p>"
        if p.flagged
        else "<p class='ok'>No privacy flag raised.</p>"
    )
    return _table(rows, ["metric", "value"]) + verdict


def _measure_utility(real: Long, real_path: Path, synth: Long, synth_path: Path) -> Utility | str:
    """The utility figures, or why they are not there."""
    try:
        return utility(real, real_path, synth, synth_path)
    except ImportError as exc:
        return f"the deterioration model (fl/, pip install 'hjem[fl]') cannot be imported: {exc}"
    except ValueError as exc:
        return str(exc)


def _utility_html(u: Utility | str) -> str:
    head = (
        "<h2>Utility</h2><p>Deterioration model of docs/federated.md (episode onset within "
        "48 h, logistic regression on fl.features), trained on the synthetic data (TSTR) or "
        "on half of the real residents (TRTR), both tested on the other half of the real "
        "residents.</p>"
    )
    if isinstance(u, str):
        return head + f"<p class='flag'>Utility not measured: {html.escape(u)}</p>"
    rows = [
        ["AUROC", f"{u.tstr_auroc:.3f}", f"{u.trtr_auroc:.3f}", f"{u.auroc_difference:+.3f}"],
        ["AUPRC", f"{u.tstr_auprc:.3f}", f"{u.trtr_auprc:.3f}", f"{u.auprc_difference:+.3f}"],
    ]
    sizes = (
        f"<p>Training days: {u.synth_rows} synthetic, {u.real_train_rows} real; test: "
        f"{u.test_rows} real resident-days, {u.test_positives} positive.</p>"
    )
    table = _table(rows, ["metric", "train synthetic (TSTR)", "train real (TRTR)", "TSTR - TRTR"])
    return head + table + sizes


def _autocorr(real: Long, synth: Long) -> list[list[str]]:
    rows = []
    for m in FIT_MEASURES:
        a, b = per_resident(real, m)["phi"], per_resident(synth, m)["phi"]
        rows.append(
            [
                m,
                f"{np.nanmean(a):.2f}" if np.isfinite(a).any() else "-",
                f"{np.nanmean(b):.2f}" if np.isfinite(b).any() else "-",
            ]
        )
    return rows


def _correlations(long: Long) -> np.ndarray:
    keys = ["spo2", "pulse", "systolic", "temperature"]
    cols = []
    for m in keys:
        part = long.of(m)
        cols.append(
            {(r, t // 86400): v for r, t, v in zip(part.resident, part.t, part.value, strict=True)}
        )
    common = set(cols[0]).intersection(*cols[1:])
    if len(common) < 3:
        return np.full((4, 4), np.nan)
    matrix = np.array([[c[k] for k in sorted(common)] for c in cols])
    return np.asarray(np.corrcoef(matrix))


def build_report(
    real_path: Path, synth_path: Path, holdout_path: Path | None
) -> tuple[str, Privacy | None, Utility | str]:
    """The HTML page, the privacy figures (None without a hold-out), the utility figures
    (or the reason they are missing)."""
    real, synth = load(real_path), load(synth_path)
    prv = privacy(real, load(holdout_path), synth) if holdout_path else None
    fid = fidelity(real, synth)
    use = _measure_utility(real, real_path, synth, synth_path)
    fid_rows = [
        [
            str(r["measure"]),
            str(r["real_n"]),
            str(r["synth_n"]),
            f"{r['real_mean']:.2f}",
            f"{r['synth_mean']:.2f}",
            f"{r['ks']:.3f}",
            f"{r['wasserstein']:.3f}",
        ]
        for r in fid
    ]
    plots = "".join(
        _svg_lines(
            {"real": _profile(real, m), "synthetic": _profile(synth, m)},
            f"{m} by hour (blue real, red synthetic)",
        )
        for m in FIT_MEASURES
    )
    cr, cs = _correlations(real), _correlations(synth)
    corr = (
        f"<p>Largest difference of cross-measure correlations: {np.nanmax(np.abs(cr - cs)):.3f}</p>"
        if np.isfinite(cr).any() and np.isfinite(cs).any()
        else "<p>Too few common days.</p>"
    )
    page = [
        "<!doctype html><html lang='en'><meta charset='utf-8'>",
        "<title>Hjem synthetic data report</title>",
        _STYLE,
        (
            f"<h1>Synthetic data report</h1><p>real: {html.escape(str(real_path))}; "
            f"synthetic: {html.escape(str(synth_path))}</p>"
        ),
        "<h2>Fidelity</h2>",
        _table(
            fid_rows,
            [
                "measure",
                "real n",
                "synthetic n",
                "real mean",
                "synthetic mean",
                "KS",
                "Wasserstein",
            ],
        ),
        "<h3>Circadian profiles</h3>",
        plots,
        "<h3>Day-to-day autocorrelation (lag 1, mean over residents)</h3>",
        _table(_autocorr(real, synth), ["measure", "real", "synthetic"]),
        "<h3>Cross-measure correlations (per resident-day)</h3>",
        corr,
        "<h2>Privacy</h2>",
        _privacy_html(prv),
        "<h2>Realism against published figures</h2>",
        _table(
            [list(r) for r in _realism(synth)],
            ["figure", "reference", "source (docs/synthetic.md)", "synthetic"],
        ),
        _utility_html(use),
        "</html>",
    ]
    return "\n".join(page), prv, use
