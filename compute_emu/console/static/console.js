// The compute-emu console: plain DOM, no framework, no build step (ES modules). Data arrive
// as JSON from api/ (the per-run token in the X-Console-Token header, or ?token= where a
// header cannot be sent) and live over api/events (server-sent events). Everything shown
// is set as text, never parsed as HTML. The API is described in docs/console.md.
import { cacheMayHaveChanged, loadCache } from "./cache.js";
import { TOKEN } from "./dom.js";
import { renderHeld, tickAges } from "./held.js";
import { loadRequests, upsertRequest } from "./requests.js";
import { loadStores } from "./stores.js";

function show(panel) {
  for (const button of document.querySelectorAll("#tabs button")) {
    button.classList.toggle("active", button.dataset.panel === panel);
  }
  for (const section of document.querySelectorAll(".panel")) {
    section.classList.toggle("active", section.id === "panel-" + panel);
  }
  if (panel === "stores") loadStores();
  if (panel === "cache") loadCache();
  history.replaceState(null, "", "#" + panel);
}

function connect() {
  const live = document.getElementById("live");
  const source = new EventSource("api/events?token=" + encodeURIComponent(TOKEN));
  source.addEventListener("open", () => {
    live.textContent = "live";
    live.classList.remove("off");
  });
  source.addEventListener("error", () => {
    live.textContent = "reconnecting…";
    live.classList.add("off");
  });
  source.addEventListener("snapshot", (event) => {
    const data = JSON.parse(event.data);
    loadRequests(data.requests);
    renderHeld(data.held);
  });
  source.addEventListener("request", (event) => {
    const view = JSON.parse(event.data);
    upsertRequest(view);
    cacheMayHaveChanged(view);
  });
  source.addEventListener("held", (event) => renderHeld(JSON.parse(event.data)));
}

for (const button of document.querySelectorAll("#tabs button")) {
  button.addEventListener("click", () => show(button.dataset.panel));
}
setInterval(tickAges, 1000);
connect();
show(["requests", "held", "stores", "cache"].includes(location.hash.slice(1)) ? location.hash.slice(1) : "requests");
