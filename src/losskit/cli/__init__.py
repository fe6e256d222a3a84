"""The ``losskit`` command line: a thin layer that parses, calls the public API and prints.

Each command lives in its own module and registers itself on :data:`app`. ``main`` turns the
errors a user can cause (bad names, bad files, bad values) into a one-line message and a
non-zero exit, never a traceback.
"""

from __future__ import annotations

import sys

try:
    import typer
    import typer.main
except ImportError as exc:  # pragma: no cover - exercised only without the [cli] extra
    raise ImportError("the losskit command line needs the cli extra: pip install 'losskit[cli]'") from exc

app = typer.Typer(
    name="losskit",
    help="Explore, plot, choose and compare loss functions for deep learning.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _version_callback(value: bool) -> None:
    if value:
        from .. import __version__

        typer.echo(f"losskit {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version_callback, is_eager=True, help="Print the version and exit.",
    ),
) -> None:
    """Explore, plot, choose and compare loss functions for deep learning.

    Run 'losskit COMMAND --help' for the options of a command, e.g. losskit compare --help.
    """


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


def flag_spelling(argument: str, value: str | None) -> str:
    """How the command line spells an argument of the Python API: ``task`` -> ``--task``.

    With a value: ``("task", "binary")`` -> ``--task binary``. Used to render
    :class:`losskit._errors.ArgumentError` messages for a shell user.
    """
    flag = "--" + argument.replace("_", "-")
    return flag if value is None else f"{flag} {value}"


def _tidy_param(param) -> None:
    """Show ``--task TASK`` and ``--json`` in help, not Typer's ``<str>`` / ``<bool>`` types."""
    flag = bool(getattr(param, "is_flag", False) or getattr(param, "count", False))
    argument = param.param_type_name == "argument"
    if param.metavar is None and not flag:
        base = (param.name or "value").upper().replace("_", "-")
        param.metavar = " ".join([base] * param.nargs) if param.nargs > 1 else base
    shown = None if flag or argument else param.metavar
    param.display_type_rich = lambda ctx, _shown=shown: _shown
    if argument:
        name = param.metavar if param.required else f"[{param.metavar}]"
        usage = name + ("..." if param.nargs != 1 else "")
        param._usage_display_name = lambda _usage=usage: _usage


def _tidy_help(command) -> None:
    """Replace Typer's type column by metavars (none for flags), in every command's help.

    An explicit ``metavar=`` of a command is kept.
    """
    for param in getattr(command, "params", ()):
        _tidy_param(param)
    get_help_option = command.get_help_option

    def tidy_help_option(ctx, _get=get_help_option):
        option = _get(ctx)
        if option is not None:
            _tidy_param(option)
        return option

    command.get_help_option = tidy_help_option
    for sub in getattr(command, "commands", {}).values():
        _tidy_help(sub)


def build_command():
    """The click command of :data:`app` with every command registered and the help tidied."""
    _register_commands()
    command = typer.main.get_command(app)
    _tidy_help(command)
    return command


def _no_args_help_error() -> tuple[type[BaseException], ...]:
    classes = []
    for module_name in ("typer._click.exceptions", "click.exceptions"):
        try:
            module = __import__(module_name, fromlist=["NoArgsIsHelpError"])
        except ImportError:
            continue
        candidate = getattr(module, "NoArgsIsHelpError", None)
        if isinstance(candidate, type):
            classes.append(candidate)
    return tuple(classes)


def main(argv: list[str] | None = None) -> None:
    """Run the command line; user errors end as one line on stderr and a non-zero status."""
    from .._errors import ArgumentError
    from .._registry import UnknownLossError

    from .compare_command import optional_value

    command = build_command()
    args = sys.argv[1:] if argv is None else list(argv)
    if args[:1] in (["compare"], ["recommend"]):
        args = optional_value(args, "--mlflow", "./mlruns")  # a bare --mlflow means the default store
    try:
        status = command.main(args=args, prog_name="losskit", standalone_mode=False)
    except _no_args_help_error() as exc:
        # Bare ``losskit``: Typer has printed the help, which is the answer, not an error.
        sys.exit(0)
    except _exit_classes("Exit") as exc:
        sys.exit(getattr(exc, "exit_code", 0))
    except (*_exit_classes("Abort"), KeyboardInterrupt):
        print("losskit: interrupted", file=sys.stderr)
        sys.exit(130)
    except _parser_errors() as exc:
        format_message = getattr(exc, "format_message", None)
        message = format_message() if callable(format_message) else str(exc)
        _fail(f"{message} (see 'losskit --help')", getattr(exc, "exit_code", 2) or 2)
    except UnknownLossError as exc:
        _fail(exc.message("`losskit list` lists every name"))
    except ArgumentError as exc:
        _fail(exc.render(flag_spelling))
    except (CLIError, ValueError, TypeError, OSError) as exc:
        _fail(str(exc) or type(exc).__name__)
    # Without standalone mode, Typer returns an Abort (Ctrl-C) as the status 130 instead of raising.
    if isinstance(status, int) and status:
        if status == 130:
            print("losskit: interrupted", file=sys.stderr)
        sys.exit(status)
