"""docs/teaching.md, the instructors' guide, has a row for every notebook of the course map."""

import re
from pathlib import Path

from lmnotes import course

GUIDE = Path(__file__).resolve().parents[1] / "docs" / "teaching.md"


def _rows() -> dict[str, str]:
    """The guide's notebook table: notebook name -> its run-time cell."""
    return {m.group(1): m.group(2).strip() for m in re.finditer(r"^\| `(\d\d_\w+)` \|([^|]*)\|", GUIDE.read_text(), re.M)}


def test_every_notebook_of_the_course_map_has_a_row_in_the_teaching_guide():
    rows = _rows()
    for nb in course.course_notebooks():
        name = nb["file"].removesuffix(".ipynb")
        assert name in rows, f"docs/teaching.md has no row for {name}"
    assert list(rows) == [nb["file"].removesuffix(".ipynb") for nb in course.course_notebooks()], "in map order"
