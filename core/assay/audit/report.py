"""The audit's outputs: report.json, a self-contained report.html (PNG plots inlined), the PNG files, and
the short Markdown summary printed on the terminal."""

from __future__ import annotations

import base64
import html
import json
import math
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from assay.audit import AuditReport

#: How many k columns the terminal summary shows at most (the HTML shows them all).
SUMMARY_KS = 8


def _percent(value: float | None, digits: int = 1) -> str:
    return "n/a" if value is None else f"{100 * value:.{digits}f}"


def _digits(*values: float | None) -> int:
    """Decimals of a percentage: one, or two where a figure is below 1 % (rare errors need them)."""
    small = [v for v in values if v is not None and 0 < abs(v) < 0.01]
    return 2 if small else 1


def _with_interval(figure: dict[str, Any], digits: int | None = None) -> str:
    """`80.1 % [78.0, 82.3]`: a percentage and its interval, rounded alike."""
    low, high = figure.get("ci_low"), figure.get("ci_high")
    places = _digits(figure.get("value"), low, high) if digits is None else digits
    value = _percent(figure.get("value"), places)
    if value == "n/a" or low is None or high is None:
        return value if value == "n/a" else f"{value} %"
    return f"{value} % [{_percent(low, places)}, {_percent(high, places)}]"


#: Curves closer than this everywhere are drawn as one line with one legend entry naming each.
SAME_CURVE = 5e-4


