// Click a column header to sort its table; the page reads the same without.
document.querySelectorAll("table.sortable").forEach(function (t) {
  var ths = t.tHead.rows[0].cells;
  Array.prototype.forEach.call(ths, function (th, i) {
    th.tabIndex = 0;
    function sort() {
      var asc = th.getAttribute("aria-sort") !== "ascending";
      Array.prototype.forEach.call(ths, function (h) { h.removeAttribute("aria-sort"); });
      th.setAttribute("aria-sort", asc ? "ascending" : "descending");
      var b = t.tBodies[0], rows = Array.prototype.slice.call(b.rows);
      rows.sort(function (x, y) {
        var a = x.cells[i].textContent, c = y.cells[i].textContent;
        var na = Number(a), nc = Number(c);
        var r = a !== "" && c !== "" && !isNaN(na) && !isNaN(nc) ? na - nc : a.localeCompare(c);
        return asc ? r : -r;
      });
      rows.forEach(function (r) { b.appendChild(r); });
    }
    th.addEventListener("click", sort);
    th.addEventListener("keydown", function (e) { if (e.key === "Enter") sort(); });
  });
});
