// The client page's timeline, refreshed while the onboarding runs. Optional: without it the
// page works the same and a reload shows the latest steps. Served from our own origin.
(function () {
  "use strict";
  var box = document.getElementById("timeline");
  if (!box || !box.dataset.refresh) { return; }
  var url = box.dataset.refresh;
  function refresh() {
    fetch(url, { credentials: "same-origin", headers: { "Accept": "text/html" } })
      .then(function (response) { return response.ok ? response.text() : null; })
      .then(function (html) {
        if (html === null) { return; }
        var parsed = new DOMParser().parseFromString(html, "text/html");
        var fresh = parsed.getElementById("timeline");
        if (!fresh) { return; }
        box.replaceChildren.apply(box, Array.prototype.slice.call(fresh.childNodes));
        if (fresh.dataset.refresh) { window.setTimeout(refresh, 3000); }
      })
      .catch(function () { window.setTimeout(refresh, 10000); });
  }
  window.setTimeout(refresh, 3000);
})();
