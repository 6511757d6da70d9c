// Sign-in: a one-time link carries its token in the URL fragment (never
// sent to a server); an operator key is typed into the form.
"use strict";

const tokenKey = "nimbus-console-token";

function status(text, isError) {
  const p = document.getElementById("status");
  p.textContent = text;
  p.className = isError ? "error" : "";
}

async function signIn(body) {
  const r = await fetch("/console/api/login", {
    method: "POST",
    headers: {"Content-Type": "application/json"},
    body: JSON.stringify(body),
    credentials: "same-origin",
  });
  const answer = await r.json().catch(() => ({}));
  if (!r.ok) {
    status(answer.message || ("sign-in failed (" + r.status + ")"), true);
    return;
  }
  localStorage.setItem(tokenKey, answer.token);
  location.replace("/console/");
}

document.addEventListener("DOMContentLoaded", () => {
  const params = new URLSearchParams(location.hash.slice(1));
  const token = params.get("token");
  if (token) {
    // Out of the address bar and history before anything else.
    history.replaceState(null, "", location.pathname);
    status("Signing in…", false);
    signIn({token});
  }
  document.getElementById("keyform").addEventListener("submit", (e) => {
    e.preventDefault();
    signIn({
      accessKeyId: document.getElementById("keyid").value.trim(),
      secretAccessKey: document.getElementById("secret").value.trim(),
    });
  });
});
