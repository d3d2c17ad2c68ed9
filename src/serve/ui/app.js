// docker-cr serve: the page. Plain JavaScript, no build step, no third
// party. Every text from the server is put in with textContent (never
// innerHTML), so a container or file name cannot become markup. State
// changes are POST with the page's CSRF token; the event stream
// (/api/events) says when to read a list again, and polling takes over if
// the stream fails.
"use strict";

const CSRF = document.querySelector('meta[name="csrf"]').content;
const state = { checkpoints: [], containers: [], jobs: [], host: null, selected: new Set(), view: "", es: null, poll: null };

// --- small helpers -------------------------------------------------------

function h(tag, attrs, ...kids) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === false || v === null || v === undefined) continue;
    if (k === "class") e.className = v;
    else if (k === "text") e.textContent = v;
    else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v === true ? "" : v);
  }
  for (const k of kids.flat()) {
    if (k === null || k === undefined || k === false) continue;
    e.append(k instanceof Node ? k : document.createTextNode(String(k)));
  }
  return e;
}
const $ = (id) => document.getElementById(id);
function mib(b) { return b >= 1 << 30 ? (b / (1 << 30)).toFixed(2) + " GiB" : (b / (1 << 20)).toFixed(1) + " MiB"; }
function age(s) {
  if (s < 60) return s + " s";
  if (s < 3600) return Math.floor(s / 60) + " min";
  if (s < 86400) return Math.floor(s / 3600) + " h " + Math.floor((s % 3600) / 60) + " min";
  return Math.floor(s / 86400) + " d";
}
function status(word, cls) { return h("span", { class: "st " + cls, text: word }); }
function cell(label, ...kids) { return h("td", { "data-label": label }, ...kids); }
function num(label, v) { return h("td", { class: "num", "data-label": label, text: v }); }
function enc(s) { return encodeURIComponent(s); }
function ref(c, n) { return c + "/" + n; }

function notice(msg, info) {
  const n = $("notice");
  n.textContent = "";
  if (!msg) { n.hidden = true; return; }
  n.className = "notice" + (info ? " info" : "");
  n.append(typeof msg === "string" ? msg : msg);
  n.hidden = false;
  n.focus && n.scrollIntoView({ block: "nearest" });
}
function errorText(j, status) {
  let t = (j && j.error) || ("HTTP " + status);
  if (j && j.hint) t += "\nhint: " + j.hint;
  if (j && j.needs) t += "\nwaits for: " + j.needs;
  return t;
}

async function api(path) {
  const r = await fetch(path, { credentials: "same-origin", headers: { Accept: "application/json" } });
  const ct = r.headers.get("content-type") || "";
  const body = ct.startsWith("application/json") ? await r.json() : await r.text();
  if (!r.ok) { const e = new Error(errorText(body, r.status)); e.status = r.status; e.body = body; throw e; }
  return body;
}
async function post(path, obj) {
  const r = await fetch(path, {
    method: "POST", credentials: "same-origin",
    headers: { "Content-Type": "application/json", "X-CSRF-Token": CSRF, Accept: "application/json" },
    body: JSON.stringify(obj || {}),
  });
  const body = await r.json().catch(() => ({}));
  if (!r.ok) { const e = new Error(errorText(body, r.status)); e.status = r.status; e.body = body; throw e; }
  return body;
}

// --- live updates --------------------------------------------------------

function live(text) { $("live").textContent = text; }

function startEvents() {
  if (!window.EventSource) { startPolling(); return; }
  const es = new EventSource("/api/events");
  state.es = es;
  es.addEventListener("hello", () => { live("live: updates as they happen"); stopPolling(); });
  es.addEventListener("jobs", (ev) => { try { state.jobs = JSON.parse(ev.data); } catch (_) { return; } renderJobsBadge(); rerender("jobs"); });
  es.addEventListener("checkpoints", () => loadCheckpoints());
  es.addEventListener("containers", () => loadContainers());
  es.addEventListener("bye", () => { live("the server stopped"); es.close(); });
  es.onerror = () => { live("live updates lost; reading every 5 s"); startPolling(); };
}
function startPolling() {
  if (state.poll) return;
  state.poll = setInterval(() => { loadCheckpoints(); loadContainers(); loadJobs(); }, 5000);
}
function stopPolling() { if (state.poll) { clearInterval(state.poll); state.poll = null; } }

