// The Stores panel: KV stores (list, read, write, delete), config and secret stores.
import { api, el, say } from "./dom.js";

let kvCursor = null;

export async function loadStores() {
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
