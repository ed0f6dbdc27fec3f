"""``course export --lms``: the roster's checks, and grades from a real nbgrader gradebook in the columns that
Canvas's and Moodle's grade imports document."""
from __future__ import annotations

import csv
import datetime as dt
import io
from pathlib import Path

import pytest

from course_lib.classroom import lms_export
from course_lib.classroom.roster import Roster
from course_lib.cli.main import main as course_cli
from course_lib.exceptions import GradingError, RosterError

ROSTER = """username,role,name,email,lms_id,sis_id,section
# staff
ada,instructor,Ada Lovelace,ada@example.edu,,,
tim,ta,Tim Berners-Lee,tim@example.edu,,,

bo,learner,Bo Chen,bo@example.edu,1042,S-2291,Monday lab
cy,learner,"Cy de la Cruz",cy@example.edu,1043,S-2292,Tuesday lab
dee,learner,Dee,dee@example.edu,1044,,Monday lab
"""


def make_course(course: Path) -> Path:
    """A gradebook written with nbgrader's own API: a0 (10 points: 8 autograded, 2 manual) and a1 (5 points);
    bo graded in both, cy in a0 with the manual answer not graded yet, dee never submitted, zed graded
    but not on the roster."""
    from nbgrader.api import Gradebook

    course.mkdir(parents=True)
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        gb.add_assignment("a0", duedate=dt.datetime(2026, 11, 1))
        gb.add_notebook("a0", "a0")
        gb.add_grade_cell("t1", "a0", "a0", max_score=8, cell_type="code")
        gb.add_grade_cell("why", "a0", "a0", max_score=2, cell_type="markdown")
        gb.add_solution_cell("why", "a0", "a0")
        gb.add_assignment("a1")
        gb.add_notebook("a1", "a1")
        gb.add_grade_cell("t1", "a1", "a1", max_score=5, cell_type="code")
        for sid, a, auto, manual in [("bo", "a0", 8, 1.5), ("bo", "a1", 3.25, None), ("cy", "a0", 4, None),
                                     ("zed", "a0", 8, 2)]:
            gb.update_or_create_student(sid)
            gb.add_submission(a, sid, timestamp=dt.datetime(2026, 10, 30))
            gb.find_grade("t1", a, a, sid).auto_score = auto
            if a == "a0":
                g = gb.find_grade("why", a, a, sid)
                g.manual_score, g.needs_manual_grade = manual, manual is None
            gb.db.commit()
        gb.update_or_create_student("dee")
    return course


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    base = tmp_path_factory.mktemp("lms")
    (base / "roster.csv").write_text(ROSTER)
    return make_course(base / "course")


def rows(path: Path) -> list[list[str]]:
    return list(csv.reader(io.StringIO(path.read_text())))


def test_roster_reads_roles_and_lms_ids(course):
    r = Roster.load(course.parent / "roster.csv")
    assert [m.username for m in r.staff] == ["ada", "tim"] and [m.username for m in r.learners] == ["bo", "cy", "dee"]
    cy = r.get("cy")
    assert (cy.name, cy.lms_id, cy.sis_id, cy.section, cy.line) == ("Cy de la Cruz", "1043", "S-2292", "Tuesday lab", 7)
    assert cy.first_last == ("Cy de la", "Cruz") and r.get("nobody") is None


@pytest.mark.parametrize("text, line, problem", [
    ("username,role\nbo,learner\nbo,ta\n", 3, "already on line 2"),
    ("username,role\nbo,student\n", 2, "is not one of instructor, ta, learner"),
    ("username,role\nBo Chen,learner\n", 2, "not a valid account name"),
    ("username,role\nroot,instructor\n", 2, "system account"),
    ("username,role,phone\nbo,learner,1\n", 1, "unknown column"),
    ("username,name\nbo,Bo\n", 1, "no 'role' column"),
    ("username,role,name\nbo,learner,Chen, Bo\n", 2, "4 fields for 3 columns"),
    ("username,role,email\n\n# comment\nbo,learner,bo-at-example\n", 4, "is not an address"),
    ("username,role\n", 0, "no one in it"),
])
def test_malformed_roster_names_the_line(tmp_path, text, line, problem):
    p = tmp_path / "roster.csv"
    p.write_text(text)
    with pytest.raises(RosterError, match=problem) as e:
        Roster.load(p)
    assert (e.value.path, e.value.line) == (str(p), line)
    assert (f"line {line}:" in str(e.value)) == (line > 0) and "nothing was changed" in str(e.value)


def test_canvas_file_has_the_documented_columns_and_scores(course, tmp_path):
    out = tmp_path / "canvas.csv"
    assert course_cli(["export", "--lms", "canvas", "--roster", str(course.parent / "roster.csv"), "--course", str(course),
                   "-o", str(out), "a0", "a1"]) == 0
    head, points, *body = rows(out)
    assert head == [*lms_export.CANVAS_IDENTITY, "a0", "a1"] and points == ["Points Possible", "", "", "", "", "10", "5"]
    assert body == [["Bo Chen", "1042", "S-2291", "bo@example.edu", "Monday lab", "9.5", "3.25"],
                    ["Cy de la Cruz", "1043", "S-2292", "cy@example.edu", "Tuesday lab", "4", ""],
                    ["Dee", "1044", "", "dee@example.edu", "Monday lab", "", ""]]


def test_moodle_file_maps_by_email_and_id_number(course, tmp_path, capsys):
    out = tmp_path / "moodle.csv"
    assert course_cli(["export", "--lms", "moodle", "--roster", str(course.parent / "roster.csv"), "--course", str(course),
                   "-o", str(out), "a0"]) == 0
    head, *body = rows(out)
    assert head == [*lms_export.MOODLE_IDENTITY, "Assignment: a0 (Real)"]
    assert body[0] == ["Bo", "Chen", "S-2291", "", "Monday lab", "bo@example.edu", "9.5"]
    assert body[2] == ["Dee", "", "", "", "Monday lab", "dee@example.edu", ""]
    said = capsys.readouterr().out
    assert "3 learners, 2 scores" in said and "1 blank (no submission): dee/a0" in said
    assert "await manual grading" in said and "cy/a0" in said and "not on the roster: zed" in said


def test_plain_csv_totals_and_what_cannot_be_exported(course, tmp_path, capsys):
    roster = Roster.load(course.parent / "roster.csv")
    text = lms_export.render("csv", roster, lms_export.read_scores(course / "gradebook.db", ["a0", "a1"]))
    head, bo, cy, dee = csv.reader(io.StringIO(text))
    assert head[-6:] == ["a0", "a0 max", "a1", "a1 max", "total", "total max"]
    assert bo[-6:] == ["9.5", "10", "3.25", "5", "12.75", "15"] and dee[-2:] == ["", "15"]
    with pytest.raises(GradingError, match="no assignment 'a9'.*a0, a1"):
        lms_export.read_scores(course / "gradebook.db", ["a9"])
    bad = tmp_path / "roster.csv"
    bad.write_text("username,role,name\nbo,learner,Bo Chen\n")
    assert course_cli(["export", "--lms", "canvas", "--roster", str(bad), "--course", str(course), "-o",
                   str(tmp_path / "x.csv"), "a0"]) == 2
    assert "line 2: learner 'bo' has no lms_id, sis_id or email" in capsys.readouterr().err
    assert not (tmp_path / "x.csv").exists()
