"""``ganzoo report``: one self-contained HTML page for a run or a comparison of runs.

Everything the page shows comes from the run directories (``config.json``,
``metrics.jsonl``, ``samples/``, ``checkpoints/``), so a page can be written again at any
time. Charts are matplotlib SVG inlined in the page, grids are PNG data URIs: the page
loads no script, font, stylesheet or image from anywhere.
"""

from __future__ import annotations

import base64
import html
import io
import platform
import re
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from ..core.errors import ConfigError
from ..core.fileio import atomic_write_bytes
from ..core.interfaces import Preset, Translator
from ..core.plugins import get_registry
from ..core.presetfile import load_preset_file, preset_to_toml
from ..core.version import __version__
from ..engine.rundir import (
    RunDir,
    checkpoints_in,
    member_dir,
    population_of_member,
    read_population,
)

SECTIONS = ("runs", "config", "environment", "losses", "quality", "throughput", "samples",
            "checkpoints")
MAX_GRIDS = 6  # sample grids shown per run, spread over the epochs (the first and last kept)


@dataclass
class RunView:
    """What a page shows of one run directory."""

    root: Path
    preset: Preset
    records: list[dict[str, Any]]
    grids: list[Path]  # samples/epoch-*.png, oldest first
    real: Path | None
    checkpoints: list[Path] = field(default_factory=list)
    environments: list[dict[str, Any]] = field(default_factory=list)  # environment.json

    @property
    def name(self) -> str:
        return self.root.name

    def final(self, key: str) -> float | None:
        """The last epoch's ``key`` (a quality metric when measured), if any epoch has it."""
        for record in reversed(self.records):
            if key in record:
                return record[key]
            if key in record.get("quality", {}):
                return record["quality"][key]
        return None


def read_run(root: Path | str) -> RunView:
    """A run directory's files, checked: a folder that holds no run is one clear error."""
    run = RunDir(Path(root))
    config = run.root / "config.json"
    if not config.is_file():
        raise ConfigError(f"{run.root} is not a run directory (no config.json)")
    preset = load_preset_file(config)
    grids = sorted(run.samples.glob("epoch-*.png"))
    real = run.samples / "real.png"
    checkpoints = checkpoints_in(run.root)
    population = None if checkpoints else population_of_member(run.root)
    if population is not None:  # a member's tensors are in its population's checkpoints
        checkpoints = checkpoints_in(population)
    return RunView(run.root, preset, run.records(), grids, real if real.is_file() else None,
                   checkpoints, run.environments())


def _svg(fig) -> str:
    """A matplotlib figure as inline SVG: no XML prolog, metadata or namespace URLs (HTML
    parses inline SVG without them)."""
    import matplotlib

    buffer = io.StringIO()
    with matplotlib.rc_context({"svg.fonttype": "none"}):  # text as text: the page's font
        fig.savefig(buffer, format="svg", metadata={"Date": None})
    text = buffer.getvalue()
    text = text[text.index("<svg"):]
    text = re.sub(r"<metadata>.*?</metadata>", "", text, flags=re.S)
    return re.sub(r'\s+xmlns(:\w+)?="[^"]*"', "", text)


def _chart(runs: Sequence[RunView], ylabel: str, series: dict[str, Any],
           log: bool = False) -> str | None:
    """One chart of per-epoch values: ``series`` maps a label to a function of a record
    (None where the record lacks it), drawn for every run; None when no run has any."""
    lines = []
    for i, run in enumerate(runs):
        for j, (label, value) in enumerate(series.items()):
            points = [(r["epoch"], value(r)) for r in run.records if value(r) is not None]
            if points:
                name = label if len(runs) == 1 else f"{run.name}: {label}"
                lines.append((name, points, f"C{(i * len(series) + j) % 10}"))
    if not lines:
        return None
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7.5, 3.2), dpi=100)
    fig.subplots_adjust(left=0.12, right=0.98, bottom=0.16, top=0.96)  # tight_layout: slower
    ax = fig.subplots()
    for name, points, color in lines:
        x, y = zip(*points, strict=True)
        ax.plot(x, y, marker="o" if len(points) < 30 else None, markersize=3, color=color,
                label=name)
    ax.set_xlabel("epoch")
    ax.xaxis.get_major_locator().set_params(integer=True)
    ax.set_ylabel(ylabel)
    if log:
        from matplotlib.ticker import LogFormatter

        ax.set_yscale("log")
        ax.yaxis.set_major_formatter(LogFormatter(labelOnlyBase=False))
        ax.yaxis.set_minor_formatter(LogFormatter(labelOnlyBase=False, minor_thresholds=(2, 1)))
    else:
        ax.ticklabel_format(axis="y", useOffset=False)  # 1.00001, not 1e-5 + 1
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    return _svg(fig)


def _image(path: Path, alt: str) -> str:
    data = base64.b64encode(path.read_bytes()).decode()
    return f'<img src="data:image/png;base64,{data}" alt="{html.escape(alt)}">'


