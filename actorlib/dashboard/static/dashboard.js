// The actorlib dashboard page: polls /api/overview and redraws, without reloading.
// Every text from the server goes into the page through textContent (never as
// markup), so actor names, messages and tracebacks cannot inject anything.
"use strict";

const REFRESH_MS = 1000;
const DEAD_LETTERS_SHOWN = 100;
const params = new URLSearchParams(window.location.search);
const token = params.get("token");
if (token !== null) {
  // The server set a SameSite=Strict cookie with the token: drop it from the address bar.
  window.history.replaceState(null, "", window.location.pathname);
}
let csrf = null;
let lastDeadLetter = 0;

function headers(extra) {
  const all = Object.assign({}, extra || {});
  if (token !== null) all["Authorization"] = "Bearer " + token;
  return all;
}

async function getJSON(path) {
  const response = await fetch(path, { headers: headers(), credentials: "same-origin" });
  if (!response.ok) throw new Error(path + ": HTTP " + response.status);
  return response.json();
}

async function post(path) {
  const response = await fetch(path, {
    method: "POST",
    headers: headers({ "X-CSRF-Token": csrf }),
    credentials: "same-origin",
  });
  const answer = await response.json().catch(() => ({ ok: false, error: "HTTP " + response.status }));
  if (!answer.ok) setStatus(answer.error || "refused", true);
  await refresh();
}

function el(tag, text, className) {
  const node = document.createElement(tag);
  if (text !== undefined && text !== null) node.textContent = String(text);
  if (className) node.className = className;
  return node;
}

function cell(row, text, className) {
  row.appendChild(el("td", text, className));
}

function setStatus(text, bad) {
  const status = document.getElementById("status");
  status.textContent = text;
  status.classList.toggle("stale", Boolean(bad));
}

function drawActors(data) {
  const section = document.getElementById("actors-section");
  section.hidden = data === null;
  if (data === null) return;
  document.getElementById("system-name").textContent = "- system " + data.system;
  const s = data.statistics;
  document.getElementById("statistics").textContent =
    s.actors + " actors, " + s.dead_letters + " dead letters, workers " + s.workers +
    " (" + s.idle_workers + " idle), ready " + s.ready + ", timers " + s.timers;
  const body = document.querySelector("#actors tbody");
  const rows = [];
  for (const actor of data.actors) {
    const row = el("tr", null, "state-" + actor.state);
    row.dataset.path = actor.path;
    const depth = actor.path.split("/").length - 3; // "/user/a" is depth 0
    cell(row, actor.name, "name " + (depth > 5 ? "indent-deep" : "indent-" + depth));
    row.firstChild.title = actor.path;
    cell(row, actor["class"], "class");
    cell(row, actor.state, "state");
    cell(row, actor.mailbox, "number mailbox");
    cell(row, actor.restarts, "number restarts");
    cell(row, actor.rate.toFixed(1), "number rate");
    cell(row, actor.handled, "number handled");
    rows.push(row);
  }
  body.replaceChildren(...rows);
}

function drawDeadLetters(data) {
  const section = document.getElementById("dead-letters-section");
  section.hidden = data === null;
  if (data === null) return;
  document.getElementById("dead-letter-total").textContent = "(" + data.total + ")";
  const list = document.getElementById("dead-letters");
  for (const letter of data.entries) {
    lastDeadLetter = Math.max(lastDeadLetter, letter.seq);
    const when = new Date(letter.time * 1000).toLocaleTimeString();
    const item = el("li", when + "  to " + (letter.recipient || "?") + "  from " +
      (letter.sender || "-") + ":  " + letter.message, "dead-letter");
    list.insertBefore(item, list.firstChild);
  }
  while (list.children.length > DEAD_LETTERS_SHOWN) list.removeChild(list.lastChild);
}

function jobRow(source, job, kind) {
  const row = el("tr", null, "job job-" + kind);
  row.dataset.job = job.id;
  cell(row, job.id, "id");
  cell(row, job.name, "name");
  cell(row, job.attempts + "/" + job.max_attempts, "number attempts");
  const last = el("td");
  if (kind === "running") {
    const bar = el("progress");
    bar.max = 1;
    if (job.progress && job.progress.fraction !== null) bar.value = job.progress.fraction;
    last.appendChild(bar);
    if (job.progress) {
      const total = job.progress.total === null ? "" : "/" + job.progress.total;
      last.appendChild(el("span", " " + job.progress.done + total + " " + (job.progress.note || "")));
    }
  } else if (kind === "waiting") {
    const button = el("button", "cancel", "cancel");
    button.addEventListener("click", () => post("/api/jobs/" + source.key + "/" + job.id + "/cancel"));
    last.appendChild(button);
  } else {
    const button = el("button", "retry", "retry");
    button.addEventListener("click", () => post("/api/jobs/" + source.key + "/" + job.id + "/retry"));
    last.appendChild(button);
    last.appendChild(el("div", job.error || "", "error"));
    if (job.traceback) {
      const details = el("details");
      details.appendChild(el("summary", "traceback"));
      details.appendChild(el("pre", job.traceback, "traceback"));
      last.appendChild(details);
    }
  }
  row.appendChild(last);
  return row;
}

function jobTable(source, title, jobs, kind) {
  const box = el("div", null, "jobs-" + kind);
  box.appendChild(el("h3", title + " (" + jobs.length + " shown)"));
  if (jobs.length === 0) return box;
  const table = el("table");
  for (const job of jobs) table.appendChild(jobRow(source, job, kind));
  box.appendChild(table);
  return box;
}

