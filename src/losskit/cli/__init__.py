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


def main(argv: list[str] | None = None) -> None:
    import click

    _register_commands()
    try:
        app(args=argv, prog_name="losskit", standalone_mode=False)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except click.exceptions.Abort:
        print("losskit: interrupted", file=sys.stderr)
        sys.exit(130)
    except KeyboardInterrupt:
        print("losskit: interrupted", file=sys.stderr)
        sys.exit(130)
    except (CLIError, ValueError, TypeError, OSError) as exc:
        message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        print(f"losskit: error: {message}", file=sys.stderr)
        sys.exit(2)
