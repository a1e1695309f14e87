"""The command-line options the commands share, each defined once.

The first group are the Contracts' shared options (docs/design.md, "Options by command"
says which command takes which, and a test holds every command to that table). The run
settings' defaults come from `strategies.Options()`: a command writes
`page_size: PageSizeOpt = DEFAULTS.page_size`, and `run_options` turns the parsed values
into an `Options`. Scenario, strategy and fan-out defaults are each command's own.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated

import typer

from bench.errors import HarnessError
from bench.run.runner import MAX_WORKERS
from bench.run.settings import MAX_LOOKBACK_S, option_problem
from bench.run.sweep import parse_list
from bench.scenario.model import Scenario
from bench.world.estimate import DEFAULT_MAX_MIB, check_world, set_max_world_mib
from strategies import FANOUTS, Options, resolve
from strategies.context import WriteMode

__all__ = [
    "DEFAULTS",
    "DEFAULT_MAX_MIB",
    "AccountWorkersOpt",
    "AdaptiveOpt",
    "ChunkSizeOpt",
    "FanoutOpt",
    "FanoutsOpt",
    "ForceOpt",
    "JobsOpt",
    "LookbackOpt",
    "MaxPagesOpt",
    "MaxWorldOpt",
    "MaxRetriesOpt",
    "MaybeScenarioOpt",
    "PageSizeOpt",
    "ProfileOpt",
    "ScenarioOpt",
    "SeedOpt",
    "SeedsOpt",
    "StrategiesOpt",
    "StrategyOpt",
    "ThrottleOpt",
    "TimeScaleOpt",
    "TokenEnvOpt",
    "WorkersListOpt",
    "WorkersOpt",
    "WriteModeOpt",
    "run_options",
    "given",
    "strategy_names",
    "worker_counts",
    "world_limit",
]

#: the run settings a command uses unless told otherwise
DEFAULTS = Options()
#: the flag of each run setting whose flag is not its name spelt with dashes
FLAGS = {"lookback_s": "lookback"}


def _fanout_mode(value: str) -> str:
    if value not in FANOUTS:
        raise typer.BadParameter(f"{value!r} is not one of {', '.join(FANOUTS)}")
    return value


# -- the Contracts' shared options ---------------------------------------------------------------

_scenario = typer.Option("--scenario", "-s", help="A shipped scenario name or a TOML file.")
ScenarioOpt = Annotated[str, _scenario]
#: `run`'s: none means pms-1000, or with --base-url no simulated world
MaybeScenarioOpt = Annotated[str | None, _scenario]
StrategyOpt = Annotated[str, typer.Option("--strategy", help="Strategy name (see `syncbench strategies`).")]
StrategiesOpt = Annotated[str, typer.Option("--strategies", help="Comma list of strategies, or all.")]
FanoutOpt = Annotated[
    str,
    typer.Option("--fanout", metavar="|".join(FANOUTS), callback=_fanout_mode, help="How independent calls run."),
]
FanoutsOpt = Annotated[str, typer.Option("--fanouts", help=f"Comma list of fan-out modes ({', '.join(FANOUTS)}).")]
WorkersOpt = Annotated[int, typer.Option("--workers", "-w", min=1, max=MAX_WORKERS, help="Fan-out width per account.")]
WorkersListOpt = Annotated[str, typer.Option("--workers", "-w", help="Comma list of worker counts.")]
AccountWorkersOpt = Annotated[
    int, typer.Option("--account-workers", min=1, max=MAX_WORKERS, help="Accounts synced at once.")
]
SeedOpt = Annotated[int | None, typer.Option("--seed", help="Override the scenario's seed.")]
SeedsOpt = Annotated[str | None, typer.Option("--seeds", help="Comma list of seeds (default: the scenario's).")]
PageSizeOpt = Annotated[int | None, typer.Option("--page-size", min=1, help="Page size to ask for.")]
WriteModeOpt = Annotated[WriteMode, typer.Option("--write-mode", help="Store writes: per row, per page, or chunked.")]
ChunkSizeOpt = Annotated[int, typer.Option("--chunk-size", min=1, help="Rows per statement in chunked mode.")]
ThrottleOpt = Annotated[float | None, typer.Option("--throttle", min=0.001, help="Client-side cap, requests/s.")]
AdaptiveOpt = Annotated[bool, typer.Option("--adaptive", help="Adjust concurrency from the answers (AIMD).")]
MaxRetriesOpt = Annotated[int, typer.Option("--max-retries", min=0, help="Retries per call on 429/5xx.")]
LookbackOpt = Annotated[float, typer.Option("--lookback", min=0, max=MAX_LOOKBACK_S, help="Bookmark overlap, seconds.")]

MaxPagesOpt = Annotated[
    int, typer.Option("--max-pages", min=1, help="Pages of any one listing before its sync fails (a runaway guard).")
]

MaxWorldOpt = Annotated[
    float,
    typer.Option("--max-world-mib", min=1, help="Refuse a simulated world estimated above this many MiB."),
]


def given(ctx: typer.Context, *names: str, but: tuple[str, ...] = ()) -> list[str]:
    """The flags of the parameters `names` (default: all but `but`) given on the command line itself."""
    params = [p for p in ctx.command.params if (p.name in names if names else p.name not in but)]
    return [p.opts[0] for p in params if getattr(ctx.get_parameter_source(p.name or ""), "name", "") == "COMMANDLINE"]


def world_limit(max_mib: float, *scenarios: Scenario) -> None:
    """`--max-world-mib`: refuse a world estimated above it before anything runs or is written, and
    hand the limit on to the processes the command starts (each checks the worlds it builds)."""
    if not math.isfinite(max_mib):
        raise HarnessError(f"--max-world-mib must be a number of MiB, not {max_mib}")
    set_max_world_mib(max_mib)
    for scenario in scenarios:
        check_world(scenario, max_mib)


def run_options(
    *,
    workers: int = DEFAULTS.workers,
    account_workers: int = DEFAULTS.account_workers,
    page_size: int | None = DEFAULTS.page_size,
    write_mode: WriteMode = DEFAULTS.write_mode,
    chunk_size: int = DEFAULTS.chunk_size,
    throttle: float | None = DEFAULTS.throttle,
    adaptive: bool = DEFAULTS.adaptive,
    max_retries: int = DEFAULTS.max_retries,
    lookback: float = DEFAULTS.lookback_s,
    max_pages: int = DEFAULTS.max_pages,
) -> Options:
    """The run settings from the parsed options, checked; a command passes the ones it takes."""
    options = Options(
        workers=workers,
        account_workers=account_workers,
        page_size=page_size,
        write_mode=write_mode,
        chunk_size=chunk_size,
        throttle=throttle,
        adaptive=adaptive,
        max_retries=max_retries,
        lookback_s=lookback,
        max_pages=max_pages,
    )
    problem = option_problem(options)
    if problem is not None:  # what typer's ranges cannot catch: nan
        setting, why = problem
        raise HarnessError(f"--{FLAGS.get(setting, setting.replace('_', '-'))} {why}")
    return options


def strategy_names(text: str) -> list[str]:
    """`--strategies a,b|all`, checked; `all` is every installed strategy."""
    return resolve(parse_list(text, "strategies"), allow_all=True)


def worker_counts(text: str) -> list[int]:
    """`--workers 1,5,10`, checked before anything runs."""
    counts: list[int] = parse_list(text, "workers", int)
    if any(not 1 <= n <= MAX_WORKERS for n in counts):
        raise HarnessError(f"--workers must be positive and at most {MAX_WORKERS}, not {text!r}")
    return counts


# -- other options several commands share --------------------------------------------------------

ForceOpt = Annotated[bool, typer.Option("--force", help="Overwrite a non-empty --out.")]
JobsOpt = Annotated[
    int | None, typer.Option("--jobs", "-j", min=1, help="Runs in parallel processes (default: the cores).")
]
ProfileOpt = Annotated[Path | None, typer.Option("--profile", help="API profile TOML: paths, fields, paging, auth.")]
TokenEnvOpt = Annotated[
    str | None, typer.Option("--token-env", help="Name of the environment variable holding the API token.")
]
TimeScaleOpt = Annotated[
    float, typer.Option("--time-scale", min=0.001, max=1000.0, help="Multiply every latency and limit window.")
]
