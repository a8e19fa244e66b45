// Draws every <canvas data-chart='{"type","label","labels","data"}'> with Chart.js, on load
// and after htmx swaps in a new dashboard body. The numbers are also in the table beside it.
(function () {
  function draw(root) {
    if (typeof Chart === "undefined") return;
    root.querySelectorAll("canvas[data-chart]").forEach(function (canvas) {
      if (canvas.dataset.drawn) return;
      var spec = JSON.parse(canvas.dataset.chart);
      new Chart(canvas, {
        type: spec.type,
        data: {labels: spec.labels, datasets: [{label: spec.label, data: spec.data}]},
        options: {animation: false, responsive: true, plugins: {legend: {display: spec.type === "doughnut"}}}
      });
      canvas.dataset.drawn = "1";
    });
  }
  document.addEventListener("DOMContentLoaded", function () { draw(document); });
  document.addEventListener("htmx:afterSwap", function (event) { draw(event.target); });
})();
