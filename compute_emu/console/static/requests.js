// The Requests panel: a row per request, newest first, updated as events arrive.
import { TOKEN, bytes, clock, duration, el } from "./dom.js";

const MAX_ROWS = 200;
const requests = new Map(); // id -> view

function callBadges(calls) {
  return calls.map((call) =>
    call.note
      ? el("span", { class: "badge" }, call.note)
      : el(
          "span",
          { class: "badge " + (call.cache || ""), title: `${call.call} to backend ${call.backend}` },
          `${call.call}→${call.backend}`,
          call.cache ? ` ${call.cache}` : ""
        )
  );
}

function requestRow(view) {
  const status = view.status === null ? "—" : String(view.status);
  const statusClass = view.error ? "failed" : `status-${String(view.status || 0)[0]}`;
  const size =
    view.state === "open"
      ? "open"
      : bytes(view.bytes_sent) + (view.bytes_received !== null ? ` ↑${bytes(view.bytes_received)}` : "");
  const messages = view.messages ? ` · ${view.messages[0]}↑ ${view.messages[1]}↓ msgs` : "";
  const errorLink = view.error_page
    ? el(
        "a",
        {
          class: "error-link",
          href: `api/error-page?id=${view.id}&token=${encodeURIComponent(TOKEN)}`,
          target: "_blank",
          rel: "noopener noreferrer",
          onclick: (event) => event.stopPropagation(),
        },
        "error page"
      )
    : null;
  return el(
    "tr",
    { class: "request", "data-id": view.id, onclick: () => toggleOutput(view.id) },
    el("td", {}, view.id),
    el("td", {}, clock(view.started)),
    el("td", { class: "target" }, `${view.method} ${view.target}`),
    el("td", { class: statusClass, title: view.error || "" }, status),
    el("td", {}, view.state === "open" ? "open" : duration(view.duration_ms)),
    el("td", {}, size + messages),
    el("td", {}, callBadges(view.calls)),
    el(
      "td",
      {},
      view.output.length
        ? el("span", { class: "badge", title: "lines main() printed" }, `${view.output.length} line${view.output.length === 1 ? "" : "s"}`)
        : null,
      view.error ? el("span", { class: "failed" }, " ", view.error, " ") : null,
      errorLink
    )
  );
}

function outputRow(view) {
  const text = view.output.length ? view.output.join("\n") : "(main() printed nothing)";
  return el("tr", { class: "output", "data-output": view.id }, el("td", { colspan: 8 }, el("pre", {}, text)));
}

function toggleOutput(id) {
  const open = document.querySelector(`tr[data-output="${id}"]`);
  if (open) open.remove();
  else {
    const row = document.querySelector(`tr.request[data-id="${id}"]`);
    if (row) row.after(outputRow(requests.get(id)));
  }
}

export function upsertRequest(view) {
  requests.set(view.id, view);
  const body = document.querySelector("#requests-table tbody");
  const onlyErrors = document.getElementById("requests-errors-only").checked;
  const old = body.querySelector(`tr.request[data-id="${view.id}"]`);
  const hidden = onlyErrors && !view.error && !(view.status >= 500);
  if (hidden) {
    if (old) old.remove();
    return;
  }
  const row = requestRow(view);
  if (old) {
    old.replaceWith(row);
    const output = body.querySelector(`tr[data-output="${view.id}"]`);
    if (output) output.replaceWith(outputRow(view));
  } else {
    let next = null; // newest first: before the first row with a smaller id
    for (const candidate of body.querySelectorAll("tr.request")) {
      if (Number(candidate.dataset.id) < view.id) {
        next = candidate;
        break;
      }
    }
    body.insertBefore(row, next);
  }
  const rows = body.querySelectorAll("tr.request");
  for (let i = MAX_ROWS; i < rows.length; i++) {
    requests.delete(Number(rows[i].dataset.id));
    const output = body.querySelector(`tr[data-output="${rows[i].dataset.id}"]`);
    if (output) output.remove();
    rows[i].remove();
  }
}

export function redrawRequests() {
  document.querySelector("#requests-table tbody").replaceChildren();
  for (const view of [...requests.values()].sort((a, b) => a.id - b.id)) upsertRequest(view);
}


/** Every request of a snapshot (the page's event stream just connected). */
export function loadRequests(views) {
  for (const view of views) requests.set(view.id, view);
  redrawRequests();
}

document.getElementById("requests-errors-only").addEventListener("change", redrawRequests);
document.getElementById("requests-clear").addEventListener("click", () => {
  requests.clear();
  redrawRequests();
});
