"""The `syncbench` typer app and its error policy, the one place that turns an error into an exit code.

Exit codes (docs/design.md, Contracts): 0 success; 1 a failed sync, or a gate or check
that found a regression or loss (the commands exit 1 themselves); 2 bad input or a
harness error, in one line on stderr (a traceback only with --debug); 130 interrupted
(Ctrl-C or SIGTERM).
Command modules register on `app`; nothing here knows a command.
"""

from __future__ import annotations

import re
import signal
import sys
import threading
import traceback
from typing import Annotated, Any, NoReturn

import typer
from typer.core import TyperGroup

from bench.errors import HarnessError
from bench.scenario.model import ScenarioError
from bench.secrets import redact_errors
from strategies import UnknownStrategy

__all__ = ["app"]

# typer vendors its own click; find its exception classes through typer's public ones
_ClickException: Any = next(c for c in typer.BadParameter.__mro__ if c.__name__ == "ClickException")
_UsageError: Any = next(c for c in typer.BadParameter.__mro__ if c.__name__ == "UsageError")

#: errors that are the user's input or environment: one line, exit 2
BAD_INPUT = (HarnessError, ScenarioError, UnknownStrategy, ValueError, OSError)

_debug = False
#: a quoted value in an error beyond its first 60 characters
_LONG_QUOTED = re.compile(r"""(['"])((?:(?!\1).){60})(?:(?!\1).)+\1""")


def _traceback_if_debug() -> None:
    """With --debug, the traceback on stderr, scrubbed of every token in use like the error line."""
    if _debug:
        typer.echo(redact_errors(traceback.format_exc()).rstrip("\n"), err=True)


def _fail(message: str, code: int = 2) -> NoReturn:
    typer.echo(f"syncbench: error: {_short(redact_errors(message))}", err=True)
    sys.exit(code)


def _short(message: str) -> str:
    """An error is one short line: a long quoted value (a pasted file, a runaway list) keeps its start."""
    return _LONG_QUOTED.sub(lambda m: f"{m[1]}{m[2]}...{m[1]}", message)


def _empty_value(args: list[str]) -> str | None:
    """The option given an empty value (`--out=` or `--out ''`), or "an argument": no option of syncbench
    means anything by an empty value, and a path would silently become the current folder."""
    for index, arg in enumerate(args):
        if arg.startswith("--") and "=" in arg and not arg.split("=", 1)[1].strip():
            return arg.split("=", 1)[0]
        if not arg.strip():
            before = args[index - 1] if index else ""
            return before if before.startswith("-") and "=" not in before else "an argument"
    return None


class _Group(TyperGroup):
    """Every error is one line on stderr with the contract's exit code; --debug adds the traceback."""

    def main(
        self,
        args: Any = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        windows_expand_args: bool = True,
        **extra: Any,
    ) -> Any:
        empty = _empty_value(sys.argv[1:] if args is None else list(args))
        if empty is not None:
            _fail(f"{empty} is empty; give it a value")
        held = _sigterm_as_interrupt()
        try:
            code = super().main(
                args=args,
                prog_name=prog_name or "syncbench",
                complete_var=complete_var,
                standalone_mode=False,
                windows_expand_args=windows_expand_args,
                **extra,
            )
        except _UsageError as error:
            if type(error).__name__ == "NoArgsIsHelpError" and error.ctx is not None:
                typer.echo(error.ctx.get_help())
                sys.exit(2)
            hint = f" (see '{error.ctx.command_path} --help')" if error.ctx else ""
            _fail(f"{error.format_message().replace('Value error, ', '')}{hint}")
        except (typer.Abort, KeyboardInterrupt):
            _fail("interrupted", 130)
        except BAD_INPUT as error:
            _traceback_if_debug()
            _fail(str(error).splitlines()[0] if str(error) else type(error).__name__)
        except _ClickException as error:
            _fail(error.format_message(), error.exit_code)
        except Exception as error:  # a harness bug: still one line, the traceback with --debug
            _traceback_if_debug()
            _fail(f"internal error: {type(error).__name__}: {error} (rerun with --debug for the traceback)")
        finally:
            if held is not None:
                signal.signal(signal.SIGTERM, held)
        if code == 130:  # typer turns Ctrl-C into exit code 130 without a word
            _fail("interrupted; finished runs are kept (finish a sweep with --resume DIR)", 130)
        sys.exit(code if isinstance(code, int) else 0)


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def _sigterm_as_interrupt() -> Any:
    """SIGTERM stops a command as Ctrl-C does (exit 130, finished runs kept); returns the handler it replaced."""
    if threading.current_thread() is not threading.main_thread():
        return None  # only the main thread may set a handler (and receives signals)
    return signal.signal(signal.SIGTERM, _interrupt)


app = typer.Typer(
    cls=_Group,
    help="Benchmark sync strategies against a simulated, rate-limited API.",
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    no_args_is_help=True,
)


@app.callback()
def _main(debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks on errors.")] = False) -> None:
    global _debug
    _debug = debug
