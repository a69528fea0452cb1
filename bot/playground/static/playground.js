// The playground page: be a demo person, talk to the real bot through the local Bot API.
// Plain browser JavaScript, no build step and nothing from the internet. The chat is pushed by
// server-sent events (/playground/api/events); every action is one POST that becomes a
// Telegram update for the bot.
"use strict";

const API = "/playground/api";
const ALLOWED_TAGS = new Set(["B", "STRONG", "I", "EM", "U", "INS", "S", "STRIKE", "DEL",
  "CODE", "PRE", "BLOCKQUOTE", "A", "SPAN", "TG-SPOILER"]);

let people = [];
let current = null;
let events = null;
let lastToast = null;

const $ = (id) => document.getElementById(id);

async function post(path, body) {
  const response = await fetch(`${API}/${path}`, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ user: current.id, ...body }),
  });
  if (!response.ok) {
    const answer = await response.json().catch(() => ({}));
    showToast(answer.error || `error ${response.status}`);
  }
}

// Telegram's HTML subset, rebuilt node by node: only allowed tags, only http(s) links.
function safeHtml(source) {
  const parsed = new DOMParser().parseFromString(`<body>${source}</body>`, "text/html");
  const fragment = document.createDocumentFragment();
  const copy = (from, to) => {
    for (const node of from.childNodes) {
      if (node.nodeType === Node.TEXT_NODE) {
        to.appendChild(document.createTextNode(node.textContent));
      } else if (node.nodeType === Node.ELEMENT_NODE) {
        if (!ALLOWED_TAGS.has(node.tagName)) { copy(node, to); continue; }
        const element = document.createElement(node.tagName === "TG-SPOILER" ? "span" : node.tagName);
        const href = node.getAttribute("href") || "";
        if (node.tagName === "A" && /^https?:\/\//i.test(href)) {
          element.href = href; element.target = "_blank"; element.rel = "noopener noreferrer";
        }
        copy(node, element);
        to.appendChild(element);
      }
    }
  };
  copy(parsed.body, fragment);
  return fragment;
}

function bubble(message) {
  const div = document.createElement("div");
  div.className = `bubble ${message.from_bot ? "bot" : "me"}`;
  div.dir = "auto";
  div.dataset.messageId = message.id;
  if (message.text) {
    const body = document.createElement("div");
    body.className = "text";
    body.dir = "auto";
    if (message.html) body.appendChild(safeHtml(message.text));
    else body.textContent = message.text;
    div.appendChild(body);
  }
  if (message.contact) {
    div.appendChild(document.createTextNode(`📱 ${message.contact}`));
  }
  if (message.document) {
    const link = document.createElement("a");
    link.href = `${API}/files/${encodeURIComponent(message.document.file_id)}`;
    link.textContent = `📄 ${message.document.name}`;
    link.setAttribute("download", message.document.name);
    const holder = document.createElement("div");
    holder.className = "document";
    holder.appendChild(link);
    div.prepend(holder);
  }
  if (message.buttons.length) {
    const keyboard = document.createElement("div");
    keyboard.className = "inline-keyboard";
    for (const row of message.buttons) {
      const line = document.createElement("div");
      line.className = "row";
      for (const button of row) {
        const element = document.createElement("button");
        element.type = "button";
        element.textContent = button.text;
        element.dir = "auto";
        if (button.url) element.onclick = () => window.open(button.url, "_blank", "noopener");
        else element.onclick = () => post("press", { message_id: message.id, data: button.data });
        line.appendChild(element);
      }
      keyboard.appendChild(line);
    }
    div.appendChild(keyboard);
  }
  if (message.edited) {
    const meta = document.createElement("span");
    meta.className = "meta";
    meta.textContent = "edited";
    div.appendChild(meta);
  }
  return div;
}

function render(snapshot) {
  const chat = $("chat");
  const atBottom = chat.scrollHeight - chat.scrollTop - chat.clientHeight < 40;
  chat.replaceChildren(...snapshot.messages.map(bubble));
  if (snapshot.draft) {
    const draft = document.createElement("div");
    draft.className = "bubble bot draft";
    draft.id = "draft";
    draft.dir = "auto";
    draft.textContent = snapshot.draft;
    chat.appendChild(draft);
  }
  if (atBottom) chat.scrollTop = chat.scrollHeight;
  renderReplyKeyboard(snapshot.reply_keyboard);
  $("sms").hidden = !snapshot.sms_code;
  $("sms-phone").textContent = current.phone;
  $("sms-code").textContent = snapshot.sms_code || "";
  if (snapshot.toast && snapshot.toast.id !== lastToast) {
    lastToast = snapshot.toast.id;
    showToast(snapshot.toast.text);
  }
}

function renderReplyKeyboard(rows) {
  const holder = $("reply-keyboard");
  holder.replaceChildren();
  for (const row of rows || []) {
    const line = document.createElement("div");
    line.className = "row";
    for (const button of row) {
      const element = document.createElement("button");
      element.type = "button";
      element.textContent = button.text;
      element.dir = "auto";
      element.onclick = () => (button.request_contact ? post("contact", {}) : post("send", { text: button.text }));
      line.appendChild(element);
    }
    holder.appendChild(line);
  }
}

function showToast(text) {
  const toast = $("toast");
  toast.textContent = text;
  toast.hidden = false;
  clearTimeout(showToast.timer);
  showToast.timer = setTimeout(() => { toast.hidden = true; }, 4000);
}

function become(person) {
  current = person;
  lastToast = null;
  localStorage.setItem("playground-person", String(person.id));
  for (const button of $("people").children) {
    button.setAttribute("aria-pressed", String(Number(button.dataset.id) === person.id));
  }
  if (events) events.close();
  $("chat").replaceChildren();
  events = new EventSource(`${API}/events?user=${person.id}`);
  events.onmessage = (event) => render(JSON.parse(event.data));
}

async function start() {
  const directory = await (await fetch(`${API}/people`)).json();
  people = directory.people;
  for (const person of people) {
    const button = document.createElement("button");
    button.type = "button";
    button.dataset.id = person.id;
    button.id = `person-${person.role}`;
    button.innerHTML = "";
    button.append(person.name);
    const small = document.createElement("small");
    small.dir = "ltr";
    small.textContent = person.phone;
    button.append(small);
    button.onclick = () => become(person);
    $("people").appendChild(button);
  }
  const saved = Number(localStorage.getItem("playground-person"));
  become(people.find((p) => p.id === saved) || people[people.length - 1]);
  $("composer").onsubmit = (event) => {
    event.preventDefault();
    const text = $("text").value;
    if (!text.trim()) return;
    $("text").value = "";
    post("send", { text });
  };
  $("share-contact").onclick = () => post("contact", {});
}

start();
