// Tables with class "sortable": a click on a header's button sorts each tbody's rows by that
// column (cells' data-v when present, numbers numerically, missing values last); a second
// click reverses. Rows with class "fixed" (group headings) stay first.
(function () {
  "use strict";
  function key(cell) {
    if (!cell) { return null; }
    var raw = cell.dataset.v !== undefined ? cell.dataset.v : cell.textContent.trim();
    if (raw === "") { return null; }
    var n = Number(raw);
    return isNaN(n) ? raw.toLowerCase() : n;
  }
  function compare(a, b, dir) {
    if (a === null || b === null) { return a === b ? 0 : (a === null ? 1 : -1); }
    if (typeof a !== typeof b) { a = String(a); b = String(b); }
    return (a < b ? -1 : a > b ? 1 : 0) * dir;
  }
  function sort(table, th) {
    var column = Array.prototype.indexOf.call(th.parentElement.children, th);
    var dir = th.getAttribute("aria-sort") === "descending" ? 1 : -1;
    if (th.dataset.first === "asc" && !th.hasAttribute("aria-sort")) { dir = 1; }
    table.querySelectorAll("thead th[aria-sort]").forEach(function (h) { h.removeAttribute("aria-sort"); });
    th.setAttribute("aria-sort", dir === 1 ? "ascending" : "descending");
    table.querySelectorAll("tbody").forEach(function (body) {
      var rows = Array.prototype.filter.call(body.rows, function (r) { return !r.classList.contains("fixed"); });
      rows.sort(function (a, b) { return compare(key(a.cells[column]), key(b.cells[column]), dir); });
      rows.forEach(function (r) { body.appendChild(r); });
    });
  }
  document.querySelectorAll("table.sortable").forEach(function (table) {
    table.querySelectorAll("thead th").forEach(function (th) {
      var button = th.querySelector("button.sort");
      if (button) { button.addEventListener("click", function () { sort(table, th); }); }
    });
  });
})();
