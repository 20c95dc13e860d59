// A virtual list: only the rows in (and just around) the viewport exist in the DOM, so a
// 10,000-span trace costs as much to scroll as a 50-span one. Rows have one fixed height;
// a spacer gives the scrollbar the full length.

import { h } from "./dom.js";

const OVERSCAN = 12;

/**
 * virtualList(viewport, rowHeight, renderRow) -> {setCount, refresh, scrollToIndex}
 * renderRow(index) returns an element; the list positions it absolutely.
 */
export function virtualList(viewport, rowHeight, renderRow) {
  const spacer = h("div", { class: "vlist-spacer" });
  viewport.classList.add("vlist");
  viewport.append(spacer);
  let count = 0;
  let frame = 0;
  let drawn = { first: -1, last: -1 };

  function draw(force) {
    frame = 0;
    const top = viewport.scrollTop;
    const height = viewport.clientHeight || 600;
    const first = Math.max(0, Math.floor(top / rowHeight) - OVERSCAN);
    const last = Math.min(count, Math.ceil((top + height) / rowHeight) + OVERSCAN);
    if (!force && first === drawn.first && last === drawn.last) return;
    drawn = { first, last };
    const rows = [];
    for (let i = first; i < last; i++) {
      const row = renderRow(i);
      row.style.top = `${i * rowHeight}px`;
      row.style.height = `${rowHeight}px`;
      rows.push(row);
    }
    spacer.replaceChildren(...rows);
  }

  viewport.addEventListener("scroll", () => {
    if (!frame) frame = requestAnimationFrame(() => draw(false));
  }, { passive: true });

  return {
    setCount(n) {
      count = n;
      spacer.style.height = `${n * rowHeight}px`;
      draw(true);
    },
    refresh: () => draw(true),
    scrollToIndex(i) {
      const top = i * rowHeight;
      const height = viewport.clientHeight || 600;
      if (top < viewport.scrollTop || top + rowHeight > viewport.scrollTop + height) {
        viewport.scrollTop = Math.max(0, top - height / 3);
      }
      draw(true);
    },
  };
}
