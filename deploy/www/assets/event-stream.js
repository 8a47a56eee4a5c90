// Follows a run's Server-Sent Events stream (GET /v1/runs/:id/events) and survives dropped connections
// with no gap and no duplicate.
//
// Read with fetch and a stream reader rather than EventSource: EventSource delivers an event only to a
// listener registered for its exact type, and a run's types are open-ended (whatever a producer appends,
// the `type` of a JSON line `runjournal exec` passes on), so a page using it cannot show every event. fetch
// also sends the Authorization header, so no token ever travels in a URL. What EventSource does for
// reconnection is done here the same way: the server's `retry:` hint, then `Last-Event-ID` of the last
// event received; on top of that every event is checked by seq, so a replay overlap is never shown twice.

import { apiFetch } from "./api.js";

const terminalTypes = new Set(["run.completed", "run.failed", "run.stopped"]);

/** Lets pending input and rendering run before continuing (a macrotask, unlike `await` on a promise). */
function yieldToPage() {
  return new Promise((resolve) => setTimeout(resolve, 0));
}

/**
 * Calls `onEvent({seq, id, type, data, received})` for each event once, in seq order; `onState(state,
 * detail)` with "connecting", "live", "reconnecting", "ended" or "error"; `onReset()` when the run id now
 * names a new run (its incarnation changed: it was deleted and created again), before its events arrive.
 * Returns { close() }.
 */
export function followEvents(runID, { onEvent, onState, onReset }) {
  let lastID = "";
  let lastSeq = 0;
  let incarnation = null;
  let retryMillis = 1000;
  let closed = false;
  let controller = null;
  let failures = 0;
  let ended = false;   // the terminal event arrived, or the server said there is nothing more (204)

  const path = `/v1/runs/${encodeURIComponent(runID)}/events`;

  function deliver(frame) {
    if (frame.id === undefined || frame.type === undefined) return;
    const dot = frame.id.indexOf(".");
    const seq = Number(dot < 0 ? frame.id : frame.id.slice(0, dot));
    const eventIncarnation = dot < 0 ? null : frame.id.slice(dot + 1);
    if (!Number.isSafeInteger(seq)) return;
    if (incarnation !== null && eventIncarnation !== null && eventIncarnation !== incarnation) {
      lastSeq = 0;
      onReset?.();
    }
    if (eventIncarnation !== null) incarnation = eventIncarnation;
    lastID = frame.id;
    if (seq <= lastSeq) return;   // already shown (an overlapping replay after a reconnect)
    lastSeq = seq;
    onEvent({ seq, id: frame.id, type: frame.type, data: frame.data, received: new Date() });
    if (terminalTypes.has(frame.type)) ended = true;
  }

  async function connectOnce() {
    controller = new AbortController();
    const headers = { Accept: "text/event-stream" };
    if (lastID) headers["Last-Event-ID"] = lastID;
    const response = await apiFetch(path, { headers, signal: controller.signal, cache: "no-store" });
    if (response.status === 204) { ended = true; return; }            // nothing after our last event: the run ended
    if (!response.ok) {
      let message = `HTTP ${response.status}`;
      try { message = (await response.json()).error.message; } catch { /* not JSON */ }
      const error = new Error(message);
      error.status = response.status;
      throw error;
    }
    onState("live");
    failures = 0;
    const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = "";
    let frame = {};
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += value;
      let start = 0;
      let linesSinceYield = 0;
      for (;;) {
        const end = buffer.indexOf("\n", start);
        if (end < 0) break;
        // A replay arrives in chunks of thousands of events: give the page a turn (input, rendering)
        // every few thousand lines instead of parsing a whole chunk in one task.
        if (++linesSinceYield === 6000) {
          linesSinceYield = 0;
          await yieldToPage();
        }
        const line = buffer.slice(start, end);
        start = end + 1;
        if (line === "") {                    // a blank line ends a frame
          deliver(frame);
          frame = {};
        } else if (line.startsWith(":")) {    // comment (heartbeat, refusal note)
        } else {
          const colon = line.indexOf(":");
          const field = colon < 0 ? line : line.slice(0, colon);
          let text = colon < 0 ? "" : line.slice(colon + 1);
          if (text.startsWith(" ")) text = text.slice(1);
          if (field === "id") frame.id = text;
          else if (field === "event") frame.type = text;
          else if (field === "data") frame.data = frame.data === undefined ? text : `${frame.data}\n${text}`;
          else if (field === "retry" && /^\d+$/.test(text)) retryMillis = Number(text);
        }
      }
      buffer = buffer.slice(start);
    }
  }

  async function run() {
    onState("connecting");
    while (!closed && !ended) {
      try {
        await connectOnce();
      } catch (error) {
        if (closed) return;
        if (error.status === 404 || error.status === 400 || error.status === 403) {
          onState("error", error.message);
          return;
        }
        failures += 1;
      }
      if (closed || ended) break;
      onState("reconnecting");
      // The server's retry hint; repeated failures (responder down, journal failing) back off to 30 s.
      const wait = Math.min(30000, retryMillis * 2 ** Math.max(0, failures - 1));
      await new Promise((resolve) => setTimeout(resolve, wait));
    }
    if (!closed) onState("ended");
  }

  run();
  return {
    close() {
      closed = true;
      controller?.abort();
    },
  };
}
