// faceprint's web page: detect, enrol, identify and manage subjects through the REST API.
"use strict";

const $ = (id) => document.getElementById(id);
let photo = null; // { file, image }
let lastFaces = [];
let labels = [];

function key() { return localStorage.getItem("faceprint-key") || ""; }

function status(text, isError) {
  $("status").textContent = text;
  $("status").className = isError ? "error" : "";
}

async function api(method, path, body, contentType) {
  const headers = { Authorization: "Bearer " + key() };
  if (contentType) headers["Content-Type"] = contentType;
  const response = await fetch(path, { method, headers, body });
  const text = await response.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch (e) { data = { error: { code: "bad_response", message: text } }; }
  if (!response.ok) {
    const error = (data && data.error) || { code: String(response.status), message: response.statusText };
    const reasons = error.reasons ? " (" + error.reasons.join(", ") + ")" : "";
    throw new Error(error.code + ": " + error.message + reasons);
  }
  return data;
}

function draw() {
  const canvas = $("canvas");
  const ctx = canvas.getContext("2d");
  if (!photo) return;
  canvas.width = photo.image.naturalWidth;
  canvas.height = photo.image.naturalHeight;
  ctx.drawImage(photo.image, 0, 0);
  const unit = Math.max(1, Math.max(canvas.width, canvas.height) / 400);
  ctx.lineWidth = 2 * unit;
  ctx.font = Math.round(12 * unit) + "px sans-serif";
  lastFaces.forEach((face, i) => {
    const [x1, y1, x2, y2] = face.bbox;
    ctx.strokeStyle = "#00ff00";
    ctx.strokeRect(x1, y1, x2 - x1, y2 - y1);
    ctx.fillStyle = "#ff0000";
    face.landmarks.forEach(([x, y]) => { ctx.beginPath(); ctx.arc(x, y, 2 * unit, 0, 2 * Math.PI); ctx.fill(); });
    ctx.fillStyle = "#00ff00";
    ctx.fillText((labels[i] || face.score.toFixed(2)), x1, Math.max(12 * unit, y1 - 3 * unit));
  });
}

async function detect() {
  if (!photo) return;
  status("detecting…");
  try {
    const result = await api("POST", "/v1/detect", photo.file, photo.file.type || "application/octet-stream");
    lastFaces = result.faces;
    labels = [];
    draw();
    $("faces").textContent = result.faces.length + " face(s) in " + result.width + "×" + result.height;
    status("");
  } catch (e) { status(e.message, true); }
}

function load(file) {
  const image = new Image();
  image.onload = () => { photo = { file, image }; lastFaces = []; labels = []; draw(); detect(); };
  image.onerror = () => status("the browser cannot show this file as an image", true);
  image.src = URL.createObjectURL(file);
}

async function subjectId(name) {
  const subjects = await api("GET", "/v1/collections/default/subjects");
  const found = subjects.find((s) => s.name === name);
  if (found) return found.id;
  const created = await api("POST", "/v1/collections/default/subjects", JSON.stringify({ name, metadata: {} }), "application/json");
  return created.id;
}

async function enrol() {
  const name = $("subject").value.trim();
  if (!photo || !name) { status("pick a photo and type a subject name", true); return; }
  status("enrolling…");
  try {
    const id = await subjectId(name);
    const result = await api("POST", "/v1/collections/default/subjects/" + id + "/faces?select=largest", photo.file, photo.file.type || "application/octet-stream");
    const warned = result.warnings && result.warnings.length ? " (warning: " + result.warnings.join(", ") + ")" : "";
    status((result.duplicate ? "already enrolled as face " : "enrolled face ") + result.face_id + " for " + name + warned);
    await refresh();
  } catch (e) { status(e.message, true); }
}

async function identify() {
  if (!photo) { status("pick a photo first", true); return; }
  status("identifying…");
  try {
    const result = await api("POST", "/v1/identify", photo.file, photo.file.type || "application/octet-stream");
    lastFaces = result.faces.map((f) => ({ bbox: f.bbox, score: f.score, landmarks: [] }));
    labels = result.faces.map((f) => f.match ? f.match + " " + f.candidates[0].similarity.toFixed(2) : "unknown");
    draw();
    $("faces").textContent = labels.join(", ") || "no face";
    status("");
  } catch (e) { status(e.message, true); }
}

