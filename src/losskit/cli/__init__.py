"""The ``losskit`` command line: a thin layer that parses, calls the public API and prints.

Each command lives in its own module and registers itself on :data:`app`. ``main`` turns the
errors a user can cause (bad names, bad files, bad values) into a one-line message and a
non-zero exit, never a traceback.
"""

from __future__ import annotations

import sys

try:
    import typer
except ImportError as exc:  # pragma: no cover - exercised only without the [cli] extra
    raise ImportError("the losskit command line needs the cli extra: pip install 'losskit[cli]'") from exc

app = typer.Typer(
    name="losskit",
    help="Explore, plot, choose and compare loss functions for deep learning.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


class CLIError(Exception):
    """An error caused by the user's input, reported as one line with exit status 2."""


def _register_commands() -> None:
    from . import catalog_commands, compare_command, conformance_command  # noqa: F401


def _parser_errors() -> tuple[type[BaseException], ...]:
    """The usage-error classes of the installed Typer (recent Typer vendors its own click)."""
    classes: list[type[BaseException]] = []
    typer_exceptions = getattr(typer, "exceptions", None)
    for candidate in (getattr(typer_exceptions, "TyperException", None),):
        if isinstance(candidate, type):
            classes.append(candidate)
    try:
        import click

        classes.append(click.ClickException)
    except ImportError:
        pass
    return tuple(classes)


def _exit_classes(name: str) -> tuple[type[BaseException], ...]:
    classes = [getattr(typer, name)]
    try:
        import click

        classes.append(getattr(click.exceptions, name))
    except (ImportError, AttributeError):
        pass
    return tuple(classes)


def _fail(message: str, status: int = 2) -> None:
    first_line = message.strip().splitlines()[0] if message.strip() else "failed"
    print(f"losskit: error: {first_line}", file=sys.stderr)
    sys.exit(status)


def main(argv: list[str] | None = None) -> None:
    """Run the command line; user errors end as one line on stderr and a non-zero status."""
    _register_commands()
    try:
        status = app(args=argv, prog_name="losskit", standalone_mode=False)
    except _exit_classes("Exit") as exc:
        sys.exit(getattr(exc, "exit_code", 0))
    except (*_exit_classes("Abort"), KeyboardInterrupt):
        print("losskit: interrupted", file=sys.stderr)
        sys.exit(130)
    except _parser_errors() as exc:
        format_message = getattr(exc, "format_message", None)
        message = format_message() if callable(format_message) else str(exc)
        _fail(f"{message} (see 'losskit --help')", getattr(exc, "exit_code", 2) or 2)
    except (CLIError, ValueError, TypeError, OSError) as exc:
        _fail(str(exc) or type(exc).__name__)
    # Without standalone mode, Typer returns an Abort (Ctrl-C) as the status 130 instead of raising.
    if isinstance(status, int) and status:
        if status == 130:
            print("losskit: interrupted", file=sys.stderr)
        sys.exit(status)