async function loadCheckpoints() {
  try { state.checkpoints = await api("/api/checkpoints"); rerender("checkpoints", "compare"); }
  catch (e) { if (state.view === "checkpoints") notice(e.message); }
}
async function loadContainers() {
  try { state.containers = await api("/api/containers"); rerender("containers"); }
  catch (e) { if (state.view === "containers") notice(e.message); }
}
async function loadJobs() {
  try { state.jobs = await api("/api/jobs"); renderJobsBadge(); rerender("jobs"); } catch (_) { /* shown by the view */ }
}
async function loadHost() {
  try { state.host = await api("/api/host"); rerender("host"); } catch (e) { if (state.view === "host") notice(e.message); }
}

// Redraw what the current view shows of this data: only its list, never
// its forms (what someone is typing stays), keeping the focus where it was
// (by id) so keyboard users are not thrown back to the top.
function rerender(...views) {
  if (!views.includes(state.view)) return;
  const id = document.activeElement && document.activeElement.id;
  const region = $("region-" + state.view);
  if (region) { region.textContent = ""; FILL[state.view](region); }
  else if (state.view === "compare") { if (!$("cmp-a") || !$("cmp-a").options.length) route(true); }
  else route(true);
  if (id && $(id)) $(id).focus();
}

function renderJobsBadge() {
  const n = state.jobs.filter((j) => j.state === "running").length;
  $("jobs-count").textContent = n ? "(" + n + " running)" : "";
}

// --- views ---------------------------------------------------------------

function viewHost(root) {
  root.append(h("h2", { text: "Host readiness" }));
  if (!state.host) { root.append(h("p", { text: "Checking… (runs criu check)" })); return; }
  const rows = state.host.items.map((i) => h("tr", {},
    cell("Item", i.item),
    cell("Status", status(i.status.toUpperCase(), i.status)),
    cell("Detail", i.detail, i.fix ? h("div", { class: "hint", text: i.fix }) : null)));
  root.append(h("div", { class: "scroll" }, h("table", { class: "cards", id: "host-table" },
    h("thead", {}, h("tr", {}, h("th", { text: "Item" }), h("th", { text: "Status" }), h("th", { text: "Detail and fix" }))),
    h("tbody", {}, rows))));
  root.append(h("button", { id: "host-again", onclick: () => { state.host = null; route(true); loadHost(); }, text: "Check again" }));
}

function viewContainers(root) {
  root.append(h("h2", { text: "Containers" }));
  const region = h("div", { id: "region-containers" });
  fillContainers(region);
  root.append(region, h("div", { id: "form-area" }));
}

function fillContainers(root) {
  if (!state.containers.length) { root.append(h("p", { text: "No containers (or the engine did not answer)." })); }
  const rows = state.containers.map((c) => h("tr", { "data-container": c.name },
    cell("Name", h("strong", { text: c.name }), h("div", { class: "why", text: c.id })),
    cell("Image", c.image),
    cell("State", c.state, h("div", { class: "why", text: c.status })),
    cell("Checkpoint", c.checkpointable ? status("yes", "ok") : status("no", "no"),
      c.why_not ? h("div", { class: "why", text: c.why_not }) : null,
      c.hint ? h("div", { class: "hint", text: c.hint }) : null),
    num("Stored", String(c.checkpoints)),
    cell("Actions",
      h("button", { id: "cp-" + c.name, disabled: !c.checkpointable || c.busy_job != null,
        onclick: () => checkpointForm(c.name), text: c.busy_job != null ? "busy (job " + c.busy_job + ")" : "Checkpoint…" }),
      h("button", { id: "mig-" + c.name, disabled: !c.checkpointable || c.busy_job != null,
        onclick: () => migrateForm(c.name), text: "Migrate…" }))));
  root.append(h("div", { class: "scroll" }, h("table", { class: "cards", id: "containers-table" },
    h("thead", {}, h("tr", {}, ["Name", "Image", "State", "Can be checkpointed", "Stored", "Actions"].map((t) =>
      h("th", { text: t, class: t === "Stored" ? "num" : null })))),
    h("tbody", {}, rows))));
}

