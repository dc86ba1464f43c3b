// The import page's progress bar, refreshed while the import runs. Optional: without it the
// page works the same and its refresh link shows the latest numbers. Served from our own origin.
(function () {
  "use strict";
  var box = document.getElementById("import-progress");
  var state = document.getElementById("import-state");
  if (!box || !box.dataset.refresh) { return; }
  var url = box.dataset.refresh;
  function refresh() {
    fetch(url, { credentials: "same-origin", headers: { "Accept": "text/html" } })
      .then(function (response) { return response.ok ? response.text() : null; })
      .then(function (html) {
        if (html === null) { window.setTimeout(refresh, 10000); return; }
        var parsed = new DOMParser().parseFromString(html, "text/html");
        var fresh = parsed.getElementById("import-progress");
        if (!fresh) { return; }
        box.replaceChildren.apply(box, Array.prototype.slice.call(fresh.childNodes));
        // The status line is a live region: said once when the import ends, not every tick.
        if (state && state.textContent !== fresh.dataset.state) {
          state.textContent = fresh.dataset.state;
        }
        if (fresh.dataset.refresh) { window.setTimeout(refresh, 1500); }
        else { delete box.dataset.refresh; }
      })
      .catch(function () { window.setTimeout(refresh, 10000); });
  }
  window.setTimeout(refresh, 1500);
})();
