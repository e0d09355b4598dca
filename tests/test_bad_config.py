"""One line, exit code 2, nothing written: a malformed --config, an absurd budget, a parameter out of range."""

import pytest

from csslab.cli.main import main


@pytest.mark.parametrize("content, needle", [
    ("method: [unclosed\n", "is not valid YAML: expected ',' or ']'"),
    ("- 1\n- 2\n", "holds a YAML list, expected a mapping"),
    ("42\n", "holds a YAML int, expected a mapping"),
])
def test_a_malformed_config_file_is_one_line(tmp_path, capsys, content, needle):
    config = tmp_path / "c.yaml"
    config.write_text(content)
    assert main(["run", "--config", str(config), "--out", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    assert needle in err and str(config) in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "r").exists()


def test_a_directory_as_config_is_named(tmp_path, capsys):
    assert main(["run", "--config", str(tmp_path), "--out", str(tmp_path / "r")]) == 2
    assert "invalid --config" in capsys.readouterr().err and not (tmp_path / "r").exists()


@pytest.mark.parametrize("args, needle", [
    (["--steps", "99999999999999999999"], "invalid steps 99999999999999999999 (train.steps): must be a number of "
                                          "steps per task in 1..10,000,000"),
    (["--method", "ssul", "--set", "params.pseudo_threshold=2"], "invalid params.pseudo_threshold=2.0 for method "
                                                                 "ssul: must be in [0, 1]"),
    (["--method", "lwf", "--set", "params.lam=-1"], "invalid params.lam=-1.0 for method lwf: must be >= 0"),
    (["--method", "replay", "--set", "params.refresh_threshold=1.5"], "must be in [0, 1]"),
])
def test_out_of_range_values_are_refused_before_anything_is_written(tmp_path, capsys, args, needle):
    assert main(["run", "--out", str(tmp_path / "r"), *args]) == 2
    err = capsys.readouterr().err
    assert needle in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "r").exists()


def test_the_python_api_refuses_the_same_parameter():
    import csslab

    with pytest.raises(ValueError, match=r"invalid params.pseudo_threshold=2.0 for method ssul"):
        csslab.run(method="ssul", pseudo_threshold=2)
