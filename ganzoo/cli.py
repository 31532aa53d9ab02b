"""The ``ganzoo`` command line: a thin click layer over the public Python API, ``ganzoo``
(the only part of the package it imports).

It parses options, calls the API, and prints; an expected error (a
:class:`~ganzoo.GanzooError`) becomes one ``Error: ...`` line and its exit code.
"""

from __future__ import annotations

import inspect
import json
import warnings
from collections.abc import Callable
from pathlib import Path

import click

import ganzoo
from ganzoo import ConfigError, GanzooError, Interrupted, RunExists

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


class _Failed(click.ClickException):
    def __init__(self, error: GanzooError) -> None:
        super().__init__(error.message)
        self.exit_code = error.exit_code


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    click.echo(f"Warning: {message}", err=True)


class _Group(click.Group):
    """Turns the library's errors into click's: one line, the error's exit code; and its
    warnings (a skipped image file) into one ``Warning:`` line each."""

    def invoke(self, ctx: click.Context):
        with warnings.catch_warnings():
            warnings.showwarning = _show_warning
            try:
                return super().invoke(ctx)
            except Interrupted as exc:
                if not exc.message:  # a DDP rank other than 0: rank 0 said it
                    raise SystemExit(exc.exit_code) from None
                raise _Failed(exc) from None
            except GanzooError as exc:
                raise _Failed(exc) from None


def _pairs(sets: tuple[str, ...]) -> dict:
    """--set KEY=VALUE options as Python values, errors spelled with the flag."""
    try:
        return ganzoo.parse_pairs(sets)
    except ConfigError as exc:
        raise ConfigError(f"--set {exc.message}") from None


@click.group(cls=_Group, context_settings=CONTEXT)
@click.version_option(ganzoo.__version__, prog_name="ganzoo")
def main() -> None:
    """ganzoo: a plugin-based GAN zoo for PyTorch.

    \b
    Examples:
      ganzoo list presets
      ganzoo train vanilla-mnist
      ganzoo train vanilla-mnist --epochs 5 --set lr_g=1e-4 --out runs/try
      ganzoo train --resume runs/try --epochs 10
      ganzoo train my-preset.toml
      ganzoo sample runs/try -n 64 -o grid.png
      ganzoo eval runs/try
    """


@main.command("list", help=(
    "List registered components of every kind and who provides them.\n\nKIND is one of "
    f"{', '.join(k.plural for k in ganzoo.KINDS)} (default: all); PATTERN is a shell-style "
    "wildcard such as 'vanilla*'."))
@click.argument("kind", required=False)
@click.argument("pattern", required=False, default="*")
@click.option("--show", "show", metavar="PRESET",
              help="Print PRESET (a name or file) as TOML, to copy, edit and train.")
def list_cmd(kind: str | None, pattern: str, show: str | None) -> None:
    if show is not None:
        click.echo(ganzoo.show_preset(show), nl=False)
        return
    if kind:
        ganzoo.list_components(kind)  # an unknown kind: one error naming the kinds
    for k in ganzoo.KINDS:
        if kind not in (None, k.name, k.plural):
            continue
        entries = ganzoo.list_components(k.name, pattern)
        click.secho(f"{k.plural}:", bold=True)
        if not entries:
            click.echo("  (none)")
        width = max((len(e.name) for e in entries), default=0)
        for e in entries:
            aliases = f" (aliases: {', '.join(e.aliases)})" if e.aliases else ""
            click.echo(f"  {e.name:<{width}}  {e.summary}{aliases}  [{e.provider}]")


