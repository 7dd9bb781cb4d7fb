"use strict";
// Foundry's page: Chat (streamed replies and the distribution each token was drawn from) and
// Rank (order K responses of the served model; each ranking is a line of reward-model data).
// Rules it keeps: one action sends one request; a reload loses nothing (the tab, the chat, the
// sampling knobs, the picks on the prompt at hand); every control is reachable with Tab.
const $ = (id) => document.getElementById(id);
const store = {
  get(key, fallback) { try { const v = sessionStorage.getItem(key); return v === null ? fallback : JSON.parse(v); } catch (e) { return fallback; } },
  set(key, value) { try { sessionStorage.setItem(key, JSON.stringify(value)); } catch (e) { /* private mode: nothing kept */ } },
  drop(key) { try { sessionStorage.removeItem(key); } catch (e) { /* nothing kept */ } },
};
let info = null;

function headers() {
  const h = {"Content-Type": "application/json"};
  const key = localStorage.getItem("foundry-key");
  if (key) h["Authorization"] = "Bearer " + key;
  return h;
}

async function api(path, body) {
  const res = await fetch(path, body === undefined ? {headers: headers()} : {method: "POST", headers: headers(), body: JSON.stringify(body)});
  if (res.status === 401) { $("keybox").classList.remove("hidden"); throw new Error("this server needs its API key"); }
  return res;
}

async function errorOf(res) {
  try { const j = await res.json(); return j.error || {message: res.statusText}; } catch (e) { return {message: res.statusText}; }
}

function showToken(s) {
  return s.replace(/ /g, "␣").replace(/\n/g, "⏎").replace(/\t/g, "⇥");
}

/** Makes `el` act as a button for the keyboard too: Tab reaches it, Enter and Space press it. */
function pressable(el, action) {
  el.tabIndex = 0;
  el.setAttribute("role", "button");
  el.addEventListener("click", action);
  el.addEventListener("keydown", (e) => {
    if (e.key === "Enter" || e.key === " ") { e.preventDefault(); e.stopPropagation(); action(); }
  });
}

// ---- Chat ----
let conversation = store.get("foundry-chat", []);   // [{role, content, dropped?}]
let busy = false;

function saveChat() { store.set("foundry-chat", conversation); }

/** Shows a message; `turn` is its index in `conversation` when it is part of it. */
function addMessage(role, text, dropped, turn) {
  $("chat-hint")?.remove();
  const div = document.createElement("div");
  div.className = "msg " + role + (dropped ? " dropped" : "");
  if (turn !== undefined) div.dataset.turn = turn;
  const who = document.createElement("span");
  who.className = "who"; who.textContent = role === "user" ? "you" : "model";
  const body = document.createElement("span");
  body.className = "body"; body.textContent = text;
  div.append(who, body);
  $("messages").append(div);
  return body;
}

function numberField(id, parse) {
  const v = $(id).value.trim();
  return v === "" ? undefined : parse(v);
}

function selectToken(span) {
  document.querySelectorAll(".tok.sel").forEach((s) => s.classList.remove("sel"));
  span.classList.add("sel");
  const box = $("dist-body");
  box.textContent = "";
  for (const t of span.foundryTokens) {
    const head = document.createElement("p");
    head.append("drawn: ");
    const code = document.createElement("code"); code.className = "t"; code.textContent = showToken(t.token);
    head.append(code, " (id " + t.id + ")");
    const table = document.createElement("table");
    table.className = "dist-table";
    table.innerHTML = "<tr><th>token</th><th>p</th><th></th><th>p/T</th><th></th></tr>";
    for (const c of t.distribution) {
      const tr = document.createElement("tr");
      if (c.id === t.id) tr.style.fontWeight = "bold";
      const cells = [0, 1, 2, 3, 4].map(() => document.createElement("td"));
      const tok = document.createElement("code"); tok.className = "t"; tok.textContent = showToken(c.token); cells[0].append(tok);
      cells[1].className = "num"; cells[1].textContent = c.p.toFixed(3);
      cells[2].innerHTML = "<div class='bar' style='width:" + Math.round(60 * c.p) + "px'></div>";
      cells[3].className = "num"; cells[3].textContent = c.p_temperature.toFixed(3);
      cells[4].innerHTML = "<div class='bar t' style='width:" + Math.round(60 * c.p_temperature) + "px'></div>";
      tr.append(...cells);
      table.append(tr);
    }
    box.append(head, table);
  }
}