def _spread(grids: list[Path]) -> list[Path]:
    """At most MAX_GRIDS of a run's grids, evenly over its epochs, the first and last kept."""
    if len(grids) <= MAX_GRIDS:
        return grids
    step = (len(grids) - 1) / (MAX_GRIDS - 1)
    return [grids[round(i * step)] for i in range(MAX_GRIDS)]


def _quality(key: str):
    return lambda r: r.get("quality", {}).get(key)


def _summary_table(runs: Sequence[RunView]) -> str:
    """Each run's final metrics; with several, their median and interquartile range, and the
    best run marked (lowest final FID, when measured)."""
    metrics = [("epochs", lambda v: len(v.records)), ("loss D", lambda v: v.final("loss_d")),
               ("loss G", lambda v: v.final("loss_g")), ("FID", lambda v: v.final("fid")),
               ("classifier score", lambda v: v.final("classifier_score")),
               ("samples/s", lambda v: v.final("samples_per_s"))]
    shown = [(name, get) for name, get in metrics if any(get(v) is not None for v in runs)]
    fids = {v.name: v.final("fid") for v in runs if v.final("fid") is not None}
    best = min(fids, key=fids.get) if len(runs) > 1 and fids else None
    head = "".join(f"<th>{html.escape(name)}</th>" for name, _ in shown)
    rows = []
    for v in runs:
        cells = "".join(f"<td>{_number(get(v))}</td>" for _, get in shown)
        mark = " <strong>(best)</strong>" if v.name == best else ""
        rows.append(f"<tr><td>{html.escape(v.name)}{mark}</td>"
                    f"<td>{html.escape(v.preset.name)}</td>{cells}</tr>")
    if len(runs) > 1:
        for label, stat in (("median", statistics.median), ("interquartile range", _iqr)):
            values = [[x for v in runs if (x := get(v)) is not None] for _, get in shown]
            cells = "".join(f"<td>{_number(stat(vals)) if vals else '–'}</td>"
                            for vals in values)
            rows.append(f"<tr class='stat'><td>{label}</td><td></td>{cells}</tr>")
    return (f"<table><tr><th>run</th><th>preset</th>{head}</tr>{''.join(rows)}</table>"
            + ("<p>Best: the lowest final FID.</p>" if best else ""))


def _iqr(values: list[float]) -> float:
    if len(values) < 2:
        return 0.0
    q = statistics.quantiles(values, n=4, method="inclusive")
    return q[2] - q[0]


def _number(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, int):
        return f"{value:,}"
    if abs(value) >= 1000:  # 13,680 samples/s, not 1.368e+04
        return f"{value:,.0f}"
    return f"{value:.4g}"


ENVIRONMENT = ("started", "device", "processes", "ganzoo", "torch", "python", "git_commit",
               "platform")


def _environment(runs: Sequence[RunView]) -> str:
    """Each start and resume of each run as ``environment.json`` recorded it (a run older
    than that file: the ganzoo version its newest checkpoint names), and this page's own."""
    import torch
    from safetensors import safe_open

    rows = []
    for v in runs:
        for env in v.environments:
            rows.append([v.name, *(env.get(key) for key in ENVIRONMENT)])
        if not v.environments and v.checkpoints:  # the header alone: tensors stay on disk
            with safe_open(str(v.checkpoints[-1]), framework="pt") as f:
                version = (f.metadata() or {}).get("ganzoo_version")
            rows.append([v.name, None, None, None, version, None, None, None, None])
    head = "".join(f"<th>{key.replace('_', ' ')}</th>" for key in ("run", *ENVIRONMENT))
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str('–' if c is None else c))}</td>"
                                    for c in row) + "</tr>" for row in rows)
    table = f"<table><tr>{head}</tr>{body}</table>" if rows else ""
    return (f"{table}<p>This page: ganzoo {__version__}, torch {torch.__version__}, "
            f"Python {platform.python_version()}, {html.escape(platform.platform())}, "
            f"written {datetime.now():%Y-%m-%d %H:%M}.</p>")


STYLE = """body{font-family:sans-serif;margin:2em auto;max-width:1100px;color:#222}
h1{font-size:1.5em}h2{border-bottom:1px solid #ccc;margin-top:1.6em}
table{border-collapse:collapse;font-size:.9em}td,th{border:1px solid #ccc;padding:.25em .6em;
text-align:right}td:nth-child(-n+2),th:nth-child(-n+2){text-align:left}tr.stat{background:#f4f4f4}
.grids{display:flex;flex-wrap:wrap;gap:1em}.grids figure{margin:0}
.grids img{width:240px;image-rendering:pixelated}pre{background:#f6f6f6;padding:1em;
overflow:auto;font-size:.8em}figcaption{font-size:.8em;text-align:center}"""


