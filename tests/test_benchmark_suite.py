"""The template's benchmark suite (benchmarks/suite.py): its figures, its table, and a quick run end to end."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import suite
from conftest import TEMPLATE, git_env
from figures import Figure, Row, Target, find_figure, parse_figures, render_table, summarise
from steps import StepFailed, clean_env, run

BAKED_PROJECT = TEMPLATE / "{{cookiecutter.project_slug}}" / "benchmarks" / "_project.py"


def load_baked_project() -> Any:
    """The bake's benchmarks/_project.py, unrendered (its one template line is a string constant)."""
    spec = importlib.util.spec_from_file_location("baked_project", BAKED_PROJECT)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def figure(name: str, median: float, unit: str = "s") -> Figure:
    return Figure(name, median, median, median, unit, 1)


def test_a_figure_is_the_median_min_and_max_of_its_samples() -> None:
    odd = summarise("bake", [3.0, 1.0, 2.0], "s")
    assert (odd.median, odd.low, odd.high, odd.runs) == (2.0, 1.0, 3.0, 3)
    even = summarise("bake", [1.0, 2.0, 3.0, 10.0], "s")
    assert (even.median, even.low, even.high) == (2.5, 1.0, 10.0)
    assert even.cell() == "2.50 s [1.00-10.00]"
    assert summarise("ratio", [0.25], "ratio").cell() == "0.25"


@pytest.mark.parametrize(("samples", "unit"), [([], "s"), ([1.0], "seconds")])
def test_a_figure_refuses_no_samples_or_an_unknown_unit(samples: list[float], unit: str) -> None:
    with pytest.raises(ValueError, match="figure 'x'"):
        summarise("x", samples, unit)


def test_the_bakes_report_prints_a_line_the_suite_reads_back(capsys: pytest.CaptureFixture[str]) -> None:
    """The contract between the bake's benchmarks and the suite: what `report` prints, `parse_figures` reads."""
    project = load_baked_project()
    project.report("slim run", [4.0, 2.0, 9.0], "s", scale=10, models=52)
    project.report("slim / full run", [0.2, 0.3], "ratio")
    printed = capsys.readouterr().out
    assert "slim run: 4.00 s [2.00-9.00], 3 runs, scale 10, models 52" in printed
    slim, ratio = parse_figures(printed)
    assert (slim.name, slim.median, slim.low, slim.high, slim.unit, slim.runs) == ("slim run", 4.0, 2.0, 9.0, "s", 3)
    assert slim.extra == {"scale": 10, "models": 52}
    assert (ratio.median, ratio.unit, ratio.runs) == (0.25, "ratio", 2)
    with pytest.raises(ValueError, match="no samples"):
        project.report("empty", [], "s")
    with pytest.raises(ValueError, match="unit 'GB'"):
        project.report("memory", [1.0], "GB")


def test_parsing_skips_other_lines_and_malformed_figures() -> None:
    output = "\n".join(
        [
            "a human line: 3.00 s",
            'BENCHMARK-JSON {"figure": "run", "median": 3, "min": 2, "max": 5, "unit": "s", "runs": 4}',
            "BENCHMARK-JSON {not json",
            'BENCHMARK-JSON {"figure": "no unit", "median": 3, "min": 2, "max": 5}',
            'BENCHMARK-JSON {"figure": "bad unit", "median": 3, "min": 2, "max": 5, "unit": "GB"}',
            'BENCHMARK-JSON {"figure": "text", "median": "fast", "min": 2, "max": 5, "unit": "s"}',
            'BENCHMARK-JSON ["a list"]',
            'BENCHMARK-JSON {"figure": "rss", "median": 400, "min": 390, "max": 410, "unit": "MiB", "scale": 10.0}',
        ]
    )
    figures = parse_figures(output)
    assert [(f.name, f.median, f.low, f.high, f.runs) for f in figures] == [
        ("run", 3, 2, 5, 4),
        ("rss", 400, 390, 410, 1),
    ]
    assert find_figure(figures, "rss", scale=10) is figures[1]
    assert find_figure(figures, "rss", scale=1) is None
    assert find_figure(figures, "run", scale=10) is None
    assert find_figure(figures, "missing") is None


