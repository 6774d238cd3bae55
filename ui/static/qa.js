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