@main.command()
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def plugins(as_json: bool) -> None:
    """Show installed plugins, what each provides, and any load errors."""
    registry = ganzoo.get_registry()
    plurals = {k.name: k.plural for k in ganzoo.KINDS}
    rows = [{"name": p.name, "provider": p.provider, "module": p.module,
             "provides": p.provides, "error": p.error} for p in registry.plugins]
    if as_json:
        click.echo(json.dumps({"plugins": rows, "warnings": registry.warnings}, indent=2))
        return
    for row in rows:
        status = click.style("FAILED", fg="red") if row["error"] else click.style("ok", fg="green")
        click.echo(f"{row['name']}  [{row['provider']}]  {row['module']}  {status}")
        for kind, names in row["provides"].items():
            click.echo(f"    {plurals[kind]}: {', '.join(names)}")
        if row["error"]:
            click.echo(f"    error: {row['error']}")
    if not rows:
        click.echo("no plugins loaded")


def _default(function: Callable, keyword: str):
    """The API's default for one of ``function``'s keywords: the CLI's default too."""
    return inspect.signature(function).parameters[keyword].default


DATA_DIR_HELP = f"Data root (default here: {ganzoo.default_data_root()})."


@main.command()
@click.argument("preset", required=False)
@click.option("--epochs", type=int, help="Total epochs to train (with --resume: up to).")
@click.option("--batch-size", type=int, help="Images per step.")
@click.option("--lr", type=float, help="Learning rate of both G and D.")
@click.option("--seed", type=int, help="Seed for weights, noise, batches and flips.")
@click.option("--eval-every", type=int, metavar="N",
              help="Score sample quality every N epochs (and after the last); 0: never.")
@click.option("--device", help="cpu, cuda or cuda:N (default: CUDA when available).")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path),
              help="Run directory (default: runs/PRESET-TIME).")
@click.option("--resume", type=click.Path(path_type=Path),
              help="Continue a run directory or training checkpoint.")
@click.option("--data-dir", type=click.Path(exists=True, file_okay=False, path_type=Path),
              help=DATA_DIR_HELP)
@click.option("--set", "sets", multiple=True, metavar="KEY=VALUE",
              help="Override any preset setting, e.g. --set hflip=false or "
                   "--set generator.z_dim=100. Repeatable.")
@click.option("--precision", default=_default(ganzoo.train, "precision"), show_default=True,
              help="fp32, or bf16: autocast forward passes; losses and state in fp32.")
@click.option("--cuda-graphs/--no-cuda-graphs", default=True, show_default=True,
              help="On CUDA, replay the whole training step as one CUDA graph.")
@click.option("--checkpoint-every", "cadence", default=_default(ganzoo.train, "checkpoint_every"),
              show_default=True, metavar="N|Ms|Mm",
              help="Also checkpoint inside epochs: every N steps, or every M seconds (90s) or "
                   "minutes (10m); 0 for epoch ends only.")
@click.option("--on-save-error", default=_default(ganzoo.train, "on_save_error"),
              show_default=True, help="When a checkpoint cannot be written (disk full): stop, "
                                      "or continue (warn and keep training).")
@click.option("--on-nan", default=_default(ganzoo.train, "on_nan"), show_default=True,
              help="When a loss or weight turns NaN/Inf: stop, or rollback (reload the last "
                   "good checkpoint and halve the learning rates).")
@click.option("--stream-above", metavar="SIZE", default="auto", show_default=True,
              help="Stream the training images from disk when they take more than SIZE "
                   "(512MB, 2GB, 0: always); auto: half the memory available.")
@click.option("--tensorboard", is_flag=True,
              help="Also write TensorBoard events to RUN/tensorboard (pip install tensorboard).")
@click.option("--population", type=click.IntRange(1, 4096), metavar="K",
              help="Train K members (seeds SEED ... SEED+K-1) in one vectorised step; each is "
                   "the run a single train with its seed would be.")
@click.option("--sweep", "sweeps", multiple=True, metavar="KEY=V1,V2,...",
              callback=lambda ctx, param, value: _sweep(value),
              help="Members for each value (several: every combination), K seeds each: "
                   "lr_g, lr_d, beta1, beta2, seed or a number of the objective "
                   "(loss.weight=1,10). Repeatable.")
