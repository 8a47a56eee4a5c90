// `/`: the runs, newest first (GET /v1/runs), filtered by status, paged with next_cursor, refreshed every
// few seconds (the first page only: later pages stay as the reader loaded them).
import { apiJSON } from "./api.js";
import { formatAge, formatDuration, runDuration, statusBadge } from "./format.js";

const refreshMillis = 3000;
const pageSize = 50;
const statuses = ["", "queued", "running", "completed", "failed", "stopped"];

export function showRunList(main) {
  document.title = "Runs · RunJournal";
  const params = new URLSearchParams(location.search);
  let status = statuses.includes(params.get("status")) ? params.get("status") : "";

  main.innerHTML = `
    <div class="toolbar">
      <h1>Runs</h1>
      <label class="filter">Status
        <select id="status-filter">${statuses.map((s) => `<option value="${s}">${s || "all"}</option>`).join("")}</select>
      </label>
    </div>
    <p class="error" role="alert" hidden></p>
    <div class="table-wrap">
      <table class="runs" aria-describedby="runs-caption">
        <caption id="runs-caption" class="visually-hidden">Runs, newest first</caption>
        <thead><tr><th scope="col">Run</th><th scope="col">Status</th><th scope="col">Started</th>
          <th scope="col" class="num">Events</th><th scope="col" class="num">Duration</th><th scope="col">Reason</th></tr></thead>
        <tbody id="runs-body"></tbody>
      </table>
    </div>
    <p class="empty" hidden>No runs yet. Create one with <code>runjournal exec -- ./job.sh</code> or <code>POST /v1/runs</code>.</p>
    <button type="button" id="more" hidden>Load more runs</button>`;
  const select = main.querySelector("#status-filter");
  const body = main.querySelector("#runs-body");
  const more = main.querySelector("#more");
  const error = main.querySelector(".error");
  const empty = main.querySelector(".empty");
  select.value = status;

  let pages = [];       // [{runs, next_cursor}] as loaded; pages[0] is refreshed
  let generation = 0;   // a filter change discards answers still in flight for the old one

  function render() {
    const now = Date.now();
    const seen = new Set();
    const rows = [];
    for (const page of pages) {
      for (const run of page.runs) {
        if (seen.has(run.id)) continue;   // a refreshed first page can overlap the next one
        seen.add(run.id);
        rows.push(runRow(run, now));
      }
    }
    body.replaceChildren(...rows);
    empty.hidden = rows.length > 0;
    const last = pages[pages.length - 1];
    more.hidden = !last || !last.next_cursor;
  }

  async function load(cursor) {
    const query = new URLSearchParams({ limit: String(pageSize) });
    if (status) query.set("status", status);
    if (cursor) query.set("cursor", cursor);
    return apiJSON(`/v1/runs?${query}`);
  }

  async function refresh() {
    const mine = generation;
    try {
      const first = await load(null);
      if (mine !== generation) return;
      pages = [first, ...pages.slice(1)];
      error.hidden = true;
      render();
    } catch (e) {
      if (mine !== generation) return;
      error.textContent = `Could not load runs: ${e.message}`;
      error.hidden = false;
    }
  }

  select.addEventListener("change", () => {
    status = select.value;
    const url = new URL(location.href);
    if (status) url.searchParams.set("status", status); else url.searchParams.delete("status");
    history.replaceState(null, "", url);
    generation += 1;
    pages = [];
    render();
    refresh();
  });
  more.addEventListener("click", async () => {
    const mine = generation;
    const last = pages[pages.length - 1];
    try {
      const page = await load(last.next_cursor);
      if (mine !== generation) return;
      pages.push(page);
      render();
    } catch (e) {
      error.textContent = `Could not load more runs: ${e.message}`;
      error.hidden = false;
    }
  });

  refresh();
  setInterval(() => { if (!document.hidden) refresh(); }, refreshMillis);
}

function runRow(run, now) {
  const row = document.createElement("tr");
  row.dataset.runId = run.id;
  const cell = (content, className) => {
    const td = document.createElement("td");
    if (className) td.className = className;
    if (content instanceof Node) td.append(content); else td.textContent = content;
    row.append(td);
    return td;
  };
  const link = document.createElement("a");
  link.href = `/runs/${encodeURIComponent(run.id)}`;
  link.textContent = run.id;
  cell(link, "id");
  cell(statusBadge(run.status));
  const age = cell(formatAge(run.created_at, now));
  age.title = run.created_at;
  cell(String(run.last_seq), "num");
  cell(formatDuration(runDuration(run, now)), "num");
  cell(run.reason || (run.stop_requested && run.status === "running" ? "stop requested" : ""), "reason");
  return row;
}
