// Small text helpers shared by both views.

/** "3.2 s", "4 min 05 s", "2 h 03 min" */
export function formatDuration(ms) {
  if (!Number.isFinite(ms) || ms < 0) return "–";
  if (ms < 1000) return `${Math.round(ms)} ms`;
  const seconds = ms / 1000;
  if (seconds < 60) return `${seconds.toFixed(1)} s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) return `${minutes} min ${String(Math.floor(seconds % 60)).padStart(2, "0")} s`;
  const hours = Math.floor(minutes / 60);
  if (hours < 48) return `${hours} h ${String(minutes % 60).padStart(2, "0")} min`;
  return `${Math.floor(hours / 24)} d`;
}

/** "12 s ago", "5 min ago" */
export function formatAge(isoTime, now = Date.now()) {
  const at = Date.parse(isoTime);
  if (!Number.isFinite(at)) return "–";
  const seconds = Math.max(0, Math.round((now - at) / 1000));
  if (seconds < 60) return `${seconds} s ago`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)} min ago`;
  if (seconds < 172800) return `${Math.floor(seconds / 3600)} h ago`;
  return `${Math.floor(seconds / 86400)} d ago`;
}

/** HH:MM:SS.mmm in local time */
export function formatClock(date) {
  const pad = (n, w = 2) => String(n).padStart(w, "0");
  return `${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}.${pad(date.getMilliseconds(), 3)}`;
}

export const terminalStatuses = ["completed", "failed", "stopped"];

/** A run's duration: created → last event when it has ended, → now while it runs. */
export function runDuration(run, now = Date.now()) {
  const start = Date.parse(run.created_at);
  const end = terminalStatuses.includes(run.status) ? Date.parse(run.updated_at) : now;
  return end - start;
}

/** The status badge element, text and colour from the status. */
export function statusBadge(status) {
  const badge = document.createElement("span");
  badge.className = `badge status-${status}`;
  badge.textContent = status;
  return badge;
}
