// duckml UI: small shared helpers. View state lives in the URL (query string), so every view is a link.
"use strict";
window.duckml = (function () {
  const params = () => new URLSearchParams(window.location.search);
  function setParam(name, value, defaultValue) {
    const q = params();
    if (value === null || value === undefined || value === "" || String(value) === String(defaultValue)) q.delete(name);
    else q.set(name, value);
    const text = q.toString();
    history.replaceState(null, "", window.location.pathname + (text ? "?" + text : "") + window.location.hash);
  }
  function readJSON(id) {
    const node = document.getElementById(id);
    return node ? JSON.parse(node.textContent) : null;
  }
  const palette = ["#1f77d4", "#e8590c", "#2f9e44", "#c2255c", "#7048e8", "#0c8599", "#b08900", "#5c7080",
                   "#d6336c", "#37b24d", "#f08c00", "#1098ad"];
  const color = (i) => palette[i % palette.length];
  function css(name) { return getComputedStyle(document.documentElement).getPropertyValue(name).trim(); }

  // Live pages: the run list, and while a run they show runs, a run's page, the experiment's chart view and
  // the compare page follow the store in place. A cheap poll (/api/live) every few seconds while the tab
  // is visible compares a token with the one the page was rendered at; only when it changed is the changed
  // part fetched (?fragment=…) and swapped in, keeping the user's scroll, selection, folded groups, typed
  // text and chart zoom. A page with a run shows it polls until none of its runs runs (one last update).
  const LIVE_EVERY_MS = 3000;
  const liveHooks = [];  // after a page's parts were swapped: charts.js and svgplots.js redraw in place
  function onLive(hook) { liveHooks.push(hook); }
  function live() {
    const marker = document.getElementById("page-data");
    if (!marker || !marker.dataset.live) return;
    const list = document.getElementById("run-list");
    if (!list && marker.dataset.running !== "1") return;
    const note = document.getElementById("refresh-note");
    const status = document.getElementById("live-status");
    const button = document.getElementById("refresh-pause");
    let paused = params().get("refresh") === "0";
    let token = marker.dataset.token;
    let stopped = false;
    let busy = false;
    let updated = null;
    let failure = null;
    const seen = new Set(list ? runIds(list) : []);
    const fresh = new Set();
    const show = () => {
      const parts = [stopped ? marker.dataset.ended || "run ended" : paused ? "paused" : "live"];
      if (updated) parts.push("updated " + updated);
      if (fresh.size) parts.push(fresh.size + " new run" + (fresh.size === 1 ? "" : "s"));
      if (failure) parts.push("update failed: " + failure);
      status.textContent = parts.join(" · ");
      button.textContent = paused ? "resume" : "pause";
      // invisible, not removed: the header keeps its height, so the page does not move when a run ends
      button.style.visibility = stopped ? "hidden" : "";
    };
    note.hidden = false;
    show();
    async function poll() {
      if (paused || stopped || busy || document.hidden) return;
      busy = true;
      try {
        const answer = await fetch(marker.dataset.live, { cache: "no-store", headers: { accept: "application/json" } });
        if (!answer.ok) throw new Error("HTTP " + answer.status);
        const state = await answer.json();
        if (state.token !== token) {
          // the fragment is read after the poll, so it is at least as new as state.token
          if (list) await swapRunList(seen, fresh); else stopped = !(await swapLiveParts());
          token = state.token;
        }
        updated = new Date().toLocaleTimeString([], { hour12: false });
        failure = null;
      } catch (error) {
        failure = error.message;
      } finally {
        busy = false;
        show();
      }
    }
    button.addEventListener("click", () => { paused = !paused; setParam("refresh", paused ? "0" : null); show(); poll(); });
    document.addEventListener("visibilitychange", () => { if (!document.hidden) poll(); });
    setInterval(poll, LIVE_EVERY_MS);
  }
  const runIds = (root) => [...root.querySelectorAll("input[name=run]")].map((b) => b.value);
  async function fragment(name) {
    const url = new URL(window.location.href);
    url.searchParams.set("fragment", name);
    url.hash = "";
    const answer = await fetch(url, { cache: "no-store" });
    if (!answer.ok) throw new Error("HTTP " + answer.status);
    return new DOMParser().parseFromString(await answer.text(), "text/html");
  }
  async function swapRunList(seen, fresh) {
    const doc = await fragment("table");
    const incoming = doc.getElementById("run-list");
    const current = document.getElementById("run-list");
    if (!incoming || !current) throw new Error("the run list's answer has no rows");
    const form = document.getElementById("compare-form");
    const checked = new Set([...form.querySelectorAll("input[name=run]:checked")].map((b) => b.value));
    const folded = new Set([...current.querySelectorAll("button.group-toggle[aria-expanded=false]")].map((b) => b.dataset.value));
    const wrap = current.querySelector(".runs-wrap");
    const wrapScroll = wrap ? [wrap.scrollLeft, wrap.scrollTop] : null;
    const pageScroll = [window.scrollX, window.scrollY];
    const adopted = document.importNode(incoming, true);
    adopted.querySelectorAll("input[name=run]").forEach((box) => {
      box.checked = checked.has(box.value);
      if (!seen.has(box.value)) { fresh.add(box.value); box.closest("tr").classList.add("new-run"); }
    });
    adopted.querySelectorAll("button.group-toggle").forEach((toggle) => {
      if (folded.has(toggle.dataset.value)) setGroupOpen(toggle, false, adopted);
    });
    current.replaceWith(adopted);
    const newWrap = adopted.querySelector(".runs-wrap");
    if (newWrap && wrapScroll) [newWrap.scrollLeft, newWrap.scrollTop] = wrapScroll;
    window.scrollTo(pageScroll[0], pageScroll[1]);
    const total = Number(adopted.dataset.total);
    const count = document.getElementById("run-total");
    if (count) count.textContent = total + " run" + (total === 1 ? "" : "s");
    form.dispatchEvent(new Event("change"));  // the selection count and select-all's state
  }
  async function swapLiveParts() {
    // a page's live parts (?fragment=live): each element with an id replaces the page's own, keeping
    // its scroll offsets and the page's; then the page's charts update in place. Whether a run of the
    // page still runs comes with the parts (#live-state).
    const doc = await fragment("live");
    const pageScroll = [window.scrollX, window.scrollY];
    doc.body.querySelectorAll(":scope > [id]").forEach((part) => {
      const current = document.getElementById(part.id);
      if (!current) return;
      const adopted = document.importNode(part, true);
      const scroll = [current.scrollLeft, current.scrollTop];
      current.replaceWith(adopted);
      [adopted.scrollLeft, adopted.scrollTop] = scroll;
    });
    window.scrollTo(pageScroll[0], pageScroll[1]);
    // not scrolled back after these: they may fetch for a while, and the user may scroll meanwhile
    await Promise.all(liveHooks.map((hook) => hook()));
    const state = doc.getElementById("live-state");
    return !state || state.dataset.running === "1";
  }
  function setGroupOpen(button, open, root) {
    button.setAttribute("aria-expanded", String(open));
    button.textContent = open ? "▾" : "▸";
    root.querySelectorAll(`tr[data-group="${button.dataset.group}"]`).forEach((row) => { row.hidden = !open; });
  }
  function copyButtons() {
    document.querySelectorAll("button.copy").forEach((button) => {
      button.addEventListener("click", () => {
        const text = document.getElementById(button.dataset.copy).textContent;
        const done = () => { button.textContent = "copied"; setTimeout(() => { button.textContent = "copy"; }, 1500); };
        if (navigator.clipboard) navigator.clipboard.writeText(text).then(done, () => selectText(button));
        else selectText(button);
      });
    });
  }
  function selectText(button) {
    const range = document.createRange();
    range.selectNodeContents(document.getElementById(button.dataset.copy));
    const selection = window.getSelection();
    selection.removeAllRanges();
    selection.addRange(range);
  }
  function compareSelection() {
    const form = document.getElementById("compare-form");
    if (!form) return;
    const count = document.getElementById("selected-count");
    const button = document.getElementById("compare-button");
    const update = () => {
      const n = form.querySelectorAll("input[name=run]:checked").length;
      count.textContent = n ? n + " selected" : "select runs to compare";
      button.disabled = n === 0;
    };
    form.addEventListener("change", update);
    update();
  }
  function runListControls() {
    // select all (the page's runs), and groups that fold away; delegated, as a live update replaces the rows
    const form = document.getElementById("compare-form");
    if (!form) return;
    const boxes = () => [...form.querySelectorAll("input[name=run]")];
    form.addEventListener("change", (event) => {
      const all = document.getElementById("select-all");
      if (!all) return;
      if (event.target === all) {
        boxes().forEach((b) => { b.checked = all.checked; });
        form.dispatchEvent(new Event("change"));
        return;
      }
      const n = boxes().filter((b) => b.checked).length;
      all.checked = n > 0 && n === boxes().length;
      all.indeterminate = n > 0 && n < boxes().length;
    });
    form.addEventListener("click", (event) => {
      const button = event.target.closest("button.group-toggle");
      if (button) setGroupOpen(button, button.getAttribute("aria-expanded") !== "true", document);
    });
  }
  document.addEventListener("DOMContentLoaded", () => { live(); copyButtons(); compareSelection(); runListControls(); });
  return { params, setParam, readJSON, color, css, onLive };
})();
