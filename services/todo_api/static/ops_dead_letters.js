// The operations page's dead letters panel: GET /api/v1/ops/dead-letters with the page's other
// figures, each group's actions (redrive at a rate, discard with a reason), one message in full,
// and the redrives' progress, polled while one runs. Values are written as text, never markup.
// A group's row is kept across refreshes, so what an operator is typing in it stays.

import { apiFetch } from "./sign_in.js";

const BASE = "/api/v1/ops/dead-letters";
const PROGRESS_POLL_MS = 500;
const DEFAULT_RATE = 5;

const $ = (selector) => document.querySelector(selector);

const dom = {
  error: $("#dead-letters-error"),
  status: $("#dead-letters-status"),
  table: $("#dead-letter-groups"),
  groups: $("#dead-letter-groups tbody"),
  empty: $("#dead-letters-empty"),
  redrives: $("#redrives"),
  detail: $("#dead-letter"),
  detailId: $("#dead-letter-id"),
  detailJson: $("#dead-letter-json"),
  detailRedrive: $("#dead-letter-redrive"),
  detailDiscard: $("#dead-letter-discard"),
  detailClose: $("#dead-letter-close"),
  discards: $("#discards tbody"),
  discardsTable: $("#discards"),
  discardsEmpty: $("#discards-empty"),
};

const dateTimeFormat = new Intl.DateTimeFormat(undefined, {
  dateStyle: "short",
  timeStyle: "medium",
});

// the row of each group on the page, by "<queue> <group id>"
const rows = new Map();
// the message shown in full: { queue, message_id }
let shown = null;
let polling = 0;
let looking = false;
// asked again while a look ran (after an action): look once more when it ends
let lookAgain = false;

export async function refreshDeadLetters() {
  // a look at a DLQ holds its messages for a moment: one at a time, and none while this
  // page's redrive runs
  if (polling) return;
  if (looking) {
    lookAgain = true;
    return;
  }
  looking = true;
  try {
    render(await call(BASE));
  } finally {
    looking = false;
  }
  if (lookAgain) {
    lookAgain = false;
    refreshDeadLetters();
  }
}

function render({ data, error }) {
  if (error !== null) {
    showError(`Dead letters unknown: ${error}`);
    return;
  }
  const unread = data.queues.filter((queue) => queue.error);
  showError(unread.map((queue) => `${queue.queue}: ${queue.error}`).join("; "));
  renderGroups(data.queues);
  renderDiscards(data.recent_discards);
}

// --- the groups ------------------------------------------------------------------------------

function renderGroups(queues) {
  const seen = new Set();
  for (const queue of queues) {
    for (const group of queue.groups) {
      const key = `${queue.queue} ${group.group_id}`;
      seen.add(key);
      if (!rows.has(key)) {
        rows.set(key, groupRow(queue.queue, group));
        dom.groups.append(rows.get(key));
      }
      fillGroup(rows.get(key), group);
    }
  }
  for (const [key, row] of rows) {
    if (!seen.has(key)) {
      row.remove();
      rows.delete(key);
    }
  }
  dom.table.hidden = rows.size === 0;
  dom.empty.hidden = rows.size !== 0;
}

function groupRow(queue, group) {
  const row = document.createElement("tr");
  row.dataset.queue = queue;
  row.dataset.groupId = group.group_id;
  row.dataset.eventType = group.event_type;
  const cells = [queue, group.event_type, group.failure, "", "", ""].map((text) => {
    const cell = document.createElement("td");
    cell.textContent = text;
    return cell;
  });
  cells[3].className = "count";
  const actions = document.createElement("td");
  actions.append(inspectForm(row), redriveForm(row), discardForm(row));
  row.append(...cells, actions);
  return row;
}

