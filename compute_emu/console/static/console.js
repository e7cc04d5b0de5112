// The compute-emu console: plain DOM, no framework. Data arrive as JSON from api/ (the
// per-run token in the X-Console-Token header, or ?token= where a header cannot be sent)
// and live over api/events (server-sent events). Everything shown is set as text, never
// parsed as HTML. The API is described in docs/console.md.
"use strict";

const TOKEN = document.querySelector('meta[name="console-token"]').content;
const MAX_ROWS = 200;
const requests = new Map(); // id -> view
let held = null;
let shown = "requests";

// -- helpers -------------------------------------------------------------------------------
function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (name === "class") node.className = value;
    else if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else node.setAttribute(name, value === true ? "" : value);
  }
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : String(child));
  }
  return node;
}

async function api(path, body) {
  const headers = { "X-Console-Token": TOKEN };
  const init = { headers, cache: "no-store" };
  if (body !== undefined) {
    init.method = "POST";
    headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const response = await fetch("api/" + path, init);
  const data = await response.json().catch(() => ({ error: response.statusText }));
  if (!response.ok) throw new Error(data.error || `${response.status}`);
  return data;
}

function say(id, text, failed) {
  const node = document.getElementById(id);
  node.textContent = text;
  node.classList.toggle("error", !!failed);
}

function bytes(n) {
  if (n === null || n === undefined) return "";
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KB`;
  return `${(n / 1024 / 1024).toFixed(1)} MB`;
}

function duration(ms) {
  if (ms === null || ms === undefined) return "";
  return ms < 1000 ? `${ms.toFixed(1)} ms` : `${(ms / 1000).toFixed(1)} s`;
}

function age(started) {
  const s = Math.max(0, (Date.now() - started) / 1000);
  if (s < 60) return `${s.toFixed(0)} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${Math.floor(s % 60)} s`;
  return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
}

function clock(ms) {
  return new Date(ms).toLocaleTimeString();
}

// -- tabs ----------------------------------------------------------------------------------
function show(panel) {
  shown = panel;
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

// -- requests ------------------------------------------------------------------------------
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

function upsertRequest(view) {
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

function redrawRequests() {
  document.querySelector("#requests-table tbody").replaceChildren();
  for (const view of [...requests.values()].sort((a, b) => a.id - b.id)) upsertRequest(view);
}

// -- held connections -----------------------------------------------------------------------
function connectionLine(conn) {
  const totals =
    conn.state === "closed"
      ? [
          `↓${bytes(conn.bytes_to_client)}`,
          conn.bytes_from_client !== null ? `↑${bytes(conn.bytes_from_client)}` : null,
          conn.messages ? `${conn.messages[0]}↑ ${conn.messages[1]}↓ messages` : null,
          `lasted ${duration(conn.ended - conn.started)}`,
        ]
      : [el("span", { class: "age", "data-started": conn.started }, age(conn.started))];
  return el(
    "div",
    { class: "conn", "data-id": conn.id, "data-state": conn.state },
    el("span", {}, `#${conn.id}`),
    el("span", { class: "kind" }, conn.state),
    el("span", { class: "target" }, `${conn.method} ${conn.target}`),
    el("span", { class: "hint" }, `${conn.handoff}→${conn.backend}`),
    ...totals.filter((part) => part !== null).map((part) => el("span", {}, part)),
    conn.error ? el("span", { class: "failed" }, conn.error) : null
  );
}

function renderHeld(state) {
  held = state;
  document.getElementById("held-off").hidden = state.fanout;
  const byId = new Map(state.connections.map((conn) => [conn.id, conn]));
  const channels = document.getElementById("held-channels");
  channels.replaceChildren(
    ...state.channels.map((channel) => {
      const modes = Object.entries(channel.subscribers);
      const total = modes.reduce((sum, [, n]) => sum + n, 0);
      return el(
        "div",
        { class: "channel", "data-channel": channel.name },
        el(
          "div",
          { class: "channel-head" },
          el("span", { class: "channel-name" }, channel.name),
          el("span", { class: "subscribers", "data-count": total }, `${total} subscriber${total === 1 ? "" : "s"}`),
          el("span", { class: "hint" }, modes.map(([mode, n]) => `${mode}: ${n}`).join(", ")),
          el("span", { class: "hint" }, `${channel.messages} published, ${channel.deliveries} delivered`)
        ),
        channel.connections.map((id) => byId.get(id)).filter(Boolean).map(connectionLine)
      );
    })
  );
  if (!state.channels.length) channels.replaceChildren(el("p", { class: "hint" }, "No channel has subscribers."));
  const other = state.connections.filter((conn) => !conn.channels.length);
  document
    .getElementById("held-other")
    .replaceChildren(
      other.length ? el("div", { class: "conn-list" }, other.map(connectionLine)) : el("p", { class: "hint" }, "None.")
    );
  document
    .getElementById("held-closed")
    .replaceChildren(
      state.closed.length
        ? el("div", { class: "conn-list" }, state.closed.map(connectionLine))
        : el("p", { class: "hint" }, "None yet.")
    );
  const routes = Object.entries(state.pushpin.routes).map(([route, n]) => `${route}: ${n}`);
  document.getElementById("held-pushpin").textContent = !state.fanout
    ? ""
    : state.stats
      ? `Pushpin holds ${state.pushpin.connections} connection(s)${routes.length ? " (" + routes.join(", ") + ")" : ""}.`
      : "Waiting for Pushpin's statistics…";
}