/** Marks the first `n` messages still in the model's context as left out (greyed, kept on screen). */
function dropEarliest(n) {
  let left = n;
  for (let i = 0; i < conversation.length && left > 0; i++) {
    if (conversation[i].dropped) continue;
    conversation[i].dropped = true; left--;
    document.querySelector("#messages .msg[data-turn='" + i + "']")?.classList.add("dropped");
  }
}

async function send() {
  const text = $("chat-input").value.trim();
  if (!text || busy) return;
  busy = true; $("chat-send").disabled = true;
  $("chat-input").value = ""; store.drop("foundry-draft");
  const asked = addMessage("user", text, false, conversation.length);
  conversation.push({role: "user", content: text});
  const body = addMessage("assistant", "", false, conversation.length);
  const request = {
    messages: conversation.filter((m) => !m.dropped).map((m) => ({role: m.role, content: m.content})),
    stream: true, foundry_distribution: 10, foundry_fit_context: true,
    temperature: numberField("temperature", parseFloat), top_k: numberField("top_k", (v) => parseInt(v, 10)),
    top_p: numberField("top_p", parseFloat), min_p: numberField("min_p", parseFloat),
    max_tokens: numberField("max_tokens", (v) => parseInt(v, 10)), seed: numberField("seed", (v) => parseInt(v, 10)),
  };
  let reply = "", pending = [], finish = null, dropped = 0;
  $("chat-status").textContent = "generating…";
  try {
    const res = await api("/v1/chat/completions", request);
    if (!res.ok) throw new Error((await errorOf(res)).message);
    const reader = res.body.getReader();
    const decoder = new TextDecoder();
    let buffer = "";
    for (;;) {
      const {value, done} = await reader.read();
      if (done) break;
      buffer += decoder.decode(value, {stream: true});
      let cut;
      while ((cut = buffer.indexOf("\n\n")) >= 0) {
        const event = buffer.slice(0, cut); buffer = buffer.slice(cut + 2);
        if (!event.startsWith("data: ")) continue;
        const data = event.slice(6);
        if (data === "[DONE]") continue;
        const chunk = JSON.parse(data);
        if (chunk.error) throw new Error(chunk.error.message);
        if (chunk.foundry_dropped_messages) dropped = chunk.foundry_dropped_messages;
        const choice = chunk.choices[0];
        if (!choice) continue;
        if (choice.foundry_tokens) pending.push(...choice.foundry_tokens);
        const piece = choice.delta && choice.delta.content;
        if (piece) {
          const span = document.createElement("span");
          span.className = "tok"; span.textContent = piece;
          span.foundryTokens = pending; pending = [];
          pressable(span, () => selectToken(span));
          body.append(span);
          reply += piece;
        }
        if (choice.finish_reason) finish = choice.finish_reason;
      }
    }
    if (dropped) dropEarliest(dropped);
    conversation.push({role: "assistant", content: reply});
    saveChat();
    const notes = [];
    if (dropped) notes.push("the earliest " + dropped + " messages no longer fit the model's context of " + (info ? info.context : "?") + " tokens and were left out");
    if (finish === "length") notes.push("stopped at max tokens");
    $("chat-status").textContent = notes.join("; ");
  } catch (e) {
    // The failed turn leaves the conversation (it stays on screen with the error).
    conversation.pop();
    delete asked.parentElement.dataset.turn; delete body.parentElement.dataset.turn;
    const err = document.createElement("span"); err.className = "err"; err.textContent = " [" + e.message + "]";
    body.append(err);
    $("chat-status").textContent = "";
    saveChat();
  } finally {
    busy = false; $("chat-send").disabled = false;
  }
}

