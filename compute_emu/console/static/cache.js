// The Cache panel: the objects, purges, and the cache's clock.
import { api, bytes, el, say } from "./dom.js";

let cacheTimer = null;

function seconds(s) {
  return s >= 100 ? `${s.toFixed(0)} s` : `${s.toFixed(1)} s`;
}

export async function loadCache() {
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

/** A request used the cache: show the panel again (soon) if it is open. */
export function cacheMayHaveChanged(view) {
  const open = document.getElementById("panel-cache").classList.contains("active");
  if (!open || !view.calls.some((call) => call.cache)) return;
  clearTimeout(cacheTimer);
  cacheTimer = setTimeout(loadCache, 300);
}