def test_a_ratio_row_compares_medians_and_judges_the_target() -> None:
    met = Row("slim vs full", figure("slim run", 3.0), figure("full run", 12.0), "full run", Target("P2 ≤ 0.3", 0.3))
    assert met.ratio() == 0.25
    assert met.cells() == ("slim vs full", "3.00 s", "full run: 12.00 s", "0.25", "P2 ≤ 0.3", "yes")
    missed = Row("run vs dbt", figure("run", 11.0), figure("dbt build", 10.0), "dbt", Target("P3 ≤ 1.05", 1.05))
    assert missed.cells()[3:] == ("1.10", "P3 ≤ 1.05", "no")
    at_the_limit = Row("run vs dbt", figure("run", 10.5), figure("dbt build", 10.0), "dbt", Target("P3", 1.05))
    assert at_the_limit.met() == "yes"


def test_a_row_without_comparison_judges_its_own_figure() -> None:
    target = Target("P1 ≤ 120 s", 120, of="ours")
    assert Row("nox", figure("nox", 119.0), target=target).met() == "yes"
    assert Row("nox", figure("nox", 121.0), target=target).met() == "no"
    assert Row("pre-commit", figure("pre-commit", 1.0)).cells()[3:] == ("", "", "")


def test_a_row_not_measured_says_why_and_judges_nothing() -> None:
    row = Row("run vs dbt", against="bare `dbt build`", target=Target("P3 ≤ 1.05", 1.05), missing="no script")
    assert row.cells() == ("run vs dbt", "not measured: no script", "bare `dbt build`", "", "P3 ≤ 1.05", "n/a")


def test_the_table_has_one_line_per_row_escapes_pipes_and_lists_notes() -> None:
    rows = [Row("a", figure("a", 1.0)), Row("b", missing="`x | y` exited 1")]
    table = render_table(rows, ["measured here"])
    lines = table.splitlines()
    assert lines[0] == "| figure | ours (median [min-max]) | compared with | ratio | target | met? |"
    assert lines[1] == "|---|---|---|---|---|---|"
    assert lines[2] == "| a | 1.00 s |  |  |  |  |"
    assert lines[3] == "| b | not measured: `x \\| y` exited 1 |  |  |  |  |"
    assert lines[4:] == ["", "- measured here"]
    assert all(line.count("|") - line.count("\\|") == 7 for line in lines[:4])


def test_a_row_reads_its_figures_from_the_benchmarks_output() -> None:
    spec = suite.Baked("slim vs full", "slim", "slim_ci", (), "slim run", "full run", "full run", suite.P2)
    output = (
        'BENCHMARK-JSON {"figure": "full run", "median": 10, "min": 9, "max": 12, "unit": "s"}\n'
        'BENCHMARK-JSON {"figure": "slim run", "median": 2, "min": 2, "max": 3, "unit": "s"}\n'
    )
    row = suite.row_from_output(spec, output)
    assert row.ratio() == 0.2
    assert row.met() == "yes"
    half = suite.row_from_output(spec, output.splitlines()[0])
    assert half.missing == "slim_ci.py printed no figure 'slim run'"
    failed = suite.row_from_output(spec, StepFailed("the bake has no benchmarks/slim_ci.py"))
    assert failed.cells()[1] == "not measured: the bake has no benchmarks/slim_ci.py"


def test_a_row_at_one_scale_takes_that_scales_figure() -> None:
    spec = suite.Baked("generate, scale 10", "generate", "generate", (), "generate", match={"scale": 10})
    output = (
        'BENCHMARK-JSON {"figure": "generate", "median": 1, "min": 1, "max": 1, "unit": "s", "scale": 1}\n'
        'BENCHMARK-JSON {"figure": "generate", "median": 9, "min": 9, "max": 9, "unit": "s", "scale": 10}\n'
    )
    assert suite.row_from_output(spec, output).cells()[1] == "9.00 s"
    unlabelled = 'BENCHMARK-JSON {"figure": "generate", "median": 7, "min": 7, "max": 7, "unit": "s"}\n'
    assert suite.row_from_output(spec, unlabelled).cells()[1] == "7.00 s"
    other_scale = output.splitlines()[0]
    assert suite.row_from_output(spec, other_scale).missing == "generate.py printed no figure 'generate', scale 10"


def test_a_missing_baked_script_leaves_its_rows_not_measured(tmp_path: Path) -> None:
    specs = suite.baked_rows()
    rows = suite.measure_baked(tmp_path, specs, tmp_path / "scratch", 1, ["slim", "fanout"], max_scale=10)
    by_label = {row.label: row for row in rows}
    assert len(by_label) == len(specs)
    assert by_label["generate, scale 0.1"].missing == "the bake has no benchmarks/generate.py"
    assert (
        by_label["`run` vs bare `dbt build`, committed sample"].missing == "the bake has no benchmarks/run_overhead.py"
    )
    assert by_label["slim vs full CI run, the example, one mart changed"].missing.startswith("skipped")
    assert by_label["generate, scale 100"].missing == "skipped: needs --scale-100"


