// Citation links are in-page anchors, but Gradio's page has <base href="./">, so following
// one would load a new URL whenever the address has a query string (and lose the chat).
// Scroll to the source in place instead, unfolding earlier answers' sources if needed.
document.addEventListener("click", (event) => {
  const link = event.target.closest && event.target.closest("a.qa-cite");
  if (!link) return;
  event.preventDefault();
  const source = document.getElementById((link.getAttribute("href") || "").slice(1));
  if (!source) return;
  const folded = source.closest("details");
  if (folded) folded.open = true;
  document.querySelectorAll(".qa-src.qa-focus").forEach((el) => el.classList.remove("qa-focus"));
  source.classList.add("qa-focus");
  source.scrollIntoView({ behavior: "smooth", block: "nearest" });
}, true);

// "Open document" links (#qa-doc-t<turn>-<n>) ask the server for the document view: the key
// goes to a hidden button's event, which reads it from window.__qaDocKey (ui/app.py).
document.addEventListener("click", (event) => {
  const link = event.target.closest && event.target.closest("a.qa-open");
  if (!link) return;
  event.preventDefault();
  const key = (link.getAttribute("href") || "").replace(/^#qa-doc-/, "");
  const button = document.getElementById("qa-open-doc");
  if (!key || !button) return;
  window.__qaDocKey = key;
  button.click();
}, true);

document.addEventListener("keydown", (event) => {
  if (event.key !== "Escape") return;
  const close = document.getElementById("qa-doc-close");
  if (close && close.offsetParent !== null) close.click();
});

// Hovering (or focusing) a citation marker shows its quote, copied from the sources panel
// entry the marker links to. Nodes are cloned from the page, never parsed from strings.
(() => {
  let pop = null;
  let hideTimer = null;
  const popover = () => {
    if (!pop) {
      pop = document.createElement("div");
      pop.className = "qa-popover";
      pop.setAttribute("role", "tooltip");
      pop.hidden = true;
      pop.addEventListener("mouseenter", () => clearTimeout(hideTimer));
      pop.addEventListener("mouseleave", () => hide());
      document.body.appendChild(pop);
    }
    return pop;
  };
  const hide = (delay = 120) => {
    clearTimeout(hideTimer);
    hideTimer = setTimeout(() => { if (pop) pop.hidden = true; }, delay);
  };
  const show = (link) => {
    const entry = document.getElementById((link.getAttribute("href") || "").slice(1));
    if (!entry) return;
    const p = popover();
    clearTimeout(hideTimer);
    p.replaceChildren();
    for (const sel of [".qa-src-title", ".qa-src-meta", ".qa-src-text, .qa-src-table"]) {
      const part = entry.querySelector(sel);
      if (!part) continue;
      const copy = part.cloneNode(true);
      copy.querySelectorAll(".qa-opener, a").forEach((a) => a.remove());
      p.appendChild(copy);
    }
    p.hidden = false;
    const r = link.getBoundingClientRect();
    const w = p.offsetWidth, h = p.offsetHeight;
    const left = Math.max(8, Math.min(r.left - 20, window.innerWidth - w - 8));
    const below = r.bottom + 6 + h < window.innerHeight;
    p.style.left = left + "px";
    p.style.top = (below ? r.bottom + 6 : Math.max(8, r.top - h - 6)) + "px";
  };
  const marker = (event) => event.target.closest && event.target.closest("#qa-chat a.qa-cite");
  document.addEventListener("mouseover", (event) => { const m = marker(event); if (m) show(m); });
  document.addEventListener("mouseout", (event) => { if (marker(event)) hide(); });
  document.addEventListener("focusin", (event) => { const m = marker(event); if (m) show(m); });
  document.addEventListener("focusout", (event) => { if (marker(event)) hide(0); });
  document.addEventListener("scroll", () => hide(0), true);
})();
