// What a reader of one page of the book sees, measured in the browser (tests/test_book.py).
// Returns lists of offenders; each must be empty. Runs after MathJax has typeset the page.
const main = document.querySelector("main") || document.body;
const visible = (el) => el.offsetParent !== null && !el.closest("details:not([open])");
const where = (el) => {
  const head = [...document.querySelectorAll("h1, h2, h3")].filter(
    (h) => h.compareDocumentPosition(el) & Node.DOCUMENT_POSITION_FOLLOWING).pop();
  return (head ? head.textContent.replace("#", "").trim() : "top").slice(0, 50);
};
const snippet = (el) => el.textContent.trim().replace(/\s+/g, " ").slice(0, 70);

// 1. Code cells and output blocks that scroll sideways (measured on every block, open or not:
//    a closed solution scrolls as soon as it is opened).
const wide_code = [...main.querySelectorAll("pre")]
  .filter((pre) => pre.scrollWidth > pre.clientWidth + 1)
  .map((pre) => `${where(pre)}: ${pre.scrollWidth}px in ${pre.clientWidth}px: ${snippet(pre)}`);

// 2. Display equations wider than their column.
const wide_math = [...main.querySelectorAll('mjx-container[display="true"]')]
  .filter((m) => {
    const math = m.querySelector("mjx-math");
    const column = m.closest(".math-wrapper, .math, div") || m.parentElement;
    return math && math.getBoundingClientRect().width > Math.min(m.clientWidth, column.clientWidth) + 1;
  })
  .map((m) => {
    const item = window.MathJax && MathJax.startup.document.getMathItemsWithin(m)[0];
    const tex = item ? item.math.trim().replace(/\s+/g, " ").slice(0, 60) : "";
    return `${where(m)}: ${Math.round(m.querySelector("mjx-math").getBoundingClientRect().width)}px`
      + ` in ${m.clientWidth}px: ${tex}`;
  });

// 3. Output images shown below 85 % of their natural width (figures are drawn at 100 dpi
//    with fonts of at least 8 pt, tests/test_repository.py, so text stays above 9 px on the
//    page), and images that did not load.
const images = [...main.querySelectorAll("img")];
const broken = images.filter((i) => !(i.complete && i.naturalWidth > 0)).map((i) => i.src.slice(0, 80));
const shrunk = images
  .filter((i) => i.closest(".cell_output, .output") && visible(i) && i.naturalWidth > 0)
  .filter((i) => i.clientWidth < 0.85 * i.naturalWidth)
  .map((i) => `${where(i)}: ${i.clientWidth}px of ${i.naturalWidth}px`);

// 4. Raw MyST or LaTeX left in what the page shows.
const text = main.innerText;
const raw_patterns = [/\{(cite|cite:t|cite:p|eq|doc|ref|prf:ref|numref|glue|glue:text|glue:md)\}`/,
  /^(```|:::)\{?\w/m, /\$\$/, /\\(frac|mathbf|begin|end|bar|tilde|sqrt|alpha|beta)\b/,
  /\(eq-\d\d-[\w-]+\)/, /\beq-\d\d-[\w-]+/];
const raw = [];
for (const node of [...main.querySelectorAll("p, li, td, th, h1, h2, h3, h4, pre")]) {
  if (!visible(node) || node.closest("mjx-container")) continue;
  const own = node.innerText;
  // Code may hold TeX in strings (plot labels); in code only raw equation labels count.
  for (const pattern of node.tagName === "PRE" ? raw_patterns.slice(-1) : raw_patterns) {
    const m = own.match(pattern);
    if (m) raw.push(`${where(node)}: ${JSON.stringify(m[0])} in ${snippet(node)}`);
  }
}

// 5. Code that runs a worked answer, visible outside a closed solution or a hidden cell.
// (A cell that only shows a slip failing, `assert not ...check(...)`, gives nothing away.)
const answers = [...main.querySelectorAll(".cell_input pre")]
  .filter((pre) => visible(pre) && /^\s*assert\s+(?!not\b)\S*exercises\.check\(/m.test(pre.textContent))
  .filter((pre) => /^(def |[A-Za-z_]\w* = )/m.test(pre.textContent))
  .map((pre) => `${where(pre)}: ${snippet(pre)}`);

return {wide_code, wide_math, shrunk, broken, raw: [...new Set(raw)], answers,
        page_scrolls: document.documentElement.scrollWidth > document.documentElement.clientWidth + 1,
        typeset: document.querySelectorAll("mjx-container").length, images: images.length};
