// Draws every figure the page carries: <script type="application/json" class="plot-data"
// data-target="ID"> holds {data, layout, config} for Plotly.newPlot on the element with id ID.
(function () {
  "use strict";
  var blocks = document.querySelectorAll('script.plot-data[type="application/json"]');
  var pending = [];
  blocks.forEach(function (block) {
    var target = document.getElementById(block.dataset.target);
    if (!target) { return; }
    var figure = JSON.parse(block.textContent);
    pending.push(Plotly.newPlot(target, figure.data, figure.layout, figure.config || {}));
  });
  Promise.all(pending).then(function () { document.body.dataset.plotsReady = String(pending.length); });
})();
