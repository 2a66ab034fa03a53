"""The teacher's page: one HTML document that reads `/api/summary` every two seconds (short polling).
The teacher's token travels in the address's fragment (`/teacher#token=...`), which browsers
never send to a server or put in its logs; the page sends it as a bearer token."""

PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Kata room</title>
<style>
  body { font: 15px/1.4 system-ui, sans-serif; margin: 1.5rem 2rem; color: #222; }
  h1 { font-size: 1.4rem; margin: 0 0 .2rem; } h2 { font-size: 1.1rem; margin: 1.4rem 0 .4rem; }
  #status { color: #666; font-size: .9rem; } #status.stale { color: #b00; font-weight: bold; }
  table { border-collapse: collapse; width: 100%; } td, th { padding: .3rem .5rem; text-align: left; vertical-align: top; }
  tr + tr td { border-top: 1px solid #eee; } th { font-weight: 600; border-bottom: 2px solid #ccc; }
  .bar { display: flex; width: 14rem; height: 1rem; background: #eee; border-radius: 3px; overflow: hidden; }
  .done { background: #2a9d4b; } .failing { background: #e07a1f; }
  .num { text-align: right; font-variant-numeric: tabular-nums; } .muted { color: #777; }
  .callout { background: #fff6e5; border-left: 4px solid #e07a1f; padding: .5rem .8rem; }
  button { font: inherit; padding: .15rem .6rem; cursor: pointer; }
</style>
</head>
<body>
<h1>Kata room</h1>
<div id="status">Connecting...</div>
<h2>Most common failing test</h2>
<div id="common" class="callout muted">No failing checks yet.</div>
<h2>Katas</h2>
<table id="katas"><thead><tr><th>#</th><th>Kata</th><th>Progress</th><th class="num">Done</th>
<th class="num">Failing</th><th class="num">Not started</th><th>Most common failing test</th><th>Walkthrough</th></tr></thead>
<tbody></tbody></table>
<h2>Stuck longest</h2>
<table id="stuck"><thead><tr><th>Learner</th><th>Kata</th><th>Failing for</th><th>On</th><th class="num">Attempts</th>
<th class="num">Hint</th></tr></thead><tbody></tbody></table>
<h2>The class</h2>
<table id="class"><thead><tr><th>Learner</th><th class="num">Done</th><th class="num">Failing</th><th class="num">Hints opened</th>
<th>Last check</th></tr></thead><tbody></tbody></table>
<script>
const token = new URLSearchParams(location.hash.slice(1)).get("token") || "";
const headers = { "Authorization": "Bearer " + token };
const esc = (s) => String(s ?? "").replace(/[&<>"']/g, (c) => ({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;"}[c]));
const cell = (v, cls) => `<td${cls ? ` class="${cls}"` : ""}>${v}</td>`;
let lastOk = 0;

function render(s) {
  const total = Math.max(s.learners, 1);
  document.getElementById("status").className = "";
  document.getElementById("status").textContent =
    `${s.learners} learner(s) · track ${s.track} · updated ${new Date(s.generated).toLocaleTimeString()}`;
  const c = s.most_common_failure;
  document.getElementById("common").className = c ? "callout" : "callout muted";
  document.getElementById("common").innerHTML = c
    ? `<b>${esc(c.sentence)}</b> (kata ${c.number}, ${c.learners} learner(s))<br><span class="muted">${esc(c.observed)}</span>`
    : "No failing checks yet.";
  document.querySelector("#katas tbody").innerHTML = s.katas.map((k) => `<tr data-kata="${esc(k.id)}">` +
    cell(k.number, "num") + cell(`${esc(k.title)} <span class="muted">${k.minutes ?? "?"} min</span>`) +
    cell(`<div class="bar"><div class="done" style="width:${100 * k.done / total}%"></div>` +
         `<div class="failing" style="width:${100 * k.failing / total}%"></div></div>`) +
    cell(k.done, "num done-count") + cell(k.failing, "num failing-count") + cell(k.not_started, "num") +
    cell(k.common_failure ? `${esc(k.common_failure.sentence)} <span class="muted">(${k.common_failure.learners})</span>` : "") +
    cell(k.revealed ? "revealed" : `<button class="reveal" data-kata="${esc(k.id)}">Reveal</button>`) + "</tr>").join("");
  document.querySelector("#stuck tbody").innerHTML = s.stuck.map((x) => "<tr>" + cell(esc(x.learner)) +
    cell(`${x.number} ${esc(x.title)}`) + cell(`${Math.round(x.minutes)} min`) + cell(esc(x.sentence)) +
    cell(x.attempts, "num") + cell(x.hint, "num") + "</tr>").join("") ||
    `<tr><td colspan="6" class="muted">Nobody is stuck.</td></tr>`;
  document.querySelector("#class tbody").innerHTML = s.class.map((l) => "<tr>" + cell(esc(l.name)) + cell(l.done, "num") +
    cell(l.failing, "num") + cell(l.hints, "num") + cell(l.last_seen ? new Date(l.last_seen).toLocaleTimeString() : "") +
    "</tr>").join("");
}

async function refresh() {
  try {
    const answer = await fetch("/api/summary", { headers, cache: "no-store" });
    if (answer.status === 401) {
      document.getElementById("status").textContent = "This page needs the teacher's address, with its #token=..., as `kata room serve` printed it.";
      return;
    }
    render(await answer.json());
    lastOk = Date.now();
  } catch (error) {
    if (Date.now() - lastOk > 6000) {
      const status = document.getElementById("status");
      status.className = "stale"; status.textContent = "The room does not answer: is `kata room serve` still running?";
    }
  }
}

document.addEventListener("click", async (event) => {
  const button = event.target.closest("button.reveal");
  if (!button || !confirm(`Reveal this kata's walkthrough to everyone?`)) return;
  button.disabled = true;
  await fetch(`/api/katas/${encodeURIComponent(button.dataset.kata)}/reveal`, { method: "POST", headers });
  refresh();
});
refresh();
setInterval(refresh, 2000);
</script>
</body>
</html>
"""
