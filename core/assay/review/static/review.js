// assay review: keyboard shortcuts and label saving. Plain JavaScript, no build step, no libraries.
// Labels go to the server as JSON with the page's CSRF token in a header; the server appends each to the
// label database and commits before it answers, so a label shown as saved is on disk.
"use strict";
(function () {
  const root = document.getElementById("review");
  if (!root) return;
  const csrf = document.querySelector('meta[name="csrf-token"]').content;
  const note = document.getElementById("note");
  const statusLine = document.getElementById("status-line");
  let busy = false;

  function say(text, isError) {
    if (!statusLine) return;
    statusLine.textContent = text;
    statusLine.classList.toggle("error", !!isError);
  }

  async function post(url, body) {
    const response = await fetch(url, {
      method: "POST",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf },
      body: JSON.stringify(body),
      credentials: "same-origin",
    });
    let data = {};
    try { data = await response.json(); } catch (e) { /* an error page that is not JSON */ }
    if (!response.ok) throw new Error(data.detail || ("HTTP " + response.status));
    return data;
  }

  function go(url) { if (url) window.location.assign(url); }

  async function label(value) {
    if (busy || !root.dataset.position) return;
    busy = true;
    say("saving…");
    try {
      const data = await post("/api/label", {
        position: Number(root.dataset.position),
        label: value,
        note: note ? note.value : "",
        query: root.dataset.query,
      });
      say("saved: " + data.label);
      go(data.next);
    } catch (error) {
      say("not saved: " + error.message, true);
      busy = false;
    }
  }

  async function undo() {
    if (busy) return;
    busy = true;
    say("undoing…");
    try {
      const data = await post("/api/undo", { query: root.dataset.query });
      if (data.url) go(data.url); else { say(data.message || "nothing to undo"); busy = false; }
    } catch (error) {
      say("undo failed: " + error.message, true);
      busy = false;
    }
  }

  document.querySelectorAll(".choice").forEach(function (button) {
    button.addEventListener("click", function () { label(button.dataset.label); });
  });

  document.addEventListener("keydown", function (event) {
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    const target = event.target;
    const typing = target && (target.tagName === "TEXTAREA" || target.tagName === "INPUT" || target.tagName === "SELECT");
    if (typing) {
      if (event.key === "Escape") target.blur();
      return;
    }
    switch (event.key) {
      case "j": go(root.dataset.next); break;
      case "k": go(root.dataset.prev); break;
      case "1": label("correct"); break;
      case "2": label("wrong"); break;
      case "3": label("unsure"); break;
      case "u": undo(); break;
      case "n": if (note) { note.focus(); event.preventDefault(); } break;
      default: return;
    }
  });
})();