def same_curves(curves: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """Curves grouped by equal values (coverage's group first): a perfect verifier's best-of-n equals coverage,
    and two lines drawn on top of each other would show one line for two legend entries."""
    groups: list[list[dict[str, Any]]] = []
    for curve in curves:
        values = [math.nan if v is None else v for v in curve["value"]]
        for group in groups:
            other = [math.nan if v is None else v for v in group[0]["value"]]
            if all(abs(a - b) <= SAME_CURVE or (a != a and b != b) for a, b in zip(values, other, strict=True)):
                group.append(curve)
                break
        else:
            groups.append([curve])
    return groups


def equal_to_coverage(report: dict[str, Any]) -> set[str]:
    """Names of the selection curves that equal coverage at every k."""
    for group in same_curves(report["curves"]):
        if group[0]["name"] == "coverage":
            return {curve["name"] for curve in group[1:]}
    return set()


def title(report: dict[str, Any]) -> str:
    """`--title`, else the data set and model: the samples' metadata, else the samples file's folder and name."""
    if report.get("title"):
        return str(report["title"])
    inputs = report.get("inputs") or {}
    parts = [inputs[key] for key in ("dataset", "model") if inputs.get(key)]
    if not parts and inputs.get("samples"):
        path = Path(inputs["samples"])
        parts.append(path.parent.name or path.name)
        stem = path.name.split(".", 1)[0]
        if stem not in ("samples", path.parent.name):
            parts.append(stem)
    return " · ".join(parts) or "assay audit"


def input_files(report: dict[str, Any]) -> list[tuple[str, str]]:
    """(role, short file name) for each input: the folder and the name, never a machine's absolute path."""
    inputs = report.get("inputs") or {}

    def short(path: str) -> str:
        parts = Path(path).parts
        return "/".join(parts[-2:]) if len(parts) >= 2 else path

    out = [(role, short(inputs[role])) for role in ("tasks", "samples") if inputs.get(role)]
    out += [("verdicts", short(path)) for path in inputs.get("verdicts") or []]
    if inputs.get("labels"):
        out.append(("labels", f"field {inputs['labels']!r}"))
    return out


def headline(report: dict[str, Any]) -> str:
    """The one sentence to read first: coverage, majority and the best selection at the largest k, with
    intervals, and the best resampling limit of the verifiers."""
    curves = {curve["name"]: curve for curve in report["curves"]}
    k = report["k"][-1]
    parts = []
    if "coverage" in curves:
        parts.append(f"coverage {_with_interval(_last(curves['coverage']))}")
    if "majority" in curves:
        parts.append(f"majority vote {_with_interval(_last(curves['majority']))}")
    others = [c for c in report["curves"] if c["name"] not in ("coverage", "majority")]
    selections = [c for c in others if c["value"][-1] is not None]
    if selections:
        best = max(selections, key=lambda c: c["value"][-1])
        parts.append(f"best selection {best['name']} {_with_interval(_last(best))}")
    sentence = f"At k = {k:,} samples per problem: " + ", ".join(parts) + "."
    limits = [v for v in report.get("verifiers", []) if v["resampling_limit"]["value"] is not None]
    if limits:
        best_limit = max(limits, key=lambda v: v["resampling_limit"]["value"])
        sentence += (
            f" Resampling until {best_limit['id']} accepts reaches {_with_interval(best_limit['resampling_limit'])}"
            " however many samples are drawn."
        )
    confidence = round(100 * report["options"]["confidence"])
    return sentence + f" ({confidence} % bootstrap intervals over problems in brackets.)"


def _summary_ks(ks: list[int]) -> list[int]:
    if len(ks) <= SUMMARY_KS:
        return ks
    step = (len(ks) - 1) / (SUMMARY_KS - 1)
    return sorted({ks[round(i * step)] for i in range(SUMMARY_KS)})


#: The fit is drawn and trusted to at most this many times the largest observed k; targets beyond read "beyond".
EXTRAPOLATE_AT_MOST = 100


def _target(target: dict[str, Any], reach: int | None) -> str:
    """`90 % at k ≈ 1,200 [800, 2,100]`, or where the fit does not reach: say so, with no number."""
    text = f"{_percent(target['coverage'], 0)} % coverage at k "
    k = target["k"]
    if k is None or (reach is not None and k > reach):
        return text + f"beyond {reach:,} (past what the fit supports)" if reach else text + "never (by the fit)"
    text += f"≈ {_k_for(k)}"
    interval = target.get("k_interval")
    if interval:
        text += f" [{_k_for(interval[0])}, {_k_for(interval[1])}]"
    elif "k_interval" in target:
        text += " (its interval reaches past what the fit supports)"
    return text + (" (already reached)" if target.get("observed") else "")


def _k_for(value: float | None) -> str:
    if value is None:
        return "never (by the fit)"
    return f"{value:,.0f}" if value >= 10 else f"{value:.1f}"


def markdown(report: dict[str, Any], html_path: str | Path | None = None) -> str:
    """A short Markdown summary: selection against k, each verifier's error rates, the coverage fit."""
    ks: list[int] = report["k"]
    shown = _summary_ks(ks)
    same = equal_to_coverage(report)
    lines = [
        f"## {title(report)}: {report['problems']:,} problems, {report['samples']:,} samples "
        f"({_per_problem(report['samples_per_problem'])} per problem)",
        "",
        headline(report),
        "",
        "Inputs: " + ", ".join(f"{role} `{name}`" for role, name in input_files(report)) + ".",
        "",
        f"Accuracy in % (mean over problems of the expected accuracy on a random k-subset), "
        f"{int(report['options']['confidence'] * 100)} % bootstrap intervals; mean sample accuracy "
        f"{_percent(report['mean_accuracy'])} %.",
        "",
        "| selection | " + " | ".join(f"k={k}" for k in shown) + " |",
        "|---|" + "---:|" * len(shown),
    ]
    for curve in report["curves"]:
        cells = []
        for k in shown:
            i = ks.index(k)
            cells.append(_percent(curve["value"][i]))
        marker = " (MC)" if curve["method"] == "monte_carlo" else ""
        marker += " (= coverage)" if curve["name"] in same else ""
        lines.append(f"| {curve['name']}{marker} | " + " | ".join(cells) + " |")
    if report["verifiers"]:
        lines += [
            "",
            "| verifier | precision | recall | false-positive rate | false-negative rate | undecided "
            "| resampling limit |",
            "|---|---:|---:|---:|---:|---:|---:|",
        ]
        for verifier in report["verifiers"]:
            lines.append(
                f"| {verifier['id']} | {_with_interval(verifier['precision'])} | "
                f"{_with_interval(verifier['recall'])} | "
                f"{_with_interval(verifier['false_positive_rate'])} | "
                f"{_with_interval(verifier['false_negative_rate'])} | "
                f"{_with_interval(verifier['undecided_rate'])} | {_with_interval(verifier['resampling_limit'])} |"
            )
        for verifier in report["verifiers"]:
            extras = []
            if verifier["flakiness"]:
                flaky = verifier["flakiness"]
                extras.append(
                    f"flaky on {flaky['flaky_samples']} of {flaky['samples_judged_repeatedly']} samples judged "
                    f"{flaky['runs']} times"
                )
            scores = verifier["scores"]
            if scores and scores.get("auroc") is not None and scores.get("graded"):
                extras.append(f"AUROC {scores['auroc']:.3f}")
                if scores.get("calibration"):
                    extras.append(f"ECE {scores['calibration']['ece']:.3f}")
            if extras:
                lines.append(f"- {verifier['id']}: " + ", ".join(extras))
    for pair in report["agreement"]:
        kappa = pair["kappa"]
        value = "n/a" if kappa["value"] is None else f"{kappa['value']:.3f}"
        lines.append(f"- agreement {pair['a']} vs {pair['b']}: Cohen's kappa {value} on {pair['samples']:,} samples")
    fit = report["coverage_fit"]
    lines.append("")
    if "error" in fit:
        lines.append(f"Coverage fit: not possible ({fit['error']}).")
    else:
        targets = "; ".join(_target(t, fit.get("reach")) for t in fit["targets"])
        lines.append(
            f"Coverage fit log c(k) = {fit['a']:.4g}·k^{fit['b']:.4g} (R² {fit['r2']:.4f} on log coverage, "
            f"RMSE {100 * fit['rmse']:.2f} points): {targets}."
        )
    if html_path is not None:
        lines += ["", f"Report: {html_path}"]
    return "\n".join(lines)


def _last(curve: dict[str, Any]) -> dict[str, Any]:
    return {"value": curve["value"][-1], "ci_low": curve["ci_low"][-1], "ci_high": curve["ci_high"][-1]}


def _per_problem(spread: dict[str, Any]) -> str:
    if spread["min"] == spread["max"]:
        return str(spread["max"])
    return f"{spread['min']}-{spread['max']}"


# -- plots ------------------------------------------------------------------------------------------------------------


PLOTS_NEED = "the HTML report's plots need matplotlib: pip install 'assay[audit]' (or ask for --no-html)"


class PlottingUnavailable(RuntimeError):
    """matplotlib is not installed: the HTML report cannot be drawn."""


def require_plotting() -> None:
    """Raise `PlottingUnavailable`, saying what to install, when the plots cannot be drawn here."""
    import importlib.util

    if importlib.util.find_spec("matplotlib") is None:
        raise PlottingUnavailable(PLOTS_NEED)


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _pyplot_ticker() -> Any:
    import matplotlib.ticker

    return matplotlib.ticker


def _save_log_plot(plt: Any, figure: Any, axes: Any, path: Path, ylabel: str, title: str) -> Path:
    """Label a plot over k (the number of samples per problem), put the legend beside the plot (never over
    the data), save it and free it."""
    axes.set_xlabel("k (samples per problem)")
    axes.set_ylabel(ylabel)
    axes.set_title(title, fontsize=11)
    axes.grid(True, which="both", alpha=0.3)
    if axes.get_legend_handles_labels()[0]:
        axes.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0.0, frameon=False)
    return _save(plt, figure, axes, path)


