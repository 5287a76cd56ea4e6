// The tier filter: a button per tier shows only that tier's points in the plot and its section
// below ("all" shows everything). A click on a point opens that submission's recipe.
(function () {
  "use strict";
  var plot = document.getElementById("core-plot");
  var buttons = document.querySelectorAll("button[data-tier-filter]");
  function show(tier) {
    buttons.forEach(function (b) { b.setAttribute("aria-pressed", String(b.dataset.tierFilter === tier)); });
    document.querySelectorAll("section.tier").forEach(function (s) { s.hidden = tier !== "" && s.dataset.tier !== tier; });
    if (plot && plot.data) {
      Plotly.restyle(plot, {visible: plot.data.map(function (t) { return tier === "" || !t.meta || t.meta === tier; })});
    }
  }
  buttons.forEach(function (b) { b.addEventListener("click", function () { show(b.dataset.tierFilter); }); });
  if (plot && plot.on) {
    plot.on("plotly_click", function (event) {
      var anchor = event.points.length ? event.points[0].customdata[0] : null;
      var target = anchor ? document.getElementById(anchor) : null;
      if (target) { target.open = true; target.scrollIntoView(); }
    });
  }
})();
