"""``popkin check`` through click's CliRunner and the real command group."""

import re

from click.testing import CliRunner

from popkin.cli import main

VALID = ("ID,TIME,AMT,DV,EVID,MDV,II,ADDL,WT\n"
         "1,0,100,.,1,1,12,3,70\n1,1,0,5.1,0,0,0,0,70\n1,13,0,4.2,0,0,0,0,70\n"
         "2,0,100,.,1,1,0,0,82\n2,0,0,0.9,0,0,0,0,82\n2,2,0,3.3,0,0,0,0,82\n")
LINE = re.compile(r"^row \d+, column \w+: ")


def run(*args):
    return CliRunner().invoke(main, ["check", *map(str, args)])


def test_valid_file_prints_summary_and_exits_0(tmp_path):
    path = tmp_path / "trial.csv"
    path.write_text(VALID)
    result = run(path)
    assert result.exit_code == 0, result.output
    out = result.output
    assert f"{path}: 2 subjects, 6 records" in out
    assert "doses: 5 (2 dose records, ADDL adds 3)" in out
    assert "observations: 4 fitted, 0 BLQ" in out
    assert "WT: 70 to 82, constant per subject" in out
    # the sample listed after a dose at the same time: a warning, still exit 0
    assert "row 5, column TIME: warning: an observation at TIME 0" in out
    assert out.rstrip().endswith("OK: no errors, 1 warning(s).")


def test_invalid_file_lists_every_problem_and_exits_2(tmp_path):
    bad = VALID.replace("1,1,0,5.1,0,0,0,0,70", "1,1,0,abc,0,0,0,0,70").replace(
        "2,0,100,.,1,1,0,0,82", "2,0,100,.,101,1,0,0,82").replace("1,13,0", "1,0.5,0")
    path = tmp_path / "bad.csv"
    path.write_text(bad)
    result = run(path)
    assert result.exit_code == 2
    lines = result.output.splitlines()
    errors = [line for line in lines if LINE.match(line) and "warning:" not in line]
    assert [line.split(":")[0] for line in errors] == ["row 2, column DV", "row 3, column TIME", "row 4, column EVID"]
    assert "'abc' is not a number" in errors[0]
    assert "3 error(s)" in lines[-1]
    assert "subjects" not in result.output  # no summary for unusable data


def test_translate_and_layout_options(tmp_path):
    path = tmp_path / "rx.csv"
    path.write_text("ID,TIME,DV,AMT,EVID,CMT\n1,0,.,100,101,1\n1,1,2.5,0,0,2\n")
    assert run(path).exit_code == 2
    result = run(path, "--translate", "rxode2-evid")
    assert result.exit_code == 0 and "translations: rxode2-evid (1 records)" in result.output
    path = tmp_path / "theoph.csv"
    path.write_text("Subject,Wt,Dose,Time,conc\n1,80,4,0.5,2.0\n1,80,4,2,6.0\n")
    result = run(path, "--layout", "theoph")
    assert result.exit_code == 0 and "layout: theoph" in result.output and "AMT 320" in result.output
    result = run(path)
    assert result.exit_code == 2 and "--layout theoph" in result.output


def test_compartments_and_log_dv_options(tmp_path):
    path = tmp_path / "c.csv"
    path.write_text("ID,TIME,AMT,DV,CMT\n1,0,100,.,1\n1,1,0,0,3\n")
    assert run(path).exit_code == 0
    result = run(path, "--compartments", "2", "--log-dv")
    assert result.exit_code == 2
    assert "row 2, column CMT: CMT 3 but the model has 2 compartment(s)" in result.output
    assert "row 2, column DV: DV 0 cannot be fitted with a log-scale error model" in result.output


def test_file_level_problems_exit_2_without_traceback(tmp_path):
    for content in (b"", b"\x00\x01\x02garbage" * 50, b"ID;TIME\n1;0\n"):
        path = tmp_path / "x.csv"
        path.write_bytes(content)
        result = run(path)
        assert result.exit_code == 2
        assert result.exception is None or isinstance(result.exception, SystemExit)
        assert result.output.startswith("dataset: ")
    result = run(tmp_path / "missing.csv")
    assert result.exit_code == 2 and "not found" in result.output
    assert "Traceback" not in result.output


def test_many_warnings_are_capped(tmp_path):
    rows = "".join(f"{i},0,10,.\n{i},0,0,1\n" for i in range(1, 61))  # 60 samples listed after their dose
    path = tmp_path / "w.csv"
    path.write_text("ID,TIME,AMT,DV\n" + rows)
    result = run(path)
    assert result.exit_code == 0 and "... and 10 more warnings (--all-warnings lists them)" in result.output
    assert result.output.count("warning: an observation") == 50
    assert run(path, "--all-warnings").output.count("warning: an observation") == 60