function checkpointForm(name) {
  const area = $("form-area");
  area.textContent = "";
  const f = h("form", { id: "checkpoint-form", onsubmit: async (ev) => {
    ev.preventDefault();
    const d = new FormData(f);
    try {
      const r = await post("/api/checkpoints", {
        container: name, name: d.get("name") || null, stop: d.get("stop") === "on",
        tcp_established: d.get("tcp") === "on", ext_unix_sk: d.get("unix") === "on", file_locks: d.get("locks") === "on",
      });
      notice("Checkpoint of " + name + " started (job " + r.job + "). Progress is under Operations.", true);
      area.textContent = "";
      loadJobs();
      location.hash = "#jobs";
    } catch (e) { notice(e.message); }
  } },
  h("fieldset", {}, h("legend", { text: "Checkpoint " + name }),
    h("label", {}, "Name (empty: the time) ", h("input", { type: "text", name: "name", id: "cp-name", pattern: "[a-zA-Z0-9][a-zA-Z0-9_.\\-]*" })),
    h("br"),
    h("label", {}, h("input", { type: "checkbox", name: "stop" }), " stop the container afterwards (else it keeps running)"),
    h("br"),
    h("label", {}, h("input", { type: "checkbox", name: "tcp", checked: true }), " established TCP connections"),
    h("label", {}, h("input", { type: "checkbox", name: "unix", checked: true }), " external UNIX sockets"),
    h("label", {}, h("input", { type: "checkbox", name: "locks", checked: true }), " file locks"),
    h("br"),
    h("button", { type: "submit", class: "primary", id: "cp-go", text: "Checkpoint now" }),
    h("button", { type: "button", onclick: () => { area.textContent = ""; }, text: "Cancel" })));
  area.append(f);
  $("cp-name").focus();
}

function migrateForm(name) {
  const area = $("form-area");
  area.textContent = "";
  const f = h("form", { id: "migrate-form", onsubmit: async (ev) => {
    ev.preventDefault();
    const d = new FormData(f);
    if (!confirm("Migrate " + name + " to " + d.get("dest") + "? It stops here and starts there.")) return;
    try {
      const r = await post("/api/migrate", { container: name, dest: d.get("dest"), name: d.get("newname") || null });
      notice("Migration of " + name + " started (job " + r.job + ").", true);
      area.textContent = "";
      location.hash = "#jobs";
    } catch (e) { notice(e.message); }
  } },
  h("fieldset", {}, h("legend", { text: "Migrate " + name + " to another host" }),
    h("label", {}, "Host (as the transport takes it, e.g. root@host-b) ", h("input", { type: "text", name: "dest", id: "mig-dest", required: true })),
    h("label", {}, "Name there (optional) ", h("input", { type: "text", name: "newname" })),
    h("br"),
    h("button", { type: "submit", class: "primary", text: "Migrate" }),
    h("button", { type: "button", onclick: () => { area.textContent = ""; }, text: "Cancel" })));
  area.append(f);
  $("mig-dest").focus();
}

function restorable(r) {
  return r.restorable ? status("yes", "ok") : h("span", {}, status("no", "no"), h("ul", { class: "plain why" }, r.reasons.map((x) => h("li", { text: x }))));
}

function viewCheckpoints(root) {
  root.append(h("h2", { text: "Checkpoints in the store" }));
  const region = h("div", { id: "region-checkpoints" });
  fillCheckpoints(region);
  root.append(region, pruneForm(), uploadForm());
}

function fillCheckpoints(root) {
  const n = state.selected.size;
  root.append(h("p", {},
    h("button", { id: "compare-selected", disabled: n !== 2, onclick: () => {
      const [a, b] = [...state.selected];
      location.hash = "#diff?a=" + enc(a) + "&b=" + enc(b);
    }, text: "Compare the two selected" }),
    h("span", { class: "muted", text: n === 2 ? "" : " select two checkpoints to compare them (" + n + " selected)" })));
  if (!state.checkpoints.length) root.append(h("p", { text: "The store is empty: take a checkpoint under Containers, or upload an archive below." }));
  const rows = state.checkpoints.map((r) => r.kind === "group" ? groupRow(r) : h("tr", { "data-ref": r.reference },
    cell("Select", h("input", { type: "checkbox", id: "sel-" + r.reference, "aria-label": "select " + r.reference,
      checked: state.selected.has(r.reference), onchange: (ev) => {
        if (ev.target.checked) state.selected.add(r.reference); else state.selected.delete(r.reference);
        rerender("checkpoints");
      } })),
    cell("Checkpoint", h("a", { href: "#cp/" + enc(r.container) + "/" + enc(r.name), class: "cp-link", text: r.reference }),
      h("div", { class: "why", text: r.image ? "image " + r.image.slice(0, 19) : "" })),
    ...factCells(r),
    cell("Restorable here", restorable(r)),
    cell("Actions",
      h("a", { class: "button", href: "/api/checkpoints/" + enc(r.container) + "/" + enc(r.name) + "/archive", download: "", text: "Download" }),
      h("button", { class: "danger", id: "del-" + r.reference, onclick: () => del(r), text: "Delete" }))));
  root.append(h("div", { class: "scroll" }, h("table", { class: "cards", id: "checkpoints-table" },
    h("thead", {}, h("tr", {}, ["", "Checkpoint", "Age", "Size", "Pages", "Container", "CRIU / kernel", "Provenance", "Restorable here", "Actions"].map((t) =>
      h("th", { text: t, class: t === "Size" || t === "Pages" ? "num" : null })))),
    h("tbody", {}, rows))));
}

