"""MkDocs hooks: the README is the site's home page, and links keep working on GitHub and in the site.

On GitHub the README links `docs/<page>.md` and the pages link `../README.md`. The site is built from
`docs/` alone, so the README is added as `index.md` with its `docs/` prefix dropped, and the pages'
links to the README point at `index.md`. The files in the repository stay as they are.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from mkdocs.structure.files import File, Files

README = Path(__file__).resolve().parents[1] / "README.md"


def on_files(files: Files, config: Any) -> Files:
    home = re.sub(r"\]\(docs/", "](", README.read_text(encoding="utf-8"))
    files.append(File.generated(config, "index.md", content=home))
    return files


def on_page_markdown(markdown: str, page: Any, config: Any, files: Files) -> str:
    return re.sub(r"\]\(\.\./README\.md", "](index.md", markdown)
