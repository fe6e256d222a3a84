"""Every error path of ``losskit list / show / plot / recommend / conformance`` speaks in flags.

Each bad input goes through ``losskit.cli.main`` (what the console script calls) and must end
as exit status 2 and one line on stderr, ``losskit: error: ...``, that names the flag the user
typed (``--task``, ``--need``), offers the closest name for a typo, and never shows a traceback,
a Python keyword (``task=``, ``device='cpu'``) or a Python call (``losskit.names()``).
"""

import re
import subprocess

import pytest

from losskit.cli import main

PYTHON_SPELLING = re.compile(
    r"\b(task|need|csv|target|outliers|output_activation|imbalance|framework|frameworks|device|dataset|losses)="
)


@pytest.fixture
def run_main(capsys, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("COLUMNS", "100")

    def call(*args):
        try:
            main(list(args))
            code = 0
        except SystemExit as exit_:
            code = exit_.code
        out, err = capsys.readouterr()
        return subprocess.CompletedProcess(args, code, out, err)

    return call


def assert_cli_error(result, fragments):
    assert result.returncode == 2, (result.returncode, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    line = lines[0]
    assert line.startswith("losskit: error: ")
    assert "Traceback" not in result.stderr
    assert not PYTHON_SPELLING.search(line), line
    assert "losskit.names()" not in line and "names()" not in line
    for fragment in fragments:
        assert fragment in line, (fragment, line)


THREE_CLASSES = "y\n" + "".join(f"{i % 3}\n" for i in range(30))
TEXT_LABELS = "y\n" + "".join(f"{'ab'[i % 2]}\n" for i in range(30))

CASES = {
    # name: (csv text or None, argv, fragments the one line must hold)
    "list-unknown-task": (None, ["list", "--task", "ranking"], ["--task", "must be one of", "regression"]),
    "list-task-typo": (None, ["list", "--task", "regresion"], ["--task", "did you mean regression"]),
    "list-unknown-option": (None, ["list", "--bogus"], ["--bogus"]),
    "show-unknown-loss": (None, ["show", "hubr"], ["unknown loss 'hubr'", "did you mean", "huber", "losskit list"]),
    "show-missing-name": (None, ["show"], ["Missing argument", "NAME"]),
    "show-extra-argument": (None, ["show", "huber", "mse"], ["unexpected extra argument"]),
    "plot-unknown-loss": (None, ["plot", "hubr"], ["did you mean", "huber"]),
    "plot-bad-range": (None, ["plot", "huber", "--range", "a", "3"], ["--range"]),
    "plot-bad-out": (None, ["plot", "huber", "--out", "plot.jpg"], ["--out"]),
    "recommend-need-typo": (None, ["recommend", "--need", "quantile"], ["--need", "did you mean quantiles"]),
    "recommend-outliers": (None, ["recommend", "--task", "regression", "--outliers", "lots"], ["--outliers", "none, some, heavy"]),
    "recommend-activation-typo": (None, ["recommend", "--task", "binary", "--output-activation", "sigmod"],
                                  ["--output-activation", "did you mean sigmoid"]),
    "recommend-softmax-regression": (None, ["recommend", "--task", "regression", "--output-activation", "softmax"],
                                     ["--output-activation softmax", "--task regression"]),
    "recommend-no-task": (None, ["recommend"], ["--task regression", "--csv", "--target"]),
    "recommend-need-vs-task": (None, ["recommend", "--task", "binary", "--need", "quantiles"], ["--need quantiles"]),
    "recommend-text-for-regression": (TEXT_LABELS, ["recommend", "--task", "regression", "--csv", "d.csv", "--target", "y"],
                                      ["--task binary"]),
    "recommend-three-classes-binary": (THREE_CLASSES, ["recommend", "--task", "binary", "--csv", "d.csv", "--target", "y"],
                                       ["--task multiclass"]),
    "recommend-top-zero": (None, ["recommend", "--task", "binary", "--top", "0"], ["--top"]),
    "recommend-top-text": (None, ["recommend", "--task", "binary", "--top", "x"], ["--top"]),
    "recommend-csv-without-target": ("y\n1\n2\n", ["recommend", "--csv", "d.csv"], ["--csv", "--target"]),
    "recommend-missing-csv": (None, ["recommend", "--csv", "nope.csv", "--target", "y"], ["does not exist"]),
    "conformance-framework-typo": (None, ["conformance", "--framework", "pytorh"], ["--framework", "did you mean", "torch"]),
    "conformance-empty-framework": (None, ["conformance", "--framework", ","], ["--framework"]),
    "conformance-two-formats": (None, ["conformance", "--json", "--markdown"], ["--json", "--markdown"]),
}


@pytest.mark.parametrize("case", list(CASES))
def test_cli_error_names_the_flag_in_one_line(run_main, tmp_path, case):
    csv_text, argv, fragments = CASES[case]
    if csv_text is not None:
        (tmp_path / "d.csv").write_text(csv_text)
    assert_cli_error(run_main(*argv), fragments)


def test_an_unknown_loss_from_the_python_api_is_spelled_for_the_shell(run_main, monkeypatch):
    """``lk.get``'s message names ``losskit.names()``; through the CLI it names ``losskit list``."""
    import losskit as lk
    from losskit.cli import catalog_commands

    with pytest.raises(ValueError, match=r"unknown loss 'hubr'.*did you mean.*'huber'.*losskit\.names\(\)"):
        lk.get("hubr")
    monkeypatch.setattr(catalog_commands, "_get_loss", lk.get)  # the API's error, untranslated by the command
    assert_cli_error(run_main("show", "hubr"), ["unknown loss 'hubr'", "'huber'", "`losskit list`"])


def test_argument_errors_are_rendered_as_flags(run_main, monkeypatch):
    from losskit._errors import ArgumentError
    from losskit.cli import catalog_commands

    def fail(*args, **kwargs):
        raise ArgumentError("pass {csv} a file or {device:cpu}; {output_activation:softmax} does not fit")

    monkeypatch.setattr(catalog_commands.lk, "catalog", fail)
    assert_cli_error(run_main("list"), ["pass --csv a file or --device cpu; --output-activation softmax does not fit"])


def test_bare_losskit_prints_help_and_succeeds(run_main):
    result = run_main()
    assert result.returncode == 0 and "Usage: losskit" in result.stdout and "Commands" in result.stdout
    assert "error" not in result.stderr


def test_version(run_main):
    import losskit as lk

    result = run_main("--version")
    assert result.returncode == 0 and result.stdout.strip() == f"losskit {lk.__version__}"


@pytest.mark.parametrize("command", [[], ["list"], ["show"], ["plot"], ["recommend"], ["compare"], ["conformance"]])
def test_help_has_no_type_noise(run_main, command):
    result = run_main(*command, "--help")
    assert result.returncode == 0
    assert not re.search(r"<(bool|str|int|float|list\[str\]|str,str)>", result.stdout), result.stdout
    assert "--help" in result.stdout