def legend_entries(axes: Any) -> list[dict[str, str]]:
    """Each legend entry's label and the colour its marks have on a white page (a band's colour is blended
    with white by its alpha): what a reader, or a test, looks for in the picture."""
    from matplotlib.colors import to_hex, to_rgba, to_rgba_array

    entries = []
    for handle, label in zip(*axes.get_legend_handles_labels(), strict=True):
        if hasattr(handle, "patches"):  # bars: their first rectangle stands for them
            handle = handle.patches[0]
        is_line = hasattr(handle, "get_color") and not hasattr(handle, "get_facecolor")
        rgba = to_rgba(handle.get_color()) if is_line else tuple(to_rgba_array(handle.get_facecolor())[0])
        kind = "area" if not is_line else "line" if handle.get_linestyle() not in ("None", "", " ") else "marker"
        alpha = rgba[3] if handle.get_alpha() is None else handle.get_alpha()
        blended = tuple(alpha * c + (1 - alpha) for c in rgba[:3])
        entries.append({"label": label, "color": to_hex(blended), "kind": kind})
    return entries


def _save(plt: Any, figure: Any, axes: Any, path: Path) -> Path:
    """Save a figure with its legend entries in the PNG's Description (report.html passes them on), free it."""
    legend = json.dumps(legend_entries(axes))
    figure.savefig(path, bbox_inches="tight", metadata={"Description": legend})
    plt.close(figure)
    return path


