// The Held connections panel: channels with their subscribers and connections, and the
// publish form.
import { age, api, bytes, duration, el, say } from "./dom.js";

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

export function renderHeld(state) {
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

export function tickAges() {
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