$("chat-send").addEventListener("click", send);
$("chat-input").addEventListener("keydown", (e) => { if (e.key === "Enter" && !e.shiftKey) { e.preventDefault(); send(); } });
$("chat-input").addEventListener("input", () => store.set("foundry-draft", $("chat-input").value));
$("chat-reset").addEventListener("click", () => {
  conversation = []; saveChat();
  $("messages").textContent = ""; $("dist-body").textContent = ""; $("chat-status").textContent = "";
});
// The sampling knobs keep their values across reloads.
for (const id of ["temperature", "top_k", "top_p", "min_p", "max_tokens", "seed"]) {
  const saved = store.get("foundry-knob-" + id, null);
  if (saved !== null) $(id).value = saved;
  $(id).addEventListener("input", () => store.set("foundry-knob-" + id, $(id).value));
}
conversation.forEach((m, i) => addMessage(m.role, m.content, m.dropped, i));
$("chat-input").value = store.get("foundry-draft", "");

// ---- Rank ----
let ranker = store.get("foundry-ranker", null);
let handout = null;        // the prompt at hand: {index, lease, prompt, responses}
let order = [];            // response indices, best first
let tied = [];             // tied[p]: position p is as good as position p − 1
let sending = false, loading = false;

function savePicks() { if (handout) store.set("foundry-picks", {lease: handout.lease, order, tied}); }

/** Each ranked position's place: 1 + the number of untied steps before it ("2=" when tied). */
function places() {
  const out = []; let level = 0;
  order.forEach((_, p) => { if (p > 0 && !tied[p]) level++; out.push(level + 1); });
  return out;
}

function renderRanking() {
  const place = places();
  document.querySelectorAll(".response").forEach((card) => {
    const i = Number(card.dataset.index);
    const at = order.indexOf(i);
    const inTie = at >= 0 && (tied[at] || tied[at + 1]);
    card.classList.toggle("ranked", at >= 0);
    card.setAttribute("aria-pressed", at >= 0 ? "true" : "false");
    const badge = card.querySelector(".place");
    badge.classList.toggle("hidden", at < 0);
    badge.classList.toggle("tied", !!inTie);
    badge.textContent = at < 0 ? "" : place[at] + (inTie ? "=" : "");
    card.setAttribute("aria-label", "response " + (i + 1) + (at < 0 ? ", not placed" : ", placed " + place[at] + (inTie ? " (tied)" : "")));
  });
  const n = handout ? handout.responses.length : 0;
  $("rank-submit").disabled = !handout || sending || order.length !== n;
  $("rank-skip").disabled = !handout || sending;
  $("rank-undo").disabled = !handout || sending || order.length === 0;
  $("rank-tie").disabled = !handout || sending || order.length < 2;
}

function pick(i) {
  if (!handout || sending || order.includes(i) || i < 0 || i >= handout.responses.length) return;
  if (order.length === 0) $("rank-result").textContent = "";
  order.push(i); tied.push(false);
  // The last one left has only one place to go.
  if (order.length === handout.responses.length - 1) {
    for (let j = 0; j < handout.responses.length; j++) if (!order.includes(j)) { order.push(j); tied.push(false); }
  }
  savePicks(); renderRanking();
}

function undo() {
  if (!handout || sending || order.length === 0) return;
  order.pop(); tied.pop();
  // Undoing the last free pick also lifts the one placed for the person.
  if (order.length === handout.responses.length - 1) { order.pop(); tied.pop(); }
  savePicks(); renderRanking();
}

function toggleTie() {
  if (!handout || sending || order.length < 2) return;
  tied[order.length - 1] = !tied[order.length - 1];
  savePicks(); renderRanking();
}

