// `/runs/<id>`: one run, live. Status badge and duration follow the lifecycle events; the events list is an
// EventLog fed by followEvents (no gap, no duplicate across reconnects); Stop asks the producer to stop.
import { apiJSON } from "./api.js";
import { followEvents } from "./event-stream.js";
import { EventLog } from "./event-log.js";
import { formatDuration, runDuration, statusBadge, terminalStatuses } from "./format.js";

const statusAfter = {
  "run.started": "running",
  "run.completed": "completed",
  "run.failed": "failed",
  "run.stopped": "stopped",
};

export function showRun(main, runID) {
  document.title = `${runID} · RunJournal`;
  main.innerHTML = `
    <nav class="crumbs"><a href="/">Runs</a> / <span class="run-id"></span></nav>
    <div class="run-head">
      <h1 class="run-title"></h1>
      <span id="run-status" role="status" aria-live="polite"></span>
      <dl class="facts">
        <div><dt>Duration</dt><dd id="run-duration">–</dd></div>
        <div><dt>Events</dt><dd id="event-count">0</dd></div>
        <div><dt>Stream</dt><dd id="stream-state">connecting</dd></div>
      </dl>
      <button type="button" id="stop" class="danger" hidden>Stop run</button>
    </div>
    <p class="error" role="alert" hidden></p>
    <div class="log" id="log" tabindex="0" role="log" aria-label="Events of run ${"" /* set below */}"></div>
    <button type="button" id="jump" class="jump" hidden>Jump to latest ↓</button>`;
  main.querySelector(".run-id").textContent = runID;
  main.querySelector(".run-title").textContent = runID;
  main.querySelector("#log").setAttribute("aria-label", `Events of run ${runID}`);
  const statusSlot = main.querySelector("#run-status");
  const durationText = main.querySelector("#run-duration");
  const countText = main.querySelector("#event-count");
  const streamText = main.querySelector("#stream-state");
  const stop = main.querySelector("#stop");
  const jump = main.querySelector("#jump");
  const error = main.querySelector(".error");

  let run = null;          // the run as GET /v1/runs/:id last said, kept current from the events
  function showStatus() {
    if (!run) return;
    statusSlot.replaceChildren(statusBadge(run.status));
    if (run.stop_requested && !terminalStatuses.includes(run.status)) {
      const note = document.createElement("span");
      note.className = "note";
      note.textContent = "stop requested";
      statusSlot.append(" ", note);
    }
    stop.hidden = terminalStatuses.includes(run.status);
    stop.disabled = run.stop_requested;
    durationText.textContent = formatDuration(runDuration(run));
  }
  function showError(message) {
    error.textContent = message;
    error.hidden = !message;
  }

  const log = new EventLog(main.querySelector("#log"), {
    onFlush: (l) => {
      countText.textContent = String(l.events.length);
      jump.hidden = l.following;
      jump.textContent = l.waiting > 0 ? `${l.waiting} new events: jump to latest ↓` : "Jump to latest ↓";
    },
  });
  jump.addEventListener("click", () => log.jumpToLatest());

  async function refreshRun() {
    try {
      run = await apiJSON(`/v1/runs/${encodeURIComponent(runID)}`);
      showStatus();
    } catch (e) {
      showError(e.status === 404 ? `There is no run ${runID}.` : `Could not load the run: ${e.message}`);
    }
  }

  stop.addEventListener("click", async () => {
    stop.disabled = true;
    try {
      run = await apiJSON(`/v1/runs/${encodeURIComponent(runID)}/stop`, { method: "POST" });
      showStatus();
    } catch (e) {
      if (e.status === 409) refreshRun();   // it ended in the meantime
      else { showError(`Could not stop the run: ${e.message}`); stop.disabled = false; }
    }
  });

  refreshRun().then(() => {
    followEvents(runID, {
      onEvent(event) {
        log.add(event);
        if (!run) return;
        run.last_seq = event.seq;
        run.updated_at = event.ts;   // the duration of an ended run runs to its last event's time
        if (event.type === "run.stop_requested") run.stop_requested = true;
        const next = statusAfter[event.type] ?? (run.status === "queued" && !event.type.startsWith("run.") ? "running" : null);
        if (next && next !== run.status) {
          run.status = next;
          showStatus();
        } else if (event.type === "run.stop_requested") {
          showStatus();
        }
      },
      onState(state, detail) {
        streamText.textContent = state;
        streamText.dataset.state = state;
        if (state === "error") showError(detail);
        else if (state === "live") showError("");
        else if (state === "ended") refreshRun();
      },
      onReset() {
        log.clear();
        refreshRun();
      },
    });
  });
  // Duration of a running run, ticking.
  setInterval(() => {
    if (run && !terminalStatuses.includes(run.status)) durationText.textContent = formatDuration(runDuration(run));
  }, 1000);
}