@click.option("-q", "--quiet", is_flag=True, help="No progress bar or per-epoch lines.")
def train(preset: str, epochs, batch_size, lr, seed, eval_every, device, out, resume, data_dir,
          sets, precision, cuda_graphs, cadence, on_save_error, on_nan, stream_above,
          tensorboard, population, sweeps, quiet) -> None:
    """Train PRESET: a registered name (see 'ganzoo list presets'), a preset file
    (.toml) or a run's config.json; with --resume, PRESET may be left out.

    \b
    Examples:
      ganzoo train vanilla-mnist
      ganzoo train vanilla-mnist --epochs 2 --batch-size 128 --out runs/quick
      ganzoo train --resume runs/quick --epochs 4
      ganzoo train runs/quick/config.json --out runs/again
      ganzoo train vanilla-mnist --population 8 --epochs 25
      ganzoo train vanilla-mnist --population 4 --sweep lr_g=1e-4,3e-4 --epochs 25
    """
    flags = {"epochs": epochs, "batch_size": batch_size, "lr_g": lr, "lr_d": lr, "seed": seed,
             "eval_every": eval_every}
    overrides = {**_pairs(sets), **{k: v for k, v in flags.items() if v is not None}}
    if "callbacks" in overrides:  # replaces the preset's, as every --set does (train's
        # callbacks= keyword adds to them)
        preset = ganzoo.resolve_preset(preset, callbacks=overrides.pop("callbacks"))
    callbacks = [ganzoo.TensorBoard] if tensorboard else []  # a class: a writer per member
    try:
        ganzoo.train(preset, out=out, resume=resume, device=device, quiet=quiet,
                     callbacks=callbacks,
                     data_dir=data_dir, precision=precision, cuda_graphs=cuda_graphs,
                     checkpoint_every=cadence, on_nan=on_nan, on_save_error=on_save_error,
                     stream_above=stream_above,
                     **({"population": population} if population else {}),
                     **({"sweep": sweeps} if sweeps else {}), **overrides)
    except RunExists as exc:
        raise ConfigError(f"{exc.root} already holds a run; continue it with --resume "
                          f"{exc.root} or choose another --out") from None
    except KeyboardInterrupt:  # a second Ctrl-C: saved files are whole (atomic writes)
        click.echo("Interrupted again: stopped at once; every checkpoint on disk is intact.",
                   err=True)
        raise SystemExit(130) from None


@main.command()
@click.argument("source", type=click.Path(exists=True, path_type=Path))
@click.option("-n", "count", type=click.IntRange(1, 10_000), default=64, show_default=True,
              help="Number of samples.")
@click.option("-o", "--out", type=click.Path(dir_okay=False, path_type=Path),
              default=Path("samples.png"), show_default=True, help="PNG file to write.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--class", "label", type=int, metavar="K",
              help="Class-conditional generators: draw only class K (default: every class "
                   "in turn, one column each).")
@click.option("--vary", "code", metavar="CODE",
              help="Generators with latent codes (InfoGAN's c1, c2, ...): vary CODE along "
                   "each row (every value of a categorical code, -2 to 2 of a continuous).")
@click.option("--hold", "held", multiple=True, metavar="CODE=VALUE",
              callback=lambda ctx, param, value: _code_values(value),
              help="With --vary: fix another code everywhere (repeatable).")
@click.option("--device", help="cpu, cuda or cuda:N (default: CUDA when available).")
@click.option("--member", metavar="I|best", help="A population run: sample member I or the best.")
def sample(source: Path, count: int, out: Path, seed: int, label: int | None,
           code: str | None, held: dict[str, float], device: str | None,
           member: str | None) -> None:
    """Draw a grid of samples from a run directory or checkpoint (SOURCE).

    \b
    Examples:
      ganzoo sample runs/try -n 64 -o grid.png
      ganzoo sample runs/cgan --class 7 -o sevens.png
      ganzoo sample runs/infogan --vary c1 -n 100 -o digits.png
      ganzoo sample runs/infogan --vary c2 --hold c1=3 -o threes.png
      ganzoo sample runs/pop --member best -o best.png
    """
    run = ganzoo.load(source, member)
    if isinstance(run, ganzoo.Population):  # no member named: the best one
        run = run.member("best")
    try:
        epoch, count = run.save_grid(out, n=count, seed=seed, label=label, vary=code,
                                     hold=held, device=device)
    except ConfigError as exc:
        if label is None:
            raise
        raise ConfigError(f"--class {label}: {exc.message}") from None
    click.echo(f"wrote {count} samples (generator after {epoch} epochs) to {out}")


