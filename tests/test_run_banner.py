"""The banner at the top of each lesson: full run, reduced run, or changed run, from the real profiles."""
import pytest

from course_lib.exceptions import ProfileError
from course_lib.course.notebooks import discover
from course_lib.course.profiles import load_profile
from course_lib.run_banner import banner, differences, full_parameters

LESSON = "01_hub_transfer_learning"


def path_of(stem):
    return next(p for p in discover() if p.stem == stem)


def test_full_parameters_are_the_profile_over_the_notebook_defaults():
    ref = full_parameters(LESSON)
    assert ref["epochs"] == load_profile("full").notebooks[LESSON]["epochs"]
    assert ref["export_variants"] == ["float32", "dynamic_range", "float16", "int8"]   # a default full.yaml leaves alone
    assert ref["limit_per_class"] is None


def test_a_full_run_says_so():
    assert banner(LESSON, full_parameters(LESSON)).startswith("FULL RUN")


@pytest.mark.parametrize("stem", [p.stem for p in discover() if p.parent.name == "notebooks"])
def test_every_lesson_in_the_smoke_profile_is_a_reduced_run(stem):
    values = {**full_parameters(stem), **load_profile("smoke").parameters_for(path_of(stem))}
    line = banner(stem, values)
    if differences(stem, values):
        assert line.startswith("*** REDUCED RUN ***"), line
        for name, (value, ref) in differences(stem, values).items():
            assert f"{name}={value!r} (full: {ref!r})" in line
    else:
        assert line.startswith("FULL RUN"), line


def test_smoke_lesson_one_names_its_cuts():
    values = {**full_parameters(LESSON), **load_profile("smoke").parameters_for(path_of(LESSON))}
    diff = differences(LESSON, values)
    assert diff["epochs"] == (1, 6) and diff["limit_per_class"] == (32, None)


def test_a_changed_but_not_smaller_run_is_called_changed():
    values = {**full_parameters(LESSON), "data_source": "tree-patches", "fine_tune_epochs": 30}
    line = banner(LESSON, values)
    assert line.startswith("*** CHANGED RUN ***") and "data_source='tree-patches'" in line


def test_unknown_notebook_is_an_error_that_names_it():
    with pytest.raises(ProfileError, match="09_nothing"):
        banner("09_nothing", {})