// The cells a checkpoint's row and a group's have alike.
function factCells(r) {
  return [
    cell("Age", age(r.age_seconds), h("div", { class: "why", text: r.created })),
    num("Size", mib(r.size_bytes)),
    num("Pages", String(r.memory_pages)),
    cell("Container", r.container_state),
    cell("CRIU / kernel", r.criu, h("div", { class: "why", text: r.kernel })),
    cell("Provenance", r.signature),
  ];
}

// A group checkpoint (a Compose project frozen at one instant): one item,
// its members under it in restore order. It restores as one from the CLI
// (the page restores single checkpoints); it is deleted as one.
function groupRow(r) {
  const members = h("ul", { class: "plain members", "aria-label": "members of " + r.reference },
    r.members.map((m) => h("li", { class: "member", "data-member": m.container },
      m.container + (m.service ? " (" + m.service + ")" : "") + ", " + mib(m.size_bytes) + ", " + m.container_state)));
  return h("tr", { "data-ref": r.reference, class: "group" },
    cell("Select", ""),
    cell("Checkpoint", h("span", { class: "cp-group", text: "group " + r.reference }), members),
    ...factCells(r),
    cell("Restorable here", restorable(r),
      h("div", { class: "why", text: "as one: docker-cr restore --group " + r.reference })),
    cell("Actions", h("button", { class: "danger", id: "del-" + r.reference, onclick: () => del(r), text: "Delete" })));
}

async function del(r) {
  if (!confirm("Delete the checkpoint " + r.reference + "? This cannot be undone.")) return;
  try { await post("/api/checkpoints/" + enc(r.container) + "/" + enc(r.name) + "/delete"); state.selected.delete(r.reference); notice("Deleted " + r.reference + ".", true); loadCheckpoints(); }
  catch (e) { notice(e.message); }
}

function pruneForm() {
  const out = h("div", { id: "prune-plan", "aria-live": "polite" });
  const f = h("form", { id: "prune-form", onsubmit: (ev) => ev.preventDefault() },
    h("fieldset", {}, h("legend", { text: "Prune" }),
      h("label", {}, "Keep the newest ", h("input", { type: "number", min: "0", name: "keep", id: "prune-keep" }), " per container"),
      h("label", {}, "and/or older than ", h("input", { type: "text", name: "older", id: "prune-older", placeholder: "7d, 12h, 30m" })),
      h("label", {}, "of container ", h("input", { type: "text", name: "container", placeholder: "all" })),
      h("br"),
      h("button", { type: "button", id: "prune-preview", onclick: async () => {
        const d = new FormData(f);
        out.textContent = "";
        try {
          const q = "keep=" + enc(d.get("keep") || "") + "&older_than=" + enc(d.get("older") || "") + "&container=" + enc(d.get("container") || "");
          const p = await api("/api/prune-plan?" + q);
          out.append(h("p", { text: p.remove.length ? "Would remove " + p.remove.length + ":" : "Would remove nothing." }),
            h("ul", { class: "plain" }, p.remove.map((x) => h("li", { text: x }))));
          if (p.remove.length) out.append(h("button", { class: "danger", id: "prune-go", onclick: async () => {
            try {
              const r = await post("/api/prune", { keep: d.get("keep") ? Number(d.get("keep")) : null, older_than: d.get("older") || null, container: d.get("container") || null });
              notice("Removed " + r.removed.length + (r.failed.length ? "; not removed: " + r.failed.map((x) => x.reference + " (" + x.error + ")").join(", ") : "") + ".", !r.failed.length);
              out.textContent = ""; loadCheckpoints();
            } catch (e) { notice(e.message); }
          }, text: "Remove these " + p.remove.length }));
        } catch (e) { out.append(h("p", { text: e.message })); }
      }, text: "Preview" })));
  return h("div", {}, f, out);
}

