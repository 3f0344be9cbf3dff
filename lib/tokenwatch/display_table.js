// tokenwatch: every long table (div.tw-long) becomes a sortable, searchable, paged DataTable with its rows
// downloadable as CSV. The rows come from the JSON block beside the table (each cell [shown text, raw value]);
// every text is written as text or escaped, never run as markup. Printing shows the page's static copy of all rows.
(function () {
  "use strict";
  const esc = s => String(s).replace(/&/g, "&amp;").replace(/[<]/g, "&lt;").replace(/>/g, "&gt;")
    .replace(/"/g, "&quot;").replace(/'/g, "&#39;");
  const SHORT = 90; // longer texts show their start; the whole text is the cell's tooltip, and is searched
  const isWeb = s => typeof s === "string" && /^https?:\/\//i.test(s);

  function cellHtml(cell, kind) {
    if (kind === "link" && isWeb(cell[1])) return '<a href="' + esc(cell[1]) + '" title="' + esc(cell[1]) + '">' + esc(cell[0]) + "<" + "/a>";
    const text = String(cell[0]);
    if (text.length > SHORT) return '<span title="' + esc(text) + '">' + esc(text.slice(0, SHORT - 1)) + "\u2026" + "<" + "/span>";
    return esc(text);
  }

  function sortValue(cell, column) {
    const raw = cell[1];
    if (column.num) return typeof raw === "number" ? raw : null;
    if (column.kind === "date" || column.kind === "month") return raw == null ? "" : String(raw);
    return cell[0];
  }

  function csvText(table) {
    const quote = v => {
      const s = v == null ? "" : String(v);
      return /[",\n\r]/.test(s) ? '"' + s.replace(/"/g, '""') + '"' : s;
    };
    const lines = [table.columns.map(c => quote(c.name)).join(",")];
    for (const row of table.rows) lines.push(row.map(cell => quote(cell[1])).join(","));
    return "\ufeff" + lines.join("\r\n") + "\r\n";
  }

  function fileName(table) {
    const base = (table.caption || "table").toLowerCase().replace(/[^a-z0-9\u4e00-\u9fff]+/g, "_").replace(/^_+|_+$/g, "");
    return (base.slice(0, 60) || "table") + ".csv";
  }

  function build(DataTable, box) {
    const source = box.querySelector("script.tw-data");
    if (!source) return;
    box.setAttribute("data-ready", "1");
    const table = JSON.parse(source.textContent);
    const live = document.createElement("div");
    live.className = "tw-live";
    const el = document.createElement("table");
    el.className = "tw-table display compact";
    if (table.caption) el.createCaption().textContent = table.caption;
    live.appendChild(el);
    const link = document.createElement("a");
    link.className = "tw-download";
    link.textContent = "Download all " + table.rows.length + " rows (CSV, full precision)";
    link.href = "#";
    link.download = fileName(table);
    link.addEventListener("click", () => {
      link.href = URL.createObjectURL(new Blob([csvText(table)], {type: "text/csv;charset=utf-8"}));
    });
    const p = document.createElement("p");
    p.className = "tw-download";
    p.appendChild(link);
    live.appendChild(p);
    const preview = box.querySelector(".tw-preview");
    if (preview) preview.style.display = "none";
    box.appendChild(live);
    new DataTable(el, {
      data: table.rows,
      columns: table.columns.map((c, i) => ({
        title: esc(c.label), data: i, type: c.num ? "num" : "string", className: c.num ? "num dt-right" : (c.kind === "date" || c.kind === "month") ? "date dt-left" : "dt-left",
        render: (cell, type) => type === "display" ? cellHtml(cell, c.kind)
          : (type === "sort" || type === "type") ? sortValue(cell, c)
          : cell[0] + " " + (cell[1] == null ? "" : cell[1]),
      })),
      pageLength: 25,
      lengthMenu: [10, 25, 50, 100],
      order: [],
      autoWidth: true,
    });
  }

  // In JupyterLab an output's script may run before its table is in the document: look again for a few seconds.
  function start(tries) {
    const boxes = document.querySelectorAll("div.tw-long:not([data-ready])");
    if (!boxes.length || !window.tokenwatchLibrary) {
      if (tries > 0) setTimeout(() => start(tries - 1), 250);
      return;
    }
    window.tokenwatchLibrary.then(module => boxes.forEach(box => {
      if (!box.hasAttribute("data-ready")) build(module.default, box);
    }));
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", () => start(0));
  else start(20);
})();