async function refresh() {
  try {
    const subjects = await api("GET", "/v1/collections/default/subjects");
    const body = $("subjects");
    body.innerHTML = "";
    subjects.forEach((s) => {
      const row = document.createElement("tr");
      row.innerHTML = "<td></td><td></td><td></td><td><button>Delete</button></td>";
      row.children[0].textContent = s.id;
      row.children[1].textContent = s.name;
      row.children[2].textContent = s.faces;
      row.querySelector("button").onclick = async () => {
        try { await api("DELETE", "/v1/collections/default/subjects/" + s.id); status("deleted " + s.name); refresh(); }
        catch (e) { status(e.message, true); }
      };
      body.appendChild(row);
    });
  } catch (e) { status(e.message, true); }
}

// The photo library: people and search. Face crops need the key, so they are fetched and shown
// from blob URLs.
async function faceImage(img, faceId) {
  try {
    const response = await fetch("/v1/library/faces/" + faceId + "/crop", { headers: { Authorization: "Bearer " + key() } });
    if (!response.ok) return;
    // The image keeps its decoded pixels: the blob can go once loaded, so reloading the people
    // does not pile up blobs.
    img.onload = () => URL.revokeObjectURL(img.src);
    img.src = URL.createObjectURL(await response.blob());
  } catch (e) { /* the crop stays blank */ }
}

async function libraryAction(method, path, body, done) {
  try {
    await api(method, path, body ? JSON.stringify(body) : undefined, body ? "application/json" : undefined);
    status(done);
    await refreshPeople();
  } catch (e) { status(e.message, true); }
}

async function showFaces(person, list) {
  try {
    const faces = await api("GET", "/v1/library/people/" + person.id + "/faces?limit=1000");
    list.innerHTML = "";
    faces.forEach((face) => {
      const figure = document.createElement("figure");
      figure.innerHTML = "<img alt=''><button title='not this person: remove'>remove</button>";
      faceImage(figure.querySelector("img"), face.face_id);
      figure.querySelector("button").onclick = () => libraryAction("DELETE",
        "/v1/library/people/" + person.id + "/faces/" + face.face_id, null,
        "removed face " + face.face_id + " from person " + person.id);
      list.appendChild(figure);
    });
  } catch (e) { status(e.message, true); }
}

// Naming after someone already enrolled would add this person's faces to their templates: the
// server refuses unless asked, and the page asks.
async function nameCard(card, person) {
  const name = card.querySelector("input.name").value.trim();
  if (!name) return;
  const path = "/v1/library/people/" + person.id + "/name";
  const list = card.querySelector(".face-list");
  try {
    await api("POST", path, JSON.stringify({ name }), "application/json");
    status("named person " + person.id + " " + name);
    await refreshPeople();
    refresh();
  } catch (e) {
    if (!e.message.startsWith("duplicate_subject")) { status(e.message, true); return; }
    list.innerHTML = "<p class='ask'></p><button class='join'>Join the enrolled subject</button> <button class='cancel'>Cancel</button>";
    list.querySelector(".ask").textContent = "\u201c" + name + "\u201d is already enrolled with faces of its own. " +
      "Joining makes this person's faces its templates too.";
    list.querySelector("button.cancel").onclick = () => { list.innerHTML = ""; };
    list.querySelector("button.join").onclick = () => libraryAction("POST", path, { name, merge_into_subject: true },
      "named person " + person.id + " " + name + " (joined the enrolled subject)").then(refresh);
  }
}

