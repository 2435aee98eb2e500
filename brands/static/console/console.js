// Campaign progress: poll the JSON endpoint and update the bar; reload when it settles.
(function () {
  var box = document.querySelector("[data-progress-url]");
  if (!box) return;
  var url = box.getAttribute("data-progress-url");
  function tick() {
    fetch(url, { credentials: "same-origin" })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (p) {
        if (!p) return;
        document.getElementById("progress").value = p.percent;
        document.getElementById("percent").textContent = p.percent;
        var st = document.getElementById("status");
        if (st && st.textContent !== p.status) { window.location.reload(); return; }
        setTimeout(tick, 2000);
      })
      .catch(function () { setTimeout(tick, 5000); });
  }
  setTimeout(tick, 2000);
})();
