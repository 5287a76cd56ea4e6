// Test-only probe, injected into a page (with its hash added to the page's CSP) by
// tests/conftest.py. It records CSP violations from the start, waits until the
// page's plots are drawn, then measures every piece of visible text - HTML text nodes by
// their line boxes (Range.getClientRects), SVG <text> elements (Plotly's ticks, titles and
// legend) by their bounding boxes - clipped to their scrolling/overflow-hidden ancestors,
// and reports every pair of boxes that overlap by more than TOLERANCE px in both directions.
// Actions in the URL's fragment (see act) drive the page first: open details, filter, sort, hover.
// The result goes into <pre id="probe-result"> as JSON, which chromium --dump-dom returns.
(function () {
  "use strict";
  var TOLERANCE = 2;
  var violations = [];
  document.addEventListener("securitypolicyviolation", function (e) {
    violations.push({directive: e.violatedDirective, blocked: e.blockedURI, sample: e.sample});
  });

  function intersect(a, b) {
    return {l: Math.max(a.l, b.l), t: Math.max(a.t, b.t), r: Math.min(a.r, b.r), b: Math.min(a.b, b.b)};
  }

  function clipOf(el) {
    // Not rendered: display:none, visibility:hidden, opacity 0, or inside a closed <details>
    // (Chromium still lays those out when asked for their boxes).
    if (!el.checkVisibility({contentVisibilityAuto: true, opacityProperty: true, visibilityProperty: true})) {
      return null;
    }
    var clip = {l: -Infinity, t: -Infinity, r: Infinity, b: Infinity};
    for (var a = el; a && a !== document.documentElement; a = a.parentElement) {
      var cs = getComputedStyle(a);
      if (cs.overflowX !== "visible" || cs.overflowY !== "visible") {
        var r = a.getBoundingClientRect();
        clip = intersect(clip, {
          l: cs.overflowX !== "visible" ? r.left : -Infinity, r: cs.overflowX !== "visible" ? r.right : Infinity,
          t: cs.overflowY !== "visible" ? r.top : -Infinity, b: cs.overflowY !== "visible" ? r.bottom : Infinity});
      }
    }
    return clip;
  }

  function add(boxes, rect, el, text, clip) {
    var box = intersect({l: rect.left, t: rect.top, r: rect.right, b: rect.bottom}, clip);
    if (box.r - box.l > 0.5 && box.b - box.t > 0.5) {
      box.text = text.trim().slice(0, 80);
      box.owner = boxes.owners.length;
      boxes.push(box);
    }
  }

  function collect() {
    var boxes = [];
    boxes.owners = [];
    var walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
    for (var node = walker.nextNode(); node; node = walker.nextNode()) {
      var el = node.parentElement;
      if (!node.data.trim() || !el || el.closest("script,style,svg,#probe-result")) { continue; }
      var clip = clipOf(el);
      if (!clip) { continue; }
      var range = document.createRange();
      range.selectNodeContents(node);
      var rects = range.getClientRects();
      for (var i = 0; i < rects.length; i++) { add(boxes, rects[i], el, node.data, clip); }
      boxes.owners.push(node);
    }
    var svgTexts = 0;
    document.querySelectorAll("svg text").forEach(function (t) {
      if (!t.textContent.trim()) { return; }
      var clip = clipOf(t);
      if (!clip) { return; }
      svgTexts += 1;
      add(boxes, t.getBoundingClientRect(), t, t.textContent, clip);
      boxes.owners.push(t);
    });
    return {boxes: boxes, svgTexts: svgTexts};
  }

  function overlaps(boxes) {
    var sorted = boxes.slice().sort(function (a, b) { return a.t - b.t; });
    var found = [];
    for (var i = 0; i < sorted.length; i++) {
      var a = sorted[i];
      for (var j = i + 1; j < sorted.length && sorted[j].t < a.b - TOLERANCE; j++) {
        var b = sorted[j];
        if (a.owner === b.owner) { continue; }
        var w = Math.min(a.r, b.r) - Math.max(a.l, b.l);
        var h = Math.min(a.b, b.b) - Math.max(a.t, b.t);
        if (w > TOLERANCE && h > TOLERANCE) {
          found.push({a: a.text, b: b.text, w: Math.round(w), h: Math.round(h), x: Math.round(a.l), y: Math.round(a.t)});
        }
      }
    }
    return found;
  }

  // Actions named in the URL's fragment, "#probe&open-details&filter=TIER&sort=HEADER&hover=ID&click=ID",
  // done before measuring; what they found goes into the result's "actions".
  function act() {
    var done = {};
    var params = new URLSearchParams(location.hash.slice(1));
    if (params.has("open-details")) {
      document.querySelectorAll("details").forEach(function (d) { d.open = true; });
    }
    if (params.has("filter")) {
      var tier = params.get("filter");
      document.querySelector('button[data-tier-filter="' + CSS.escape(tier) + '"]').click();
      var plot = document.getElementById("core-plot");
      done.filter = {
        sections: Array.prototype.filter.call(document.querySelectorAll("section.tier"),
          function (sec) { return !sec.hidden; }).map(function (sec) { return sec.dataset.tier; }),
        traces: plot.data.filter(function (t) { return t.visible !== false && t.meta; })
          .map(function (t) { return t.meta; })};
    }
    if (params.has("sort")) {
      var table = document.querySelector("table.tasks");
      var header = Array.prototype.find.call(table.querySelectorAll("thead button.sort"),
        function (b) { return b.textContent === params.get("sort"); });
      var order = function () {
        return Array.prototype.map.call(table.tBodies[0].rows, function (r) { return r.dataset.id; });
      };
      header.click();
      var first = order();
      header.click();
      done.sort = {first: first, second: order()};
    }
    if (params.has("hover")) {
      var gd = document.getElementById("core-plot");
      var points = [];
      gd.data.forEach(function (t, c) {
        (t.customdata || []).forEach(function (cd, i) {
          if (cd[1] === params.get("hover")) { points.push({curveNumber: c, pointNumber: i}); }
        });
      });
      Plotly.Fx.hover(gd, points);
      var layer = gd.querySelector(".hoverlayer");
      done.hover = {points: points.length, text: layer ? layer.textContent : null,
                    elements: layer ? Array.prototype.map.call(layer.querySelectorAll("*"),
                      function (e) { return e.localName; }) : []};
    }
    if (params.has("click")) {
      var plotDiv = document.getElementById("core-plot");
      var hit = null;
      plotDiv.data.forEach(function (t) {
        (t.customdata || []).forEach(function (cd) { if (cd[1] === params.get("click")) { hit = cd; } });
      });
      plotDiv.emit("plotly_click", {points: [{customdata: hit}]});  // what Plotly sends on a click
      var opened = document.querySelectorAll("details[open]");
      done.click = {opened: Array.prototype.map.call(opened, function (d) { return d.dataset.id; })};
    }
    return done;
  }

  function report() {
    var actions = act();
    var measured = collect();
    var found = overlaps(measured.boxes);
    var result = {
      boxes: measured.boxes.length, svgTexts: measured.svgTexts, overlapCount: found.length, actions: actions,
      overlaps: found.slice(0, 40), violations: violations,
      plots: document.querySelectorAll(".js-plotly-plot").length,
      points: document.querySelectorAll(".js-plotly-plot .scatterlayer .point").length,
      width: document.documentElement.clientWidth, scrollWidth: document.documentElement.scrollWidth,
      height: document.documentElement.scrollHeight
    };
    var pre = document.createElement("pre");
    pre.id = "probe-result";
    pre.textContent = JSON.stringify(result);
    document.body.appendChild(pre);
  }

  function whenReady(tries) {
    var expected = document.querySelectorAll("script.plot-data").length;
    if ((expected && !document.body.dataset.plotsReady) && tries > 0) {
      setTimeout(function () { whenReady(tries - 1); }, 100);
      return;
    }
    setTimeout(report, 200);  // let Plotly's autosize settle
  }

  window.addEventListener("load", function () { whenReady(100); });
})();
