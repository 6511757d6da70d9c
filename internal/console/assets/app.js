// The console's pages. Everything shown comes from function code or its
// logs and is untrusted: it is put on the page with textContent only.
"use strict";

const tokenKey = "nimbus-console-token";
let timer = null;
let view = 0; // bumped on every navigation: stale polls stop

function signInAgain() {
  localStorage.removeItem(tokenKey);
  location.replace("/console/login");
}

async function api(path, options) {
  const token = localStorage.getItem(tokenKey);
  if (!token) {
    signInAgain();
    throw new Error("not signed in");
  }
  const opts = Object.assign({credentials: "same-origin"}, options || {});
  opts.headers = Object.assign({"X-Nimbus-Console-Token": token}, opts.headers || {});
  const r = await fetch(path, opts);
  if (r.status === 401) {
    signInAgain();
    throw new Error("not signed in");
  }
  const body = await r.json().catch(() => ({}));
  if (!r.ok) {
    throw new Error(body.message || ("HTTP " + r.status));
  }
  return body;
}

function el(tag, text, cls) {
  const e = document.createElement(tag);
  if (text !== undefined && text !== null) {
    e.textContent = String(text);
  }
  if (cls) {
    e.className = cls;
  }
  return e;
}

function showError(err) {
  const p = document.getElementById("error");
  p.textContent = err ? String(err.message || err) : "";
  p.hidden = !err;
}

function show(id) {
  for (const s of ["functions", "function", "resources"]) {
    document.getElementById(s).hidden = s !== id;
  }
}

function fmt(n) {
  return n === null || n === undefined ? "–" : String(n);
}

async function renderFunctions(v) {
  const list = await api("/console/api/functions");
  if (v !== view) {
    return;
  }
  const body = document.getElementById("function-rows");
  body.replaceChildren();
  for (const f of list) {
    const tr = el("tr");
    tr.dataset.function = f.name;
    const name = el("td");
    const a = el("a", f.name);
    a.href = "#/fn/" + encodeURIComponent(f.name);
    name.append(a);
    tr.append(name, el("td", f.service), el("td", f.stage), el("td", f.runtime),
      el("td", f.memoryMB, "num"), el("td", f.timeoutSec, "num"),
      el("td", new Date(f.lastDeploy).toLocaleString()),
      el("td", f.invocations, "num invocations"), el("td", f.errors, "num"), el("td", f.throttles, "num"),
      el("td", fmt(f.p50Ms), "num"), el("td", fmt(f.p99Ms), "num"), el("td", f.billedGBSeconds, "num"));
    body.append(tr);
  }
}

async function renderFunction(name, v) {
  document.getElementById("function-name").textContent = name;
  document.getElementById("logs").replaceChildren();
  document.getElementById("invoke-result").hidden = true;
  const list = await api("/console/api/functions");
  const f = list.find((x) => x.name === name);
  const facts = document.getElementById("function-facts");
  facts.replaceChildren();
  if (f) {
    for (const [k, val] of [["Service", f.service], ["Stage", f.stage], ["Runtime", f.runtime],
      ["Memory (MB)", f.memoryMB], ["Timeout (s)", f.timeoutSec], ["Invocations", f.invocations],
      ["Errors", f.errors], ["Throttles", f.throttles], ["p50 / p99 (ms)", fmt(f.p50Ms) + " / " + fmt(f.p99Ms)],
      ["Billed GB-seconds", f.billedGBSeconds]]) {
      facts.append(el("dt", k), el("dd", val));
    }
  }
  let since = "";
  const logs = document.getElementById("logs");
  const poll = async () => {
    if (v !== view) {
      return;
    }
    try {
      const q = since ? "?since=" + encodeURIComponent(since) : "";
      const page = await api("/console/api/functions/" + encodeURIComponent(name) + "/logs" + q);
      if (v !== view) {
        return;
      }
      for (const rec of page.records) {
        logs.append(el("div", new Date(rec.time).toISOString() + "  " + rec.message, "line"));
      }
      since = page.next;
      showError(null);
    } catch (err) {
      showError(err);
    }
    if (v === view) {
      timer = setTimeout(poll, 2000);
    }
  };
  await poll();
}

async function invoke(e) {
  e.preventDefault();
  const name = document.getElementById("function-name").textContent;
  const status = document.getElementById("invoke-status");
  document.getElementById("invoke-result").hidden = false;
  status.textContent = "Invoking…";
  document.getElementById("invoke-payload").textContent = "";
  document.getElementById("invoke-log").textContent = "";
  try {
    const res = await api("/console/api/functions/" + encodeURIComponent(name) + "/invoke", {
      method: "POST",
      headers: {"Content-Type": "application/json"},
      body: document.getElementById("payload").value,
    });
    status.textContent = (res.functionError ? "Function error " + res.errorType : "Succeeded") +
      " in " + res.durationMs + " ms" + (res.coldStart ? " (cold start)" : "") + ", request " + res.requestId;
    document.getElementById("invoke-payload").textContent = res.payload;
    document.getElementById("invoke-log").textContent = res.logTail;
  } catch (err) {
    status.textContent = "Failed: " + err.message;
  }
}

function fillList(id, items, text) {
  const ul = document.getElementById(id);
  ul.replaceChildren();
  for (const it of items) {
    ul.append(el("li", text(it)));
  }
  if (items.length === 0) {
    ul.append(el("li", "none", "note"));
  }
}

async function renderResources(v) {
  const inv = await api("/console/api/resources");
  if (v !== view) {
    return;
  }
  fillList("routes", inv.routes, (r) => r.service + " (" + r.stage + "): " + r.endpoint);
  const q = document.getElementById("queues");
  q.replaceChildren();
  for (const it of inv.queues) {
    const tr = el("tr");
    tr.append(el("td", it.name), el("td", it.visible, "num"), el("td", it.inFlight, "num"), el("td", it.delayed, "num"));
    q.append(tr);
  }
  fillList("tables", inv.tables, (t) => t);
  fillList("buckets", inv.buckets, (b) => b);
  const m = document.getElementById("machines");
  m.replaceChildren();
  for (const sm of inv.stateMachines) {
    const li = el("li", sm.name + " (" + sm.type + ")");
    const ul = el("ul");
    for (const x of sm.executions) {
      ul.append(el("li", x.name + ": " + x.status + ", started " + new Date(x.start).toLocaleString()));
    }
    li.append(ul);
    m.append(li);
  }
  if (inv.stateMachines.length === 0) {
    m.append(el("li", "none", "note"));
  }
}

async function route() {
  view++;
  const v = view;
  clearTimeout(timer);
  showError(null);
  const hash = location.hash || "#/";
  try {
    if (hash.startsWith("#/fn/")) {
      show("function");
      await renderFunction(decodeURIComponent(hash.slice(5)), v);
    } else if (hash === "#/resources") {
      show("resources");
      await renderResources(v);
    } else {
      show("functions");
      const refresh = async () => {
        try {
          await renderFunctions(v);
          showError(null);
        } catch (err) {
          showError(err);
        }
        if (v === view) {
          timer = setTimeout(refresh, 5000);
        }
      };
      await refresh();
    }
  } catch (err) {
    showError(err);
  }
}

document.addEventListener("DOMContentLoaded", () => {
  document.getElementById("invoke-form").addEventListener("submit", invoke);
  document.getElementById("logout").addEventListener("click", async () => {
    try {
      await api("/console/api/logout", {method: "POST", headers: {"Content-Type": "application/json"}, body: "{}"});
    } catch (err) {
      // Signed out either way.
    }
    signInAgain();
  });
  window.addEventListener("hashchange", route);
  route();
});
