"""What every page of one site build shares: its folder, its templates, its colours, how a page
is written (links relative to the page, so the site opens from ``file://`` at any depth)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ucdbench.reporting.charts import MethodColours

TEMPLATES = Path(__file__).parent.parent / "templates"
"""The Jinja templates of every page (``ucdbench.reporting``'s package data)."""


@dataclass(frozen=True)
class Site:
    """One build: its folder, the results folder its records' files come from (None: none),
    its templates, its method colours and when it was generated."""

    out: Path
    results: Path | None
    environment: Any
    colours: MethodColours
    generated: str

    def render(self, template: str, page: str, **context: Any) -> Path:
        """Write ``page`` (a path under the site, ``runs/KEY.html``) from ``template``; every
        template gets ``root``, the way back to the site's top folder (``""``, ``"../"``), so
        its links work from any folder, and ``generated``."""
        path = self.out / page
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(self.environment.get_template(template).render(
            root="../" * page.count("/"), generated=self.generated, **context))
        return path


def inline_markdown(text: str) -> Any:
    """The little markdown leaderboard prose uses (`code`, **bold**), as safe HTML."""
    from markupsafe import Markup, escape

    html = str(escape(text))
    html = re.sub(r"\*\*(.+?)\*\*", r"<strong>\1</strong>", html)
    return Markup(re.sub(r"`(.+?)`", r"<code>\1</code>", html))

