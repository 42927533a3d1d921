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
    // uPlot wants one shared x array: join the runs' (x, value, min, max) tables on x. min and max are
    // series that draw no path: they keep the y range wide enough for every spike and feed the hover;
    // the extents themselves are drawn by drawExtents.
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
    const ids = ["x"];  // per series: which run and part, to carry "hidden" across a live rebuild
    const lineOf = [];  // data column -> run index
    const drawn = [];   // per run drawn: {runIndex, color, value, low, high, smoothed} (data columns)
    const noPath = () => null;
    owners.forEach((runIndex, k) => {
      const color = duckml.color(runIndex);
      const value = joined[1 + 3 * k], low = joined[2 + 3 * k], high = joined[3 + 3 * k];
      const smoothing = opts.smooth > 0;
      const entry = { runIndex, color, value: data.length };
      const runId = runs[runIndex].run_id;
      data.push(value);
      series.push({ label: runs[runIndex].name, stroke: smoothing ? alpha(color, 0.25) : color, width: 1, spanGaps: true });
      ids.push(runId + ":value");
      lineOf.push(runIndex);
      if (smoothing) {
        entry.smoothed = data.length;
        data.push(ema(value, opts.smooth));
        series.push({ label: runs[runIndex].name + " (smoothed)", stroke: color, width: 2, spanGaps: true });
        ids.push(runId + ":smoothed");
        lineOf.push(runIndex);
      }
      entry.high = data.length;
      entry.low = data.length + 1;
      data.push(high, low);
      series.push({ label: "max", stroke: color, width: 0, paths: noPath, points: { show: false }, spanGaps: true },
                  { label: "min", stroke: color, width: 0, paths: noPath, points: { show: false }, spanGaps: true });
      ids.push(runId + ":max", runId + ":min");
      lineOf.push(runIndex, runIndex);
      drawn.push(entry);
    });
    // the same signature: the same series in the same colours, so new data can go into the same chart
    const signature = owners.map((i) => i + ":" + runs[i].run_id + ":" + runs[i].name).join("|") + "|" + opts.smooth;
    return { data, series, lineOf, drawn, ids, signature };
  }

  function drawExtents(u, built, opts) {
    // Each bucket's true min-max as a vertical bar in its run's colour, at least one device pixel wide:
    // a single point far from its neighbours shows at any zoom.
    if (!opts.band) return;
    const ctx = u.ctx, box = u.bbox, xs = u.data[0];
    const width = Math.max(1, Math.round(window.devicePixelRatio || 1));
    const left = box.left, right = box.left + box.width, top = box.top, bottom = box.top + box.height;
    ctx.save();
    built.drawn.forEach((entry) => {
      if (u.series[entry.value].show === false) return;
      const lows = u.data[entry.low], highs = u.data[entry.high];
      ctx.fillStyle = entry.color;
      for (let i = 0; i < xs.length; i++) {
        const high = highs[i], low = lows[i];
        if (high === null || low === null || high === undefined || low === undefined) continue;
        const x = Math.round(u.valToPos(xs[i], "x", true));
        if (x < left || x > right) continue;
        let y0 = Math.max(top, Math.min(bottom, u.valToPos(high, "y", true)));
        let y1 = Math.max(top, Math.min(bottom, u.valToPos(low, "y", true)));
        if (y1 - y0 < 1) continue;  // the line itself covers it
        y0 = Math.floor(y0); y1 = Math.ceil(y1);
        ctx.fillRect(x - (width >> 1), y0, width, y1 - y0);
      }
    });
    ctx.restore();
  }

  function nearestIndex(column, idx) {
    // the index nearest idx holding a value: runs logged at other x's than the hovered one still answer
    if (column[idx] !== null && column[idx] !== undefined) return idx;
    for (let d = 1; d < column.length; d++) {
      if (idx - d >= 0 && column[idx - d] !== null && column[idx - d] !== undefined) return idx - d;
      if (idx + d < column.length && column[idx + d] !== null && column[idx + d] !== undefined) return idx + d;
      if (idx - d < 0 && idx + d >= column.length) break;
    }
    return null;
  }

  const HOVER_RUNS = 25;

  function hoverText(u, idx, runs, built, opts, key) {
    if (idx === null || idx === undefined) return "";
    const x = u.data[0][idx];
    const head = opts.x === "time" ? new Date(x * 1000).toISOString().replace("T", " ").slice(0, 23)
      : opts.x === "relative" ? `${full(x)} s` : `step ${x}`;
    const lines = [`<b>${escapeHtml(key)}</b> · ${head}`];
    const focused = u._focusedRun !== undefined ? u._focusedRun : null;
    const rows = [];
    built.drawn.forEach((entry) => {
      const values = u.data[entry.value];
      const at = nearestIndex(values, idx);
      if (at === null) return;
      const low = u.data[entry.low][at], high = u.data[entry.high][at];
      let text = `<span class="swatch-${entry.runIndex % 12}">■</span> ${escapeHtml(runs[entry.runIndex].name)}: ${full(values[at])}`;
      if (at !== idx) text += ` <span class="muted">(${opts.x === "step" ? "step " + u.data[0][at] : "nearest point"})</span>`;
      if (low !== null && high !== null && (low !== values[at] || high !== values[at])) {
        text += ` · min ${full(low)} · max ${full(high)}`;
      }
      if (entry.smoothed) text += ` · smoothed ${full(u.data[entry.smoothed][at])}`;
      rows.push({ text, runIndex: entry.runIndex, value: values[at] });
    });
    // the focused run first, then by value; a long list is cut, saying how many more there are
    rows.sort((a, b) => (b.runIndex === focused) - (a.runIndex === focused) || b.value - a.value);
    rows.slice(0, HOVER_RUNS).forEach((r) => lines.push(r.text));
    if (rows.length > HOVER_RUNS) lines.push(`<span class="muted">… and ${rows.length - HOVER_RUNS} more runs</span>`);
    const runIndex = focused !== null ? focused : (rows.length ? rows[0].runIndex : null);
    const params = runIndex !== null ? runs[runIndex].params || {} : {};
    const keys = Object.keys(params).sort();
    if (keys.length) {
      lines.push(`<i>${escapeHtml(runs[runIndex].name)}</i>: ` +
                 keys.slice(0, 12).map((p) => `${escapeHtml(p)}=${escapeHtml(params[p])}`).join(", "));
    }
    return lines.join("<br>");
  }

  // every digit a double has (the shortest text that reads back as the same number)
  function full(v) { return v === null || v === undefined ? "" : String(v); }
  function fmt(v) { return Math.abs(v) >= 1e5 || (Math.abs(v) < 1e-3 && v !== 0) ? v.toExponential(3) : +v.toPrecision(5) + ""; }
  function escapeHtml(text) {
    return String(text).replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c]));
  }

  async function loadHistories(runs, key, points, range, owners) {
    // one request for all the runs of a chart (a hundred in the chart view), aligned with runs
    const wanted = runs.filter((r) => !owners || owners.includes(r.run_id));
    if (wanted.length <= 1) return Promise.all(runs.map((r) => fetchSeries(r.run_id, key, points, range, owners)));
    const query = new URLSearchParams({ key, points: String(points) });
    if (range) { query.set("step_from", Math.floor(range[0])); query.set("step_to", Math.ceil(range[1])); }
    wanted.forEach((r) => query.append("run", r.run_id));
    const response = await fetch(`/api/histories?${query}`);
    if (!response.ok) throw new Error(`/api/histories: ${response.status}`);
    const found = (await response.json()).runs;
    return runs.map((r) => found[r.run_id] || null);
  }

  const X_TITLES = { step: "step", relative: "time since start (s)", time: "wall-clock time" };

  function pointsFor(box, runs) {
    // fewer buckets per run when many runs share a chart: what a screen can show, not 100 x 2 per pixel
    // (every bucket keeps its true min and max, so fewer buckets lose no spike, only horizontal detail)
    const width = Math.max(300, box.clientWidth - 16);
    const perRun = runs.length > 10 ? Math.max(100, Math.round(width * 10 / runs.length)) : Math.round(width * 2);
    return Math.min(5000, perRun);
  }

  async function drawChart(box, key, runs, opts, range, owners, preloaded, live) {
    const points = pointsFor(box, runs);
    // the chart view fetches every panel's first view in one request (preloaded: {run_id: history})
    const histories = preloaded && !range ? runs.map((r) => preloaded[r.run_id] || null)
      : await loadHistories(runs, key, points, range, owners);
    return render(box, key, runs, opts, range, owners, histories, live);
  }

  function clientZoom(u) {
    // the x range the user dragged to (time axes zoom in the chart; a step zoom is a refetched range)
    const xs = u.data[0];
    if (!xs || !xs.length || u.scales.x.min === undefined) return null;
    const { min, max } = u.scales.x;
    return min > xs[0] || max < xs[xs.length - 1] ? [min, max] : null;
  }

  function render(box, key, runs, opts, range, owners, histories, live) {
    // live: new data for a chart already drawn, which keeps its zoom and hidden series; the same series
    // take the data in place (setData), other series (a run came or was renamed) a new chart
    const width = Math.max(300, box.clientWidth - 16);
    const built = build(runs, histories, opts);
    const old = box._uplot;
    const kept = live && old ? { x: clientZoom(old), hidden: new Set(old.series.map((s, i) => (s.show === false ? old._view.built.ids[i] : null)).filter(Boolean)) } : null;
    const note = box.querySelector(".note");
    const total = histories.reduce((n, h) => n + (h ? h.points : 0), 0);
    const drawn = histories.reduce((n, h) => n + (h ? h.step.length : 0), 0);
    note.textContent = `${total.toLocaleString()} points${drawn < total ? `, ${drawn.toLocaleString()} buckets drawn (each bucket's min–max as a bar)` : ""}` +
                       (range ? ` · steps ${Math.floor(range[0])}–${Math.ceil(range[1])}` : "");
    drawLegend(box, runs, histories);
    if (old && kept && built && old._view.built.signature === built.signature) {
      Object.assign(old._view, { built, runs, owners });
      old.setData(built.data);
      if (kept.x) old.setScale("x", { min: kept.x[0], max: kept.x[1] });
      return old;
    }
    if (old) { old.destroy(); charts.splice(charts.indexOf(old), 1); box._uplot = null; }
    if (!built) return;
    const view = { built, runs, owners };  // what the hooks read; a live update swaps its contents
    const fg = duckml.css("--fg"), grid = duckml.css("--grid");
    const axis = { stroke: fg, grid: { stroke: grid }, ticks: { stroke: grid } };
    const yValues = (u, ticks) => ticks.map((v) => (v === null ? "" : v === 0 ? "0" : Math.abs(v) >= 1e4 || Math.abs(v) < 1e-3 ? v.toExponential(1) : +v.toPrecision(4) + ""));
    const hover = document.getElementById("hover-params") || box.querySelector(".hover");
    const u = new uPlot({
      width, height: 240, series: built.series,
      scales: { x: { time: opts.x === "time" }, y: { distr: opts.log ? 3 : 1 } },
      axes: [{ ...axis, label: X_TITLES[opts.x], labelSize: 20,
               ...(opts.x === "relative" ? { values: (u, ticks) => ticks.map((v) => (v === null ? "" : fmt(v) + " s")) } : {}) },
             { ...axis, size: 64, values: yValues, label: key, labelSize: 20 }],
      legend: { show: false },
      cursor: { drag: { x: true, y: false, setScale: opts.x !== "step" }, focus: { prox: 24 } },
      focus: { alpha: 0.5 },
      hooks: {
        draw: [(u) => drawExtents(u, view.built, opts)],
        setSelect: [(u) => {
          if (u.select.width < 4 || opts.x !== "step") return;
          const lo = u.posToVal(u.select.left, "x"), hi = u.posToVal(u.select.left + u.select.width, "x");
          u.setSelect({ left: 0, width: 0, top: 0, height: 0 }, false);
          duckml.setParam("zoom_" + key, `${Math.floor(lo)}-${Math.ceil(hi)}`);
          drawChart(box, key, view.runs, opts, [lo, hi], view.owners);
        }],
        setSeries: [(u, i) => { if (i !== null && i > 0) u._focusedRun = view.built.lineOf[i - 1]; }],
        setCursor: [(u) => {
          const text = hoverText(u, u.cursor.idx, view.runs, view.built, opts, key);
          if (!text || u.cursor.left < 0) { hover.style.display = "none"; return; }
          hover.innerHTML = text;
          const rect = u.over.getBoundingClientRect();
          hover.style.display = "block";
          hover.style.left = Math.min(window.innerWidth - 420, rect.left + u.cursor.left + 16) + "px";
          hover.style.top = Math.min(window.innerHeight - hover.offsetHeight - 8, rect.top + u.cursor.top + 16) + "px";
        }],
      },
    }, built.data, box.querySelector(".plot"));
    u._view = view;
    u.over.addEventListener("mouseleave", () => { hover.style.display = "none"; });
    u.over.addEventListener("dblclick", () => { duckml.setParam("zoom_" + key, null); drawChart(box, key, view.runs, opts, null, view.owners); });
    if (kept) {
      built.ids.forEach((id, i) => { if (kept.hidden.has(id)) u.setSeries(i, { show: false }); });
      if (kept.x) u.setScale("x", { min: kept.x[0], max: kept.x[1] });
    }
    box._uplot = u;
    charts.push(u);
    return u;
  }

  function drawLegend(box, runs, histories) {
    const legend = box.querySelector(".legend");
    legend.textContent = "";
    runs.forEach((r, i) => {
      if (!histories[i]) return;
      const item = document.createElement("span");
      const swatch = document.createElement("span");
      swatch.className = `swatch-${i % 12}`;
      swatch.textContent = "■ ";
      item.append(swatch, r.name);
      if (r.running) {
        const mark = document.createElement("span");
        mark.className = "muted running";
        mark.textContent = " (running)";
        item.appendChild(mark);
      }
      item.dataset.run = r.run_id;
      legend.appendChild(item);
    });
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
    if (data.view === "charts") { drawPanels(data, root, systemRoot, opts); return; }
    data.keys.forEach((key) => {
      const box = panelBox(key);
      (systemRoot && key.startsWith("system/") ? systemRoot : root).appendChild(box);
      drawChart(box, key, data.runs, opts, opts.x === "step" ? zoomFromUrl(key) : null, data.owners ? data.owners[key] : null).catch((e) => { box.querySelector(".note").textContent = String(e); });
    });
  }

  function panelBox(key) {
    const box = document.createElement("div");
    box.className = "chart";
    box.dataset.key = key;
    const head = document.createElement("div");
    head.className = "chart-head";
    const title = document.createElement("h3");
    title.textContent = key;
    head.appendChild(title);
    const note = document.createElement("div");
    note.className = "note";
    const plot = document.createElement("div");
    plot.className = "plot";
    const legend = document.createElement("div");
    legend.className = "legend";
    box.append(head, note, plot, legend);
    return box;
  }

  // -- the experiment's chart view: a panel per metric; order and hidden panels live in the URL --------
  const SYSTEM = "system/";

  function panelState(keys) {
    const q = duckml.params();
    const listed = q.getAll("panel").filter((k) => keys.includes(k));
    return { order: [...new Set([...listed, ...keys])], hidden: new Set(q.getAll("hide")) };
  }

  function savePanelState(order, hidden, keys) {
    const q = duckml.params();
    q.delete("panel");
    q.delete("hide");
    if (order.some((k, i) => k !== keys[i])) order.forEach((k) => q.append("panel", k));
    keys.filter((k) => hidden.has(k)).forEach((k) => q.append("hide", k));
    const text = q.toString();
    history.replaceState(null, "", window.location.pathname + (text ? "?" + text : "") + window.location.hash);
  }

  function drawBars(box, key, pairs, runs) {
    // single values: one bar per run, sorted by value, each in its run's colour
    const index = new Map(runs.map((r, i) => [r.run_id, i]));
    const numbers = pairs.map((p) => p[1]).filter((v) => v !== null);
    const low = Math.min(0, ...numbers), high = Math.max(0, ...numbers);
    const span = high - low || 1;
    // as few digits as keep every bar's value apart (at least 4), every digit on hover
    let digits = 4;
    while (digits < 17 && new Set(numbers.map((v) => v.toPrecision(digits))).size < new Set(numbers).size) digits += 1;
    box.querySelector(".plot").textContent = "";
    const list = document.createElement("div");
    list.className = "bars";
    pairs.forEach(([runId, value]) => {
      const i = index.get(runId);
      const row = document.createElement("div");
      row.className = "bar-row";
      row.dataset.value = value === null ? "" : String(value);
      const label = document.createElement("span");
      label.className = "bar-label";
      label.textContent = runs[i].name;
      label.title = runs[i].name;
      const track = document.createElement("span");
      track.className = "bar-track";
      const bar = document.createElement("span");
      bar.className = "bar";
      if (value !== null) {
        const from = (Math.min(0, value) - low) / span, to = (Math.max(0, value) - low) / span;
        bar.style.left = (100 * from).toFixed(3) + "%";
        bar.style.width = Math.max(0.3, 100 * (to - from)).toFixed(3) + "%";
        bar.style.background = duckml.color(i);
      }
      track.appendChild(bar);
      const text = document.createElement("span");
      text.className = "bar-value";
      text.textContent = value === null ? "NaN / ∞" : +value.toPrecision(digits) + "";
      text.title = value === null ? "" : full(value);
      row.append(label, track, text);
      list.appendChild(row);
    });
    box.querySelector(".plot").appendChild(list);
    box.querySelector(".note").textContent = `a single value per run, ${pairs.length} run${pairs.length === 1 ? "" : "s"}, sorted by value`;
    box.classList.add("bar-chart");
  }

  let preloadUsed = false;  // the page's preloaded histories serve the first draw only
  let panelKeys = [];  // the chart view's metric keys now (a live update may add some)

  const sortedKeys = (keys) => [...keys].sort((a, b) => a.startsWith(SYSTEM) - b.startsWith(SYSTEM) || (a < b ? -1 : a > b ? 1 : 0));

  function fillChooser(keys, state) {
    const chooser = document.getElementById("panel-list");
    if (!chooser) return;
    chooser.textContent = "";
    [["metrics", keys.filter((k) => !k.startsWith(SYSTEM))], ["system metrics", keys.filter((k) => k.startsWith(SYSTEM))]].forEach(([name, group]) => {
      if (!group.length) return;
      const fieldset = document.createElement("fieldset");
      const legend = document.createElement("legend");
      legend.textContent = name;
      fieldset.appendChild(legend);
      group.forEach((key) => {
        const label = document.createElement("label");
        const box = document.createElement("input");
        box.type = "checkbox";
        box.name = "panel-shown";
        box.value = key;
        box.checked = !state.hidden.has(key);
        box.addEventListener("change", () => {
          const now = panelState(panelKeys);
          if (box.checked) now.hidden.delete(key); else now.hidden.add(key);
          savePanelState(now.order, now.hidden, panelKeys);
          drawAll();
        });
        label.append(box, " " + key);
        fieldset.appendChild(label);
      });
      chooser.appendChild(fieldset);
    });
  }

  function panelWithButtons(key) {
    const box = panelBox(key);
    const head = box.querySelector(".chart-head");
    [["◀", "move earlier", -1], ["▶", "move later", 1], ["✕", "hide", 0]].forEach(([text, title, step]) => {
      const button = document.createElement("button");
      button.type = "button";
      button.className = "panel-move";
      button.textContent = text;
      button.title = title;
      button.dataset.action = step === 0 ? "hide" : step < 0 ? "earlier" : "later";
      button.addEventListener("click", () => movePanel(key, step, panelKeys));
      head.appendChild(button);
    });
    return box;
  }

  function drawPanels(data, root, systemRoot, opts) {
    const keys = sortedKeys(data.keys);
    panelKeys = keys;
    const state = panelState(keys);
    const heading = document.getElementById("system-heading");
    fillChooser(keys, state);
    let systemShown = 0;
    const lines = [];  // [box, key] of the panels drawn as lines, fetched together below
    state.order.filter((k) => !state.hidden.has(k)).forEach((key) => {
      const box = panelWithButtons(key);
      const system = key.startsWith(SYSTEM) && systemRoot;
      (system ? systemRoot : root).appendChild(box);
      if (system) systemShown += 1;
      if (data.owners[key]) lines.push([box, key]);
      else drawBars(box, key, data.singles[key] || [], data.runs);
    });
    if (heading) heading.hidden = systemShown === 0;
    if (!lines.length) return;
    // one request for every panel's runs and keys: one scan of the histories instead of one per panel.
    // The first draw fetches the URL the page preloads (every history panel, buckets for a ~700 px panel),
    // so the server is already at work while the scripts load; a redraw asks for this panel width's buckets.
    const wanted = [...new Set(lines.flatMap(([, key]) => data.owners[key]))];
    const preloaded = data.histories_url && !preloadUsed;
    preloadUsed = true;
    const url = preloaded ? data.histories_url : historiesUrl(lines, data);
    const onlyKey = Object.keys(data.owners).length === 1 ? Object.keys(data.owners)[0] : lines[0][1];
    // a plain fetch, as the preload asked (other request options would not match the preloaded answer)
    const together = (preloaded || lines.length > 1) && wanted.length ? fetchJSON(url, {})
      .then((body) => body.keys || { [onlyKey]: body.runs }) : Promise.resolve(null);
    lines.forEach(([box, key]) => {
      const zoom = opts.x === "step" ? zoomFromUrl(key) : null;
      together.then((byKey) => drawChart(box, key, data.runs, opts, zoom, data.owners[key], byKey && !zoom ? byKey[key] || {} : null))
        .catch((e) => { box.querySelector(".note").textContent = String(e); });
    });
  }

  function historiesUrl(lines, data) {
    const query = new URLSearchParams({ points: String(pointsFor(lines[0][0], data.runs)) });
    lines.forEach(([, key]) => query.append("key", key));
    [...new Set(lines.flatMap(([, key]) => data.owners[key]))].forEach((id) => query.append("run", id));
    return `/api/histories?${query}`;
  }

  async function fetchJSON(url, options = { cache: "no-store" }) {
    const response = await fetch(url, options);
    if (!response.ok) throw new Error(`${url.split("?")[0]}: ${response.status}`);
    return response.json();
  }

  // -- live: a RUNNING run's new points go into the charts drawn (app.js calls update after swapping in
  // the page's new chart data): each panel keeps its box, zoom and hidden series; new keys get a box ------
  function boxesByKey() {
    return new Map([...document.querySelectorAll("#charts > .chart, #system-charts > .chart")].map((b) => [b.dataset.key, b]));
  }

  function removeBox(box) {
    if (box._uplot) { box._uplot.destroy(); charts.splice(charts.indexOf(box._uplot), 1); box._uplot = null; }
    box.remove();
  }

  function placeAfter(parent, box, previous) {
    // only a box out of place moves: the others stay put, and the page does not jump
    const next = previous ? previous.nextSibling : parent.firstChild;
    if (box !== next) parent.insertBefore(box, next);
  }

  async function update() {
    const data = duckml.readJSON("chart-data");
    const root = document.getElementById("charts");
    if (!data || !root || typeof uPlot === "undefined") return;
    const opts = options();
    const systemRoot = document.getElementById("system-charts");
    const zoomOf = (key) => (opts.x === "step" ? zoomFromUrl(key) : null);
    const boxes = boxesByKey();
    const previous = new Map();
    const lines = [];  // [box, key] drawn as lines
    let systemShown = 0;
    const panels = data.view === "charts";
    let shown = data.keys;
    if (panels) {
      const keys = sortedKeys(data.keys);
      panelKeys = keys;
      const state = panelState(keys);
      fillChooser(keys, state);
      shown = state.order.filter((k) => !state.hidden.has(k));
    }
    boxes.forEach((box, key) => { if (!shown.includes(key)) removeBox(box); });
    shown.forEach((key) => {
      const system = key.startsWith(SYSTEM) && systemRoot;
      const parent = system ? systemRoot : root;
      const box = boxes.get(key) || (panels ? panelWithButtons(key) : panelBox(key));
      placeAfter(parent, box, previous.get(parent));
      previous.set(parent, box);
      if (system) systemShown += 1;
      if (!panels || data.owners[key]) {
        if (box.classList.contains("bar-chart")) { box.classList.remove("bar-chart"); box.querySelector(".plot").textContent = ""; }
        lines.push([box, key]);
      } else {
        if (box._uplot) { box._uplot.destroy(); charts.splice(charts.indexOf(box._uplot), 1); box._uplot = null; }
        drawBars(box, key, data.singles[key] || [], data.runs);
      }
    });
    const heading = document.getElementById("system-heading");
    if (panels && heading) heading.hidden = systemShown === 0;
    const owners = (key) => (data.owners ? data.owners[key] : null);
    // the chart view: one request for every panel at full view; a zoomed panel refetches its step range
    let byKey = null;
    const full = lines.filter(([, key]) => !zoomOf(key));
    if (panels && full.length) {
      const body = await fetchJSON(historiesUrl(full, data));
      byKey = body.keys || { [full[0][1]]: body.runs };
    }
    await Promise.all(lines.map(([box, key]) => {
      const zoom = zoomOf(key);
      const preloaded = byKey && !zoom ? byKey[key] || {} : null;
      return drawChart(box, key, data.runs, opts, zoom, owners(key), preloaded, true)
        .catch((e) => { box.querySelector(".note").textContent = String(e); });
    }));
  }

  function movePanel(key, step, keys) {
    const state = panelState(keys);
    if (step === 0) {
      state.hidden.add(key);
      savePanelState(state.order, state.hidden, keys);
      const box = document.querySelector(`.chart[data-key="${CSS.escape(key)}"]`);
      if (box) {
        if (box._uplot) { box._uplot.destroy(); charts.splice(charts.indexOf(box._uplot), 1); }
        box.remove();
      }
      const choice = document.querySelector(`input[name=panel-shown][value="${CSS.escape(key)}"]`);
      if (choice) choice.checked = false;
      return;
    }
    // move past the next shown panel of the same group, and move the drawn box the same way
    const shown = state.order.filter((k) => !state.hidden.has(k) && k.startsWith(SYSTEM) === key.startsWith(SYSTEM));
    const at = shown.indexOf(key), other = shown[at + step];
    if (other === undefined) return;
    const order = state.order.filter((k) => k !== key);
    order.splice(order.indexOf(other) + (step > 0 ? 1 : 0), 0, key);
    savePanelState(order, state.hidden, keys);
    const box = document.querySelector(`.chart[data-key="${CSS.escape(key)}"]`);
    const otherBox = document.querySelector(`.chart[data-key="${CSS.escape(other)}"]`);
    if (box && otherBox) otherBox.parentNode.insertBefore(box, step > 0 ? otherBox.nextSibling : otherBox);
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

  duckml.onLive(update);  // app.js, after a live update swapped in the page's new chart data
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