def saved_legend(path: Path) -> list[dict[str, str]]:
    """The legend entries `_save` wrote into a PNG."""
    from PIL import Image

    with Image.open(path) as image:
        text = image.info.get("Description")
    return json.loads(text) if isinstance(text, str) else []


#: Coverage's colour in every plot: not black (text and axes are), not in matplotlib's colour cycle.
COVERAGE_COLOUR = "#6a3d9a"
#: Marker shapes, one per drawn curve, so that curves that come close stay told apart.
_MARKERS = "osD^vP*Xh<>"


def plot_selection(report: dict[str, Any], path: Path) -> Path:
    """Coverage as a dashed black upper bound; each selection as a coloured line with its interval band.
    Curves equal at every k are drawn once, their legend entry naming each (`= coverage`)."""
    plt = _pyplot()
    ks = report["k"]
    figure, axes = plt.subplots(figsize=(8, 4.6), dpi=110)
    colours = iter(plt.rcParams["axes.prop_cycle"].by_key()["color"] * 4)
    for number, group in enumerate(same_curves(report["curves"])):
        curve = group[0]
        values = [math.nan if v is None else 100 * v for v in curve["value"]]
        low = [math.nan if v is None else 100 * v for v in curve["ci_low"]]
        high = [math.nan if v is None else 100 * v for v in curve["ci_high"]]
        names = [c["name"] + (" (MC)" if c["method"] == "monte_carlo" else "") for c in group]
        if curve["name"] == "coverage":
            label = "coverage (upper bound)" + "".join(f"\n= {name}" for name in names[1:])
            colour, style, width, zorder = COVERAGE_COLOUR, "--", 2.0, 5
        else:
            label = "\n= ".join(names)
            colour, style, width, zorder = next(colours), "-", 1.6, 3
        axes.plot(
            ks,
            values,
            linestyle=style,
            color=colour,
            marker=_MARKERS[number % len(_MARKERS)],
            markersize=4,
            linewidth=width,
            label=label,
            zorder=zorder,
        )
        axes.fill_between(ks, low, high, color=colour, alpha=0.12, linewidth=0, zorder=1)
    axes.set_xscale("log", base=2 if max(ks) <= 4096 else 10)
    if len(ks) <= 12:  # the audited ks themselves, written plainly (2^6 reads slower than 64)
        axes.set_xticks(ks, [f"{k:,}" for k in ks])
        axes.xaxis.set_minor_locator(_pyplot_ticker().NullLocator())
    axes.set_ylim(bottom=0)
    return _save_log_plot(plt, figure, axes, path, "accuracy (%)", f"{title(report)}: selection against k")


def plot_coverage_fit(report: dict[str, Any], path: Path) -> Path | None:
    """Observed coverage, the fit over the observed k, and its extrapolation (dotted) with the bootstrap band
    of the fit where there is one; each target is a marker whose label sits in the legend, off the points."""
    fit = report["coverage_fit"]
    if "error" in fit:
        return None
    import numpy as np

    plt = _pyplot()
    figure, axes = plt.subplots(figsize=(8, 4.2), dpi=110)
    observed = fit["observed"]
    k_seen = observed["k"][-1]
    axes.plot(observed["k"], [100 * c for c in observed["coverage"]], "o", color=COVERAGE_COLOUR, markersize=4,
              label="coverage observed (pass@k)", zorder=4)  # fmt: skip
    k_end = k_seen * EXTRAPOLATE_AT_MOST
    inside = np.geomspace(1, k_seen, 100)
    beyond = np.geomspace(k_seen, k_end, 100)
    axes.plot(inside, 100 * np.exp(fit["a"] * inside ** fit["b"]), "-", color="tab:blue",
              label=f"fit: log c = {fit['a']:.3g}·k^{fit['b']:.3g}")  # fmt: skip
    axes.plot(beyond, 100 * np.exp(fit["a"] * beyond ** fit["b"]), ":", color="tab:blue", linewidth=2,
              label=f"extrapolated (up to {EXTRAPOLATE_AT_MOST}× the observed k)")  # fmt: skip
    band = fit.get("band")
    if band:
        confidence = round(100 * report["options"]["confidence"])
        axes.fill_between(band["k"], [100 * v for v in band["low"]], [100 * v for v in band["high"]],
                          color="tab:blue", alpha=0.15, linewidth=0,
                          label=f"{confidence} % bootstrap band of the fit")  # fmt: skip
    axes.axvline(k_seen, color="grey", linestyle=":", linewidth=1)
    for marker, target in zip("xP*D", fit["targets"], strict=False):
        if target["k"] is not None and target["k"] <= k_end:
            axes.plot([target["k"]], [100 * target["coverage"]], marker, color="tab:red", markersize=7,
                      label=f"{100 * target['coverage']:.0f} % at k ≈ {_k_for(target['k'])}", zorder=5)  # fmt: skip
    axes.set_xscale("log")
    return _save_log_plot(plt, figure, axes, path, "coverage (%)", f"{title(report)}: coverage and its power-law fit")