function uploadForm() {
  const out = h("div", { id: "upload-result", "aria-live": "polite" });
  const bar = h("progress", { max: "100", value: "0", hidden: true, id: "upload-progress" });
  const f = h("form", { id: "upload-form", onsubmit: (ev) => {
    ev.preventDefault();
    const file = f.querySelector("input[type=file]").files[0];
    if (!file) return;
    const name = new FormData(f).get("name") || "";
    const x = new XMLHttpRequest();
    x.open("POST", "/api/upload?name=" + enc(name));
    x.setRequestHeader("Content-Type", "application/octet-stream");
    x.setRequestHeader("X-CSRF-Token", CSRF);
    bar.hidden = false;
    x.upload.onprogress = (e) => { if (e.lengthComputable) bar.value = Math.round((e.loaded * 100) / e.total); };
    x.onload = () => {
      bar.hidden = true;
      let j = {}; try { j = JSON.parse(x.responseText); } catch (_) { /* not JSON */ }
      out.textContent = "";
      if (x.status === 201) {
        const row = j.row || {};
        out.append(h("p", {}, "Stored as ", h("a", { href: "#cp/" + (j.reference || "").split("/").map(enc).join("/"), text: j.reference }),
          " (" + j.files + " files, " + mib(j.bytes) + ", " + j.compression + "). Provenance: " + (row.signature || "?") + ".",
          j.made_by ? " Converted from " + j.made_by.engine + " (container " + j.made_by.container + ")." : "",
          " Restorable here: ", row.restorable ? "yes" : "no" + (row.reasons ? " — " + row.reasons.join("; ") : "")));
        loadCheckpoints();
      } else out.append(h("p", { text: errorText(j, x.status) }));
    };
    x.onerror = () => { bar.hidden = true; out.textContent = "The upload failed (connection lost); nothing was stored."; };
    x.send(file);
  } },
  h("fieldset", {}, h("legend", { text: "Upload an archive" }),
    h("label", {}, "Archive ", h("input", { type: "file", name: "file", id: "upload-file", accept: ".tar,.zst,.gz,.tgz" })),
    h("label", {}, "Name (optional) ", h("input", { type: "text", name: "name" })),
    h("button", { type: "submit", id: "upload-go", text: "Upload and verify" }), bar));
  return h("div", {}, f, out);
}

function facts(pairs) {
  return h("dl", { class: "facts" }, pairs.filter((p) => p[1] !== undefined && p[1] !== null && p[1] !== "").flatMap(([k, v]) => [h("dt", { text: k }), h("dd", {}, v)]));
}
function sizesOf(d) {
  const s = d.sizes || {};
  return mib(s.total_bytes || 0) + " (pages " + mib(s.pages_bytes || 0) + ", file changes " + mib(s.rootfs_diff_bytes || 0) + ", " + (s.rootfs_files || 0) + " files, " + (s.rootfs_deleted || 0) + " deleted)";
}
function timingsOf(d) {
  const t = d.timings_ms || {};
  return "total " + t.total + " ms, frozen " + t.frozen + " ms, criu dump " + t.criu_dump + " ms, file changes " + t.rootfs + " ms, checksums " + t.checksums + " ms";
}

