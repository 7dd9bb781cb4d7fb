/// The page at `/`: one self-contained HTML file (no CDN, no build step) with two tabs.
/// Chat talks to /v1/chat/completions with streaming and shows, for any generated token, the
/// distribution it was drawn from; Rank shows K sampled responses to a prompt for a person to
/// order, and submits to /foundry/rank/submit. Element ids are what the browser test drives.
enum Page {
    static let html = #"""
<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Foundry</title>
<style>
  :root { --ink: #1d2430; --muted: #6b7380; --line: #d9dde3; --accent: #2f6fdb; --bg: #f6f7f9; --pick: #e8f0fe; }
  * { box-sizing: border-box; }
  body { margin: 0; font: 15px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: var(--ink); background: var(--bg); }
  header { display: flex; align-items: center; gap: 16px; padding: 10px 18px; background: #fff; border-bottom: 1px solid var(--line); }
  header h1 { font-size: 17px; margin: 0; }
  header .info { color: var(--muted); font-size: 13px; flex: 1; }
  nav button { border: 1px solid var(--line); background: #fff; padding: 6px 14px; cursor: pointer; border-radius: 6px; font: inherit; }
  nav button.on { background: var(--accent); color: #fff; border-color: var(--accent); }
  main { max-width: 1100px; margin: 0 auto; padding: 16px; }
  .hidden { display: none !important; }
  .row { display: flex; gap: 16px; align-items: flex-start; }
  #messages { flex: 1; min-height: 320px; background: #fff; border: 1px solid var(--line); border-radius: 8px; padding: 12px; }
  .msg { margin: 8px 0; white-space: pre-wrap; word-break: break-word; }
  .msg .who { font-size: 12px; color: var(--muted); display: block; }
  .msg.user .body { background: var(--pick); display: inline-block; padding: 6px 10px; border-radius: 8px; }
  .tok { cursor: pointer; border-radius: 3px; }
  .tok:hover, .tok.sel { background: #ffe9a8; }
  .err { color: #b3261e; }
  aside { width: 330px; flex: none; }
  .panel { background: #fff; border: 1px solid var(--line); border-radius: 8px; padding: 12px; margin-bottom: 12px; }
  .panel h3 { margin: 0 0 8px; font-size: 14px; }
  label { display: flex; justify-content: space-between; align-items: center; margin: 4px 0; font-size: 13px; }
  label input { width: 90px; }
  textarea { width: 100%; font: inherit; padding: 8px; border: 1px solid var(--line); border-radius: 6px; resize: vertical; }
  .send { display: flex; gap: 8px; margin-top: 8px; }
  .send button, .actions button { padding: 7px 16px; border-radius: 6px; border: 1px solid var(--accent); background: var(--accent); color: #fff; cursor: pointer; font: inherit; }
  .send button.plain, .actions button.plain { background: #fff; color: var(--accent); }
  table { width: 100%; border-collapse: collapse; font-size: 13px; }
  td, th { padding: 2px 4px; text-align: left; }
  td.num { text-align: right; font-variant-numeric: tabular-nums; }
  .bar { height: 8px; background: var(--accent); border-radius: 2px; }
  .bar.t { background: #e07b00; }
  code.t { background: #f0f1f3; padding: 0 3px; border-radius: 3px; white-space: pre; }
  #rank-prompt { font-size: 16px; background: #fff; border: 1px solid var(--line); border-radius: 8px; padding: 12px; white-space: pre-wrap; }
  .responses { display: grid; grid-template-columns: repeat(auto-fill, minmax(240px, 1fr)); gap: 12px; margin: 12px 0; }
  .response { position: relative; background: #fff; border: 2px solid var(--line); border-radius: 8px; padding: 12px 12px 12px 40px; cursor: pointer; white-space: pre-wrap; word-break: break-word; min-height: 70px; }
  .response:hover { border-color: #9db8ea; }
  .response.ranked { border-color: var(--accent); background: var(--pick); }
  .response .key { position: absolute; left: 10px; top: 10px; color: var(--muted); font-size: 12px; }
  .response .place { position: absolute; left: 8px; top: 30px; background: var(--accent); color: #fff; border-radius: 50%; width: 22px; height: 22px; text-align: center; font-size: 13px; line-height: 22px; }
  .response .score { display: block; margin-top: 6px; font-size: 12px; color: var(--muted); }
  .actions { display: flex; gap: 8px; align-items: center; }
  .muted { color: var(--muted); font-size: 13px; }
</style>
</head>
<body>
<header>
  <h1>Foundry</h1>
  <span class="info" id="info">loading…</span>
  <nav><button id="tab-chat" class="on">Chat</button> <button id="tab-rank">Rank</button></nav>
</header>
<main>
  <div id="keybox" class="panel hidden">
    <h3>This server needs its API key</h3>
    <div class="send"><input id="key" type="password" placeholder="the key given to foundry serve --api-key" style="flex:1">
    <button id="key-save">Use key</button></div>
  </div>

  <section id="chat">
    <div class="row">
      <div style="flex:1">
        <div id="messages"><p class="muted" id="chat-hint">Write a message below. Click any word of a reply to see the distribution its tokens were drawn from.</p></div>
        <textarea id="chat-input" rows="3" placeholder="Message (Enter sends, Shift+Enter for a new line)"></textarea>
        <div class="send"><button id="chat-send">Send</button><button id="chat-reset" class="plain">New conversation</button>
          <span class="muted" id="chat-status"></span></div>
      </div>
      <aside>
        <div class="panel">
          <h3>Sampling</h3>
          <label>temperature <input id="temperature" type="number" step="0.1" min="0" max="2" value="0.8"></label>
          <label>top-k (0 = off) <input id="top_k" type="number" step="1" min="0" value="0"></label>
          <label>top-p (1 = off) <input id="top_p" type="number" step="0.05" min="0.01" max="1" value="1"></label>
          <label>min-p (0 = off) <input id="min_p" type="number" step="0.01" min="0" max="0.99" value="0"></label>
          <label>max tokens <input id="max_tokens" type="number" step="1" min="1" value="128"></label>
          <label>seed (blank = random) <input id="seed" type="number" step="1"></label>
        </div>
        <div class="panel" id="dist">
          <h3>Next-token distribution</h3>
          <div id="dist-body" class="muted">Click a token of a reply. The table shows the 10 most likely next tokens at that point:
            <b>p</b> is the softmax of the model's logits, <b>p/T</b> the softmax after dividing the logits by the temperature
            (what the sampler drew from, before top-k, top-p and min-p).</div>
        </div>
      </aside>
    </div>
  </section>

  <section id="rank" class="hidden">
    <div id="rank-off" class="panel hidden">Ranking is off: start the server with
      <code>--prompts prompts.jsonl --rankings rankings.jsonl</code> to rank responses here.</div>
    <div id="rank-on" class="hidden">
      <div class="actions"><span id="rank-progress" class="muted"></span></div>
      <p class="muted">Click the responses from best to worst (or press their numbers); Backspace undoes, Enter submits, S skips the prompt.</p>
      <div id="rank-prompt"></div>
      <div class="responses" id="rank-responses"></div>
      <div class="actions">
        <button id="rank-submit" disabled>Submit ranking</button>
        <button id="rank-undo" class="plain">Undo</button>
        <button id="rank-skip" class="plain">Skip prompt</button>
        <span id="rank-result" class="muted"></span>
      </div>
    </div>
  </section>
</main>
<script>
"use strict";
const $ = (id) => document.getElementById(id);
let info = null;
let history = [];
let busy = false;
const client = sessionStorage.getItem("foundry-client") || Math.random().toString(36).slice(2);
sessionStorage.setItem("foundry-client", client);

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

async function errorText(res) {
  try { const j = await res.json(); return j.error ? j.error.message : res.statusText; } catch (e) { return res.statusText; }
}

function showToken(s) {
  return s.replace(/ /g, "␣").replace(/\n/g, "⏎").replace(/\t/g, "⇥");
}

// ---- Chat ----
function addMessage(role, text) {
  $("chat-hint")?.remove();
  const div = document.createElement("div");
  div.className = "msg " + role;
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
    head.innerHTML = "drawn: <code class='t'></code> (id " + t.id + ")";
    head.querySelector("code").textContent = showToken(t.token);
    const table = document.createElement("table");
    table.className = "dist-table";
    table.innerHTML = "<tr><th>token</th><th>p</th><th></th><th>p/T</th><th></th></tr>";
    for (const c of t.distribution) {
      const tr = document.createElement("tr");
      if (c.id === t.id) tr.style.fontWeight = "bold";
      const cells = [document.createElement("td"), document.createElement("td"), document.createElement("td"), document.createElement("td"), document.createElement("td")];
      const code = document.createElement("code"); code.className = "t"; code.textContent = showToken(c.token); cells[0].append(code);
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

async function send() {
  const text = $("chat-input").value.trim();
  if (!text || busy) return;
  busy = true; $("chat-send").disabled = true;
  $("chat-input").value = "";
  addMessage("user", text);
  history.push({role: "user", content: text});
  const body = addMessage("assistant", "");
  body.textContent = "";
  const request = {
    messages: history, stream: true, foundry_distribution: 10,
    temperature: numberField("temperature", parseFloat), top_k: numberField("top_k", (v) => parseInt(v, 10)),
    top_p: numberField("top_p", parseFloat), min_p: numberField("min_p", parseFloat),
    max_tokens: numberField("max_tokens", (v) => parseInt(v, 10)), seed: numberField("seed", (v) => parseInt(v, 10)),
  };
  let reply = "", pending = [], finish = null;
  $("chat-status").textContent = "generating…";
  try {
    const res = await api("/v1/chat/completions", request);
    if (!res.ok) throw new Error(await errorText(res));
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
        const choice = chunk.choices[0];
        if (!choice) continue;
        if (choice.foundry_tokens) pending.push(...choice.foundry_tokens);
        const piece = choice.delta && choice.delta.content;
        if (piece) {
          const span = document.createElement("span");
          span.className = "tok"; span.textContent = piece;
          span.foundryTokens = pending; pending = [];
          span.addEventListener("click", () => selectToken(span));
          body.append(span);
          reply += piece;
        }
        if (choice.finish_reason) finish = choice.finish_reason;
      }
    }
    history.push({role: "assistant", content: reply});
    $("chat-status").textContent = finish === "length" ? "stopped at max tokens" : "";
  } catch (e) {
    history.pop();
    const err = document.createElement("span"); err.className = "err"; err.textContent = " [" + e.message + "]";
    body.append(err);
    $("chat-status").textContent = "";
  } finally {
    busy = false; $("chat-send").disabled = false;
  }
}

$("chat-send").addEventListener("click", send);
$("chat-input").addEventListener("keydown", (e) => { if (e.key === "Enter" && !e.shiftKey) { e.preventDefault(); send(); } });
$("chat-reset").addEventListener("click", () => { history = []; $("messages").textContent = ""; $("dist-body").textContent = ""; });

// ---- Rank ----
let handout = null, order = [];

function renderRanking() {
  const cards = document.querySelectorAll(".response");
  cards.forEach((card) => {
    const i = Number(card.dataset.index);
    const at = order.indexOf(i);
    card.classList.toggle("ranked", at >= 0);
    card.querySelector(".place").classList.toggle("hidden", at < 0);
    card.querySelector(".place").textContent = at + 1;
  });
  $("rank-submit").disabled = !handout || order.length !== handout.responses.length;
}

function pick(i) {
  if (!handout || order.includes(i) || i >= handout.responses.length) return;
  order.push(i);
  // The last one left has only one place to go.
  if (order.length === handout.responses.length - 1) {
    for (let j = 0; j < handout.responses.length; j++) if (!order.includes(j)) order.push(j);
  }
  renderRanking();
}

function progressText(p) {
  return "ranked " + p.ranked + " / " + p.total + (p.skipped ? " (skipped " + p.skipped + ")" : "");
}

async function loadNext() {
  handout = null; order = [];
  $("rank-responses").textContent = "";
  $("rank-prompt").textContent = "sampling responses…";
  $("rank-submit").disabled = true;
  const res = await api("/foundry/rank/next?client=" + encodeURIComponent(client));
  if (!res.ok) { $("rank-prompt").textContent = await errorText(res); return; }
  const h = await res.json();
  $("rank-progress").textContent = progressText(h.progress);
  if (h.done) { $("rank-prompt").textContent = "Every prompt is ranked or skipped. Thank you!"; return; }
  handout = h;
  $("rank-prompt").textContent = h.prompt;
  h.responses.forEach((text, i) => {
    const card = document.createElement("div");
    card.className = "response"; card.dataset.index = i;
    card.innerHTML = "<span class='key'></span><span class='place hidden'></span><span class='text'></span><span class='score hidden'></span>";
    card.querySelector(".key").textContent = i + 1;
    card.querySelector(".text").textContent = text === "" ? "(empty response)" : text;
    card.addEventListener("click", () => pick(i));
    $("rank-responses").append(card);
  });
  renderRanking();
}

async function submitRank(skip) {
  if (!handout) return;
  const body = skip ? {index: handout.index, skip: true} : {index: handout.index, ranking: order};
  if (!skip && order.length !== handout.responses.length) return;
  const res = await api("/foundry/rank/submit", body);
  if (!res.ok) { $("rank-result").textContent = await errorText(res); return; }
  const r = await res.json();
  $("rank-progress").textContent = progressText(r.progress);
  if (r.scores) {
    document.querySelectorAll(".response").forEach((card) => {
      const s = card.querySelector(".score");
      s.textContent = "reward model: " + r.scores[Number(card.dataset.index)].toFixed(3);
      s.classList.remove("hidden");
    });
    $("rank-result").textContent = r.compared
      ? "saved; the reward model agrees with your order on " + Math.round(r.agreement * r.compared) + " of the " + r.compared + " pairs it tells apart"
      : "saved; the reward model scores these responses alike";
    setTimeout(loadNext, 2500);
  } else {
    $("rank-result").textContent = skip ? "skipped" : "saved";
    loadNext();
  }
}

$("rank-submit").addEventListener("click", () => submitRank(false));
$("rank-skip").addEventListener("click", () => submitRank(true));
$("rank-undo").addEventListener("click", () => { order.pop(); renderRanking(); });
document.addEventListener("keydown", (e) => {
  if ($("rank").classList.contains("hidden") || e.target.tagName === "INPUT" || e.target.tagName === "TEXTAREA") return;
  if (e.key >= "1" && e.key <= "9") pick(Number(e.key) - 1);
  else if (e.key === "Backspace") { order.pop(); renderRanking(); }
  else if (e.key === "Enter") submitRank(false);
  else if (e.key === "s" || e.key === "S") submitRank(true);
});

// ---- Tabs and start ----
function show(tab) {
  $("chat").classList.toggle("hidden", tab !== "chat");
  $("rank").classList.toggle("hidden", tab !== "rank");
  $("tab-chat").classList.toggle("on", tab === "chat");
  $("tab-rank").classList.toggle("on", tab === "rank");
  if (tab === "rank" && info && info.ranking && !handout) loadNext();
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
}
start();
</script>
</body>
</html>
"""#
}
