// Follows a run's event stream (GET /v1/runs/:id/events) with EventSource and survives dropped connections,
// expired stream tokens and responder restarts with no gap and no duplicate.
//
// `?format=lines` makes every event an unnamed message (EventSource hands a named `event: <type>` only to a
// listener for that exact type, and a run's types are open-ended), whose data is the whole journal line:
// seq, the event's own `ts`, type and data. EventSource reconnects by itself after a dropped connection
// (the server's `retry:`, then `Last-Event-ID`). When it gives up (any answer but 200: a 401 for an expired
// stream token, a 502 while the responder is down, a 204 after the run ended) this module asks the API why,
// mints a new stream token if access control is on, and opens a new one at `?last_event_id=` of the last
// event seen. On top of that every event is checked by seq, so a replay overlap is never shown twice.

import { apiJSON, storedToken } from "./api.js";

const terminalTypes = new Set(["run.completed", "run.failed", "run.stopped"]);
const dataKey = ',"data":';

/**
 * A journal line as `{seq, ts, type, data}`, `data` the stored JSON text. Only the envelope before `data` is
 * parsed (`data` is always the last key, and `,"data":` cannot occur inside an earlier JSON string, whose
 * quotes are escaped), so a large payload is not parsed until someone unfolds it.
 */
function parseLine(line) {
  const at = line.indexOf(dataKey);
  if (at < 0 || !line.endsWith("}")) return null;
  try {
    const envelope = JSON.parse(`${line.slice(0, at)}}`);
    return { seq: envelope.seq, ts: envelope.ts, type: envelope.type, data: line.slice(at + dataKey.length, -1) };
  } catch {
    return null;
  }
}

/**
 * Calls `onEvent({seq, id, ts, type, data})` for each event once, in seq order; `onState(state, detail)` with
 * "connecting", "live", "reconnecting", "ended" or "error"; `onReset()` when the run id now names a new run
 * (its incarnation changed: it was deleted and created again), before its events arrive. Returns { close() }.
 */
export function followEvents(runID, { onEvent, onState, onReset }) {
  let lastID = "";
  let lastSeq = 0;
  let incarnation = null;
  let closed = false;
  let source = null;
  let failures = 0;
  let ended = false;   // the terminal event arrived, or the run has nothing after our last event

  const runPath = `/v1/runs/${encodeURIComponent(runID)}`;

  function deliver(message) {
    const id = message.lastEventId;
    const event = parseLine(message.data);
    if (!id || !event || !Number.isSafeInteger(event.seq)) return;
    const dot = id.indexOf(".");
    const eventIncarnation = dot < 0 ? null : id.slice(dot + 1);
    if (incarnation !== null && eventIncarnation !== null && eventIncarnation !== incarnation) {
      lastSeq = 0;
      onReset?.();
    }
    if (eventIncarnation !== null) incarnation = eventIncarnation;
    lastID = id;
    if (event.seq <= lastSeq) return;   // already shown (an overlapping replay after a reconnect)
    lastSeq = event.seq;
    onEvent({ ...event, id });
    if (terminalTypes.has(event.type)) {
      ended = true;
      source?.close();                  // or EventSource would reconnect, to be told 204
      onState("ended");
    }
  }

  /** The stream's URL: lines format, a fresh stream token when the page has an API token, the resume point. */
  async function streamURL() {
    const query = new URLSearchParams({ format: "lines" });
    if (storedToken()) {
      // Read scope on the run suffices; a refused API token asks the reader again (apiFetch).
      const minted = await apiJSON(`${runPath}/stream-tokens`, { method: "POST" });
      query.set("access_token", minted.token);
    }
    if (lastID) query.set("last_event_id", lastID);
    return `${runPath}/events?${query}`;
  }

  async function open() {
    const url = await streamURL();
    if (closed) return;
    source = new EventSource(url);
    source.onopen = () => {
      failures = 0;
      onState("live");
    };
    source.onmessage = deliver;
    source.onerror = () => {
      if (closed || ended) return;
      if (source.readyState === EventSource.CONNECTING) {
        onState("reconnecting");          // EventSource retries by itself, with Last-Event-ID
        return;
      }
      source.close();
      recover();
    };
  }

  /** EventSource gave up: find out why from the API, then open a new one (backing off) or stop. */
  async function recover() {
    onState("reconnecting");
    for (;;) {
      if (closed) return;
      try {
        // Asks for a token on a 401 without one (apiFetch); tells a run that ended or is gone.
        const run = await apiJSON(runPath);
        if (["completed", "failed", "stopped"].includes(run.status) && run.last_seq <= lastSeq) {
          ended = true;
          onState("ended");
          return;
        }
        await open();
        return;
      } catch (error) {
        if (closed) return;
        if (error.status === 404 || error.status === 403 || error.status === 400) {
          onState("error", error.message);
          return;
        }
        // The responder is unreachable or refusing for now: back off up to 30 s.
        failures += 1;
        await new Promise((resolve) => setTimeout(resolve, Math.min(30000, 500 * 2 ** Math.min(6, failures - 1))));
      }
    }
  }

  onState("connecting");
  open().catch(() => { if (!closed) recover(); });
  return {
    close() {
      closed = true;
      source?.close();
    },
  };
}
