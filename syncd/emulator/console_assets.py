"""The agent console's style sheet and script, as plain text (no build step, no framework).

The script keeps the page current: every ``REFRESH_MILLISECONDS`` it asks
``/_emulator/console.json`` for the state's version and, when it changed, fetches the page
again and swaps in each conversation's live part (state, people, files, messages). Forms the
agent is filling in are left alone; a new conversation's whole section is added. Forms are
sent with ``fetch`` so the page stays put; without JavaScript they post and redirect back.
"""

from __future__ import annotations

REFRESH_MILLISECONDS = 1500

STYLE = """
body{font-family:system-ui,sans-serif;margin:0;background:#f4f5f7;color:#1d2330}
header{background:#1d2330;color:#fff;padding:.8em 1.5em;display:flex;gap:1em;align-items:baseline}
header h1{font-size:1.2em;margin:0}header small{opacity:.75}
main{padding:1em 1.5em;display:grid;gap:1em}
section.conversation{background:#fff;border-radius:8px;box-shadow:0 1px 3px #0002;padding:1em}
.head{display:flex;gap:.8em;align-items:center;flex-wrap:wrap}
.head h2{font-size:1em;margin:0;font-family:monospace}
.badge{border-radius:999px;padding:.15em .7em;font-size:.8em;font-weight:600;
 text-transform:uppercase}
.badge.waiting{background:#fff1c2;color:#7a5a00}.badge.active{background:#d3f5dc;color:#11662e}
.badge.closed{background:#e3e5ea;color:#555}
.who{color:#555;font-size:.9em;margin:.4em 0}
.files{display:flex;flex-wrap:wrap;gap:.8em;margin:.6em 0}
figure.file{margin:0;width:170px;border:1px solid #dde;border-radius:6px;padding:.4em;
 background:#fafbfc}
figure.file img{width:100%;height:120px;object-fit:contain;background:#eee;display:block}
figure.file .doc{height:120px;display:flex;align-items:center;justify-content:center;
 background:#e8ecf5;font-weight:700;font-size:1.4em;color:#3a4a70}
figcaption{font-size:.8em;margin-top:.3em;word-break:break-word}
figcaption .meta{color:#666}
.from-consumer{border-color:#9bc}.from-agent{border-color:#c9a}
ul.messages{list-style:none;padding:0;margin:.4em 0}
ul.messages li{padding:.2em 0;font-size:.9em}
.actions{display:flex;flex-wrap:wrap;gap:.6em;margin-top:.6em;align-items:center}
.actions form{display:flex;gap:.3em;align-items:center}
button{cursor:pointer}
"""

SCRIPT = (
    """
"use strict";
let version = document.body.dataset.version;
function bindForms(root) {
  for (const form of root.querySelectorAll("form[data-live]")) {
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const answer = await fetch(form.action, {method: "POST", body: new FormData(form),
                                                headers: {"Accept": "application/json"}});
      const status = form.querySelector(".status");
      if (status) { status.textContent = answer.ok ? "sent" : (await answer.json()).error; }
      if (answer.ok && form.dataset.reset !== undefined) { form.reset(); }
      await refresh(true);
    });
  }
}
async function refresh(force) {
  const state = await (await fetch("/_emulator/console.json")).json();
  if (!force && state.version === version) { return; }
  version = state.version;
  const page = new DOMParser().parseFromString(await (await fetch("/_emulator/")).text(),
                                               "text/html");
  const main = document.querySelector("main");
  for (const fresh of page.querySelectorAll("section.conversation")) {
    const here = document.getElementById(fresh.id);
    if (here) {
      here.querySelector(".live").replaceWith(fresh.querySelector(".live"));
      here.querySelector(".state-actions").replaceWith(fresh.querySelector(".state-actions"));
      bindForms(here.querySelector(".state-actions"));
    } else {
      main.prepend(fresh);
      bindForms(fresh);
    }
  }
  const empty = document.getElementById("empty");
  if (empty && page.querySelector("section.conversation")) { empty.remove(); }
  document.getElementById("objects").textContent = state.objects;
}
bindForms(document);
setInterval(() => refresh(false).catch(() => {}), """
    + str(REFRESH_MILLISECONDS)
    + """);
"""
)