async function viewDetails(root, c, n) {
  root.append(h("h2", { text: "Checkpoint " + c + "/" + n }), h("p", { text: "Reading…" }));
  let d;
  try { d = await api("/api/checkpoints/" + enc(c) + "/" + enc(n)); }
  catch (e) { root.lastChild.textContent = e.message; return; }
  root.lastChild.remove();
  const row = d.row || {};
  const opts = d.options || {};
  root.append(facts([
    ["Created", d.created + " by " + d.tool],
    ["Provenance", d.signature],
    ["Restorable here", restorable(row)],
    ["Container", d.container.name + " (" + d.container.id.slice(0, 12) + "), now " + (row.container_state || "?")],
    ["Image", d.container.image + " (" + d.container.image_id.slice(0, 19) + ")"],
    ["Host", "CRIU " + d.host.criu + ", kernel " + d.host.kernel + ", " + d.host.arch + ", cgroup v" + d.host.cgroup + ", Docker " + d.host.docker],
    ["Options", "tcp-established " + opts.tcp_established + ", ext-unix-sk " + opts.ext_unix_sk + ", file-locks " + opts.file_locks + ", stopped " + opts.stopped],
    ["Sizes", sizesOf(d)],
    ["Timings", timingsOf(d)],
  ]));
  root.append(h("h3", { text: "Process tree (" + d.processes.length + ")" }), h("pre", { class: "tree", id: "tree", text: d.tree.join("\n") }));
  const tcp = d.tcp || [];
  root.append(h("h3", { text: "TCP sockets (" + tcp.length + ")" }));
  if (tcp.length) root.append(h("div", { class: "scroll" }, h("table", { class: "cards" },
    h("thead", {}, h("tr", {}, ["Local", "Remote", "State"].map((t) => h("th", { text: t })))),
    h("tbody", {}, tcp.map((s) => h("tr", {}, cell("Local", s.local), cell("Remote", s.remote || "—"),
      cell("State", s.listening ? "listening" : s.established ? "established" : s.connected ? "connected" : "other")))))));
  const st = d.criu_statistics;
  root.append(h("h3", { text: "CRIU statistics" }));
  root.append(st ? h("div", { class: "scroll" }, h("table", { class: "cards", id: "criu-stats" }, h("tbody", {},
    Object.entries(st).map(([k, v]) => h("tr", {}, cell("Statistic", k), num("Value", k.endsWith("_time") ? v + " µs" : String(v))))))) : h("p", { text: "none recorded" }));
  const logBox = h("div", { id: "log-box" });
  root.append(h("h3", { text: "CRIU log" }),
    d.has_log ? h("button", { id: "show-log", onclick: async () => {
      logBox.textContent = "Reading…";
      try { const t = await api("/api/checkpoints/" + enc(c) + "/" + enc(n) + "/log"); logBox.textContent = ""; logBox.append(h("pre", { id: "log", text: t })); }
      catch (e) { logBox.textContent = e.message; }
    }, text: "Show the dump log" }) : h("p", { text: "no log in this checkpoint" }), logBox);
  root.append(restoreForm(c, n, row),
    h("p", {}, h("a", { class: "button", href: "/api/checkpoints/" + enc(c) + "/" + enc(n) + "/archive", download: "", text: "Download the archive" })));
}

function restoreForm(c, n, row) {
  const plan = h("div", { id: "restore-plan", "aria-live": "polite" });
  const f = h("form", { id: "restore-form", onsubmit: async (ev) => {
    ev.preventDefault();
    const d = new FormData(f);
    const body = { name: d.get("name") || null, publish: (d.get("publish") || "").split(/[ ,]+/).filter(Boolean),
      trust: d.get("trust") === "on", allow_host_access: d.get("host") === "on", unpause: d.get("unpause") === "on" };
    try { const r = await post("/api/checkpoints/" + enc(c) + "/" + enc(n) + "/restore", body); notice("Restore started (job " + r.job + ").", true); location.hash = "#jobs"; }
    catch (e) { notice(e.message); }
  } },
  h("fieldset", {}, h("legend", { text: "Restore" }),
    h("label", {}, "As a clone named (empty: as itself) ", h("input", { type: "text", name: "name", id: "restore-name" })),
    h("label", {}, "Ports (host:container, e.g. 8081:80) ", h("input", { type: "text", name: "publish", id: "restore-ports" })),
    h("br"),
    h("label", {}, h("input", { type: "checkbox", name: "trust" }), " trust it although it is not signed by a trusted key"),
    h("label", {}, h("input", { type: "checkbox", name: "host" }), " allow the host access it asks for"),
    h("label", {}, h("input", { type: "checkbox", name: "unpause" }), " start running if it was paused"),
    h("br"),
    h("button", { type: "button", id: "restore-preview", onclick: async () => {
      plan.textContent = "";
      try {
        const d = new FormData(f);
        const q = "name=" + enc(d.get("name") || "") + "&publish=" + enc(d.get("publish") || "") +
          (d.get("trust") === "on" ? "&trust=1" : "") + (d.get("host") === "on" ? "&allow_host_access=1" : "") + (d.get("unpause") === "on" ? "&unpause=1" : "");
        const p = await api("/api/checkpoints/" + enc(c) + "/" + enc(n) + "/restore-plan?" + q);
        plan.append(h("h3", { text: "The plan (as restore --dry-run prints it)" }), h("pre", { id: "plan-text", text: p.text }));
        plan.append(p.refusal ? h("p", { id: "plan-refusal" }, status("refused", "no"), " " + p.refusal.error + (p.refusal.hint ? "\nhint: " + p.refusal.hint : ""))
          : h("p", { id: "plan-ok" }, status("would run", "ok")));
      } catch (e) {
        plan.append(h("p", { text: e.message }),
          h("p", { class: "muted", text: "Restorable here: " + (row.restorable ? "yes" : "no — " + (row.reasons || []).join("; ")) }));
      }
    }, text: "Show the plan" }),
    h("button", { type: "submit", class: "primary", id: "restore-go", text: "Restore" })));
  return h("div", {}, f, plan);
}

