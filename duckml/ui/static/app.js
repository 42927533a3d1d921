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

  function autoRefresh() {
    const marker = document.getElementById("page-data");
    if (!marker || marker.dataset.running !== "1") return;
    const note = document.getElementById("refresh-note");
    const button = document.getElementById("refresh-pause");
    let paused = params().get("refresh") === "0";
    note.hidden = false;
    const show = () => { button.textContent = paused ? "resume" : "pause"; };
    show();
    button.addEventListener("click", () => { paused = !paused; setParam("refresh", paused ? "0" : null); show(); });
    setInterval(() => { if (!paused && !document.hidden) window.location.reload(); }, 5000);
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
    // select all (the page's runs), and groups that fold away
    const all = document.getElementById("select-all");
    const form = document.getElementById("compare-form");
    if (all && form) {
      const boxes = () => [...form.querySelectorAll("input[name=run]")];
      all.addEventListener("change", () => {
        boxes().forEach((b) => { b.checked = all.checked; });
        form.dispatchEvent(new Event("change"));
      });
      form.addEventListener("change", () => {
        const n = boxes().filter((b) => b.checked).length;
        all.checked = n > 0 && n === boxes().length;
        all.indeterminate = n > 0 && n < boxes().length;
      });
    }
    document.querySelectorAll("button.group-toggle").forEach((button) => {
      button.addEventListener("click", () => {
        const open = button.getAttribute("aria-expanded") !== "true";
        button.setAttribute("aria-expanded", String(open));
        button.textContent = open ? "▾" : "▸";
        document.querySelectorAll(`tr[data-group="${button.dataset.group}"]`).forEach((row) => { row.hidden = !open; });
      });
    });
  }
  document.addEventListener("DOMContentLoaded", () => { autoRefresh(); copyButtons(); compareSelection(); runListControls(); });
  return { params, setParam, readJSON, color, css };
})();
