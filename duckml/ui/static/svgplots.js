// Our own small SVG plots (no library): parallel coordinates and a scatter on the compare page, the alias
// timeline on the model page. Every text is set with textContent, never parsed as HTML.
"use strict";
(function () {
  const NS = "http://www.w3.org/2000/svg";
  function el(name, attrs, parent) {
    const node = document.createElementNS(NS, name);
    for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
    if (parent) parent.appendChild(node);
    return node;
  }
  function text(parent, x, y, content, attrs) {
    const node = el("text", { x, y, ...(attrs || {}) }, parent);
    node.textContent = content;
    return node;
  }
  function title(parent, content) { el("title", {}, parent).textContent = content; }
  const num = (v) => (v === null || v === undefined || v === "" ? NaN : Number(v));
  const fmt = (v) => (Math.abs(v) >= 1e5 || (Math.abs(v) < 1e-3 && v !== 0) ? v.toExponential(2) : +v.toPrecision(4) + "");

  // A column: {name, kind: "param"|"metric", values: [per run], numeric: bool}
  function columns(data) {
    return data.rows.map((row) => {
      const values = row.values;
      const present = values.filter((v) => v !== null && v !== undefined && v !== "");
      const numeric = present.length > 0 && present.every((v) => isFinite(num(v)));
      return { name: `${row.kind}s.${row.key}`, key: row.key, kind: row.kind, values, numeric, differs: row.differs };
    });
  }
  function scaleOf(col, lo, hi) {
    // value -> pixel between lo and hi; categorical columns spread their sorted distinct values
    if (col.numeric) {
      const xs = col.values.map(num).filter(isFinite);
      const min = Math.min(...xs), max = Math.max(...xs);
      const f = (v) => (!isFinite(num(v)) ? null : max === min ? (lo + hi) / 2 : lo + (hi - lo) * (num(v) - min) / (max - min));
      f.ticks = (max === min ? [min] : [min, max]).map((v) => [f(v), fmt(v)]);
      return f;
    }
    const cats = [...new Set(col.values.filter((v) => v !== null).map(String))].sort();
    const f = (v) => (v === null ? null : lo + (hi - lo) * (cats.length === 1 ? 0.5 : cats.indexOf(String(v)) / (cats.length - 1)));
    f.ticks = cats.map((c) => [f(c), c.length > 14 ? c.slice(0, 13) + "…" : c]);
    return f;
  }
  function colorScale(values) {
    const xs = values.map(num).filter(isFinite);
    const min = Math.min(...xs), max = Math.max(...xs);
    return (v) => {
      if (!isFinite(num(v))) return "#999999";
      const t = max === min ? 0.5 : (num(v) - min) / (max - min);
      // blue (low) to orange (high)
      const r = Math.round(31 + t * (232 - 31)), g = Math.round(119 + t * (89 - 119)), b = Math.round(212 + t * (12 - 212));
      return `rgb(${r}, ${g}, ${b})`;
    };
  }
  function fillSelect(select, names, chosen) {
    select.textContent = "";
    names.forEach((n) => {
      const o = document.createElement("option");
      o.value = n; o.textContent = n; o.selected = n === chosen;
      select.appendChild(o);
    });
  }

  function parallel(data) {
    const root = document.getElementById("parcoords");
    const form = document.getElementById("parcoords-form");
    if (!root) return;
    const cols = columns(data);
    const metrics = cols.filter((c) => c.kind === "metric" && c.numeric);
    if (!metrics.length) { root.textContent = "No numeric metric to color by."; return; }
    const wanted = duckml.params().get("pc");
    const target = metrics.find((c) => c.key === wanted) || metrics[0];
    fillSelect(form.pc, metrics.map((c) => c.key), target.key);
    form.pc.onchange = () => { duckml.setParam("pc", form.pc.value); parallel(data); };
    const params = cols.filter((c) => c.kind === "param" && (c.differs || cols.length < 8)).slice(0, 10);
    const axes = [...params, target];
    const width = Math.max(420, root.clientWidth || 600), height = 300, top = 28, bottom = 40;
    const gap = axes.length > 1 ? (width - 120) / (axes.length - 1) : 0;
    root.textContent = "";
    const svg = el("svg", { width, height, viewBox: `0 0 ${width} ${height}`, role: "img", "aria-label": "parallel coordinates" }, root);
    const scales = axes.map((c) => scaleOf(c, height - bottom, top));
    const color = colorScale(target.values);
    data.runs.forEach((run, i) => {
      // a run lacking a value breaks its line there rather than pretend a value
      const pts = axes.map((c, a) => [60 + a * gap, scales[a](c.values[i])]);
      let piece = [];
      const flush = () => {
        if (piece.length > 1) {
          const line = el("polyline", { points: piece.map((p) => p.join(",")).join(" "), fill: "none", stroke: color(target.values[i]), "stroke-width": 2, opacity: 0.85 }, svg);
          title(line, `${run.name}: ${target.key} = ${target.values[i]}`);
        } else if (piece.length === 1) {
          el("circle", { cx: piece[0][0], cy: piece[0][1], r: 3, fill: color(target.values[i]) }, svg);
        }
        piece = [];
      };
      pts.forEach((p) => { if (p[1] === null) flush(); else piece.push(p); });
      flush();
    });
    axes.forEach((c, a) => {
      const x = 60 + a * gap;
      el("line", { x1: x, x2: x, y1: top, y2: height - bottom, class: "axis" }, svg);
      text(svg, x, height - bottom + 18, c.key, { "text-anchor": "middle", "font-weight": c === target ? "bold" : "normal" });
      scales[a].ticks.forEach(([y, label]) => text(svg, x + 4, y + 4, label));
    });
  }

  function scatter(data) {
    const root = document.getElementById("scatter");
    const form = document.getElementById("scatter-form");
    if (!root) return;
    const cols = columns(data).filter((c) => c.numeric);
    if (cols.length < 1) { root.textContent = "No numeric params or metrics."; return; }
    const q = duckml.params();
    // default: the two most complete columns that differ, params before metrics
    const present = (c) => c.values.filter((v) => isFinite(num(v))).length;
    const ranked = [...cols].sort((a, b) => present(b) - present(a) || (a.kind === "param" ? -1 : 1) + (b.kind === "param" ? 1 : -1));
    const useful = ranked.filter((c) => c.differs);
    const pool = useful.length >= 2 ? useful : ranked;
    const xs = cols.find((c) => c.name === q.get("sx")) || pool[0];
    const ys = cols.find((c) => c.name === q.get("sy")) || pool.find((c) => c !== xs && c.kind === "metric") || pool.find((c) => c !== xs) || xs;
    fillSelect(form.sx, cols.map((c) => c.name), xs.name);
    fillSelect(form.sy, cols.map((c) => c.name), ys.name);
    form.onchange = () => { duckml.setParam("sx", form.sx.value); duckml.setParam("sy", form.sy.value); scatter(data); };
    const width = Math.max(380, Math.min(680, root.clientWidth || 520)), height = 300, pad = 48, right = 110;
    root.textContent = "";
    const svg = el("svg", { width, height, viewBox: `0 0 ${width} ${height}`, role: "img", "aria-label": "scatter" }, root);
    const fx = scaleOf(xs, pad, width - right), fy = scaleOf(ys, height - pad, 34);
    el("line", { x1: pad, x2: width - 16, y1: height - pad, y2: height - pad, class: "axis" }, svg);
    el("line", { x1: pad, x2: pad, y1: 16, y2: height - pad, class: "axis" }, svg);
    fx.ticks.forEach(([x, label]) => text(svg, x, height - pad + 14, label, { "text-anchor": "middle" }));
    fy.ticks.forEach(([y, label]) => text(svg, pad - 4, y + 4, label, { "text-anchor": "end" }));
    text(svg, (width + pad) / 2, height - 8, xs.name, { "text-anchor": "middle" });
    text(svg, pad, 14, "↑ " + ys.name);
    data.runs.forEach((run, i) => {
      const x = fx(xs.values[i]), y = fy(ys.values[i]);
      if (x === null || y === null) return;
      const dot = el("circle", { cx: x, cy: y, r: 5, fill: duckml.color(i), opacity: 0.85 }, svg);
      title(dot, `${run.name}: ${xs.name} = ${xs.values[i]}, ${ys.name} = ${ys.values[i]}`);
      text(svg, x + 7, y - 6, run.name.length > 24 ? run.name.slice(0, 23) + "…" : run.name, { "font-size": 10 });
    });
  }

  function timeline() {
    const root = document.getElementById("timeline");
    const data = duckml.readJSON("timeline-data");
    if (!root || !data || !data.history.length) return;
    const aliases = [...new Set(data.history.map((h) => h.alias))].sort();
    const t = (s) => Date.parse(s + "Z");
    const start = Math.min(...data.history.map((h) => t(h.valid_from)));
    const end = Math.max(t(data.now), ...data.history.map((h) => (h.valid_to ? t(h.valid_to) : 0)));
    const width = Math.max(420, root.clientWidth || 700), lane = 30, left = 110, right = 20;
    const height = aliases.length * lane + 40;
    const fx = (ms) => left + (width - left - right) * (end === start ? 0.5 : (ms - start) / (end - start));
    root.textContent = "";
    const svg = el("svg", { width, height, viewBox: `0 0 ${width} ${height}`, role: "img", "aria-label": "alias timeline" }, root);
    aliases.forEach((alias, i) => {
      const y = 10 + i * lane;
      text(svg, left - 8, y + 17, "@" + alias, { "text-anchor": "end" });
      data.history.filter((h) => h.alias === alias).forEach((h) => {
        const x0 = fx(t(h.valid_from)), x1 = fx(h.valid_to ? t(h.valid_to) : t(data.now));
        const rect = el("rect", { x: x0, y, width: Math.max(2, x1 - x0), height: lane - 8, rx: 3, fill: duckml.color(h.version - 1), opacity: 0.8 }, svg);
        title(rect, `@${alias} → v${h.version}: ${h.valid_from} – ${h.valid_to || "now"}`);
        if (x1 - x0 > 26) text(svg, x0 + 5, y + 16, "v" + h.version, { fill: "#ffffff" });
      });
    });
    const axisY = aliases.length * lane + 14;
    text(svg, left, axisY + 12, new Date(start).toISOString().slice(0, 16).replace("T", " "));
    text(svg, width - right, axisY + 12, "now", { "text-anchor": "end" });
    if (data.as_of) {
      const x = fx(t(data.as_of));
      if (x >= left && x <= width - right) {
        el("line", { x1: x, x2: x, y1: 4, y2: axisY, stroke: "#c2255c", "stroke-width": 2, "stroke-dasharray": "4 3" }, svg);
        text(svg, x + 4, axisY + 12, "as of", { fill: "#c2255c" });
      }
    }
  }

  document.addEventListener("DOMContentLoaded", () => {
    const data = duckml.readJSON("chart-data");
    if (data && data.rows) { parallel(data); scatter(data); }
    timeline();
  });
})();
