import course_lib


def test_all_lists_exactly_the_public_names():
    public = {n for n in dir(course_lib) if not n.startswith("_") or n == "__version__"}
    modules = {n for n in public if type(getattr(course_lib, n)).__name__ == "module"}
    assert set(course_lib.__all__) == public - modules


def test_every_error_derives_from_course_error():
    from course_lib import exceptions

    for name in exceptions.__all__:
        assert issubclass(getattr(exceptions, name), exceptions.CourseError), name
