"""The course map (lmnotes.course.CHAPTERS) agrees with the notebooks that actually ship."""

from pathlib import Path

from lmnotes import course

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"


def test_every_shipped_notebook_is_on_the_map_and_marked_available():
    shipped = {p.name for p in NOTEBOOKS.glob("*.ipynb")}
    available = {nb["file"] for nb in course.course_notebooks(available_only=True)}
    assert shipped == available, (
        f"on disk but not marked available: {sorted(shipped - available)}; "
        f"marked available but missing: {sorted(available - shipped)}"
    )


def test_map_has_the_books_five_chapters_in_order_and_unique_files():
    numbers = [ch["number"] for ch in course.CHAPTERS]
    assert numbers == [0, 1, 2, 3, 4, 5]
    files = [nb["file"] for nb in course.course_notebooks()]
    assert len(files) == len(set(files))
    assert files == sorted(files), "notebook files should be numbered in course order"
