// The list of a run's events, rendered incrementally so a run of 100,000 events stays responsive:
// - events are queued as they arrive and turned into rows once per animation frame, in one DOM append;
// - at most `maxRows` rows are in the page; older ones are dropped from the DOM while the reader follows
//   the end (they stay in memory) and come back with "Show earlier events";
// - when a burst (a replay) brings more than `maxRowsPerFrame` events between two frames, only the newest
//   get rows at all.
// Auto-scroll: the list follows new events while the reader is at the bottom; scrolling up pauses it,
// scrolling back to the bottom (or "Jump to latest") resumes it.
import { formatClock } from "./format.js";

const maxRows = 2000;
const maxRowsPerFrame = 500;
const earlierStep = 1000;
const foldAt = 160;   // characters of data shown before folding
const lifecycle = new Set(["run.created", "run.started", "run.waiting", "run.stop_requested", "run.completed", "run.failed", "run.stopped"]);

export class EventLog {
  constructor(container, { onFlush } = {}) {
    this.container = container;
    this.onFlush = onFlush;
    this.events = [];          // every event received, in seq order
    this.renderedFrom = 0;     // index in `events` of the first row in the DOM
    this.renderedTo = 0;       // index after the last row in the DOM
    this.queued = false;
    this.following = true;

    this.earlier = document.createElement("button");
    this.earlier.type = "button";
    this.earlier.className = "earlier";
    this.earlier.hidden = true;
    this.earlier.addEventListener("click", () => this.showEarlier());
    this.rows = document.createElement("ol");
    this.rows.className = "events";
    container.append(this.earlier, this.rows);

    // Where this list last scrolled itself to. A scroll event above it is the reader moving up (pause);
    // reaching the bottom resumes. Scroll events caused by the list's own appends and trims land at or
    // below it, so they never pause following by mistake.
    this.autoScrollTop = 0;
    container.addEventListener("scroll", () => {
      const top = container.scrollTop;
      if (this.atBottom()) {
        if (!this.following) this.schedule();   // render what arrived meanwhile
        this.following = true;
      } else if (this.following && top < this.autoScrollTop - 4) this.following = false;
      this.onFlush?.(this);
    }, { passive: true });
  }

  atBottom() {
    const c = this.container;
    return c.scrollTop + c.clientHeight >= c.scrollHeight - 24;
  }

  add(event) {
    this.events.push(event);
    this.schedule();
  }

  /** Forgets everything (the run id now names a new run). */
  clear() {
    this.events = [];
    this.renderedFrom = this.renderedTo = 0;
    this.rows.replaceChildren();
    this.earlier.hidden = true;
  }

  flush() {
    this.queued = false;
    const pending = this.events.length - this.renderedTo;
    if (pending > 0 && this.following) {
      // A burst longer than a frame's worth (a replay, a flood of output) skips straight to its end: only
      // its last rows are made, the rest stay behind "Show earlier events".
      const from = Math.max(this.renderedTo, this.events.length - maxRowsPerFrame);
      if (from > this.renderedTo) {
        this.rows.replaceChildren();
        this.renderedFrom = from;
      }
      this.appendRows(from, this.events.length);
      this.trim();
      this.scrollToEnd();
    } else if (pending > 0 && this.renderedTo - this.renderedFrom < 2 * maxRows) {
      // The reader is reading above: new rows go below theirs, a frame's worth at a time, until the page
      // holds twice the usual rows; the rest wait until they come back to the end.
      const to = Math.min(this.events.length, this.renderedTo + maxRowsPerFrame);
      this.appendRows(this.renderedTo, to);
      if (to < this.events.length) this.schedule();
    }
    this.earlier.hidden = this.renderedFrom === 0;
    this.earlier.textContent = `Show earlier events (${this.renderedFrom} not shown)`;
    this.onFlush?.(this);
  }

  appendRows(from, to) {
    const fragment = document.createDocumentFragment();
    for (let i = from; i < to; i += 1) fragment.append(renderRow(this.events[i]));
    this.rows.append(fragment);
    this.renderedTo = to;
  }

  schedule() {
    if (!this.queued) {
      this.queued = true;
      requestAnimationFrame(() => this.flush());
    }
  }

  /** Events received but not in the page yet (the reader is reading above). */
  get waiting() {
    return this.events.length - this.renderedTo;
  }

  /** Drops the oldest rows beyond maxRows (only while following, so a reader's place never moves). */
  trim() {
    let excess = this.renderedTo - this.renderedFrom - maxRows;
    while (excess > 0 && this.rows.firstChild) {
      this.rows.firstChild.remove();
      this.renderedFrom += 1;
      excess -= 1;
    }
  }

  showEarlier() {
    this.following = false;
    const from = Math.max(0, this.renderedFrom - earlierStep);
    const fragment = document.createDocumentFragment();
    for (let i = from; i < this.renderedFrom; i += 1) fragment.append(renderRow(this.events[i]));
    const before = this.container.scrollHeight;
    this.rows.prepend(fragment);
    this.container.scrollTop += this.container.scrollHeight - before;   // keep the reader's place
    this.renderedFrom = from;
    this.earlier.hidden = from === 0;
    this.earlier.textContent = `Show earlier events (${from} not shown)`;
    this.onFlush?.(this);
  }

  jumpToLatest() {
    this.following = true;
    this.trim();
    this.scrollToEnd();
    this.schedule();
  }

  scrollToEnd() {
    this.container.scrollTop = this.container.scrollHeight;
    this.autoScrollTop = this.container.scrollTop;
  }
}

function renderRow(event) {
  const row = document.createElement("li");
  row.className = "event";
  row.dataset.seq = String(event.seq);
  row.dataset.type = event.type;
  const time = document.createElement("time");
  time.className = "time";
  // The event's own time (its journal `ts`, UTC), shown in the reader's time zone.
  time.dateTime = event.ts;
  time.title = event.ts;
  const at = new Date(event.ts);
  time.textContent = Number.isNaN(at.getTime()) ? event.ts : formatClock(at);
  const seq = document.createElement("span");
  seq.className = "seq";
  seq.textContent = String(event.seq);
  const type = document.createElement("span");
  type.className = "type";
  type.textContent = event.type;
  row.append(time, seq, type);

  let line = null;
  if (event.type === "stdout" || event.type === "stderr") {
    try { line = JSON.parse(event.data); } catch { line = null; }
  }
  if (line && typeof line.line === "string") {
    row.classList.add("term", event.type);
    const text = document.createElement("span");
    text.className = "line";
    text.textContent = line.line;   // textContent: a job's output is never markup
    row.append(text);
    if (line.continued) row.classList.add("continued");
    return row;
  }
  if (lifecycle.has(event.type)) row.classList.add("lifecycle", event.type.replace(".", "-"));
  const data = event.data ?? "";
  if (data.length <= foldAt) {
    const text = document.createElement("code");
    text.className = "data";
    text.textContent = data;
    row.append(text);
  } else {
    const details = document.createElement("details");
    details.className = "data";
    const summary = document.createElement("summary");
    summary.textContent = `${data.slice(0, foldAt)}… (${data.length} characters)`;
    details.append(summary);
    details.addEventListener("toggle", () => {
      if (details.open && details.childElementCount === 1) {
        const pre = document.createElement("pre");
        try { pre.textContent = JSON.stringify(JSON.parse(data), null, 2); } catch { pre.textContent = data; }
        details.append(pre);
      }
    }, { once: false });
    row.append(details);
  }
  return row;
}
