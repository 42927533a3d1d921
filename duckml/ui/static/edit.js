// duckml UI: the edit controls. Every write is a JSON request to /api/… carrying the page's CSRF token;
// on success the page reloads (reads are live), on refusal the server's message is shown beside the control.
"use strict";
(function () {
  const meta = document.querySelector('meta[name="csrf-token"]');
  const token = meta ? meta.content : "";

  async function send(method, url, body) {
    const init = { method, credentials: "same-origin", headers: { "X-CSRF-Token": token } };
    if (body !== undefined) {
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    const response = await fetch(url, init);
    let answer = {};
    try { answer = await response.json(); } catch (e) { answer = { error: response.statusText }; }
    if (!response.ok) throw new Error(answer.error || response.statusText);
    return answer;
  }

  function showError(control, message) {
    const scope = control.closest("[data-edit-scope]") || control.parentElement;
    let box = scope.querySelector(":scope > .edit-error");
    if (!box) {
      box = document.createElement("p");
      box.className = "edit-error error";
      box.setAttribute("role", "alert");
      scope.appendChild(box);
    }
    box.textContent = message;  // text, never HTML
  }

  // <form class="api-form" data-method="PUT" data-url="/api/runs/ID/tags/{key}">: inputs with data-in="path"
  // fill {name} in the URL (encoded); the others form the JSON body (data-type="int" sends a number,
  // data-optional drops an empty field).
  function formRequest(form) {
    let url = form.dataset.url;
    const body = {};
    for (const input of form.querySelectorAll("[name]")) {
      const value = input.value;
      if (input.dataset.in === "path") {
        if (!value.trim()) throw new Error(input.name + " must not be empty");
        url = url.replace("{" + input.name + "}", encodeURIComponent(value));
      } else if (input.dataset.optional !== undefined && value === "") {
        continue;
      } else {
        body[input.name] = input.dataset.type === "int" && /^\d+$/.test(value.trim()) ? Number(value) : value;
      }
    }
    return [url, form.dataset.body === "none" ? undefined : body];
  }

  document.addEventListener("submit", async (event) => {
    const form = event.target.closest("form.api-form");
    if (!form) return;
    event.preventDefault();
    try {
      const [url, body] = formRequest(form);
      form.classList.add("busy");
      await send(form.dataset.method, url, body);
      window.location.reload();
    } catch (error) {
      form.classList.remove("busy");
      showError(form, error.message);
    }
  });

  // <button class="api-button" data-method="POST" data-url="…" data-confirm="…">: a write without a body
  document.addEventListener("click", async (event) => {
    const fill = event.target.closest("button[data-fill]");
    if (fill) {  // "edit" beside a tag: put its key and value in the tag form
      const form = document.getElementById(fill.dataset.fill);
      form.querySelector("[name=key]").value = fill.dataset.key;
      form.querySelector("[name=value]").value = fill.dataset.value;
      form.querySelector("[name=value]").focus();
      return;
    }
    const button = event.target.closest("button.api-button");
    if (!button) return;
    if (button.dataset.confirm && !window.confirm(button.dataset.confirm)) return;
    button.disabled = true;
    try {
      await send(button.dataset.method, button.dataset.url, button.dataset.body ? JSON.parse(button.dataset.body) : undefined);
      window.location.reload();
    } catch (error) {
      button.disabled = false;
      showError(button, error.message);
    }
  });
})();
