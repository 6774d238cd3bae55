"""Small browser-side functions for Gradio events (``js=``): clipboard, export, document view.

The page-wide handlers (citation clicks, hover quotes, "Open document") are in static/qa.js.
"""

from __future__ import annotations


def copy(elem_id: str) -> str:
    """Copy the input Markdown to the clipboard and say so on the button."""
    return f"""(md) => {{
  const b = document.getElementById({elem_id!r});
  const say = (t) => {{ if (!b) return; const o = b.dataset.label || b.textContent;
    b.dataset.label = o; b.textContent = t; setTimeout(() => {{ b.textContent = o; }}, 1600); }};
  if (!md) {{ say('Nothing to copy yet'); return []; }}
  navigator.clipboard.writeText(md).then(() => say('Copied ✓'), () => say('Copy failed'));
  return [];
}}"""


EXPORT = """(md) => {
  if (!md) return [];
  const a = document.createElement('a');
  a.href = URL.createObjectURL(new Blob([md], {type: 'text/markdown'}));
  a.download = 'qa-conversation-' + new Date().toISOString().slice(0, 16).replace(/[:T]/g, '-') + '.md';
  document.body.appendChild(a); a.click(); a.remove();
  setTimeout(() => URL.revokeObjectURL(a.href), 2000);
  return [];
}"""


OPEN_KEY = "(key) => window.__qaDocKey || key"
SCROLL_TO_MARK = """() => {
  const go = (tries) => {
    const mark = document.getElementById('qa-doc-mark');
    const drawer = document.getElementById('qa-doc-drawer');
    if (mark && drawer) {  // scroll the drawer only, never the page behind it
      const top = mark.getBoundingClientRect().top - drawer.getBoundingClientRect().top;
      drawer.scrollTop += top - drawer.clientHeight / 3;
      return;
    }
    if (tries > 0) setTimeout(() => go(tries - 1), 60);
  };
  go(20);
  return [];
}"""