def render(runs: Sequence[RunView]) -> str:
    """The page for ``runs`` (one run, several, or a population's members)."""
    if not runs:
        raise ConfigError("a report needs at least one run directory")
    title = runs[0].name if len(runs) == 1 else f"{len(runs)} runs"
    parts = [f"<h1>ganzoo report: {html.escape(title)}</h1>",
             "<section id='runs'><h2>Runs</h2>", _summary_table(runs), "</section>",
             "<section id='config'><h2>Preset and resolved config</h2>"]
    for v in runs:
        parts.append(f"<details{' open' if len(runs) == 1 else ''}><summary>"
                     f"{html.escape(v.name)}: {html.escape(v.preset.summary)}</summary><pre>"
                     f"{html.escape(preset_to_toml(v.preset))}</pre></details>")
    parts += ["</section>", "<section id='environment'><h2>Environment</h2>",
              _environment(runs), "</section>"]
    charts = {
        "losses": ("Losses", _chart(runs, "loss (epoch mean)",
                                    {"loss D": lambda r: r.get("loss_d"),
                                     "loss G": lambda r: r.get("loss_g")})),
        "quality": ("Quality", "".join(c for c in (
            _chart(runs, "FID (lower is better)", {"FID": _quality("fid")}, log=True),
            _chart(runs, "classifier score", {"classifier score":
                                              _quality("classifier_score")}),
            _chart(runs, "class accuracy", {"class accuracy": _quality("class_accuracy")}))
            if c) or None),
        "throughput": ("Throughput", _chart(runs, "samples/s",
                                            {"samples/s": lambda r: r.get("samples_per_s")})),
    }
    for key, (heading, chart) in charts.items():
        body = chart or "<p>Not measured in these runs (ganzoo train --eval-every N).</p>"
        parts.append(f"<section id='{key}'><h2>{heading}</h2>{body}</section>")
    parts += [_samples(runs), _checkpoints(runs)]
    return (f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
            f"<title>ganzoo report: {html.escape(title)}</title><style>{STYLE}</style></head>"
            f"<body>{''.join(parts)}</body></html>")


def _translates(preset: Preset) -> bool:
    """Whether the preset's generator is a registered :class:`~ganzoo.Translator`."""
    try:
        factory = get_registry().get("generator", preset.generator.name).obj
    except ConfigError:  # its plugin is gone: the page still shows the grids
        return False
    return isinstance(factory, type) and issubclass(factory, Translator)


def _samples(runs: Sequence[RunView]) -> str:
    """Each run's real images and its grids from fixed noise (of a translator: from fixed
    training pairs, each row source, translation, target)."""
    parts = ["<section id='samples'><h2>Samples from fixed noise</h2>"]
    for v in runs:
        note = ("<p>Translations of the first training pairs: each row shows a source (A), "
                "its translation, the target (B) and, where G translates both ways, B's "
                "translation.</p>") if _translates(v.preset) else ""
        figures = [f"<figure>{_image(v.real, 'real')}<figcaption>real</figcaption></figure>"
                   ] if v.real else []
        for grid in _spread(v.grids):
            epoch = grid.stem.split("-")[-1].lstrip("0") or "0"
            figures.append(f"<figure>{_image(grid, f'epoch {epoch}')}"
                           f"<figcaption>epoch {epoch}</figcaption></figure>")
        parts.append(f"<h3>{html.escape(v.name)}</h3>{note}<div class='grids'>"
                     f"{''.join(figures) or '<p>No grids yet.</p>'}</div>")
    return "".join(parts) + "</section>"


def _checkpoints(runs: Sequence[RunView]) -> str:
    """The runs' checkpoints and their sizes; a population's members share its checkpoints:
    each listed once."""
    listed = dict.fromkeys(path for v in runs for path in v.checkpoints)
    items = "".join(f"<li>{html.escape(str(path))} ({path.stat().st_size / 2**20:.1f} MB)</li>"
                    for path in listed)
    return f"<section id='checkpoints'><h2>Checkpoints</h2><ul>{items}</ul></section>"


def write_report(sources: Any, out: Path | str | None = None) -> Path:
    """Write the page for one run or several (run directories or ``ganzoo.Run`` objects;
    a population stands for its members) to ``out`` (default: the run's ``report.html`` for
    one run or population, ``./report.html`` for several); returns its path."""
    def directory(source: Any) -> Path:  # a Run's root (a Path has a .root of its own)
        return Path(source) if isinstance(source, (str, Path)) else Path(source.root)

    one = isinstance(sources, (str, Path)) or not isinstance(sources, Sequence)
    roots = [directory(s) for s in ([sources] if one else sources)]
    runs = [read_run(run) for root in roots for run in _runs_in(root)]
    path = Path(out) if out else (roots[0] / "report.html" if len(roots) == 1
                                  else Path("report.html"))
    try:
        atomic_write_bytes(path, render(runs).encode())
    except OSError as exc:
        raise ConfigError(f"cannot write {path}: {exc.strerror or exc}") from None
    return path


def _runs_in(root: Path) -> list[Path]:
    """A population's member run directories, or the run itself."""
    population = read_population(root)
    if population is None:
        return [root]
    return [member_dir(root, i) for i in range(len(population["members"]))]