// A split is shown before it is applied: the groups, each as its faces, and a button to apply.
async function proposeSplit(card, person) {
  const list = card.querySelector(".face-list");
  try {
    const proposal = await api("POST", "/v1/library/people/" + person.id + "/split");
    if (proposal.groups.length < 2) {
      list.innerHTML = "";
      status("person " + person.id + ": its faces hold together; no split proposed");
      return;
    }
    list.innerHTML = "";
    proposal.groups.forEach((group, i) => {
      const row = document.createElement("div");
      row.className = "split-group";
      row.textContent = i === 0 ? "stays: " : "new person: ";
      group.forEach((faceId) => {
        const image = document.createElement("img");
        image.alt = "";
        faceImage(image, faceId);
        row.appendChild(image);
      });
      list.appendChild(row);
    });
    const apply = document.createElement("button");
    apply.className = "apply-split";
    apply.textContent = "Apply split into " + proposal.groups.length;
    apply.onclick = () => libraryAction("POST", "/v1/library/people/" + person.id + "/split?apply=true", null,
      "split person " + person.id + " into " + proposal.groups.length + " (merge a part back to undo)");
    const cancel = document.createElement("button");
    cancel.textContent = "Cancel";
    cancel.onclick = () => { list.innerHTML = ""; };
    list.append(apply, " ", cancel);
    status("person " + person.id + ": " + proposal.groups.length + " groups proposed; nothing changed yet");
  } catch (e) { status(e.message, true); }
}

async function refreshPeople() {
  try {
    // The 1000 people with the most faces (the API pages its lists).
    const people = await api("GET", "/v1/library/people?limit=1000");
    const grid = $("people");
    grid.innerHTML = "";
    people.forEach((person) => {
      const card = document.createElement("div");
      card.className = "person";
      card.innerHTML = "<img class='face' alt=''><div class='who'></div>" +
        "<input class='name' type='text' placeholder='name'><button class='name'>Name</button><br>" +
        "<input class='from' type='text' placeholder='person id'><button class='merge'>Merge in</button><br>" +
        "<button class='faces'>Faces</button> <button class='split'>Split</button><div class='face-list'></div>";
      card.querySelector(".who").textContent = (person.name || "person " + person.id) + " · " + person.faces + " face(s)";
      if (person.representative_face) faceImage(card.querySelector("img.face"), person.representative_face);
      card.querySelector("button.name").onclick = () => nameCard(card, person);
      card.querySelector("button.merge").onclick = () => {
        const from = Number(card.querySelector("input.from").value);
        libraryAction("POST", "/v1/library/people/" + person.id + "/merge", { from }, "merged person " + from + " into " + person.id);
      };
      card.querySelector("button.faces").onclick = () => showFaces(person, card.querySelector(".face-list"));
      card.querySelector("button.split").onclick = () => proposeSplit(card, person);
      grid.appendChild(card);
    });
    $("people-count").textContent = people.length + " people";
  } catch (e) { status(e.message, true); }
}

async function searchLibrary(file) {
  $("library-found").textContent = "searching…";
  try {
    const hits = await api("POST", "/v1/library/search", file, file.type || "application/octet-stream");
    const body = $("library-results");
    body.innerHTML = "";
    hits.forEach((hit) => {
      const row = document.createElement("tr");
      row.innerHTML = "<td><img alt=''></td><td></td><td></td>";
      faceImage(row.querySelector("img"), hit.face_id);
      row.children[1].textContent = hit.similarity.toFixed(3);
      row.children[2].textContent = hit.path || "";
      body.appendChild(row);
    });
    $("library-found").textContent = hits.length + " photo(s) found";
  } catch (e) { $("library-found").textContent = ""; status(e.message, true); }
}

$("load-people").onclick = refreshPeople;
$("library-file").onchange = (e) => { if (e.target.files[0]) searchLibrary(e.target.files[0]); };
const libraryDrop = $("library-drop");
libraryDrop.ondragover = (e) => e.preventDefault();
libraryDrop.ondrop = (e) => { e.preventDefault(); if (e.dataTransfer.files[0]) searchLibrary(e.dataTransfer.files[0]); };

$("key").value = key();
$("save-key").onclick = () => { localStorage.setItem("faceprint-key", $("key").value.trim()); status("key saved"); refresh(); };
$("file").onchange = (e) => { if (e.target.files[0]) load(e.target.files[0]); };
const drop = $("drop");
drop.ondragover = (e) => { e.preventDefault(); drop.classList.add("over"); };
drop.ondragleave = () => drop.classList.remove("over");
drop.ondrop = (e) => { e.preventDefault(); drop.classList.remove("over"); if (e.dataTransfer.files[0]) load(e.dataTransfer.files[0]); };
$("enrol").onclick = enrol;
$("identify").onclick = identify;
$("refresh").onclick = refresh;
if (key()) refresh();
