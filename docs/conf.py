"""The book: the reference pages of docs/ and the executed notebooks, built by Sphinx with MyST-NB and the book theme.

The source directory is the repository (``make docs`` runs ``sphinx-build -c docs . docs/_build/html``), so that
notebooks/ and figures/ lie inside it; only docs/ and the notebooks are read. The front page (docs/index.md) is the
README. The notebooks are shown as committed, with their outputs, and never executed here (``make test`` executes
them).
"""

from pathlib import Path

project = "minigrpo"
author = "the minigrpo authors"
root_doc = "docs/index"
include_patterns = ["docs/**", "notebooks/*.ipynb"]
exclude_patterns = ["docs/_build", "docs/_build/**", "**/.ipynb_checkpoints"]

extensions = ["myst_nb"]
nb_execution_mode = "off"
myst_enable_extensions = ["dollarmath", "amsmath"]
myst_heading_anchors = 3  # README and page links may point at a section: commands.md#running-on-a-gpu

html_theme = "sphinx_book_theme"
html_title = "minigrpo"
html_theme_options = {"show_toc_level": 2}


def _front_door(app, error):
    """The front page is docs/index.html; index.html at the top of the build sends the browser there."""
    if error is None and app.builder.format == "html":
        Path(app.outdir, "index.html").write_text(
            '<!DOCTYPE html>\n<meta http-equiv="refresh" content="0; url=docs/index.html">\n'
            '<a href="docs/index.html">minigrpo</a>\n')


def setup(app):
    app.connect("build-finished", _front_door)