@main.command()
@click.argument("source", type=click.Path(exists=True, path_type=Path))
@click.argument("inputs", nargs=-1, required=True,
                type=click.Path(exists=True, path_type=Path))
@click.option("-o", "--out", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="Folder to write the PNGs into (made if missing).")
@click.option("--direction", type=click.Choice(["AB", "BA"]), default="AB", show_default=True,
              help="A to B, or B to A (a generator that translates both ways: CycleGAN's).")
@click.option("--device", help="cpu, cuda or cuda:N (default: CUDA when available).")
def translate(source: Path, inputs: tuple[Path, ...], out: Path, direction: str,
              device: str | None) -> None:
    """Translate images with an image-to-image run (SOURCE: a run directory or checkpoint):
    each INPUT is an image file, or a folder or .zip of them; one PNG per image is written
    to OUT at the model's resolution (a folder's images under their paths).

    \b
    Examples:
      ganzoo translate runs/pix2pix edges/ -o digits/
      ganzoo translate runs/cyclegan thick.png --direction BA -o thin/
    """
    epoch, written = ganzoo.load(source).translate_files(inputs, out, direction, device)
    click.echo(f"wrote {len(written)} translations ({direction}, generator after {epoch} "
               f"epochs) to {out}")


@main.command()
@click.argument("runs", nargs=-1, required=True,
                type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("-o", "--out", type=click.Path(dir_okay=False, path_type=Path),
              help="HTML file to write (default: RUN/report.html for one run, ./report.html "
                   "for several).")
def report(runs: tuple[Path, ...], out: Path | None) -> None:
    """Write one self-contained HTML page for a run or a comparison of RUNS.

    \b
    It shows the preset and resolved config, the environment, loss, quality and throughput
    curves (overlaid for several runs), the sample grids over the epochs beside real ones,
    the checkpoints, and a table of final metrics (median, IQR and the best run). It loads
    nothing from anywhere: charts are inline SVG, images are inlined.
    \b
    Examples:
      ganzoo report runs/vanilla-mnist-20261201-170000
      ganzoo report runs/a runs/b runs/c -o compare.html
    """
    click.echo(f"wrote {ganzoo.write_run_page(runs, out)}")


@main.command("eval")
@click.argument("source", type=click.Path(exists=True, path_type=Path))
@click.option("-n", "count", type=click.IntRange(2, 1_000_000), default=10_000,
              show_default=True, help="Number of samples to score.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--device", help="cpu, cuda or cuda:N (default: CUDA when available).")
@click.option("--data-dir", type=click.Path(exists=True, file_okay=False, path_type=Path),
              help=DATA_DIR_HELP)
@click.option("--no-floor", is_flag=True, help="Skip scoring real training images.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.option("--member", metavar="I|best|all", default="all", show_default=True,
              help="A population run: score member I, the best one, or all of them.")
@click.option("--metrics", default="fid,is", show_default=True, metavar="fid,is,kid,pr",
              help="Also kid (kernel distance) and pr (precision and recall, k = 3), on the "
                   "same features; fid and is are always reported.")
@click.option("--features", type=click.Choice(["domain", "inception"]),
              help="The network whose features the metrics compare: the dataset's evaluator "
                   "(the default where it has one) or Inception-v3 (the literature's).")
@click.option("--inception-weights", type=click.Path(dir_okay=False, path_type=Path),
              metavar="FILE", help="A local copy of the Inception weights "
                                   "(weights-inception-2015-12-05-6726825d.pth).")
def eval_cmd(source: Path, count: int, seed: int, device: str | None, data_dir: Path | None,
             no_floor: bool, as_json: bool, member: str, metrics: str, features: str | None,
             inception_weights: Path | None) -> None:
    """Score the generator of a run directory or checkpoint (SOURCE).

    Prints the Frechet distance on the dataset's evaluator network, the classifier score,
    the classes covered and KL(predicted classes || uniform), for SOURCE's samples and, as
    the floor, for real training images, both against the test split. For a population,
    each member and the distribution over them (median, IQR, min, max) and the best. For
    coupled images (CoGAN), each domain and how often the domains show one class.

    With --features inception: FID and Inception Score on Inception-v3's features, as papers
    report them (the weights are fetched once into the data root, or --inception-weights).
    """
    run = ganzoo.load(source, None if member == "all" else member)
    scores = run.evaluate(count, device=device, data_dir=data_dir, seed=seed,
                          floor=not no_floor, progress=lambda msg: click.echo(msg, err=True),
                          metrics=[m.strip() for m in metrics.split(",") if m.strip()],
                          features=features, inception_weights=inception_weights)
    click.echo(json.dumps(scores.to_dict(), indent=2) if as_json else str(scores))


@main.group()
def data() -> None:
    """Look at a dataset before training on it."""


@data.command("check")
@click.argument("folder", type=click.Path(path_type=Path))
@click.option("--resolution", type=click.IntRange(8, 1024), default=64, show_default=True,
              help="Side of the square images, in pixels.")
@click.option("--channels", type=click.Choice(["3", "1"]), default="3", show_default=True,
              help="3: RGB, 1: grayscale.")
@click.option("--labels", type=click.Choice(["none", "folders"]), default="none",
              show_default=True, help="folders: one class per first-level subfolder.")
@click.option("--data-dir", type=click.Path(file_okay=False, path_type=Path),
              help=DATA_DIR_HELP)
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path),
              default=Path("data-check.png"), show_default=True,
              help="Grid PNG of the prepared images.")
