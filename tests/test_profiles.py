"""Profiles: the papermill parameters per notebook, validated before anything runs."""
import pytest

from course_lib.exceptions import ProfileError
from course_lib.course.notebooks import discover
from course_lib.course.profiles import load_profile, profile_names

from factories import make_notebook


def test_every_shipped_profile_fits_every_notebook():
    assert {"smoke", "full"} <= set(profile_names())
    for name in profile_names():
        profile = load_profile(name)
        for nb in discover():
            profile.parameters_for(nb)      # raises on a parameter the notebook does not declare
        assert profile.offline, f"{name}: CI and the bundled default run offline"


def test_smoke_profile_covers_every_notebook():
    profile = load_profile("smoke")
    assert {nb.stem for nb in discover()} <= set(profile.notebooks)


def test_malformed_yaml_names_file_and_line(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("offline: true\nnotebooks:\n  00_setup: {fetch: [a, b}\n")
    with pytest.raises(ProfileError) as e:
        load_profile(str(bad))
    assert "bad.yaml:3" in str(e.value)


@pytest.mark.parametrize("text,needle", [
    ("timeout: -5\n", "positive number"),
    ("offlne: true\n", "unknown keys"),
    ("- a list\n", "expected a mapping"),
    ("notebooks:\n  x: 3\n", "notebook stem to a mapping"),
])
def test_invalid_profiles_say_what_is_wrong(tmp_path, text, needle):
    p = tmp_path / "p.yaml"
    p.write_text(text)
    with pytest.raises(ProfileError, match=needle):
        load_profile(str(p))


def test_unknown_profile_lists_the_known_ones():
    with pytest.raises(ProfileError, match="smoke"):
        load_profile("smok")


def test_parameter_typo_is_an_error_not_ignored(tmp_path):
    nb = make_notebook(tmp_path / "lesson.ipynb", "print(epochs)", parameters="epochs = 3")
    p = tmp_path / "p.yaml"
    p.write_text("notebooks:\n  lesson: {epoch: 1}\n")
    with pytest.raises(ProfileError, match="epoch"):
        load_profile(str(p)).parameters_for(nb)
    p.write_text("defaults: {epochs: 2, unrelated: 1}\n")
    assert load_profile(str(p)).parameters_for(nb) == {"epochs": 2}