function viewCompare(root, a, b) {
  root.append(h("h2", { text: "Compare two checkpoints" }));
  const opts = (sel) => state.checkpoints.filter((r) => r.kind !== "group").map((r) => h("option", { value: r.reference, selected: r.reference === sel, text: r.reference + " (" + age(r.age_seconds) + " ago)" }));
  const f = h("form", { id: "compare-form", onsubmit: (ev) => { ev.preventDefault(); const d = new FormData(f); location.hash = "#diff?a=" + enc(d.get("a")) + "&b=" + enc(d.get("b")); } },
    h("label", {}, "Before ", h("select", { name: "a", id: "cmp-a" }, opts(a))),
    h("label", {}, "After ", h("select", { name: "b", id: "cmp-b" }, opts(b))),
    h("button", { type: "submit", class: "primary", text: "Compare" }));
  root.append(f);
}

function list(title, items, fmt) {
  return h("div", {}, h("h3", { text: title + " (" + items.length + ")" }),
    items.length ? h("ul", { class: "plain" }, items.slice(0, 500).map((x) => h("li", { text: fmt(x) })), items.length > 500 ? h("li", { text: "… and " + (items.length - 500) + " more" }) : null) : h("p", { class: "muted", text: "none" }));
}

async function viewDiff(root, a, b) {
  viewCompare(root, a, b);
  const box = h("div", { id: "diff", "aria-live": "polite" }, h("p", { text: "Comparing…" }));
  root.append(box);
  let d, da, db;
  try {
    const [x, y] = [a.split("/"), b.split("/")];
    [d, da, db] = await Promise.all([api("/api/diff?a=" + enc(a) + "&b=" + enc(b)),
      api("/api/checkpoints/" + enc(x[0]) + "/" + enc(x[1])), api("/api/checkpoints/" + enc(y[0]) + "/" + enc(y[1]))]);
  } catch (e) { box.textContent = e.message; return; }
  box.textContent = "";
  box.append(h("h3", { text: a + " → " + b + " (" + (d.seconds_apart >= 0 ? age(d.seconds_apart) + " later" : age(-d.seconds_apart) + " earlier") + (d.same_container ? ", same container" : ", different containers") + ")" }),
    h("ul", { class: "summary", id: "diff-summary" }, d.summary.map((s) => h("li", { text: s }))));
  const side = (x) => facts([["Created", x.created], ["Processes", String(x.processes.length)], ["Sizes", sizesOf(x)], ["Timings", timingsOf(x)], ["Signature", x.signature]]);
  box.append(h("div", { class: "side" }, h("div", {}, h("h3", { text: a }), side(da), h("pre", { class: "tree", text: da.tree.join("\n") })),
    h("div", {}, h("h3", { text: b }), side(db), h("pre", { class: "tree", text: db.tree.join("\n") }))));
  const p = (x) => x.pid + " " + x.comm + (x.threads > 1 ? " (" + x.threads + " threads)" : "");
  box.append(list("Processes started", d.processes_added, p), list("Processes ended", d.processes_removed, p),
    list("Processes changed", d.processes_changed, (x) => x.pid + ": " + x.before + " → " + x.after));
  box.append(h("h3", { text: "Memory (page images)" }), h("div", { class: "scroll" }, h("table", { class: "cards", id: "diff-memory" },
    h("thead", {}, h("tr", {}, ["Image", "Before", "After", "Same"].map((t) => h("th", { text: t })))),
    h("tbody", {}, d.memory.map((m) => h("tr", {}, cell("Image", m.file), num("Before", m.a_bytes == null ? "—" : mib(m.a_bytes)), num("After", m.b_bytes == null ? "—" : mib(m.b_bytes)),
      cell("Same", m.same === true ? status("identical", "ok") : m.same === false ? status("changed" + (m.pieces_changed ? " (" + m.pieces_changed[0] + " of " + m.pieces_changed[1] + " pieces)" : ""), "warning") : "only on one side")))))));
  box.append(list("Files added", d.files_added, (x) => x.path + " (" + x.kind + (x.kind === "file" ? ", " + x.size + " bytes" : "") + ")"),
    list("Files gone", d.files_removed, (x) => x.path + " (" + x.kind + ")"),
    list("Files changed", d.files_changed, (x) => x.path + ": " + x.before + " → " + x.after));
  const s = (t) => t.local + (t.remote ? " ↔ " + t.remote : " (listening)");
  box.append(list("TCP sockets opened", d.sockets_added, s), list("TCP sockets closed", d.sockets_removed, s));
}

