"""The frame every HTML report shares: doctype, head and the base style sheet.

The reports (sortbox.rule_report, sortbox.training_report) are single self-contained files,
so each carries its style sheet inline: the shared rules here, then the report's own.
"""

from __future__ import annotations

import html

#: Page, tables and cells as every report draws them.
BASE_CSS = """body { font-family: system-ui, sans-serif; margin: 2em; } table { border-collapse: collapse; }
td, th { border: 1px solid #ccc; padding: 3px 6px; vertical-align: top; font-size: 13px; }
th { background: #f0f0f0; } td.num { text-align: right; }"""


def page_head(title: str, css: str) -> str:
    """From `<!DOCTYPE html>` to `<body>` of a UTF-8 page titled `title` (escaped here): the base
    style sheet, then `css`, the report's own rules (later rules win where both set a property)."""
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>
{BASE_CSS}
{css.strip()}
</style></head><body>
"""
