// Live parts of console pages, without inline scripts (the CSP allows only this file).
//
// An element with data-live="URL" is refreshed from that URL, which answers an HTML
// fragment rendered by the server (escaped by Django's templates, like the page itself).
// Elements sharing a URL share one request: when the answer holds
// <template data-part="NAME"> blocks, each element takes the block named by its
// data-live-part; otherwise the element takes the whole answer. The server says when to
// ask again in the X-Poll-After header (milliseconds; absent or 0 = stop). Polling pauses
// while the tab is hidden. If a campaign's status changes (data-status in the fragment
// versus #status on the page), the page reloads so its buttons match the new state.
(function () {
  "use strict";
  var groups = {};
  document.querySelectorAll("[data-live]").forEach(function (el) {
    var url = el.getAttribute("data-live");
    (groups[url] = groups[url] || []).push(el);
  });

  function apply(els, html) {
    var doc = new DOMParser().parseFromString(html, "text/html");
    els.forEach(function (el) {
      var part = el.getAttribute("data-live-part");
      var src = part ? doc.querySelector('template[data-part="' + part + '"]') : null;
      var fresh = src ? src.innerHTML : (part ? null : doc.body.innerHTML);
      if (fresh !== null && el.innerHTML !== fresh) el.innerHTML = fresh;
    });
    var marker = doc.querySelector("[data-status]");
    var shown = document.getElementById("status");
    if (marker && shown && shown.textContent.trim() !== marker.getAttribute("data-status")) {
      window.location.reload();
      return false;
    }
    return true;
  }

  function poll(url, els, wait) {
    setTimeout(function tick() {
      if (document.hidden) { setTimeout(tick, 1000); return; }
      fetch(url, { credentials: "same-origin", headers: { "X-Requested-With": "fetch" } })
        .then(function (r) {
          if (!r.ok) throw new Error("HTTP " + r.status);
          var next = parseInt(r.headers.get("X-Poll-After") || "0", 10);
          return r.text().then(function (html) {
            if (apply(els, html) && next > 0) poll(url, els, next);
          });
        })
        .catch(function () { poll(url, els, 10000); });
    }, wait);
  }

  Object.keys(groups).forEach(function (url) { poll(url, groups[url], 2000); });
})();
