// Metric charts with uPlot: one chart per metric key, one line per run. Histories come downsampled from
// /api/runs/<id>/metrics/<key>?points=N (each bucket: last value, min, max), so spikes survive; zooming
// refetches the selected step range at full resolution.
"use strict";
(function () {
  const charts = [];
  window.duckmlCharts = charts;

  function options() {
    const q = duckml.params();
    return {
      x: ["time", "relative"].includes(q.get("x")) ? q.get("x") : "step",
      log: q.get("log") === "1",
      smooth: Math.min(0.99, Math.max(0, parseFloat(q.get("smooth") || "0") || 0)),
      band: q.get("band") !== "0",
    };
  }

  function ema(values, weight) {
    // TensorBoard's debiased exponential moving average; gaps stay gaps.
    if (!weight) return values;
    let last = 0, n = 0;
    return values.map((v) => {
      if (v === null || !isFinite(v)) return null;
      last = last * weight + (1 - weight) * v;
      n += 1;
      return last / (1 - Math.pow(weight, n));
    });
  }

  function alpha(hex, a) {
    const n = parseInt(hex.slice(1), 16);
    return `rgba(${n >> 16}, ${(n >> 8) & 255}, ${n & 255}, ${a})`;
  }

  async function fetchSeries(runId, key, points, range, owners) {
    if (owners && !owners.includes(runId)) return null;
    let url = `/api/runs/${encodeURIComponent(runId)}/metrics/${encodeURIComponent(key)}?points=${points}`;
    if (range) url += `&step_from=${Math.floor(range[0])}&step_to=${Math.ceil(range[1])}`;
    const response = await fetch(url);
    if (response.status === 404) return null;  // this run has no such metric
    if (!response.ok) throw new Error(`${url}: ${response.status}`);
    return response.json();
  }

  function build(runs, histories, opts) {
    // uPlot wants one shared x array: join the runs' (x, value, min, max) tables on x.
    const tables = [], owners = [];
    histories.forEach((h, i) => {
      if (!h || !h.step.length) return;
      let x = h.step;
      if (opts.x !== "step") {
        // seconds (absolute, or since the run's first point); points logged in the same millisecond are
        // spread by a microsecond so that x keeps increasing, which uPlot needs
        const origin = opts.x === "relative" ? h.timestamp[0] : 0;
        x = [];
        h.timestamp.forEach((t, j) => { const v = (t - origin) / 1000; x.push(j && v <= x[j - 1] ? x[j - 1] + 1e-6 : v); });
      }
      const clean = (ys) => ys.map((v) => (opts.log && v !== null && v <= 0 ? null : v));
      tables.push([x, clean(h.value), clean(h.min), clean(h.max)]);
      owners.push(i);
    });
    if (!tables.length) return null;
    const joined = tables.length === 1 ? tables[0] : uPlot.join(tables);
    const data = [joined[0]];
    const series = [{ label: opts.x }];
    const bands = [];
    const lineOf = [];  // data column -> run index, for the hover
    owners.forEach((runIndex, k) => {
      const color = duckml.color(runIndex);
      const value = joined[1 + 3 * k], low = joined[2 + 3 * k], high = joined[3 + 3 * k];
      const smoothing = opts.smooth > 0;
      data.push(value);
      series.push({ label: runs[runIndex].name, stroke: smoothing ? alpha(color, 0.25) : color, width: 1, spanGaps: true });
      lineOf.push(runIndex);
      if (smoothing) {
        data.push(ema(value, opts.smooth));
        series.push({ label: runs[runIndex].name + " (smoothed)", stroke: color, width: 2, spanGaps: true });
        lineOf.push(runIndex);
      }
      if (opts.band) {
        data.push(high, low);
        series.push({ label: "max", stroke: "transparent", width: 0, points: { show: false }, spanGaps: true },
                    { label: "min", stroke: "transparent", width: 0, points: { show: false }, spanGaps: true });
        lineOf.push(runIndex, runIndex);
        bands.push({ series: [data.length - 2, data.length - 1], fill: alpha(color, 0.12) });
      }
    });
    return { data, series, bands, lineOf };
  }

  function hoverText(u, idx, runs, built, opts, key) {
    if (idx === null || idx === undefined) return "";
    const x = u.data[0][idx];
    const head = opts.x === "time" ? new Date(x * 1000).toISOString().replace("T", " ").slice(0, 23)
      : opts.x === "relative" ? `${fmt(x)} s` : `step ${x}`;
    const lines = [`<b>${escapeHtml(key)}</b> · ${head}`];
    const focused = u.cursor.idx !== null && u._focusedRun !== undefined ? u._focusedRun : null;
    built.lineOf.forEach((runIndex, k) => {
      const s = u.series[k + 1];
      if (s.label === "min" || s.label === "max") return;
      const v = u.data[k + 1][idx];
      if (v === null || v === undefined) return;
      lines.push(`<span class="swatch-${runIndex % 12}">■</span> ${escapeHtml(s.label)}: ${fmt(v)}`);
    });
    const runIndex = focused !== null ? focused : built.lineOf[0];
    const params = runs[runIndex].params || {};
    const keys = Object.keys(params).sort();
    if (keys.length) {
      lines.push(`<i>${escapeHtml(runs[runIndex].name)}</i>: ` +
                 keys.slice(0, 12).map((p) => `${escapeHtml(p)}=${escapeHtml(params[p])}`).join(", "));
    }
    return lines.join("<br>");
  }

  function fmt(v) { return Math.abs(v) >= 1e5 || (Math.abs(v) < 1e-3 && v !== 0) ? v.toExponential(3) : +v.toPrecision(5) + ""; }
  function escapeHtml(text) {
    return String(text).replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c]));
  }

  async function drawChart(box, key, runs, opts, range, owners) {
    const width = Math.max(300, box.clientWidth - 16);
    const points = Math.min(5000, Math.round(width * 2));
    const histories = await Promise.all(runs.map((r) => fetchSeries(r.run_id, key, points, range, owners)));
    const built = build(runs, histories, opts);
    const old = box._uplot;
    if (old) { old.destroy(); charts.splice(charts.indexOf(old), 1); }
    const note = box.querySelector(".note");
    const total = histories.reduce((n, h) => n + (h ? h.points : 0), 0);
    const drawn = histories.reduce((n, h) => n + (h ? h.step.length : 0), 0);
    note.textContent = `${total.toLocaleString()} points${drawn < total ? `, ${drawn.toLocaleString()} buckets drawn (min/max kept)` : ""}` +
                       (range ? ` · steps ${Math.floor(range[0])}–${Math.ceil(range[1])}` : "");
    if (!built) return;
    const fg = duckml.css("--fg"), grid = duckml.css("--grid");
    const axis = { stroke: fg, grid: { stroke: grid }, ticks: { stroke: grid } };
    const yValues = (u, ticks) => ticks.map((v) => (v === null ? "" : v === 0 ? "0" : Math.abs(v) >= 1e4 || Math.abs(v) < 1e-3 ? v.toExponential(1) : +v.toPrecision(4) + ""));
    const hover = document.getElementById("hover-params") || box.querySelector(".hover");
    const u = new uPlot({
      width, height: 220, series: built.series, bands: built.bands,
      scales: { x: { time: opts.x === "time" }, y: { distr: opts.log ? 3 : 1 } },
      axes: [opts.x === "relative" ? { ...axis, values: (u, ticks) => ticks.map((v) => (v === null ? "" : fmt(v) + " s")) } : axis,
             { ...axis, size: 64, values: yValues }],
      legend: { show: false },
      cursor: { drag: { x: true, y: false, setScale: opts.x !== "step" }, focus: { prox: 24 } },
      focus: { alpha: 0.5 },
      hooks: {
        setSelect: [(u) => {
          if (u.select.width < 4 || opts.x !== "step") return;
          const lo = u.posToVal(u.select.left, "x"), hi = u.posToVal(u.select.left + u.select.width, "x");
          u.setSelect({ left: 0, width: 0, top: 0, height: 0 }, false);
          duckml.setParam("zoom_" + key, `${Math.floor(lo)}-${Math.ceil(hi)}`);
          drawChart(box, key, runs, opts, [lo, hi], owners);
        }],
        setSeries: [(u, i) => { if (i !== null && i > 0) u._focusedRun = built.lineOf[i - 1]; }],
        setCursor: [(u) => {
          const text = hoverText(u, u.cursor.idx, runs, built, opts, key);
          if (!text || u.cursor.left < 0) { hover.style.display = "none"; return; }
          hover.innerHTML = text;
          const rect = u.over.getBoundingClientRect();
          hover.style.display = "block";
          hover.style.left = Math.min(window.innerWidth - 320, rect.left + u.cursor.left + 16) + "px";
          hover.style.top = (rect.top + u.cursor.top + 16) + "px";
        }],
      },
    }, built.data, box.querySelector(".plot"));
    u.over.addEventListener("mouseleave", () => { hover.style.display = "none"; });
    u.over.addEventListener("dblclick", () => { duckml.setParam("zoom_" + key, null); drawChart(box, key, runs, opts, null, owners); });
    const legend = box.querySelector(".legend");
    legend.textContent = "";
    if (runs.length > 1) {
      runs.forEach((r, i) => {
        if (!histories[i]) return;
        const item = document.createElement("span");
        const swatch = document.createElement("span");
        swatch.className = `swatch-${i % 12}`;
        swatch.textContent = "■ ";
        item.append(swatch, r.name);
        legend.appendChild(item);
      });
    }
    box._uplot = u;
    charts.push(u);
  }

  function zoomFromUrl(key) {
    const text = duckml.params().get("zoom_" + key);
    const m = text && /^(-?\d+)-(-?\d+)$/.exec(text);
    return m ? [parseInt(m[1], 10), parseInt(m[2], 10)] : null;
  }

  function drawAll() {
    const data = duckml.readJSON("chart-data");
    const root = document.getElementById("charts");
    if (!data || !root || typeof uPlot === "undefined") return;
    const opts = options();
    charts.splice(0).forEach((u) => u.destroy());
    root.textContent = "";
    // the run page charts system/ metrics in their own section
    const systemRoot = document.getElementById("system-charts");
    if (systemRoot) systemRoot.textContent = "";
    let hover = document.getElementById("hover-params");
    if (!hover) {
      hover = document.createElement("div");
      hover.id = "hover-params";
      hover.className = "hover-params";
      document.body.appendChild(hover);
    }
    data.keys.forEach((key) => {
      const box = document.createElement("div");
      box.className = "chart";
      box.dataset.key = key;
      const title = document.createElement("h3");
      title.textContent = key;
      const note = document.createElement("div");
      note.className = "note";
      const plot = document.createElement("div");
      plot.className = "plot";
      const legend = document.createElement("div");
      legend.className = "legend";
      box.append(title, note, plot, legend);
      (systemRoot && key.startsWith("system/") ? systemRoot : root).appendChild(box);
      drawChart(box, key, data.runs, opts, opts.x === "step" ? zoomFromUrl(key) : null, data.owners ? data.owners[key] : null).catch((e) => { note.textContent = String(e); });
    });
  }

  function controls() {
    const form = document.getElementById("chart-controls");
    if (!form) return;
    const opts = options();
    form.x.value = opts.x;
    form.log.checked = opts.log;
    form.smooth.value = opts.smooth;
    form.smooth_out.value = opts.smooth;
    form.band.checked = opts.band;
    form.addEventListener("input", (e) => { if (e.target.name === "smooth") form.smooth_out.value = form.smooth.value; });
    form.addEventListener("change", () => {
      duckml.setParam("x", form.x.value, "step");
      duckml.setParam("log", form.log.checked ? "1" : null);
      duckml.setParam("smooth", form.smooth.value, "0");
      duckml.setParam("band", form.band.checked ? null : "0");
      drawAll();
    });
  }

  document.addEventListener("DOMContentLoaded", () => {
    controls();
    drawAll();
    let timer = null;
    let lastWidth = window.innerWidth;
    window.addEventListener("resize", () => {
      if (window.innerWidth === lastWidth) return;
      lastWidth = window.innerWidth;
      clearTimeout(timer);
      timer = setTimeout(drawAll, 300);
    });
  });
})();
