// Brain console: what a server-rendered page cannot do alone. Everything else is plain HTML.
"use strict";

const csrf = () => document.querySelector('meta[name="csrf-token"]')?.content || "";

// A JSON field says at once whether what is typed is JSON (the server checks again).
function checkJson(area) {
  const error = document.getElementById(area.dataset.error);
  const text = area.value.trim();
  let message = "";
  if (text) {
    try {
      const value = JSON.parse(text);
      if (value === null || typeof value !== "object" || Array.isArray(value)) {
        message = area.name + ": must be a JSON object, such as {\"note\": \"...\"}";
      }
    } catch (e) {
      message = area.name + ": not valid JSON (" + e.message + ")";
    }
  }
  if (message) area.setAttribute("aria-invalid", "true");
  else if (!area.closest(".invalid")) area.removeAttribute("aria-invalid");
  if (error && (message || !area.closest(".invalid"))) error.textContent = message;
}

// Each submit of a form that writes carries a fresh Idempotency-Key, kept if the page is
// submitted twice before it answers (a double click stores once).
function keyForms() {
  for (const input of document.querySelectorAll("input[data-idempotency]")) {
    input.value = crypto.randomUUID ? crypto.randomUUID() : String(Math.random()).slice(2);
  }
}

function confirmForms() {
  for (const form of document.querySelectorAll("form[data-confirm]")) {
    form.addEventListener("submit", (event) => {
      if (!window.confirm(form.dataset.confirm)) event.preventDefault();
    });
  }
}

// The inbox: the agent's messages as they arrive (Server-Sent Events of ready-made entries),
// acknowledged without a reload.
function inbox(list) {
  const status = document.getElementById("inbox-status");
  const say = (text) => { status.textContent = text; };
  const events = new EventSource(list.dataset.events);
  events.addEventListener("ready", () => say(list.children.length ? "live" : "live: no messages waiting"));
  events.addEventListener("message", (event) => {
    const holder = document.createElement("template");
    holder.innerHTML = event.data.trim();
    const entry = holder.content.firstElementChild;
    const old = list.querySelector(`li[data-id="${entry.dataset.id}"]`);
    if (old) old.replaceWith(entry); else list.append(entry);
    say("live");
  });
  events.addEventListener("problem", (event) => { say(event.data); events.close(); });
  events.addEventListener("error", () => {
    if (events.readyState !== EventSource.CLOSED) say("reconnecting…");
  });
  list.addEventListener("submit", async (event) => {
    const form = event.target.closest("form.ack");
    if (!form) return;
    event.preventDefault();
    const button = form.querySelector("button");
    button.disabled = true;
    try {
      const answer = await fetch(form.action, {
        method: "POST", body: new URLSearchParams(new FormData(form)),
        headers: { "Accept": "application/json", "X-CSRF-Token": csrf() },
      });
      if (!answer.ok) {
        const problem = await answer.json().catch(() => ({}));
        throw new Error(problem.detail || "HTTP " + answer.status);
      }
      form.closest("li").remove();
      say(list.children.length ? "live" : "live: no messages waiting");
    } catch (e) {
      button.disabled = false;
      say("not acknowledged: " + e.message);
    }
  });
}

document.addEventListener("DOMContentLoaded", () => {
  for (const area of document.querySelectorAll("textarea[data-json]")) {
    area.addEventListener("input", () => checkJson(area));
  }
  keyForms();
  confirmForms();
  const list = document.getElementById("inbox");
  if (list && list.dataset.events) inbox(list);
});
