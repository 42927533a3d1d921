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

  // A column: {name, kind: "param"|"metric"|"tag"|"attribute", values: [per run], numeric: bool}
  const present = (v) => v !== null && v !== undefined && v !== "";
  function columns(data) {
    return data.rows.map((row) => {
      const values = row.values;
      const given = values.filter(present);
      const numeric = given.length > 0 && given.every((v) => isFinite(num(v)));
      return { name: `${row.kind}s.${row.key}`, key: row.key, kind: row.kind, values, numeric, differs: row.differs };
    });
  }
  const MISSING_GAP = 24;  // missing values sit below the axis, apart from every real value
  function scaleOf(col, lo, hi) {
    // value -> pixel between lo (bottom) and hi (top); numbers by value, text spread in sorted order;
    // a missing value goes to its own slot below the axis (f.missing), never among the values
    const missing = lo + MISSING_GAP;
    if (col.numeric) {
      const xs = col.values.map(num).filter(isFinite);
      const min = Math.min(...xs), max = Math.max(...xs);
      const f = (v) => (!present(v) || !isFinite(num(v)) ? missing : max === min ? (lo + hi) / 2 : lo + (hi - lo) * (num(v) - min) / (max - min));
      const ticks = max === min ? [min] : [0, 0.25, 0.5, 0.75, 1].map((t) => min + t * (max - min));
      f.ticks = ticks.map((v) => [f(v), fmt(v)]);
      f.missing = missing;
      return f;
    }
    const cats = [...new Set(col.values.filter(present).map(String))].sort();
    const f = (v) => (!present(v) ? missing : lo + (hi - lo) * (cats.length === 1 ? 0.5 : cats.indexOf(String(v)) / (cats.length - 1)));
    // as many labels as fit 13 px apart
    const every = Math.max(1, Math.ceil(cats.length * 13 / Math.max(1, Math.abs(lo - hi))));
    f.ticks = cats.filter((_, i) => i % every === 0).map((c) => [f(c), c.length > 16 ? c.slice(0, 15) + "…" : c]);
    f.missing = missing;
    return f;
  }
  function viridis(t) {
    // a perceptual colour scale (viridis, 5 stops): a value's colour, never a run's
    const stops = [[68, 1, 84], [59, 82, 139], [33, 145, 140], [94, 201, 98], [253, 231, 37]];
    const x = Math.max(0, Math.min(1, t)) * (stops.length - 1), i = Math.min(stops.length - 2, Math.floor(x)), f = x - i;
    const c = stops[i].map((v, k) => Math.round(v + f * (stops[i + 1][k] - v)));
    return `rgb(${c[0]}, ${c[1]}, ${c[2]})`;
  }
  function colorScale(col) {
    const xs = col.values.map(num).filter(isFinite);
    const min = Math.min(...xs), max = Math.max(...xs);
    const f = (v) => (!present(v) || !isFinite(num(v)) ? "#9a9a9a" : viridis(max === min ? 0.5 : (num(v) - min) / (max - min)));
    f.min = min; f.max = max;
    return f;
  }
  function fillSelect(select, names, chosen) {
    select.textContent = "";
    names.forEach((n) => {
      const o = document.createElement("option");
      o.value = n; o.textContent = n; o.selected = n === chosen;
      select.appendChild(o);
    });
  }
  function setList(name, values) {
    const q = duckml.params();
    q.delete(name);
    values.forEach((v) => q.append(name, v));
    const text = q.toString();
    history.replaceState(null, "", window.location.pathname + (text ? "?" + text : "") + window.location.hash);
  }
  const clip = (text, chars) => (text.length > chars ? text.slice(0, Math.max(1, chars - 1)) + "…" : text);

  const brushes = new Map();  // axis name -> [top px, bottom px]: lines outside are dimmed

  function parallel(data) {
    const root = document.getElementById("parcoords");
    const form = document.getElementById("parcoords-form");
    if (!root) return;
    const cols = columns(data).filter((c) => c.values.some(present));
    const numeric = cols.filter((c) => c.numeric);
    if (!numeric.length) { root.textContent = "No numeric value to colour by."; return; }
    const q = duckml.params();
    const target = numeric.find((c) => c.name === q.get("pc") || c.key === q.get("pc"))
      || numeric.find((c) => c.kind === "metric") || numeric[0];
    fillSelect(form.pc, numeric.map((c) => c.name), target.name);
    form.pc.onchange = () => { duckml.setParam("pc", form.pc.value); parallel(data); };
    const listed = q.getAll("pa").map((n) => cols.find((c) => c.name === n)).filter(Boolean);
    const axes = listed.length ? listed
      : [...cols.filter((c) => c.kind === "param" && c.differs).slice(0, 8), target].filter((c, i, all) => all.indexOf(c) === i);
    // the axis chooser: every column, ticked when it is an axis
    const chooser = document.getElementById("parcoords-axes");
    if (chooser) {
      chooser.textContent = "";
      cols.forEach((c) => {
        const label = document.createElement("label");
        const box = document.createElement("input");
        box.type = "checkbox"; box.value = c.name; box.checked = axes.includes(c);
        box.onchange = () => {
          const names = axes.map((a) => a.name).filter((n) => n !== c.name);
          if (box.checked) names.push(c.name);
          setList("pa", names);
          parallel(data);
        };
        label.append(box, " " + c.name);
        chooser.appendChild(label);
      });
    }
    const width = Math.max(480, root.clientWidth || 700), height = 360, top = 64, bottom = 70, side = 70;
    const gap = axes.length > 1 ? (width - 2 * side) / (axes.length - 1) : 0;
    const stagger = gap < 130;  // titles alternate between two rows when they would touch
    const titleChars = Math.max(6, Math.floor((stagger ? 2 * gap : gap) / 7));
    root.textContent = "";
    const svg = el("svg", { width, height, viewBox: `0 0 ${width} ${height}`, role: "img", "aria-label": "parallel coordinates" }, root);
    const low = height - bottom;
    const scales = axes.map((c) => scaleOf(c, low, top));
    const color = colorScale(target);
    const lines = data.runs.map((run, i) => {
      // every run is one line across every axis; a missing value passes through the axis' missing slot
      const pts = axes.map((c, a) => [side + a * gap, scales[a](c.values[i])]);
      const line = el("polyline", { points: pts.map((p) => p.join(",")).join(" "), fill: "none",
                                    stroke: color(target.values[i]), "stroke-width": 2, opacity: 0.85, class: "pc-line" }, svg);
      line.dataset.run = run.run_id;
      title(line, `${run.name}: ` + axes.map((c) => `${c.name} = ${present(c.values[i]) ? c.values[i] : "—"}`).join(", "));
      return { line, pts };
    });
    const applyBrushes = () => {
      lines.forEach(({ line, pts }) => {
        const inside = axes.every((c, a) => {
          const b = brushes.get(c.name);
          return !b || (pts[a][1] >= b[0] && pts[a][1] <= b[1]);
        });
        line.setAttribute("opacity", inside ? 0.85 : 0.07);
        line.dataset.selected = inside ? "1" : "0";
      });
      const shown = lines.filter((l) => l.line.dataset.selected === "1").length;
      root.dataset.selected = String(shown);
    };
    axes.forEach((c, a) => {
      const x = side + a * gap;
      el("line", { x1: x, x2: x, y1: top, y2: low, class: "axis" }, svg);
      const titleY = stagger && a % 2 ? top - 30 : top - 14;
      const head = text(svg, x, titleY, clip(c.name, titleChars), { "text-anchor": "middle", "font-weight": c === target ? "bold" : "normal" });
      title(head, c.name);
      scales[a].ticks.forEach(([y, label]) => text(svg, x + 5, y + 4, label));
      if (c.values.some((v) => !present(v))) text(svg, x + 5, scales[a].missing + 4, "none", { class: "missing" });
      // move the axis left or right: the order is kept in the URL
      [["◀", -1, -14], ["▶", 1, 4]].forEach(([glyph, step, dx]) => {
        const handle = text(svg, x + dx, height - 12, glyph, { class: "axis-handle" });
        handle.dataset.axis = c.name; handle.dataset.step = String(step);
        handle.addEventListener("click", () => {
          const names = axes.map((x) => x.name), at = names.indexOf(c.name), to = at + step;
          if (to < 0 || to >= names.length) return;
          [names[at], names[to]] = [names[to], names[at]];
          setList("pa", names);
          parallel(data);
        });
      });
      // brushing: drag along an axis to keep the lines that cross it there; a click clears it
      const hit = el("rect", { x: x - 12, y: top - 6, width: 24, height: low - top + MISSING_GAP + 12, fill: "transparent", class: "axis-hit", cursor: "crosshair" }, svg);
      hit.dataset.axis = c.name;
      let brush = null;
      const old = brushes.get(c.name);
      if (old) brush = el("rect", { x: x - 8, y: old[0], width: 16, height: old[1] - old[0], class: "brush" }, svg);
      hit.addEventListener("mousedown", (event) => {
        event.preventDefault();
        const box = svg.getBoundingClientRect();
        const y0 = event.clientY - box.top;
        if (brush) brush.remove();
        brush = el("rect", { x: x - 8, y: y0, width: 16, height: 0, class: "brush", "pointer-events": "none" }, svg);
        const move = (e) => {
          const y1 = e.clientY - box.top;
          brush.setAttribute("y", Math.min(y0, y1));
          brush.setAttribute("height", Math.abs(y1 - y0));
        };
        const up = (e) => {
          window.removeEventListener("mousemove", move);
          window.removeEventListener("mouseup", up);
          const y1 = e.clientY - box.top;
          if (Math.abs(y1 - y0) < 3) { brushes.delete(c.name); brush.remove(); brush = null; }
          else brushes.set(c.name, [Math.min(y0, y1), Math.max(y0, y1)]);
          applyBrushes();
        };
        window.addEventListener("mousemove", move);
        window.addEventListener("mouseup", up);
      });
    });
    // the colour legend: the scale of the colouring column, its ends labelled
    const legendX = width - side - 160, legendY = 8;
    const defs = el("defs", {}, svg);
    const gradient = el("linearGradient", { id: "pc-gradient", x1: "0", x2: "1", y1: "0", y2: "0" }, defs);
    [0, 0.25, 0.5, 0.75, 1].forEach((t) => el("stop", { offset: `${t * 100}%`, "stop-color": viridis(t) }, gradient));
    const legend = el("g", { class: "pc-legend" }, svg);
    text(legend, legendX - 6, legendY + 10, clip(target.name, 28), { "text-anchor": "end" });
    el("rect", { x: legendX, y: legendY, width: 160, height: 10, fill: "url(#pc-gradient)" }, legend);
    text(legend, legendX, legendY + 24, fmt(color.min));
    text(legend, legendX + 160, legendY + 24, fmt(color.max), { "text-anchor": "end" });
    applyBrushes();
  }

  function scatter(data) {
    const root = document.getElementById("scatter");
    const form = document.getElementById("scatter-form");
    if (!root) return;
    const cols = columns(data).filter((c) => c.values.some(present));
    if (cols.length < 1) { root.textContent = "No params, metrics or tags."; return; }
    const q = duckml.params();
    // default: the two most complete columns that differ, numbers and params first
    const count = (c) => c.values.filter(present).length;
    const ranked = [...cols].sort((a, b) => count(b) - count(a) || b.numeric - a.numeric || (a.kind === "param" ? -1 : 1) + (b.kind === "param" ? 1 : -1));
    const useful = ranked.filter((c) => c.differs);
    const pool = useful.length >= 2 ? useful : ranked;
    const xs = cols.find((c) => c.name === q.get("sx")) || pool[0];
    const ys = cols.find((c) => c.name === q.get("sy")) || pool.find((c) => c !== xs && c.kind === "metric") || pool.find((c) => c !== xs) || xs;
    fillSelect(form.sx, cols.map((c) => c.name), xs.name);
    fillSelect(form.sy, cols.map((c) => c.name), ys.name);
    form.onchange = () => { duckml.setParam("sx", form.sx.value); duckml.setParam("sy", form.sy.value); scatter(data); };
    const width = Math.max(420, root.clientWidth || 560), height = 340;
    root.textContent = "";
    const svg = el("svg", { width, height, viewBox: `0 0 ${width} ${height}`, role: "img", "aria-label": "scatter" }, root);
    // room for the longest y label, and for slanted x labels when they are text
    const probeY = scaleOf(ys, 0, 1).ticks.map((t) => t[1]);
    const left = Math.min(170, 16 + 7 * Math.max(3, ...probeY.map((t) => t.length)));
    const probeX = scaleOf(xs, 0, 1).ticks.map((t) => t[1]);
    const slant = !xs.numeric;
    const bottom = slant ? Math.min(120, 30 + 5 * Math.max(...probeX.map((t) => t.length))) : 48;
    const right = 24, top = 28;
    const fx = scaleOf(xs, left, width - right - MISSING_GAP - 10), fy = scaleOf(ys, height - bottom - MISSING_GAP - 4, top);
    // the x scale's "missing" slot is to the right of its axis, not below it
    const xMissing = width - right - 4;
    const xOf = (v) => (present(v) && (!xs.numeric || isFinite(num(v))) ? fx(v) : xMissing);
    el("line", { x1: left, x2: width - right, y1: height - bottom, y2: height - bottom, class: "axis" }, svg);
    el("line", { x1: left, x2: left, y1: top - 8, y2: height - bottom, class: "axis" }, svg);
    fx.ticks.forEach(([x, label]) => {
      if (slant) text(svg, x, height - bottom + 12, label, { "text-anchor": "end", transform: `rotate(-35 ${x} ${height - bottom + 12})` });
      else text(svg, x, height - bottom + 16, label, { "text-anchor": "middle" });
    });
    fy.ticks.forEach(([y, label]) => text(svg, left - 5, y + 4, label, { "text-anchor": "end" }));
    if (xs.values.some((v) => !present(v))) text(svg, xMissing, height - bottom + 16, "none", { "text-anchor": "end", class: "missing" });
    if (ys.values.some((v) => !present(v))) text(svg, left - 5, fy.missing + 4, "none", { "text-anchor": "end", class: "missing" });
    text(svg, (width + left) / 2, height - 6, xs.name, { "text-anchor": "middle" });
    text(svg, left, 14, "↑ " + ys.name);
    data.runs.forEach((run, i) => {
      const x = xOf(xs.values[i]), y = fy(ys.values[i]);
      const dot = el("circle", { cx: x, cy: y, r: 5, fill: duckml.color(i), opacity: 0.85 }, svg);
      title(dot, `${run.name}: ${xs.name} = ${present(xs.values[i]) ? xs.values[i] : "—"}, ${ys.name} = ${present(ys.values[i]) ? ys.values[i] : "—"}`);
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

  function comparePlots() {
    const data = duckml.readJSON("chart-data");
    if (data && data.rows) { parallel(data); scatter(data); }
  }
  // the compare page while a run runs: app.js swapped in new values; the plots follow, keeping the axes,
  // colouring and scatter columns chosen (in the URL) and the brushes
  duckml.onLive(comparePlots);
  document.addEventListener("DOMContentLoaded", () => {
    comparePlots();
    timeline();
  });
})();