def data_check(folder: Path, resolution: int, channels: str, labels: str,
               data_dir: Path | None, output: Path) -> None:
    """Prepare FOLDER (or a .zip) of images as the image-folder dataset would, and show
    what it holds: counts, classes, sizes, the files skipped and why, and a grid of what
    the model will see. The prepared arrays are cached in the data root for training.

    \b
    Example:
      ganzoo data check ~/photos --resolution 64
      ganzoo train dcgan-folder --set dataset.path=~/photos
    """
    report = ganzoo.check_folder(folder, resolution, int(channels), labels,
                                 data_dir=data_dir, grid=output)
    click.echo(str(report))


def _sweep(values: tuple[str, ...]) -> dict[str, list]:
    """--sweep KEY=V1,V2 pairs: numbers, in the order given."""
    def number(text: str) -> float | int:
        try:
            return int(text)
        except ValueError:
            return float(text)

    grid = {}
    for text in values:
        key, _, listed = text.partition("=")
        try:
            grid[key.strip()] = [number(v.strip()) for v in listed.split(",") if v.strip()]
        except ValueError:
            raise click.BadParameter(f"expected KEY=V1,V2,... with numbers, got {text!r}",
                                     param_hint="--sweep") from None
        if not grid[key.strip()]:
            raise click.BadParameter(f"expected KEY=V1,V2,..., got {text!r}",
                                     param_hint="--sweep")
    return grid