function drawJobs(sources) {
  const holder = document.getElementById("jobs");
  const shown = [];
  for (const source of sources) {
    const box = el("div", null, "source");
    box.dataset.source = source.key;
    box.appendChild(el("h3", source.name + (source.store ? "  [" + source.store + "]" : "")));
    if (source.error) {
      box.appendChild(el("p", "store unavailable: " + source.error, "error"));
      shown.push(box);
      continue;
    }
    const counts = el("p", null, "counts");
    for (const [status, count] of Object.entries(source.counts)) {
      counts.appendChild(el("span", status + " " + count, "count-" + status));
    }
    box.appendChild(counts);
    box.appendChild(jobTable(source, "running", source.running, "running"));
    box.appendChild(jobTable(source, "waiting", source.waiting, "waiting"));
    box.appendChild(jobTable(source, "failed (dead letters)", source.failed, "failed"));
    shown.push(box);
  }
  if (shown.length === 0) shown.push(el("p", "no job queue open"));
  // Keep open tracebacks open across redraws.
  const open = new Set([...holder.querySelectorAll("details[open]")].map(
    (d) => d.closest("tr").dataset.job));
  holder.replaceChildren(...shown);
  for (const details of holder.querySelectorAll("details")) {
    if (open.has(details.closest("tr").dataset.job)) details.open = true;
  }
}

function bytes(n) {
  if (n < 1024) return n + " B";
  if (n < 1024 * 1024) return (n / 1024).toFixed(1) + " KiB";
  return (n / 1024 / 1024).toFixed(1) + " MiB";
}

function ms(value) {
  return value === null ? "-" : value.toFixed(2);
}

function drawLinks(links) {
  const rows = links.map((link) => {
    const row = el("tr", null, "link link-" + link.state);
    row.dataset.peer = link.peer;
    cell(row, link.peer, "peer");
    cell(row, link.address || "-", "address");
    cell(row, link.link_id || "-", "link-id");
    cell(row, link.state, "state");
    cell(row, link.frames_sent + " / " + link.frames_received, "number frames");
    cell(row, bytes(link.bytes_sent) + " / " + bytes(link.bytes_received), "number bytes");
    cell(row, ms(link.rtt_ms) + ", " + ms(link.rtt_mean_ms), "number rtt");
    cell(row, link.reconnects, "number reconnects");
    cell(row, link.outbox, "number outbox");
    cell(row, link.pending_asks, "number pending");
    return row;
  });
  document.querySelector("#links tbody").replaceChildren(...rows);
  document.getElementById("links").hidden = rows.length === 0;
  document.getElementById("no-links").hidden = rows.length !== 0;
}

function drawClusters(clusters) {
  const shown = clusters.map((cluster) => {
    const box = el("div", null, "cluster");
    box.dataset.cluster = cluster.name;
    const count = cluster.members.length;
    box.appendChild(el("h3", "cluster " + cluster.name + " (" + count + (count === 1 ? " member)" : " members)")));
    const table = el("table", null, "members");
    const head = el("tr");
    for (const title of ["member", "address", "roles", "joined", "actors", "ready"]) {
      head.appendChild(el("th", title));
    }
    table.appendChild(head);
    for (const member of cluster.members) {
      const row = el("tr", null, member.node_id === cluster.node ? "member this-node" : "member");
      row.dataset.member = member.node_id;
      cell(row, member.node_id + (member.node_id === cluster.node ? " (this node)" : ""), "node");
      cell(row, member.address, "address");
      cell(row, member.roles.join(", ") || "-", "roles");
      cell(row, new Date(member.joined * 1000).toLocaleTimeString(), "joined");
      cell(row, member.actors, "number actors");
      cell(row, member.ready, "number ready");
      table.appendChild(row);
    }
    box.appendChild(table);
    return box;
  });
  document.getElementById("clusters").replaceChildren(...shown);
}

function drawNodes(data) {
  const section = document.getElementById("nodes-section");
  section.hidden = data === null;
  if (data === null) return;
  document.getElementById("node").textContent =
    "node " + data.node + (data.address ? " listening at " + data.address : " (not listening)");
  drawLinks(data.links);
  drawClusters(data.clusters);
}

function drawChart(id, points) {
  const svg = document.getElementById(id);
  const top = Math.max(1, ...points);
  const step = points.length > 1 ? 300 / (points.length - 1) : 0;
  const coords = points.map((v, i) => (i * step).toFixed(1) + "," + (78 - (v / top) * 74).toFixed(1));
  const line = document.createElementNS("http://www.w3.org/2000/svg", "polyline");
  line.setAttribute("points", coords.join(" "));
  svg.replaceChildren(line);
  const now = points.length ? points[points.length - 1] : 0;
  document.getElementById(id + "-now").textContent = now.toFixed(1) + " now, max " + top.toFixed(1);
}

async function refresh() {
  const data = await getJSON("/api/overview?since=" + lastDeadLetter);
  drawActors(data.actors);
  drawDeadLetters(data["dead-letters"]);
  drawJobs(data.jobs);
  drawNodes(data.nodes);
  drawChart("chart-messages", data.history.points.map((p) => p[1]));
  drawChart("chart-jobs", data.history.points.map((p) => p[2]));
  setStatus("live: updated " + new Date().toLocaleTimeString(), false);
}

async function loop() {
  try {
    if (csrf === null) csrf = (await getJSON("/api/session")).csrf;
    await refresh();
  } catch (error) {
    setStatus("not connected: " + error.message, true);
  }
  window.setTimeout(loop, REFRESH_MS);
}

loop();