function tickAges() {
  for (const node of document.querySelectorAll(".age[data-started]")) {
    node.textContent = age(Number(node.dataset.started));
  }
}

document.getElementById("publish-format").addEventListener("change", (event) => {
  document.getElementById("publish-event-label").hidden = event.target.value !== "sse";
});

document.getElementById("publish-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const form = event.target;
  const body = {
    channel: form.channel.value,
    format: form.format.value,
    message: form.message.value,
  };
  const action = document.getElementById("publish-action").value;
  if (action) body.action = action;
  if (body.format === "sse" && form.event.value) body.event = form.event.value;
  try {
    const answer = await api("publish", body);
    say("publish-result", `${answer.published}: ${answer.description}`);
  } catch (error) {
    say("publish-result", error.message, true);
  }
});

// -- stores --------------------------------------------------------------------------------
let kvCursor = null;

async function loadStores() {
  try {
    const data = await api("stores");
    const select = document.getElementById("kv-store");
    const current = select.value;
    select.replaceChildren(
      ...data.kv.map((store) => el("option", { value: store.name }, `${store.name} (${store.keys} keys)`))
    );
    if (!data.kv.length) select.replaceChildren(el("option", { value: "" }, "no KV stores in fastly.toml"));
    if (current && data.kv.some((store) => store.name === current)) select.value = current;
    document.getElementById("stores-config").replaceChildren(
      ...(data.config.length
        ? data.config.map((store) =>
            el(
              "div",
              { "data-store": store.name },
              el("strong", {}, store.name),
              store.error
                ? el("p", { class: "failed" }, store.error)
                : el("dl", { class: "items" }, Object.entries(store.items).map(([k, v]) => [el("dt", {}, k), el("dd", {}, v)]))
            )
          )
        : [el("p", { class: "hint" }, "None.")])
    );
    document.getElementById("stores-secret").replaceChildren(
      ...(data.secret.length
        ? data.secret.map((store) =>
            el(
              "div",
              { "data-store": store.name },
              el("strong", {}, store.name),
              el("dl", { class: "items" }, store.names.map((name) => [el("dt", {}, name), el("dd", { class: "hint" }, "•••••• (hidden)")]))
            )
          )
        : [el("p", { class: "hint" }, "None.")])
    );
    await listKeys(false);
  } catch (error) {
    say("kv-result", error.message, true);
  }
}

async function listKeys(more) {
  const store = document.getElementById("kv-store").value;
  if (!store) return;
  const prefix = document.getElementById("kv-prefix").value;
  const query = new URLSearchParams({ store, prefix });
  if (more && kvCursor) query.set("cursor", kvCursor);
  const data = await api("kv?" + query);
  const list = document.getElementById("kv-keys");
  const items = data.keys.map((key) => el("li", { "data-key": key, onclick: () => readKey(key) }, key));
  if (more) list.append(...items);
  else list.replaceChildren(...items);
  kvCursor = data.cursor;
  document.getElementById("kv-more").hidden = !data.cursor;
}

async function readKey(key) {
  const store = document.getElementById("kv-store").value;
  const form = document.getElementById("kv-form");
  form.key.value = key;
  try {
    const entry = await api("kv/entry?" + new URLSearchParams({ store, key }));
    form.value.value = entry.value;
    form.metadata.value = entry.metadata || "";
    form.ttl.value = "";
    const expires = entry.expires_in === null ? "" : `, expires in ${entry.expires_in} s`;
    say("kv-result", `${entry.size} bytes (${entry.encoding}), generation ${entry.generation}${expires}`);
  } catch (error) {
    say("kv-result", error.message, true);
  }
}

