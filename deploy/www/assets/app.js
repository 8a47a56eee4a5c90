// The viewer's entry point: `/` is the list of runs, `/runs/<id>` one run. Both paths serve this same page
// (see deploy/nginx.conf), so the page picks what to show from its own path.
import { showRunList } from "./run-list.js";
import { showRun } from "./run-view.js";

const main = document.getElementById("main");
const match = location.pathname.match(/^\/runs\/([^/]+)$/);
if (match) {
  showRun(main, decodeURIComponent(match[1]));
} else {
  showRunList(main);
}