@main.command()
@click.argument("source", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--member", metavar="I|best", required=True, help="The member to export.")
@click.option("-o", "--out", type=click.Path(dir_okay=False, path_type=Path),
              default=Path("generator.safetensors"), show_default=True)
def export(source: Path, member: str, out: Path) -> None:
    """Write one member of a population run (SOURCE) as an ordinary generator file, which
    'ganzoo sample' and 'ganzoo eval' read like any run's.

    \b
    Examples:
      ganzoo export runs/pop --member 3 -o member3.safetensors
      ganzoo eval runs/pop && ganzoo export runs/pop --member best
    """
    pop = ganzoo.load(source)
    if not isinstance(pop, ganzoo.Population):
        raise ConfigError(f"--member: {source} is not a population run")
    i = pop.index(member)
    click.echo(f"wrote member {i} (seed {pop.seeds[i]}) to {pop.export(i, out)}")


def _code_values(values: tuple[str, ...]) -> dict[str, float]:
    """The CODE=NUMBER pairs of --hold."""
    pairs = {}
    for text in values:
        name, _, number = text.partition("=")
        try:
            pairs[name.strip()] = float(number)
        except ValueError:
            raise click.BadParameter(f"expected CODE=NUMBER, got {text!r}",
                                     param_hint="--hold") from None
    return pairs


def _split(parse: Callable[[str], object], what: str):
    def callback(ctx, param, value: str) -> list:
        try:
            items = [parse(v.strip()) for v in value.split(",") if v.strip()]
        except ValueError:
            raise click.BadParameter(f"expected comma-separated {what}, got {value!r}") from None
        if not items:
            raise click.BadParameter(f"expected comma-separated {what}, got {value!r}")
        return items

    return callback


@main.command()
@click.argument("preset")
@click.option("--batch-size", "batch_sizes", default="64", show_default=True,
              callback=_split(int, "integers"), help="Comma-separated batch sizes, e.g. 64,1024.")
@click.option("--precision", "precisions", default="fp32", show_default=True,
              callback=_split(str, "precisions"), help="Comma-separated: fp32,bf16.")
@click.option("--device", "devices", default=None,
              help="Comma-separated devices (default: cuda if available, else cpu).")
@click.option("--seconds", type=click.FloatRange(min=0.1), default=5.0, show_default=True,
              help="Minimum timed seconds per measurement (after warm-up).")
@click.option("--no-baseline", is_flag=True, help="Skip the tutorial loop.")
@click.option("--cuda-graphs/--no-cuda-graphs", default=True, show_default=True,
              help="On CUDA, time ganzoo's step replayed as one CUDA graph.")
@click.option("--data-dir", type=click.Path(exists=True, file_okay=False, path_type=Path),
              help=DATA_DIR_HELP)
@click.option("--set", "sets", multiple=True, metavar="KEY=VALUE", help="As for train.")
@click.option("--population", "populations", default="", metavar="K1,K2,...",
              callback=lambda ctx, param, value: _split(int, "integers")(ctx, param, value)
              if value else [],
              help="Also time population steps of these sizes against the solo step.")
@click.option("--json", "as_json", is_flag=True, help="Print results as JSON.")
def bench(preset, batch_sizes, precisions, devices, seconds, no_baseline, cuda_graphs, data_dir,
          sets, populations, as_json) -> None:
    """Measure training throughput of PRESET against the tutorial's loop, in one process.

    \b
    Examples:
      ganzoo bench vanilla-mnist
      ganzoo bench vanilla-mnist --batch-size 64,1024,4096 --precision fp32,bf16 --json
      ganzoo bench vanilla-mnist --population 1,4,8,16,64 --no-baseline
    """
    import torch

    results = ganzoo.bench(preset, batch_sizes=batch_sizes, precisions=precisions,
                        devices=[d.strip() for d in devices.split(",")] if devices else None,
                        seconds=seconds, baseline=not no_baseline, cuda_graphs=cuda_graphs,
                        data_dir=data_dir, populations=populations, **_pairs(sets),
                        progress=None if as_json else lambda msg: click.echo(msg, err=True))
    if as_json:
        info = {"preset": ganzoo.resolve_preset(preset).name, "torch": torch.__version__,
                "threads": torch.get_num_threads(), "results": [r.to_dict() for r in results]}
        click.echo(json.dumps(info, indent=2))
    else:
        click.echo(ganzoo.bench_table(results))


@main.command("settings")
def settings_cmd() -> None:
    """List the keys that --set accepts."""
    for key in ganzoo.settable_keys():
        click.echo(key)