function viewJobs(root) {
  root.append(h("h2", { text: "Operations" }));
  if (!state.jobs.length) { root.append(h("p", { text: "None started from this page yet." })); return; }
  for (const j of state.jobs) {
    const word = j.state === "running" ? "RUNNING" : j.state === "done" ? "DONE" : "FAILED";
    const cls = j.state === "running" ? "warning" : j.state === "done" ? "ok" : "fail";
    const art = h("article", { class: "job", id: "job-" + j.id, "data-state": j.state },
      h("h3", {}, status(word, cls), " " + j.kind + " " + j.what + " (job " + j.id + ")"),
      h("p", { text: (j.elapsed_ms / 1000).toFixed(1) + " s" + (j.bytes ? ", " + mib(j.bytes) + " written, " + j.rate_mib_s + " MiB/s" : "") }));
    if (j.state === "running") {
      art.append(h("progress", { "aria-label": j.kind + " running" }));
      if (j.step) art.append(h("p", { class: "step", text: j.step }));
      art.append(h("button", { id: "cancel-" + j.id, class: "danger", disabled: j.cancelled, onclick: async () => {
        try { await post("/api/jobs/" + j.id + "/cancel"); } catch (e) { notice(e.message); }
      }, text: j.cancelled ? "cancelling…" : "Cancel (rolls back)" }));
    }
    if (j.steps && j.steps.length) art.append(h("details", {}, h("summary", { text: "Steps (" + j.steps.length + ")" }), h("pre", { class: "steps", text: j.steps.join("\n") })));
    const st = j.result && j.result.statistics;
    if (st && st.frozen_duration !== undefined) art.append(h("p", { text: "frozen " + Math.round(st.frozen_duration / 1000) + " ms, CRIU " + Math.round(st.runtime_checkpoint_duration / 1000) + " ms" + (st.sizes ? ", " + mib(st.sizes.images_bytes || 0) + " of images" : "") }));
    if (j.failure) art.append(h("pre", { class: "failure", text: j.failure.error + (j.failure.hint ? "\nhint: " + j.failure.hint : "") }));
    if (j.result && j.result.statistics) art.append(h("details", {}, h("summary", { text: "Final statistics" }), h("pre", { class: "result", text: JSON.stringify(j.result.statistics, null, 2) })));
    if (j.result && j.result.reference) art.append(h("p", {}, "Checkpoint: ", h("a", { href: "#cp/" + j.result.reference.split("/").map(enc).join("/"), text: j.result.reference })));
    root.append(art);
  }
}

const FILL = { checkpoints: fillCheckpoints, containers: fillContainers };

// --- routing -------------------------------------------------------------

function route(redraw) {
  const hash = decodeURIComponent(location.hash.slice(1)) || "checkpoints";
  let [view, rest] = [hash.split(/[/?]/)[0], hash];
  const root = $("view");
  if (!redraw) notice("");
  const changed = view !== state.view;
  state.view = view;
  for (const a of document.querySelectorAll("nav a")) {
    if (a.dataset.view === view || (view === "cp" && a.dataset.view === "checkpoints") || (view === "diff" && a.dataset.view === "compare")) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
  // Details and comparisons are read once per visit, not on every event.
  if (redraw && (view === "cp" || view === "diff")) return;
  root.textContent = "";
  if (view === "host") { viewHost(root); if (!state.host) loadHost(); }
  else if (view === "containers") viewContainers(root);
  else if (view === "jobs") viewJobs(root);
  else if (view === "compare") { const s = [...state.selected]; viewCompare(root, s[0], s[1]); }
  else if (view === "cp") { const p = location.hash.slice(1).split("/"); viewDetails(root, decodeURIComponent(p[1] || ""), decodeURIComponent(p[2] || "")); }
  else if (view === "diff") { const q = new URLSearchParams(location.hash.split("?")[1] || ""); viewDiff(root, q.get("a") || "", q.get("b") || ""); }
  else { state.view = "checkpoints"; viewCheckpoints(root); }
  if (changed && !redraw) $("main").focus();
  void rest;
}

window.addEventListener("hashchange", () => route(false));
document.addEventListener("DOMContentLoaded", () => {
  route(false);
  loadCheckpoints(); loadContainers(); loadJobs();
  startEvents();
});