/** The tie groups as the server wants them: runs of tied positions, as response indices. */
function tieGroups() {
  const groups = [];
  for (let p = 1; p < order.length; p++) {
    if (!tied[p]) continue;
    if (tied[p - 1] && groups.length) groups[groups.length - 1].push(order[p]);
    else groups.push([order[p - 1], order[p]]);
  }
  return groups;
}

function progressText(p) {
  return "ranked " + p.ranked + " / " + p.total + (p.skipped ? " (skipped " + p.skipped + ")" : "");
}

async function ensureRanker(fresh) {
  if (ranker && !fresh) return ranker;
  const res = await api("/foundry/rank/session", {});
  if (!res.ok) throw new Error((await errorOf(res)).message);
  ranker = (await res.json()).ranker;
  store.set("foundry-ranker", ranker);
  return ranker;
}

function showNote(text) {
  $("rank-note").textContent = text || "";
  $("rank-note").classList.toggle("hidden", !text);
}

async function loadNext() {
  if (loading) return;
  loading = true;
  handout = null; order = []; tied = [];
  $("rank-responses").textContent = "";
  $("rank-prompt").textContent = "sampling responses…";
  $("rank-retry").classList.add("hidden");
  showNote("");
  renderRanking();
  try {
    let res = await api("/foundry/rank/next?ranker=" + encodeURIComponent(await ensureRanker(false)));
    if (res.status === 400) {   // no session, or the server restarted: a new one, once
      res = await api("/foundry/rank/next?ranker=" + encodeURIComponent(await ensureRanker(true)));
    }
    if (!res.ok) { $("rank-prompt").textContent = (await errorOf(res)).message; $("rank-retry").classList.remove("hidden"); return; }
    const h = await res.json();
    $("rank-progress").textContent = progressText(h.progress);
    if (h.done) { $("rank-prompt").textContent = "Every prompt is ranked or skipped. Thank you!"; return; }
    if (h.index === undefined || h.index === null) {
      $("rank-prompt").textContent = "No prompt for you right now.";
      showNote(h.note); $("rank-retry").classList.remove("hidden");
      return;
    }
    handout = h;
    $("rank-prompt").textContent = h.prompt;
    showNote(h.note);
    h.responses.forEach((text, i) => {
      const card = document.createElement("div");
      card.className = "response"; card.dataset.index = i;
      card.innerHTML = "<span class='key'></span><span class='place hidden'></span><span class='text'></span><span class='score hidden'></span>";
      card.querySelector(".key").textContent = i + 1;
      card.querySelector(".text").textContent = text === "" ? "(empty response)" : text;
      pressable(card, () => pick(i));
      $("rank-responses").append(card);
    });
    const saved = store.get("foundry-picks", null);
    if (saved && saved.lease === h.lease) { order = saved.order || []; tied = saved.tied || order.map(() => false); }
    else store.drop("foundry-picks");
    renderRanking();
    // Keys go to the page, not to a button that kept focus from the last prompt (Enter on it
    // would press it too): one action, one request.
    if (!["INPUT", "TEXTAREA"].includes(document.activeElement && document.activeElement.tagName)) $("rank-prompt").focus();
  } catch (e) {
    $("rank-prompt").textContent = e.message;
    $("rank-retry").classList.remove("hidden");
  } finally {
    loading = false;
  }
}

