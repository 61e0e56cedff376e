/* A small SVG line/area chart for time series: MiniChart.create(element, {points, label}).
 * points are [timestamp_ms, value] with value a decimal string (money stays exact in the
 * tooltip; it is only turned into a number to place pixels). No dependencies. */
(function () {
  "use strict";
  var SVG = "http://www.w3.org/2000/svg";
  var PAD = { top: 12, right: 14, bottom: 24, left: 64 };

  function el(name, attrs, parent) {
    var node = document.createElementNS(SVG, name);
    Object.keys(attrs || {}).forEach(function (k) { node.setAttribute(k, attrs[k]); });
    if (parent) parent.appendChild(node);
    return node;
  }

  // Round steps (1, 2, 5 x 10^n) so axis labels read well.
  function niceStep(span, count) {
    if (!(span > 0)) return 1;
    var raw = span / Math.max(count, 1);
    var mag = Math.pow(10, Math.floor(Math.log10(raw)));
    var norm = raw / mag;
    var step = norm < 1.5 ? 1 : norm < 3 ? 2 : norm < 7 ? 5 : 10;
    return step * mag;
  }

  function ticks(min, max, count) {
    var step = niceStep(max - min, count);
    var out = [];
    for (var v = Math.ceil(min / step) * step; v <= max + step * 1e-9; v += step) out.push(v);
    return { values: out, step: step };
  }

  function formatValue(v, step) {
    var digits = step >= 1 ? 0 : Math.min(8, Math.ceil(-Math.log10(step)));
    return v.toLocaleString(undefined, { minimumFractionDigits: digits, maximumFractionDigits: digits });
  }

  function pad2(n) { return n < 10 ? "0" + n : "" + n; }

  // Time axis steps people read at a glance: seconds, minutes, hours, days (UTC).
  var TIME_STEPS = [1, 5, 15, 30, 60, 300, 900, 1800, 3600, 10800, 21600, 43200, 86400, 604800].map(
    function (s) { return s * 1000; }
  );

  function timeTicks(min, max, count) {
    var step = TIME_STEPS[TIME_STEPS.length - 1];
    for (var i = 0; i < TIME_STEPS.length; i++) {
      if ((max - min) / TIME_STEPS[i] <= count) { step = TIME_STEPS[i]; break; }
    }
    var out = [];
    for (var t = Math.ceil(min / step) * step; t <= max; t += step) out.push(t);
    return { values: out, step: step };
  }

  function formatTime(ms, step) {
    var d = new Date(ms);
    var hm = pad2(d.getUTCHours()) + ":" + pad2(d.getUTCMinutes());
    if (step < 60000) return hm + ":" + pad2(d.getUTCSeconds());
    if (step < 86400000) return hm;
    return (d.getUTCMonth() + 1) + "/" + d.getUTCDate();
  }

  function Chart(container, options) {
    this.container = container;
    this.label = options.label || "";
    this.maxPoints = options.maxPoints || 2000;
    this.points = [];
    (options.points || []).forEach(function (p) { this.push(p[0], p[1]); }, this);
    this.tip = document.createElement("div");
    this.tip.className = "tip";
    this.tip.hidden = true;
    var self = this;
    this.onResize = function () { self.render(); };
    if (window.ResizeObserver) new ResizeObserver(this.onResize).observe(container);
    else window.addEventListener("resize", this.onResize);
    this.render();
  }

  Chart.prototype.push = function (ts, value) {
    var num = Number(value);
    var t = typeof ts === "number" ? ts : Date.parse(ts);
    if (!isFinite(num) || !isFinite(t)) return false;
    var last = this.points[this.points.length - 1];
    if (last && t < last.t) return false;          // out of order: ignore, the server order wins
    if (last && t === last.t) { last.v = num; last.text = String(value); return true; }
    this.points.push({ t: t, v: num, text: String(value) });
    if (this.points.length > this.maxPoints) this.points.shift();
    return true;
  };

  // Replace the whole series (and its label), then redraw.
  Chart.prototype.setData = function (points, label) {
    this.points = [];
    if (label !== undefined) this.label = label;
    (points || []).forEach(function (p) { this.push(p[0], p[1]); }, this);
    this.render();
  };

  // Add one point and redraw (used by the live updates).
  Chart.prototype.append = function (ts, value) {
    if (this.push(ts, value)) this.render();
  };

  Chart.prototype.scales = function (w, h) {
    var pts = this.points;
    var tMin = pts[0].t, tMax = pts[pts.length - 1].t;
    if (tMax === tMin) { tMin -= 60000; tMax += 60000; }
    var vMin = Infinity, vMax = -Infinity;
    pts.forEach(function (p) { vMin = Math.min(vMin, p.v); vMax = Math.max(vMax, p.v); });
    if (vMax === vMin) { var d = Math.abs(vMax) * 0.01 || 1; vMin -= d; vMax += d; }
    var margin = (vMax - vMin) * 0.06;
    vMin -= margin; vMax += margin;
    var iw = w - PAD.left - PAD.right, ih = h - PAD.top - PAD.bottom;
    return {
      tMin: tMin, tMax: tMax, vMin: vMin, vMax: vMax,
      x: function (t) { return PAD.left + ((t - tMin) / (tMax - tMin)) * iw; },
      y: function (v) { return PAD.top + (1 - (v - vMin) / (vMax - vMin)) * ih; },
    };
  };

  Chart.prototype.render = function () {
    var box = this.container;
    var w = box.clientWidth || 600, h = box.clientHeight || 240;
    while (box.firstChild) box.removeChild(box.firstChild);
    if (!this.points.length) {
      var empty = document.createElement("p");
      empty.className = "muted";
      empty.textContent = "No data yet.";
      box.appendChild(empty);
      return;
    }
    var s = this.scales(w, h);
    var svg = el("svg", { viewBox: "0 0 " + w + " " + h, role: "img", "aria-label": this.label });
    var axis = el("g", { class: "axis" }, svg);
    var yt = ticks(s.vMin, s.vMax, 5);
    yt.values.forEach(function (v) {
      var y = s.y(v);
      el("line", { class: "grid-line", x1: PAD.left, x2: w - PAD.right, y1: y, y2: y }, axis);
      var t = el("text", { x: PAD.left - 6, y: y + 4, "text-anchor": "end" }, axis);
      t.textContent = formatValue(v, yt.step);
    });
    var xt = timeTicks(s.tMin, s.tMax, Math.max(2, Math.floor(w / 110)));
    xt.values.forEach(function (t) {
      var label = el("text", { x: s.x(t), y: h - 6, "text-anchor": "middle" }, axis);
      label.textContent = formatTime(t, xt.step);
    });
    if (s.vMin < 0 && s.vMax > 0) {
      el("line", { class: "zero", x1: PAD.left, x2: w - PAD.right, y1: s.y(0), y2: s.y(0) }, svg);
    }
    var line = this.points.map(function (p, i) {
      return (i ? "L" : "M") + s.x(p.t).toFixed(1) + " " + s.y(p.v).toFixed(1);
    }).join(" ");
    var base = s.y(Math.max(s.vMin, Math.min(0, s.vMax)));
    var first = this.points[0], last = this.points[this.points.length - 1];
    el("path", {
      class: "area",
      d: line + " L" + s.x(last.t).toFixed(1) + " " + base.toFixed(1) + " L" + s.x(first.t).toFixed(1) + " " + base.toFixed(1) + " Z",
    }, svg);
    el("path", { class: "line", d: line }, svg);
    el("circle", { class: "last-dot", r: 3, cx: s.x(last.t), cy: s.y(last.v) }, svg);
    var dot = el("circle", { class: "hover-dot", r: 3.5, cx: -10, cy: -10 }, svg);
    box.appendChild(svg);
    box.appendChild(this.tip);
    this.bindHover(svg, s, dot, w);
  };

  Chart.prototype.bindHover = function (svg, s, dot, w) {
    var self = this;
    svg.addEventListener("mousemove", function (ev) {
      var rect = svg.getBoundingClientRect();
      var x = ((ev.clientX - rect.left) / rect.width) * w;
      var lo = 0, hi = self.points.length - 1;
      while (hi - lo > 1) {                          // binary search on time
        var mid = (lo + hi) >> 1;
        if (s.x(self.points[mid].t) < x) lo = mid; else hi = mid;
      }
      var p = Math.abs(s.x(self.points[lo].t) - x) < Math.abs(s.x(self.points[hi].t) - x) ? self.points[lo] : self.points[hi];
      dot.setAttribute("cx", s.x(p.t));
      dot.setAttribute("cy", s.y(p.v));
      self.tip.hidden = false;
      self.tip.textContent = new Date(p.t).toISOString().replace("T", " ").slice(0, 19) + "  " + self.label + " " + p.text;
      self.tip.style.left = Math.min(ev.clientX - rect.left + 10, rect.width - 220) + "px";
      self.tip.style.top = "4px";
    });
    svg.addEventListener("mouseleave", function () {
      self.tip.hidden = true;
      dot.setAttribute("cx", -10);
    });
  };

  window.MiniChart = {
    create: function (container, options) { return new Chart(container, options || {}); },
    niceStep: niceStep,
  };
})();
