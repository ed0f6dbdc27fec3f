"""nbgrader configuration of the instructor's course: run nbgrader from the repository root.

    nbgrader generate_assignment a0_warmup      # writes assignments/release/a0_warmup/
    nbgrader autograde a0_warmup                # grades assignments/submitted/<student>/a0_warmup/
    nbgrader formgrader / course lab --instructor

The kit's own checks (`course samples`, `course run`) grade a copy under build/nbgrader/ instead,
so they never touch this gradebook.
"""
import os

c = get_config()  # noqa: F821 - provided by nbgrader
c.CourseDirectory.course_id = "tf-on-device"
c.CourseDirectory.root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "assignments")
# TensorFlow cells can be slow on a laptop; nbgrader's default (30 s) would fail correct work.
c.Execute.timeout = 300
c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}
