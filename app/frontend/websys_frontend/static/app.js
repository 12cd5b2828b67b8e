// Talks to the backend through nginx: GET/POST {api}/notes, POST {api}/session for a token.
"use strict";
let api = "/api";
let token = null;

async function call(path, options = {}) {
  const response = await fetch(api + path, options);
  const body = await response.json();
  if (!response.ok) throw new Error(body.error || response.statusText);
  return body;
}

async function refresh() {
  const { notes, cache } = await call("/notes");
  const list = document.getElementById("notes");
  list.replaceChildren(...notes.map((note) => {
    const item = document.createElement("li");
    const author = document.createElement("span");
    author.className = "author";
    author.textContent = note.author;
    item.append(author, note.body);
    return item;
  }));
  document.getElementById("status").textContent = `API ok: ${notes.length} notes (cache ${cache})`;
}

document.getElementById("note-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const json = (value) => ({ method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(value) });
  try {
    if (token === null) token = (await call("/session", json({ user: document.getElementById("user").value }))).token;
    const request = json({ body: document.getElementById("body").value });
    request.headers.Authorization = `Bearer ${token}`;
    await call("/notes", request);
    document.getElementById("body").value = "";
    await refresh();
  } catch (error) {
    document.getElementById("status").textContent = `API error: ${error.message}`;
  }
});

fetch("config.json").then((r) => r.json()).then((config) => { api = config.apiBaseUrl; })
  .then(refresh)
  .catch((error) => { document.getElementById("status").textContent = `API error: ${error.message}`; });
