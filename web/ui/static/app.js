// Live pages: the server sends a "change" event when what the pages show
// may have changed; the page fetches itself again and swaps its <main>.
// Without JavaScript the pages are plain links and forms.
(function () {
  if (!window.EventSource || !window.fetch) return;
  var status = document.getElementById("live-status");
  var busy = false, again = false;
  function refresh() {
    if (busy) { again = true; return; }
    busy = true;
    fetch(location.href, { credentials: "same-origin", headers: { "X-Live": "1" } })
      .then(function (r) {
        if (r.redirected || !r.ok) throw new Error(r.status);
        return r.text();
      })
      .then(function (html) {
        var next = new DOMParser().parseFromString(html, "text/html").getElementById("live");
        var cur = document.getElementById("live");
        if (!next || !cur) return;
        var open = {};
        cur.querySelectorAll("details[id]").forEach(function (d) { open[d.id] = d.open; });
        cur.replaceWith(next);
        next.querySelectorAll("details[id]").forEach(function (d) { if (d.id in open) d.open = open[d.id]; });
        document.dispatchEvent(new CustomEvent("live:updated"));
      })
      .catch(function () {})
      .then(function () {
        busy = false;
        if (again) { again = false; refresh(); }
      });
  }
  var es = new EventSource("/live");
  es.addEventListener("open", function () { if (status) status.hidden = false; });
  es.addEventListener("error", function () { if (status) status.hidden = true; });
  es.addEventListener("change", refresh);
  // The select boxes filter as soon as they change.
  document.querySelectorAll("form.filters select").forEach(function (s) {
    s.addEventListener("change", function () { s.form.requestSubmit ? s.form.requestSubmit() : s.form.submit(); });
  });
})();