function fillGroup(row, group) {
  const [, , , count, first, last] = row.children;
  setText(count, String(group.count));
  setText(first, when(group.first_seen));
  setText(last, when(group.last_seen));
  const messages = row.querySelector("select[name=message]");
  const chosen = messages.value;
  if (messages.dataset.ids !== group.message_ids.join(" ")) {
    messages.dataset.ids = group.message_ids.join(" ");
    messages.replaceChildren(
      ...group.message_ids.map((id) => {
        const option = document.createElement("option");
        option.value = id;
        option.textContent = id;
        return option;
      }),
    );
    if (group.message_ids.includes(chosen)) messages.value = chosen;
  }
}

// any message of the group, shown in full
function inspectForm(row) {
  const form = inlineForm("inspect");
  // named by its aria-label alone: a label around a select would also read out its choice
  const messages = labelled(form, "Message", "select", { name: "message", "aria-label": "Message" });
  form.append(submitButton("Inspect"));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    if (messages.value) inspect(row.dataset.queue, messages.value);
  });
  return form;
}

function redriveForm(row) {
  const form = inlineForm("redrive");
  const rate = labelled(form, "Rate (messages/s)", "input", {
    name: "rate",
    type: "number",
    min: "0.1",
    max: "500",
    step: "any",
    required: "",
    value: String(DEFAULT_RATE),
  });
  form.append(submitButton("Redrive"));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const choice = { queue: row.dataset.queue, group_id: row.dataset.groupId };
    redrive(choice, Number(rate.value), `${row.dataset.eventType} (${row.dataset.groupId})`);
  });
  return form;
}

function discardForm(row) {
  const form = inlineForm("discard");
  const reason = labelled(form, "Reason", "input", {
    name: "reason",
    required: "",
    maxlength: "500",
    autocomplete: "off",
  });
  const button = submitButton("Discard");
  button.className = "danger";
  form.append(button);
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const choice = { queue: row.dataset.queue, group_id: row.dataset.groupId };
    discard(choice, reason.value);
  });
  return form;
}

// --- one message -----------------------------------------------------------------------------

async function inspect(queue, messageId) {
  const query = new URLSearchParams({ queue, message_id: messageId });
  const { data, error } = await call(`${BASE}/message?${query}`);
  if (error !== null) {
    say(`Could not show message ${messageId}: ${error}`);
    return;
  }
  shown = { queue, message_id: messageId };
  dom.detailId.textContent = messageId;
  dom.detailJson.textContent = JSON.stringify(data, null, 2);
  dom.detail.dataset.messageId = messageId;
  dom.detail.hidden = false;
  dom.detailJson.focus();
}

function closeDetail() {
  shown = null;
  dom.detail.hidden = true;
}

// --- actions ---------------------------------------------------------------------------------

async function redrive(choice, rate, label) {
  const { data, error } = await call(`${BASE}/redrives`, { ...choice, rate });
  if (error !== null) {
    say(`Could not redrive ${label}: ${error}`);
    return;
  }
  say(`Redriving ${data.total} messages of ${label} at ${rate} messages/s.`);
  redriveItem(data.redrive_id, label);
  renderRedrive(data);
  pollRedrives();
}

async function discard(choice, reason, done = () => {}) {
  const { data, error } = await call(`${BASE}/discards`, { ...choice, reason });
  if (error !== null) {
    say(`Could not discard: ${error}`);
    return;
  }
  say(`Discarded ${data.discarded} messages from ${data.queue}; the event log keeps each.`);
  done();
  refreshDeadLetters();
}

// the redrives this page started, by id
const items = new Map();

function redriveItem(id, label) {
  const item = document.createElement("li");
  item.dataset.redriveId = id;
  const name = document.createElement("span");
  name.textContent = `Redrive of ${label}`;
  const bar = document.createElement("progress");
  bar.setAttribute("aria-label", `Redrive of ${label}`);
  const figures = document.createElement("span");
  figures.className = "figures";
  item.append(name, bar, figures);
  dom.redrives.prepend(item);
  items.set(id, item);
}