def plot_reliability(verifier: dict[str, Any], path: Path) -> Path | None:
    scores = verifier.get("scores") or {}
    calibration = scores.get("calibration")
    if not calibration or not scores.get("graded"):  # pass/fail scores make a two-bar diagram: not worth one
        return None
    plt = _pyplot()
    figure, axes = plt.subplots(figsize=(4.5, 4.5), dpi=110)
    bins = [b for b in calibration["bins"] if b["count"]]
    centres = [(b["low"] + b["high"]) / 2 for b in bins]
    width = calibration["bins"][0]["high"] - calibration["bins"][0]["low"]
    axes.bar(centres, [b["fraction_correct"] for b in bins], width=width * 0.9, alpha=0.7, label="fraction correct")
    axes.plot([0, 1], [0, 1], "--", color="grey", label="perfect calibration")
    axes.plot([b["mean_score"] for b in bins], [b["fraction_correct"] for b in bins], "o-", color="black", markersize=3)
    axes.set_xlim(0, 1)
    axes.set_ylim(0, 1)
    axes.set_xlabel("score")
    axes.set_ylabel("fraction of samples correct")
    axes.set_title(f"{verifier['id']}: ECE {calibration['ece']:.3f}", fontsize=10)
    axes.legend(fontsize=8, loc="upper left")
    return _save(plt, figure, axes, path)


# -- files ------------------------------------------------------------------------------------------------------------


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text)


def write_report(report: AuditReport, directory: Path, html: bool = True) -> dict[str, Path]:
    """report.json and report.md always; with `html`, the PNG plots and report.html (the plots inlined, so it
    stands alone)."""
    directory.mkdir(parents=True, exist_ok=True)
    paths: dict[str, Path] = {}
    data = dict(report.json)
    data["timings"] = report.timings
    paths["json"] = directory / "report.json"
    paths["json"].write_text(json.dumps(data, indent=1), encoding="utf-8")
    paths["markdown"] = directory / "report.md"
    if not html:
        paths["markdown"].write_text(markdown(data, paths["json"]) + "\n", encoding="utf-8")
        return paths
    require_plotting()
    plots: list[tuple[str, Path]] = [("Selection against k", plot_selection(data, directory / "selection.png"))]
    fit_plot = plot_coverage_fit(data, directory / "coverage_fit.png")
    if fit_plot is not None:
        plots.append(("Coverage fit", fit_plot))
    for verifier in data["verifiers"]:
        diagram = plot_reliability(verifier, directory / f"reliability_{_slug(verifier['id'])}.png")
        if diagram is not None:
            plots.append((f"Reliability: {verifier['id']}", diagram))
    for plot_title, path in plots:
        paths[plot_title] = path
    paths["html"] = directory / "report.html"
    paths["html"].write_text(render_html(data, plots), encoding="utf-8")
    paths["markdown"].write_text(markdown(data, paths["html"]) + "\n", encoding="utf-8")
    return paths


