"""The course roster: who is in the class, in which role, and how the LMS knows them.

A CSV file with a header; only ``username`` and ``role`` are required::

    username,role,name,email,lms_id,sis_id,section
    ada,instructor,Ada Lovelace,ada@example.edu,,,
    bo,learner,Bo Chen,bo@example.edu,1042,S-2291,Monday lab

``username`` is the learner's account on the course machine (a Unix name) and their nbgrader student id;
``role`` is ``instructor``, ``ta`` or ``learner``; ``lms_id`` and ``sis_id`` are the LMS's own user id and
the institution's id, used by ``course export --lms``. Blank lines and lines starting with ``#`` are skipped.
Any error names the file and the line (:class:`~course_lib.exceptions.RosterError`).
"""
from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from pathlib import Path

from ..exceptions import RosterError

__all__ = ["COLUMNS", "ROLES", "Member", "Roster"]

COLUMNS = ("username", "role", "name", "email", "lms_id", "sis_id", "section")
ROLES = ("instructor", "ta", "learner")
# useradd's default NAME_REGEX, at most 32 characters (the Linux limit).
USERNAME = re.compile(r"[a-z_][a-z0-9_-]{0,31}")
RESERVED = {"root", "daemon", "bin", "sys", "sync", "nobody", "admin", "jupyterhub"}


@dataclass(frozen=True)
class Member:
    username: str
    role: str
    name: str = ""
    email: str = ""
    lms_id: str = ""
    sis_id: str = ""
    section: str = ""
    line: int = 0                       # where it was read, for messages

    @property
    def first_last(self) -> tuple[str, str]:
        """``name`` split at its last space (``"Bo Chen"`` -> ``("Bo", "Chen")``); the username if no name."""
        first, _, last = (self.name or self.username).rpartition(" ")
        return (first, last) if first else (last, "")


@dataclass(frozen=True)
class Roster:
    path: Path
    members: tuple[Member, ...]

    @property
    def learners(self) -> tuple[Member, ...]:
        return tuple(m for m in self.members if m.role == "learner")

    @property
    def staff(self) -> tuple[Member, ...]:
        """Instructors and TAs: they grade."""
        return tuple(m for m in self.members if m.role != "learner")

    def get(self, username: str) -> Member | None:
        return next((m for m in self.members if m.username == username), None)

    @classmethod
    def load(cls, path: str | Path) -> "Roster":
        """Read and check ``path``; raises :class:`RosterError` naming the first bad line."""
        path = Path(path)
        try:
            text = path.read_text(encoding="utf-8-sig")       # a BOM from a spreadsheet's "CSV UTF-8"
        except FileNotFoundError:
            raise RosterError(path, 0, "no such file") from None
        except UnicodeDecodeError as e:
            raise RosterError(path, 0, f"not UTF-8 text ({e.reason} at byte {e.start})") from None
        rows = [(n, line) for n, line in enumerate(text.splitlines(), 1)
                if line.strip() and not line.lstrip().startswith("#")]
        if not rows:
            raise RosterError(path, 0, "the file is empty")
        head_line, *body = rows
        header = [h.strip().lower() for h in next(csv.reader([head_line[1]]))]
        unknown = [h for h in header if h not in COLUMNS]
        if unknown:
            raise RosterError(path, head_line[0], f"unknown column(s) {unknown} in the header; columns are "
                                                  f"{', '.join(COLUMNS)}")
        for need in ("username", "role"):
            if need not in header:
                raise RosterError(path, head_line[0], f"the header has no '{need}' column")
        if len(set(header)) != len(header):
            raise RosterError(path, head_line[0], "a column appears twice in the header")
        members: list[Member] = []
        seen: dict[str, int] = {}
        for n, line in body:
            values = next(csv.reader([line]))
            if len(values) > len(header):
                raise RosterError(path, n, f"{len(values)} fields for {len(header)} columns (a comma inside a "
                                           "name needs quotes)")
            m = _member(dict(zip(header, (v.strip() for v in values))), path, n)
            if m.username in seen:
                raise RosterError(path, n, f"username {m.username!r} is already on line {seen[m.username]}")
            seen[m.username] = n
            members.append(m)
        if not members:
            raise RosterError(path, 0, "the roster has a header but no one in it")
        return cls(path, tuple(members))


def _member(row: dict[str, str], path: Path, n: int) -> Member:
    user, role = row.get("username", ""), row.get("role", "").lower()
    if not user:
        raise RosterError(path, n, "no username")
    if not USERNAME.fullmatch(user):
        raise RosterError(path, n, f"username {user!r} is not a valid account name (lower-case letters, digits, "
                                   "'_' and '-', starting with a letter or '_', at most 32 characters)")
    if user in RESERVED:
        raise RosterError(path, n, f"username {user!r} is a system account name; choose another")
    if role not in ROLES:
        raise RosterError(path, n, f"role {row.get('role', '')!r} of {user!r} is not one of {', '.join(ROLES)}")
    email = row.get("email", "")
    if email and not re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", email):
        raise RosterError(path, n, f"email {email!r} of {user!r} is not an address")
    return Member(user, role, row.get("name", ""), email, row.get("lms_id", ""), row.get("sis_id", ""),
                  row.get("section", ""), n)