def test_quick_runs_each_figure_once_at_the_smallest_scale_without_nox() -> None:
    args = suite.parse_args(["--quick", "--skip", "pre-commit"])
    assert (args.repeat, args.max_scale, args.run_scale) == (1, 0.1, 0.1)
    assert set(args.skip) == {"pre-commit", *suite.QUICK_SKIPS}
    assert "cold" in suite.QUICK_SKIPS
    assert (suite.parse_args([]).repeat, suite.parse_args([]).max_scale, suite.parse_args([]).run_scale) == (3, 10, 10)
    assert suite.parse_args(["--scale-100"]).max_scale == 100


def test_a_failed_step_is_one_line_naming_the_command_and_its_last_words() -> None:
    seconds, printed = run([sys.executable, "-c", "print('figures')"])
    assert printed == "figures\n"
    assert seconds > 0
    with pytest.raises(StepFailed) as failed:
        run([sys.executable, "-c", "import sys; print('first'); sys.exit('the last words')"])
    assert str(failed.value).endswith("exited 1: the last words")
    assert "\n" not in str(failed.value)
    with pytest.raises(StepFailed) as failed:
        run([sys.executable, "-c", "import sys; print('the reason'); print('nox > Session x failed.'); sys.exit(1)"])
    assert str(failed.value).endswith("exited 1: the reason")
    with pytest.raises(StepFailed, match="could not start"):
        run(["/nonexistent/tool", "--version"])


def test_commands_in_a_bake_get_their_own_temp_folder_and_none_of_the_sessions_variables(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("VIRTUAL_ENV", "UV_PROJECT_ENVIRONMENT", "UV_PYTHON", "CI"):
        monkeypatch.setenv(name, "set")
    env = clean_env(tmp_path, UV_CACHE_DIR="cache")
    assert not {"VIRTUAL_ENV", "UV_PROJECT_ENVIRONMENT", "UV_PYTHON", "CI"} & set(env)
    assert env["TMPDIR"] == str(tmp_path / "tmp")
    assert (tmp_path / "tmp").is_dir()
    assert env["UV_CACHE_DIR"] == "cache"


@pytest.mark.slow
def test_a_quick_run_writes_the_table_with_every_row(tmp_path: Path) -> None:
    """`suite.py --quick` end to end: it bakes, runs what it can, and writes every row (measured or why not)."""
    output = tmp_path / "results.md"
    result = subprocess.run(
        [sys.executable, str(TEMPLATE / "benchmarks" / "suite.py"), "--quick", "--output", str(output)],
        capture_output=True,
        text=True,
        check=False,
        env=git_env(),
        timeout=900,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert f"wrote {output}" in result.stdout
    table = output.read_text(encoding="utf-8")
    assert table in result.stdout
    labels = [
        suite.BAKE_LABEL,
        suite.COLD_LABEL,
        suite.WARM_LABEL,
        suite.PRE_COMMIT_LABEL,
        *(spec.label for spec in suite.baked_rows(0.1, 0.1)),
    ]
    rows = [line for line in table.splitlines() if line.startswith("| ") and not line.startswith("| figure")]
    assert len(rows) == len(labels)
    for label in labels:
        assert any(row.startswith(f"| {label} |") for row in rows), label
    bake = next(row for row in rows if row.startswith("| bake"))
    assert "not measured" not in bake.split("|")[2], bake
    assert " s" in bake.split("|")[2]
    cold = next(row for row in rows if row.startswith("| first `nox`"))
    assert "skipped" in cold


def test_skipping_the_bake_row_still_bakes_once_to_measure_in(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`--skip bake` makes one untimed bake of ours and no ccds bake: no comparison, and no error for its absence."""
    baked: list[Path] = []

    def bake_ours(template: Path, folder: Path, env: dict[str, str]) -> tuple[float, Path]:
        baked.append(folder)
        return 1.5, folder / "project"

    def bake_ccds(*_: object) -> float:
        raise AssertionError("ccds is not baked when the bake row is skipped")

    monkeypatch.setattr(suite, "bake_ours", bake_ours)
    monkeypatch.setattr(suite, "bake_ccds", bake_ccds)
    row, project = suite.measure_bake(tmp_path, tmp_path / "scratch", 1, None, with_ccds=False)
    assert project == baked[0] / "project"
    assert row.ours is not None
    assert row.compared is None
    assert not row.missing