_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 1100px; color: #222; line-height: 1.4; }
h1 { font-size: 1.5rem; } h2 { font-size: 1.2rem; margin-top: 2rem; border-bottom: 1px solid #ddd; }
table { border-collapse: collapse; margin: 0.5rem 0 1rem; font-size: 0.85rem; }
th, td { border: 1px solid #ddd; padding: 0.25rem 0.5rem; text-align: right; }
th:first-child, td:first-child { text-align: left; }
.ci { color: #777; font-size: 0.75rem; }
img { max-width: 100%; border: 1px solid #eee; }
.note { color: #555; font-size: 0.85rem; }
.headline { font-size: 1.05rem; background: #f6f8fa; border-left: 4px solid #444; padding: 0.6rem 0.9rem; }
ul.inputs { font-size: 0.85rem; color: #555; margin: 0.2rem 0 1rem; }
code { background: #f4f4f4; padding: 0 0.2rem; }
"""


def _cell(figure: dict[str, Any], digits: int | None = None) -> str:
    places = _digits(figure.get("value"), figure.get("ci_low"), figure.get("ci_high")) if digits is None else digits
    digits = places
    value = _percent(figure.get("value"), digits)
    if figure.get("ci_low") is None:
        return value
    return (
        f"{value}<br><span class=ci>{_percent(figure['ci_low'], digits)}–{_percent(figure['ci_high'], digits)}</span>"
    )


def render_html(report: dict[str, Any], plots: list[tuple[str, Path]]) -> str:
    esc = html.escape
    ks = report["k"]
    name = title(report)
    same = equal_to_coverage(report)
    parts = [
        f"<!doctype html><html><head><meta charset='utf-8'><title>{esc(name)}: assay audit</title>",
        f"<style>{_STYLE}</style></head><body>",
        f"<h1>{esc(name)}: {report['problems']:,} problems, {report['samples']:,} samples "
        f"({_per_problem(report['samples_per_problem'])} per problem)</h1>",
        f"<p class=headline>{esc(headline(report))}</p>",
        "<ul class=inputs>"
        + "".join(f"<li>{esc(role)}: <code>{esc(file)}</code></li>" for role, file in input_files(report))
        + "</ul>",
        f"<p class=note>Votes grouped by the answers of <code>{esc(report['answers_from'])}</code>. "
        f"Mean sample accuracy {_percent(report['mean_accuracy'])} %.</p>",
        "<h2>Selection against k</h2>",
    ]
    for plot_title, path in plots[:1]:
        parts.append(_image(plot_title, path))
    parts.append(
        "<table><tr><th>selection (accuracy, %)</th><th>method</th>" + "".join(f"<th>k={k}</th>" for k in ks) + "</tr>"
    )
    for curve in report["curves"]:
        method = curve["method"] + (f" ({curve['mc_samples']} replicates)" if curve["method"] == "monte_carlo" else "")
        cells = "".join(
            f"<td>{_cell({'value': v, 'ci_low': lo, 'ci_high': hi})}"
            + (f"<br><span class=ci>±{100 * se:.2f} MC</span>" if se is not None else "")
            + "</td>"
            for v, lo, hi, se in zip(
                curve["value"], curve["ci_low"], curve["ci_high"], curve["mc_se"] or [None] * len(ks), strict=True
            )
        )
        equal = " <span class=ci>= coverage</span>" if curve["name"] in same else ""
        parts.append(f"<tr><td>{esc(curve['name'])}{equal}</td><td>{esc(method)}</td>{cells}</tr>")
    parts.append("</table>")
    parts.append(
        "<p class=note>Each figure is the mean over problems of the expected accuracy on a uniformly random "
        "k-subset of the problem's samples (coverage: the unbiased pass@k estimator of Chen et al. 2021). "
        "Exact where a closed form exists; otherwise Monte Carlo, with its standard error. Vote ties go to "
        "the answer seen first (lowest sample index). Intervals: percentile bootstrap over problems "
        f"({report['options']['bootstrap']} replicates, {int(100 * report['options']['confidence'])} %).</p>"
    )
    if report["verifiers"]:
        parts.append(
            "<h2>Verifiers against the ground truth</h2><table><tr><th>verifier</th><th>TP</th><th>FP</th>"
            "<th>TN</th><th>FN</th><th>undecided</th><th>precision (%)</th><th>recall (%)</th>"
            "<th>false-positive rate (%)</th><th>false-negative rate (%)</th><th>kappa vs labels</th>"
            "<th>resampling limit (%)</th></tr>"
        )
        for v in report["verifiers"]:
            c = v["confusion"]
            kappa = v["kappa_with_labels"]
            kappa_text = "n/a" if kappa["value"] is None else f"{kappa['value']:.3f}"
            parts.append(
                f"<tr><td>{esc(v['id'])}</td><td>{c['tp']:,}</td><td>{c['fp']:,}</td><td>{c['tn']:,}</td>"
                f"<td>{c['fn']:,}</td><td>{c['undecided']:,}</td><td>{_cell(v['precision'])}</td>"
                f"<td>{_cell(v['recall'])}</td><td>{_cell(v['false_positive_rate'])}</td>"
                f"<td>{_cell(v['false_negative_rate'])}</td><td>{kappa_text}</td>"
                f"<td>{_cell(v['resampling_limit'])}</td></tr>"
            )
        parts.append(
            "</table><p class=note>The resampling limit is the accuracy of drawing samples until the "
            "verifier accepts one, as the budget grows without bound: per problem TP / (TP + FP). A "
            "verifier's false positives cap it whatever the budget (Stroebl et al. 2024).</p>"
        )
        for v in report["verifiers"]:
            details = []
            for cell, reasons in v["reasons"].items():
                details.append(f"{cell.replace('_', ' ')}: " + ", ".join(f"{esc(r)} {n:,}" for r, n in reasons.items()))
            if v["flakiness"]:
                f = v["flakiness"]
                details.append(
                    f"flakiness: {f['flaky_samples']:,} of {f['samples_judged_repeatedly']:,} samples "
                    f"judged {f['runs']} times disagree ({_cell(f['rate'], 2)} %)"
                )
            scores = v["scores"]
            if scores and scores.get("auroc") is not None:
                details.append(
                    f"AUROC {scores['auroc']:.3f} (95 % CI {scores['auroc_ci'][0]:.3f}–{scores['auroc_ci'][1]:.3f})"
                    + (f", ECE {scores['calibration']['ece']:.3f}" if scores.get("calibration") else "")
                )
            if details:
                parts.append(f"<p><b>{esc(v['id'])}</b><br>" + "<br>".join(details) + "</p>")
    if report["agreement"]:
        parts.append(
            "<h2>Agreement between verifiers</h2><table><tr><th>pair</th><th>samples</th><th>agreement</th>"
            "<th>Cohen's kappa</th></tr>"
        )
        for pair in report["agreement"]:
            k = pair["kappa"]
            kappa = "n/a" if k["value"] is None else f"{k['value']:.3f}"
            if k["value"] is not None and k.get("ci_low") is not None and k.get("ci_high") is not None:
                kappa += f" [{k['ci_low']:.3f}, {k['ci_high']:.3f}]"
            agreement = "n/a" if pair["agreement"] is None else _percent(pair["agreement"])
            parts.append(
                f"<tr><td>{esc(pair['a'])} / {esc(pair['b'])}</td><td>{pair['samples']:,}</td>"
                f"<td>{agreement}</td><td>{kappa}</td></tr>"
            )
        parts.append("</table>")
    fit = report["coverage_fit"]
    parts.append("<h2>Coverage fit</h2>")
    if "error" in fit:
        parts.append(f"<p>Not fitted: {esc(fit['error'])}.</p>")
    else:
        parts.append(
            f"<p>log c(k) = {fit['a']:.5g} · k<sup>{fit['b']:.5g}</sup> over k = "
            f"{fit['k_range'][0]}–{fit['k_range'][1]} ({fit['points']} points): R² {fit['r2']:.4f} on log coverage, "
            f"RMSE {100 * fit['rmse']:.2f} points.</p><ul>"
            + "".join(
                f"<li>{esc(_target(t, fit.get('reach')))}</li>"
                for t in fit["targets"]
            )
            + "".join(f"<li>at k = {p['k']:,}: {_percent(p['coverage'])} % predicted</li>" for p in fit["predicted"])
            + "</ul><p class=note>The model assumes coverage tends to 100 %; problems that no sample solves "
            "bend the real curve below it.</p>"
        )
    for plot_title, path in plots[1:]:
        heading = "" if plot_title == "Coverage fit" else f"<h2>{esc(plot_title)}</h2>"
        parts.append(heading + _image(plot_title, path))
    parts.append("</body></html>")
    return "\n".join(parts)


def _image(title: str, path: Path) -> str:
    """The PNG inlined, with its legend entries (label, colour) in `data-legend` for tools and tests."""
    encoded = base64.b64encode(path.read_bytes()).decode("ascii")
    legend = html.escape(json.dumps(saved_legend(path)), quote=True)
    return f"<p><img alt='{html.escape(title)}' data-legend=\"{legend}\" src='data:image/png;base64,{encoded}'></p>"
