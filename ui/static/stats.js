// Statistics page: draws the charts with Chart.js from the JSON data block the server
// rendered (#stats-data), and shows the custom dates only for a custom period.
// No inline script or style: the page's Content-Security-Policy stays strict.
(function () {
  "use strict";

  function customDates() {
    var form = document.getElementById("stats-filters");
    var period = document.getElementById("stats-period");
    if (!form || !period) return;
    var sync = function () { form.classList.toggle("custom", period.value === "custom"); };
    period.addEventListener("change", sync);
    sync();
  }

  function draw(id, type, data, options) {
    var canvas = document.getElementById(id);
    if (!canvas || !data || typeof window.Chart !== "function") return;
    // eslint-disable-next-line no-new
    new window.Chart(canvas, {
      type: type,
      data: data,
      options: Object.assign({ responsive: true, maintainAspectRatio: false, animation: false }, options || {})
    });
  }

  function charts() {
    var block = document.getElementById("stats-data");
    if (!block) return;
    var data = JSON.parse(block.textContent || "null");
    if (!data) return;
    draw("chart-calls", "bar", data.calls, {
      scales: { x: { stacked: true }, y: { stacked: true, beginAtZero: true, ticks: { precision: 0 } } },
      plugins: { legend: { position: "bottom", labels: { boxWidth: 12 } } }
    });
    draw("chart-occupancy", "bar", data.occupancy, {
      indexAxis: "y",
      scales: { x: { min: 0, max: 100, ticks: { callback: function (v) { return v + " %"; } } } },
      plugins: { legend: { display: false } }
    });
    draw("chart-billed", "bar", data.billed, {
      scales: { y: { beginAtZero: true, title: { display: true, text: "min" } } },
      plugins: { legend: { position: "bottom", labels: { boxWidth: 12 } } }
    });
    draw("chart-hangup", "doughnut", data.hangup, {
      plugins: { legend: { position: "bottom", labels: { boxWidth: 12 } } }
    });
    document.body.setAttribute("data-charts", "drawn");
  }

  document.addEventListener("DOMContentLoaded", function () {
    customDates();
    charts();
  });
})();