document.getElementById("kv-refresh").addEventListener("click", () => listKeys(false).catch((e) => say("kv-result", e.message, true)));
document.getElementById("kv-more").addEventListener("click", () => listKeys(true).catch((e) => say("kv-result", e.message, true)));
document.getElementById("kv-store").addEventListener("change", () => listKeys(false).catch((e) => say("kv-result", e.message, true)));
document.getElementById("kv-read").addEventListener("click", () => readKey(document.getElementById("kv-key").value));

document.getElementById("kv-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const form = event.target;
  const body = { store: document.getElementById("kv-store").value, key: form.key.value, value: form.value.value };
  if (form.metadata.value) body.metadata = form.metadata.value;
  if (form.ttl.value) body.ttl = Number(form.ttl.value);
  try {
    const answer = await api("kv/write", body);
    say("kv-result", `written: ${answer.key} (generation ${answer.generation})`);
    await listKeys(false);
  } catch (error) {
    say("kv-result", error.message, true);
  }
});

document.getElementById("kv-delete").addEventListener("click", async () => {
  const key = document.getElementById("kv-key").value;
  try {
    const answer = await api("kv/delete", { store: document.getElementById("kv-store").value, key });
    say("kv-result", answer.deleted ? `deleted: ${key}` : `${key} was not there`);
    await listKeys(false);
  } catch (error) {
    say("kv-result", error.message, true);
  }
});

// -- cache ---------------------------------------------------------------------------------
let cacheTimer = null;

function seconds(s) {
  return s >= 100 ? `${s.toFixed(0)} s` : `${s.toFixed(1)} s`;
}

async function loadCache() {
  try {
    const data = await api("cache");
    say("cache-summary", `${data.count} object(s), ${bytes(data.bytes)} of ${bytes(data.capacity)}`);
    document.querySelector("#cache-table tbody").replaceChildren(
      ...data.objects.map((object) =>
        el(
          "tr",
          { "data-object": object.id },
          el("td", { class: "target", title: object.kind === "http" ? "readthrough (send)" : "Core cache" }, object.key),
          el("td", {}, object.status === null ? object.kind : object.status),
          el(
            "td",
            {},
            object.surrogate_keys.map((key) =>
              el("button", { type: "button", class: "badge", title: "purge this surrogate key", onclick: () => purgeKey(key) }, key)
            )
          ),
          el("td", {}, object.state + (object.soft_purged ? " (soft-purged)" : "")),
          el("td", {}, `${seconds(object.age)} / ${seconds(object.ttl)}`),
          el("td", {}, `swr ${seconds(object.stale_while_revalidate)}, sie ${seconds(object.stale_if_error)}`),
          el("td", {}, object.hits),
          el("td", {}, bytes(object.size)),
          el("td", {}, el("button", { type: "button", onclick: () => removeObject(object.id) }, "remove"))
        )
      )
    );
  } catch (error) {
    say("cache-result", error.message, true);
  }
}

async function cacheAction(path, body, text) {
  try {
    const answer = await api(path, body);
    say("cache-result", text(answer));
  } catch (error) {
    say("cache-result", error.message, true);
  }
  await loadCache();
}

function soft() {
  return document.getElementById("cache-soft").checked;
}

function purgeKey(key) {
  return cacheAction("cache/purge", { surrogate_key: key, soft: soft() }, (a) => `purged ${a.purged} object(s) tagged ${key}`);
}

function removeObject(id) {
  return cacheAction("cache/remove", { id }, (a) => `removed ${a.removed} object(s)`);
}

document.getElementById("cache-refresh").addEventListener("click", loadCache);
document.getElementById("cache-purge").addEventListener("click", () => purgeKey(document.getElementById("cache-purge-key").value));
document.getElementById("cache-purge-all").addEventListener("click", () =>
  cacheAction("cache/purge", { all: true, soft: soft() }, (a) => `purged ${a.purged} object(s)`)
);
document.getElementById("cache-advance").addEventListener("click", () => {
  const value = Number(document.getElementById("cache-advance-seconds").value);
  cacheAction("cache/advance", { seconds: value }, (a) => `the cache clock moved on ${a.advanced} s`);
});

function cacheMayHaveChanged(view) {
  if (shown !== "cache" || !view.calls.some((call) => call.cache)) return;
  clearTimeout(cacheTimer);
  cacheTimer = setTimeout(loadCache, 300);
}

// -- live events ---------------------------------------------------------------------------
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
    for (const view of data.requests) requests.set(view.id, view);
    redrawRequests();
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
document.getElementById("requests-errors-only").addEventListener("change", redrawRequests);
document.getElementById("requests-clear").addEventListener("click", () => {
  requests.clear();
  redrawRequests();
});
setInterval(tickAges, 1000);
connect();
show(["requests", "held", "stores", "cache"].includes(location.hash.slice(1)) ? location.hash.slice(1) : "requests");