async function submitRank(skip) {
  if (!handout || sending || loading) return;
  const n = handout.responses.length;
  if (!skip && order.length !== n) return;
  const body = {ranker, index: handout.index, lease: handout.lease};
  if (skip) body.skip = true; else { body.ranking = order.slice(); const g = tieGroups(); if (g.length) body.ties = g; }
  sending = true; renderRanking();
  let next = false;
  try {
    const res = await api("/foundry/rank/submit", body);
    if (!res.ok) {
      const err = await errorOf(res);
      if (err.code === "lease_moved" || err.code === "already_ranked" || err.code === "unknown_ranker") {
        $("rank-result").textContent = "Not saved: " + err.message;
        store.drop("foundry-picks");
        next = true;
      } else {
        $("rank-result").textContent = "Not saved: " + err.message + " (your picks are kept; try again)";
      }
      return;
    }
    const r = await res.json();
    store.drop("foundry-picks");
    $("rank-progress").textContent = progressText(r.progress);
    if (r.scores) {
      document.querySelectorAll(".response").forEach((card) => {
        const s = card.querySelector(".score");
        s.textContent = "reward model: " + r.scores[Number(card.dataset.index)].toFixed(3);
        s.classList.remove("hidden");
      });
      handout = null;
      $("rank-result").textContent = r.compared
        ? "Previous prompt saved; the reward model agrees with your order on " + Math.round(r.agreement * r.compared) + " of the " + r.compared + " pairs it tells apart"
        : "Previous prompt saved; the reward model scores these responses alike";
      setTimeout(loadNext, 2500);
    } else {
      $("rank-result").textContent = skip ? "Previous prompt skipped." : "Previous prompt saved.";
      next = true;
    }
  } catch (e) {
    $("rank-result").textContent = "Not saved: " + e.message + " (your picks are kept; try again)";
  } finally {
    sending = false; renderRanking();
    if (next) loadNext();
  }
}

$("rank-submit").addEventListener("click", () => submitRank(false));
$("rank-skip").addEventListener("click", () => submitRank(true));
$("rank-undo").addEventListener("click", undo);
$("rank-tie").addEventListener("click", toggleTie);
$("rank-retry").addEventListener("click", loadNext);
document.addEventListener("keydown", (e) => {
  if ($("rank").classList.contains("hidden") || e.ctrlKey || e.metaKey || e.altKey) return;
  const tag = e.target.tagName;
  if (tag === "INPUT" || tag === "TEXTAREA" || tag === "SELECT") return;
  // Enter and Space on a button press that button (the browser's own click): not also ours.
  if ((e.key === "Enter" || e.key === " ") && tag === "BUTTON") return;
  if (e.key >= "1" && e.key <= "9") pick(Number(e.key) - 1);
  else if (e.key === "Backspace") { e.preventDefault(); undo(); }
  else if (e.key === "=") toggleTie();
  else if (e.key === "Enter") { e.preventDefault(); submitRank(false); }
  else if (e.key === "s" || e.key === "S") submitRank(true);
});

// ---- Tabs and start ----
function show(tab) {
  $("chat").classList.toggle("hidden", tab !== "chat");
  $("rank").classList.toggle("hidden", tab !== "rank");
  $("tab-chat").classList.toggle("on", tab === "chat");
  $("tab-rank").classList.toggle("on", tab === "rank");
  $("tab-chat").setAttribute("aria-pressed", tab === "chat");
  $("tab-rank").setAttribute("aria-pressed", tab === "rank");
  if (location.hash !== "#" + tab) window.history.replaceState(null, "", "#" + tab);
  if (tab === "rank" && info && info.ranking && !handout && !loading) loadNext();
}
$("tab-chat").addEventListener("click", () => show("chat"));
$("tab-rank").addEventListener("click", () => show("rank"));
$("key-save").addEventListener("click", () => { localStorage.setItem("foundry-key", $("key").value); $("keybox").classList.add("hidden"); start(); });

async function start() {
  try {
    const res = await api("/foundry/info");
    info = await res.json();
    $("info").textContent = info.model + " · " + info.layers + " layers × " + info.channels + " · context " + info.context
      + " · vocabulary " + info.vocab + " · " + info.backend + (info.chat ? "" : " · no chat tokens: use /v1/completions");
    $("rank-on").classList.toggle("hidden", !info.ranking);
    $("rank-off").classList.toggle("hidden", info.ranking);
  } catch (e) { $("info").textContent = e.message; }
  show(location.hash === "#rank" ? "rank" : "chat");
}
start();