function renderRedrive(state) {
  const item = items.get(state.redrive_id);
  if (!item) return;
  const [, bar, figures] = item.children;
  bar.max = Math.max(1, state.total);
  bar.value = state.moved;
  item.dataset.state = state.state;
  const extra = [
    state.refused ? `${state.refused} refused` : "",
    state.missing ? `${state.missing} no longer there` : "",
    state.out_of_sight ? `${state.out_of_sight} were out of sight: run it again in a minute` : "",
    state.error ?? "",
  ].filter(Boolean);
  const words = { running: "running", finished: "done", failed: "stopped" }[state.state];
  setText(
    figures,
    `${state.moved} of ${state.total} moved, ${words}${extra.length ? ` (${extra.join(", ")})` : ""}`,
  );
}

function pollRedrives() {
  if (polling) return;
  polling = setTimeout(async () => {
    polling = 0;
    const { data } = await call(`${BASE}/redrives`);
    const states = data?.redrives ?? [];
    states.forEach(renderRedrive);
    const mine = states.filter((state) => items.has(state.redrive_id));
    if (mine.some((state) => state.state === "running")) pollRedrives();
    else refreshDeadLetters();
  }, PROGRESS_POLL_MS);
}

// --- the latest discards ---------------------------------------------------------------------

function renderDiscards(discards) {
  dom.discardsTable.hidden = discards.length === 0;
  dom.discardsEmpty.hidden = discards.length !== 0;
  dom.discards.replaceChildren(
    ...discards.map((found) => {
      const row = document.createElement("tr");
      row.dataset.messageId = found.message_id;
      for (const text of [
        found.queue,
        found.event_type,
        found.failure,
        found.reason,
        found.actor,
        when(found.discarded_at),
      ]) {
        const cell = document.createElement("td");
        cell.textContent = text;
        row.append(cell);
      }
      return row;
    }),
  );
}

// --- small helpers ---------------------------------------------------------------------------

// GET (no body) or POST a JSON body: { data, error } with error null or a few words
async function call(url, body) {
  const options = { headers: { Accept: "application/json" } };
  if (body !== undefined) {
    options.method = "POST";
    options.headers["Content-Type"] = "application/json";
    options.body = JSON.stringify(body);
  }
  let response;
  let data;
  try {
    response = await apiFetch(url, options);
    data = await response.json().catch(() => null);
  } catch {
    return { data: null, error: "the server could not be reached" };
  }
  if (!response.ok || data === null) {
    const reason = typeof data?.error === "string" ? data.error : `HTTP ${response.status}`;
    return { data: null, error: reason };
  }
  return { data, error: null };
}

function inlineForm(kind) {
  const form = document.createElement("form");
  form.className = `inline-form ${kind}`;
  return form;
}

function labelled(form, text, tag, attributes) {
  const label = document.createElement("label");
  const control = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) control.setAttribute(name, value);
  label.append(`${text} `, control);
  form.append(label);
  return control;
}

function submitButton(text) {
  const button = document.createElement("button");
  button.type = "submit";
  button.textContent = text;
  return button;
}

function say(text) {
  dom.status.textContent = text;
}

function showError(text) {
  dom.error.hidden = text === "";
  dom.error.textContent = text;
}

function setText(element, text) {
  if (element.textContent !== text) element.textContent = text;
}

// the API's datetimes are naive UTC
function when(text) {
  return text ? dateTimeFormat.format(new Date(`${text}Z`)) : "–";
}

// --- start -----------------------------------------------------------------------------------

dom.detailClose.addEventListener("click", closeDetail);
dom.detailRedrive.addEventListener("click", () => {
  if (shown === null) return;
  const choice = { queue: shown.queue, message_ids: [shown.message_id] };
  redrive(choice, DEFAULT_RATE, `message ${shown.message_id}`);
  closeDetail();
});
dom.detailDiscard.addEventListener("submit", (event) => {
  event.preventDefault();
  if (shown === null) return;
  const choice = { queue: shown.queue, message_ids: [shown.message_id] };
  discard(choice, dom.detailDiscard.elements.reason.value, closeDetail);
});
