// Sorting and filtering of the report's tables. No network, no library:
// the page works from file://.
(function () {
  "use strict";
  function cellValue(row, i) {
    var c = row.cells[i];
    var v = c.getAttribute("data-sort") || c.textContent.trim();
    var n = Number(v);
    return v !== "" && !isNaN(n) ? n : v.toLowerCase();
  }
  document.querySelectorAll("table.sortable").forEach(function (table) {
    var heads = table.tHead.rows[0].cells;
    Array.prototype.forEach.call(heads, function (th, i) {
      var b = th.querySelector("button");
      if (!b) return;
      b.addEventListener("click", function () {
        var asc = th.getAttribute("aria-sort") !== "ascending";
        Array.prototype.forEach.call(heads, function (h) { h.removeAttribute("aria-sort"); });
        th.setAttribute("aria-sort", asc ? "ascending" : "descending");
        var body = table.tBodies[0];
        var rows = Array.prototype.slice.call(body.rows);
        rows.sort(function (a, b) {
          var x = cellValue(a, i), y = cellValue(b, i);
          var r = x < y ? -1 : x > y ? 1 : 0;
          return asc ? r : -r;
        });
        rows.forEach(function (r) { body.appendChild(r); });
      });
    });
  });
  var filter = document.getElementById("rule-filter");
  var status = document.getElementById("rule-status");
  var count = document.getElementById("rule-count");
  var rules = document.getElementById("rules");
  function apply() {
    if (!rules) return;
    var q = filter.value.trim().toLowerCase();
    var s = status.value;
    var shown = 0, rows = rules.tBodies[0].rows;
    Array.prototype.forEach.call(rows, function (r) {
      var ok = (!q || r.textContent.toLowerCase().indexOf(q) >= 0) && (!s || r.getAttribute("data-status") === s);
      r.hidden = !ok;
      if (ok) shown++;
    });
    count.textContent = shown + " of " + rows.length + " rules shown";
  }
  if (filter) { filter.addEventListener("input", apply); status.addEventListener("change", apply); apply(); }
})();
