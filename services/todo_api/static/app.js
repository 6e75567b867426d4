// The TaskOverflow page: every change goes through the public API under /api/v1.
// A deadline is the wall-clock time the user meant (DESIGN §2): the page sends the time as
// picked and shows a stored one as it is, with no time-zone conversion either way, so the
// calendar's floating DTSTART shows in a calendar app the time that was typed.
// With AUTH_MODE=required the page signs in first, and every call carries the credential
// (sign_in.js).

import { apiFetch, hasCredential, startSignedIn } from "./sign_in.js";

const API = "/api/v1";
// calendar status polling: start quickly, slow down, give up after two minutes
const POLL_FIRST_MS = 400;
const POLL_MAX_MS = 3000;
const POLL_GIVE_UP_MS = 120_000;
const POLL_NETWORK_RETRIES = 5;
// a job is watched through its event stream where the browser can; a stream that drops this many
// times in a row without an event, or is refused, gives way to polling
const WATCH_RETRIES = 3;
// a POST whose connection dropped is sent again, with the same Idempotency-Key, after 0.5 s, 1 s
const POST_NETWORK_RETRIES = 2;
const POST_RETRY_MS = 500;
const FILTER_DEBOUNCE_MS = 300;
// recent calendars shown at a time; "Show older calendars" asks for the next page
const HISTORY_PAGE = 10;
// the calendar to subscribe to: the current todos, which calendar apps ask for again and again
const FEED_PATH = `${API}/todos/calendar.ics`;

const CALENDAR_STATES = {
  PENDING: "Waiting for a worker",
  STARTED: "Being built",
  RETRY: "Being built again after a failed attempt",
  SUCCESS: "Ready",
  FAILURE: "Failed",
  REVOKED: "Cancelled",
};
// what a job whose cancel is asked for, but not yet decided by a worker, says
const CANCEL_REQUESTED = "Cancel requested: it stops as soon as a worker sees it, unless it finishes first.";
// a job in one of these states can still be cancelled
const UNFINISHED_STATES = new Set(["PENDING", "STARTED", "RETRY"]);

const $ = (selector, root = document) => root.querySelector(selector);

const dom = {
  alert: $("#alert"),
  notice: $("#notice"),
  createForm: $("#create-form"),
  filterForm: $("#filter-form"),
  filterReset: $("#filter-reset"),
  list: $("#todo-list"),
  listHeading: $("#todos-heading"),
  count: $("#count"),
  empty: $("#empty"),
  todoTemplate: $("#todo-template"),
  editTemplate: $("#edit-template"),
  calendarButton: $("#calendar-button"),
  calendarStatus: $("#calendar-status"),
  calendarState: $("#calendar-state"),
  calendarDetail: $("#calendar-detail"),
  calendarDownload: $("#calendar-download"),
  calendarLink: $("#calendar-link"),
  calendarCancel: $("#calendar-cancel"),
  calendarProgress: $("#calendar-progress"),
  calendarProgressBar: $("#calendar-progress-bar"),
  calendarProgressText: $("#calendar-progress-text"),
  subscribeLink: $("#subscribe-link"),
  feedLink: $("#feed-link"),
  historyHeading: $("#history-heading"),
  historyList: $("#history-list"),
  historyEmpty: $("#history-empty"),
  historyMore: $("#history-more"),
  historyRefresh: $("#history-refresh"),
  historyTemplate: $("#history-template"),
};

const deadlineFormat = new Intl.DateTimeFormat(undefined, {
  dateStyle: "medium",
  timeStyle: "short",
});
// job times are instants (UTC): shown in the browser's zone, to the second
const jobTimeFormat = new Intl.DateTimeFormat(undefined, {
  dateStyle: "medium",
  timeStyle: "medium",
});
const jobClockFormat = new Intl.DateTimeFormat(undefined, { timeStyle: "medium" });
const countFormat = new Intl.NumberFormat();

let listRequest = 0;
let editingId = null;
let calendarRun = 0;
// the calendar job the page shows: { taskId, taskUrl, stopped (followed no more), note,
// cancelRequested, wake }
let calendarJob = null;
let filterTimer = 0;
let historyRequest = 0;
let historyCursor = null;

class ApiError extends Error {
  constructor(message, status) {
    super(message);
    this.status = status;
  }
}

// --- talking to the API ---------------------------------------------------------------

async function api(method, url, body, headers = {}) {
  const options = { method, headers: { Accept: "application/json", ...headers } };
  if (body !== undefined) {
    options.headers["Content-Type"] = "application/json";
    options.body = JSON.stringify(body);
  }
  let response;
  let text;
  try {
    response = await apiFetch(url, options);
    text = await response.text();
  } catch {
    throw new ApiError(
      "The TaskOverflow server could not be reached. Check your connection and try again.",
      0,
    );
  }
  const data = parseJson(text);
  if (!response.ok) {
    throw new ApiError(reasonOf(data, response), response.status);
  }
  if (data === undefined) {
    throw new ApiError("The server sent an answer this page cannot read.", response.status);
  }
  return data;
}

// one user action, one POST: it carries an Idempotency-Key made for this action, and the retries
// after a dropped connection send the same key, so the API acts once however many arrived
async function postOnce(url, body) {
  const headers = { "Idempotency-Key": newIdempotencyKey() };
  for (let retries = 0; ; retries += 1) {
    try {
      return await api("POST", url, body, headers);
    } catch (error) {
      if (error.status !== 0 || retries >= POST_NETWORK_RETRIES) {
        throw error;
      }
      await sleep(POST_RETRY_MS * (retries + 1));
    }
  }
}

function newIdempotencyKey() {
  // randomUUID exists only in secure contexts (https, localhost); getRandomValues everywhere
  if (typeof crypto.randomUUID === "function") {
    return crypto.randomUUID();
  }
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(bytes, (byte) => byte.toString(16).padStart(2, "0")).join("");
}

function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function parseJson(text) {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

function reasonOf(data, response) {
  if (data && typeof data.error === "string" && data.error) {
    return sentence(data.error);
  }
  const statusText = response.statusText ? ` (${response.statusText})` : "";
  return `The server answered with status ${response.status}${statusText}.`;
}

function sentence(text) {
  const trimmed = text.trim();
  const capital = trimmed.charAt(0).toUpperCase() + trimmed.slice(1);
  return /[.!?]$/.test(capital) ? capital : `${capital}.`;
}

// --- messages -------------------------------------------------------------------------

function showError(action, error) {
  const reason = error instanceof ApiError ? error.message : "Something unexpected went wrong.";
  dom.notice.textContent = "";
  dom.alert.textContent = `${action}. ${reason}`;
  if (!(error instanceof ApiError)) {
    console.error(error);
  }
}

function clearError() {
  dom.alert.textContent = "";
}

function announce(message) {
  dom.notice.textContent = message;
}

// --- deadlines: wall-clock times, the same on the page and in the API ------------------

function toApiDeadline(localValue) {
  if (!localValue) {
    return null;
  }
  // a datetime-local value is YYYY-MM-DDTHH:MM, with seconds only when they were given
  return localValue.length === 16 ? `${localValue}:00` : localValue;
}

function fromApiDeadline(apiValue) {
  // without an offset, Date reads a date-time as local time: the wall clock as stored
  return new Date(apiValue.slice(0, 19));
}

function toLocalInput(date) {
  const pad = (n) => String(n).padStart(2, "0");
  const day = `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}`;
  return `${day}T${pad(date.getHours())}:${pad(date.getMinutes())}`;
}

// --- the list -------------------------------------------------------------------------

function currentFilters() {
  const form = new FormData(dom.filterForm);
  return {
    completed: String(form.get("completed") ?? ""),
    window: String(form.get("window") ?? "").trim(),
  };
}

function filterQuery(filters) {
  const query = new URLSearchParams();
  if (filters.completed) {
    query.set("completed", filters.completed);
  }
  if (filters.window) {
    query.set("window", filters.window);
  }
  return query;
}

async function loadTodos() {
  const request = ++listRequest;
  const filters = currentFilters();
  const query = filterQuery(filters);
  history.replaceState(null, "", query.size ? `?${query}` : location.pathname);
  dom.list.setAttribute("aria-busy", "true");
  try {
    const todos = await api("GET", `${API}/todos${query.size ? `?${query}` : ""}`);
    // a slower, older answer must not overwrite a newer one
    if (request === listRequest) {
      renderTodos(todos, filters);
    }
  } catch (error) {
    if (request === listRequest) {
      showError("Could not load the todos", error);
    }
  } finally {
    if (request === listRequest) {
      dom.list.setAttribute("aria-busy", "false");
    }
  }
}

function renderTodos(todos, filters) {
  const focus = rememberFocus();
  const editing = editingId === null ? null : dom.list.querySelector(`[data-id="${editingId}"]`);
  const items = todos.map((todo) =>
    editing && todo.id === editingId ? editing : renderTodo(todo),
  );
  if (editing && !todos.some((todo) => todo.id === editingId)) {
    editingId = null;
  }
  dom.list.replaceChildren(...items);
  const filtered = Boolean(filters.completed || filters.window);
  dom.count.textContent = `${todos.length} ${todos.length === 1 ? "todo" : "todos"}${filtered ? " match the filters" : ""}`;
  dom.empty.hidden = todos.length > 0;
  dom.empty.textContent = filtered
    ? "No todos match these filters."
    : "No todos yet. Add one above.";
  restoreFocus(focus);
}

function renderTodo(todo) {
  const item = dom.todoTemplate.content.firstElementChild.cloneNode(true);
  item.dataset.id = String(todo.id);
  item.classList.toggle("done", todo.completed);
  const title = $(".todo-title", item);
  title.id = `todo-${todo.id}-title`;
  title.textContent = todo.title;
  const description = $(".todo-description", item);
  description.textContent = todo.description ?? "";
  description.hidden = !todo.description;
  renderDeadline($(".todo-deadline", item), todo);

  const done = $(".todo-done", item);
  done.checked = todo.completed;
  done.setAttribute("aria-label", `Done: ${todo.title}`);
  done.addEventListener("change", () => setCompleted(todo, done));
  const edit = $(".todo-edit", item);
  edit.setAttribute("aria-label", `Edit ${todo.title}`);
  edit.addEventListener("click", () => startEditing(item, todo));
  const remove = $(".todo-delete", item);
  remove.setAttribute("aria-label", `Delete ${todo.title}`);
  remove.addEventListener("click", () => deleteTodo(todo, remove));
  return item;
}

function renderDeadline(element, todo) {
  if (!todo.deadline_at) {
    element.textContent = "No deadline";
    element.classList.add("muted");
    return;
  }
  const deadline = fromApiDeadline(todo.deadline_at);
  const time = document.createElement("time");
  // a local date-time, as the deadline is: no zone to claim
  time.dateTime = todo.deadline_at.slice(0, 19);
  time.textContent = deadlineFormat.format(deadline);
  element.replaceChildren("Due ", time);
  if (!todo.completed && deadline < new Date()) {
    const badge = document.createElement("span");
    badge.className = "badge overdue";
    badge.textContent = "Overdue";
    element.append(" ", badge);
  }
}

// after a re-render, keep keyboard focus on the same control of the same todo
function rememberFocus() {
  const active = document.activeElement;
  const item = active?.closest?.("li[data-id]");
  if (!item || !dom.list.contains(item)) {
    return null;
  }
  const control = ["todo-done", "todo-edit", "todo-delete"].find((name) =>
    active.classList.contains(name),
  );
  return { id: item.dataset.id, control };
}

function restoreFocus(focus) {
  if (!focus || document.activeElement !== document.body) {
    return;
  }
  const item = dom.list.querySelector(`[data-id="${focus.id}"]`);
  const target = item && focus.control ? $(`.${focus.control}`, item) : null;
  (target ?? dom.listHeading).focus();
}

// --- changing todos -------------------------------------------------------------------

async function createTodo(event) {
  event.preventDefault();
  clearError();
  const form = dom.createForm;
  const values = new FormData(form);
  const body = { title: String(values.get("title")) };
  const description = String(values.get("description"));
  if (description) {
    body.description = description;
  }
  const deadline = toApiDeadline(String(values.get("deadline")));
  if (deadline) {
    body.deadline_at = deadline;
  }
  await whileBusy($("button[type=submit]", form), async () => {
    try {
      const todo = await postOnce(`${API}/todos`, body);
      form.reset();
      markInvalid(form, null);
      announce(`Added “${todo.title}”.`);
      $("[name=title]", form).focus();
      await loadTodos();
    } catch (error) {
      showError("Could not add the todo", error);
      markInvalid(form, error);
    }
  });
}

// aria-disabled rather than disabled: a disabled control drops the keyboard focus
async function whileBusy(control, work) {
  if (control.getAttribute("aria-disabled") === "true") {
    return false;
  }
  control.setAttribute("aria-disabled", "true");
  try {
    await work();
  } finally {
    control.removeAttribute("aria-disabled");
  }
  return true;
}

// point at the field an API message names ("title: ..."), for sighted and screen reader users
function markInvalid(form, error) {
  for (const field of form.querySelectorAll("[aria-invalid]")) {
    field.removeAttribute("aria-invalid");
  }
  const name = error?.message?.match(/^(\w+):/)?.[1]?.toLowerCase();
  const field = name && $(`[name="${name === "deadline_at" ? "deadline" : name}"]`, form);
  if (field) {
    field.setAttribute("aria-invalid", "true");
    field.focus();
  }
}

async function setCompleted(todo, checkbox) {
  clearError();
  const completed = checkbox.checked;
  const started = await whileBusy(checkbox, async () => {
    try {
      const updated = await api("PUT", `${API}/todos/${todo.id}`, { completed });
      announce(`“${updated.title}” is ${updated.completed ? "done" : "open again"}.`);
    } catch (error) {
      checkbox.checked = !completed;
      showError(`Could not update “${todo.title}”`, error);
    }
    await loadTodos();
  });
  if (!started) {
    // a second click while the first is on its way: keep what the first one sent
    checkbox.checked = !completed;
  }
}

async function deleteTodo(todo, button) {
  clearError();
  await whileBusy(button, async () => {
    try {
      const deleted = await api("DELETE", `${API}/todos/${todo.id}`);
      announce(
        deleted.id === undefined ? "That todo was already gone." : `Deleted “${todo.title}”.`,
      );
    } catch (error) {
      showError(`Could not delete “${todo.title}”`, error);
    }
    await loadTodos();
  });
}

function startEditing(item, todo) {
  if (editingId !== null) {
    const open = dom.list.querySelector(`[data-id="${editingId}"]`);
    if (open) {
      stopEditing(open, false);
    }
  }
  editingId = todo.id;
  const form = dom.editTemplate.content.firstElementChild.cloneNode(true);
  form.setAttribute("aria-label", `Edit ${todo.title}`);
  for (const field of form.querySelectorAll("input, textarea")) {
    const id = `edit-${todo.id}-${field.name}`;
    field.id = id;
    field.closest(".field").querySelector("label").htmlFor = id;
  }
  form.elements.title.value = todo.title;
  form.elements.description.value = todo.description ?? "";
  form.elements.deadline.value = todo.deadline_at
    ? toLocalInput(fromApiDeadline(todo.deadline_at))
    : "";
  form.addEventListener("submit", (event) => saveEdit(event, item, todo));
  $(".edit-cancel", form).addEventListener("click", () => stopEditing(item, true));
  form.addEventListener("keydown", (event) => {
    if (event.key === "Escape") {
      stopEditing(item, true);
    }
  });
  $(".todo-view", item).hidden = true;
  item.append(form);
  form.elements.title.focus();
}

function stopEditing(item, refocus) {
  $(".edit-form", item)?.remove();
  $(".todo-view", item).hidden = false;
  editingId = null;
  if (refocus) {
    $(".todo-edit", item).focus();
  }
}

function editChanges(form, todo) {
  const changes = {};
  const title = form.elements.title.value;
  const description = form.elements.description.value || null;
  const deadline = form.elements.deadline.value;
  if (title !== todo.title) {
    changes.title = title;
  }
  if (description !== (todo.description ?? null)) {
    changes.description = description;
  }
  // compare with what the field first showed, so an untouched deadline keeps its seconds
  if (deadline !== toLocalInputOrEmpty(todo)) {
    changes.deadline_at = toApiDeadline(deadline);
  }
  return changes;
}

function toLocalInputOrEmpty(todo) {
  return todo.deadline_at ? toLocalInput(fromApiDeadline(todo.deadline_at)) : "";
}

async function saveEdit(event, item, todo) {
  event.preventDefault();
  clearError();
  const form = event.currentTarget;
  const changes = editChanges(form, todo);
  if (Object.keys(changes).length === 0) {
    stopEditing(item, true);
    announce("Nothing changed.");
    return;
  }
  await whileBusy($("button[type=submit]", form), async () => {
    try {
      const updated = await api("PUT", `${API}/todos/${todo.id}`, changes);
      editingId = null;
      announce(`Saved “${updated.title}”.`);
      await loadTodos();
      const edit = dom.list.querySelector(`[data-id="${updated.id}"] .todo-edit`);
      (edit ?? dom.listHeading).focus();
    } catch (error) {
      showError(`Could not save “${todo.title}”`, error);
      markInvalid(form, error);
    }
  });
}

// --- filters --------------------------------------------------------------------------

function applyFiltersSoon() {
  clearTimeout(filterTimer);
  filterTimer = setTimeout(() => {
    clearError();
    loadTodos();
  }, FILTER_DEBOUNCE_MS);
}

function applyFiltersNow(event) {
  event?.preventDefault();
  clearTimeout(filterTimer);
  clearError();
  loadTodos();
}

function filtersFromAddress() {
  const query = new URLSearchParams(location.search);
  const completed = query.get("completed");
  if (completed === "true" || completed === "false") {
    dom.filterForm.elements.completed.value = completed;
  }
  dom.filterForm.elements.window.value = query.get("window") ?? "";
}

// --- the calendar ---------------------------------------------------------------------

async function generateCalendar() {
  if (dom.calendarButton.getAttribute("aria-disabled") === "true") {
    return;
  }
  const run = ++calendarRun;
  calendarJob = null;
  clearError();
  setCalendarBusy(true);
  showCalendarState("REQUESTED", "Asking for a calendar…", "");
  try {
    const accepted = await postOnce(`${API}/todos/ical`);
    calendarJob = { taskId: accepted.task_id, taskUrl: accepted.task_url, stopped: false };
    showCalendarState("PENDING", CALENDAR_STATES.PENDING, "");
    await followCalendar(calendarJob);
  } catch (error) {
    showCalendarState("ERROR", "Not available", "");
    showError("Could not make the calendar", error);
  } finally {
    if (run === calendarRun) {
      // still the job shown, to which the answer to a cancel on its way applies
      if (calendarJob) {
        calendarJob.stopped = true;
      }
      setCalendarBusy(false);
      // the finished, cancelled (or refused) job joins the recent calendars
      loadHistory();
    }
  }
}

// follow a job through its event stream (Server-Sent Events); where the browser has no
// EventSource, the page signed in (an EventSource sends no Authorization header), or the stream
// fails, by asking for its status again and again
async function followCalendar(job) {
  if (typeof EventSource === "function" && !hasCredential()) {
    const outcome = await watchCalendar(job);
    if (outcome !== "failed") {
      return;
    }
  }
  await pollCalendar(job);
}

// "finished" (or "stopped": cancelled meanwhile) once the job has ended, "failed" when the
// stream could not be had; the browser itself reconnects a dropped stream, sending the id of the
// last event it had, and the API sends only what changed since
function watchCalendar(job) {
  return new Promise((resolve, reject) => {
    const source = new EventSource(`${API}/todos/ical/${encodeURIComponent(job.taskId)}/events`);
    let drops = 0;
    const close = () => {
      clearTimeout(giveUp);
      source.close();
      job.wake = undefined;
    };
    const end = (outcome) => {
      close();
      resolve(outcome);
    };
    const giveUp = setTimeout(() => {
      close();
      reject(new ApiError("It is taking longer than expected; try again in a while.", 0));
    }, POLL_GIVE_UP_MS);
    // the answer to a cancel: the stream brings how the job ends, unless it was revoked already
    job.wake = () => {
      if (job.stopped) {
        end("stopped");
      }
    };
    source.onmessage = (message) => {
      drops = 0;
      let status;
      try {
        status = JSON.parse(message.data);
      } catch {
        end("failed");
        return;
      }
      // a cancel answered while this event was on its way has the last word
      if (job.stopped) {
        end("stopped");
      } else if (showCalendarStatus(status, job)) {
        end("finished");
      }
    };
    source.onerror = () => {
      // CLOSED: refused (an error status, or no stream); otherwise the browser is reconnecting
      if (source.readyState === EventSource.CLOSED || ++drops > WATCH_RETRIES) {
        end("failed");
      } else {
        dom.calendarDetail.textContent = "Lost contact with the server; trying again…";
      }
    };
  });
}

async function pollCalendar(job) {
  const giveUpAt = Date.now() + POLL_GIVE_UP_MS;
  let delayMs = POLL_FIRST_MS;
  let networkFailures = 0;
  while (!job.stopped) {
    let status = null;
    try {
      status = await api("GET", job.taskUrl);
      networkFailures = 0;
    } catch (error) {
      if (job.stopped) {
        return;
      }
      // a dropped connection is worth a few more tries; an answer from the API is final
      if (error.status !== 0 || ++networkFailures > POLL_NETWORK_RETRIES) {
        throw error;
      }
      dom.calendarDetail.textContent = "Lost contact with the server; trying again…";
    }
    // a cancel answered while this status was on its way has the last word
    if (job.stopped || (status && showCalendarStatus(status, job))) {
      return;
    }
    if (Date.now() > giveUpAt) {
      throw new ApiError("It is taking longer than expected; try again in a while.", 0);
    }
    await pause(job, delayMs);
    delayMs = Math.min(delayMs * 1.5, POLL_MAX_MS);
  }
}

// wait before asking for the status again; the answer to a cancel wakes the job up at once
function pause(job, ms) {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    job.wake = () => {
      clearTimeout(timer);
      resolve();
    };
  });
}

async function cancelCalendar() {
  const job = calendarJob;
  if (!job || job.stopped) {
    return;
  }
  clearError();
  await whileBusy(dom.calendarCancel, async () => {
    try {
      const answer = await api("DELETE", `${API}/todos/ical/${encodeURIComponent(job.taskId)}`);
      // REVOKED only once a worker has stopped it; until then it may still finish first
      if (answer.task_status === "REVOKED") {
        stopFollowing(job);
      } else {
        cancelRequested(job);
      }
    } catch (error) {
      if (error.status === 409) {
        refusedCancel(job);
      } else {
        showError("Could not cancel the calendar", error);
      }
    }
  });
}

function stopFollowing(job) {
  // a job no longer followed has finished meanwhile, and the page shows how
  if (job.stopped || job !== calendarJob) {
    return;
  }
  job.stopped = true;
  showCalendarState("REVOKED", CALENDAR_STATES.REVOKED, "You cancelled it; no file will be made.");
  job.wake?.();
}

function cancelRequested(job) {
  if (job.stopped || job !== calendarJob) {
    return;
  }
  job.cancelRequested = true;
  job.note = "It finished before the cancel reached it.";
  dom.calendarDetail.textContent = CANCEL_REQUESTED;
  showCancel(false);
  job.wake?.();
}

function refusedCancel(job) {
  const words = "It had already finished, so it was not cancelled.";
  if (job !== calendarJob) {
    // another calendar is shown by now
    announce(words);
  } else if (job.stopped) {
    // its last status came first, and shows how it finished
    dom.calendarDetail.textContent = `${words} ${dom.calendarDetail.textContent}`;
  } else {
    // the next status, asked for at once, shows how it finished after these words
    job.note = words;
    dom.calendarDetail.textContent = words;
    showCancel(false);
    job.wake?.();
  }
}

// a signed-in page downloads a calendar through the API, with its credential: a plain link would
// send none and be refused
function downloadsWithCredential(link) {
  link.addEventListener("click", async (event) => {
    if (!hasCredential()) {
      return;
    }
    event.preventDefault();
    const response = await apiFetch(link.href);
    if (!response.ok) {
      const reason = reasonOf(parseJson(await response.text()), response);
      dom.alert.textContent = `The calendar could not be downloaded. ${reason}`;
      return;
    }
    const file = URL.createObjectURL(await response.blob());
    const save = document.createElement("a");
    save.href = file;
    save.download = link.download;
    save.click();
    // the click has started the download by the next turn of the event loop
    setTimeout(() => URL.revokeObjectURL(file), 0);
  });
}

// show one status answer; true once the job has finished either way
function showCalendarStatus(status, job) {
  const state = status.task_status;
  const words = CALENDAR_STATES[state] ?? `Unknown state ${state}`;
  const lead = job.note ? `${job.note} ` : "";
  if (state === "SUCCESS") {
    showCalendarState(state, words, `${lead}Your calendar file is ready.`);
    dom.calendarLink.href = status.result_url;
    dom.calendarLink.download = `taskoverflow-${new Date().toISOString().slice(0, 10)}.ics`;
    dom.calendarDownload.hidden = false;
    return true;
  }
  if (state === "FAILURE") {
    const reason = status.error ? sentence(status.error) : "No reason was given.";
    showCalendarState(state, words, `${lead}The calendar could not be made. ${reason}`);
    dom.alert.textContent = `The calendar could not be made. ${reason}`;
    return true;
  }
  if (state === "REVOKED") {
    showCalendarState(state, words, "It was cancelled; no file was made.");
    return true;
  }
  if (job.cancelRequested) {
    showCalendarState(state, words, CANCEL_REQUESTED);
    showCancel(false);
  } else {
    showCalendarState(state, words, "This page follows it; no need to reload.");
  }
  showProgress(status.progress);
  return false;
}

function showCalendarState(state, words, detail) {
  dom.calendarStatus.dataset.state = state;
  const badge = document.createElement("span");
  badge.className = `badge state-${state.toLowerCase()}`;
  badge.textContent = state;
  const label = /^[A-Z]+$/.test(state) && state in CALENDAR_STATES ? [" ", badge] : [];
  dom.calendarState.replaceChildren(`Status: ${words}`, ...label);
  dom.calendarDetail.textContent = detail;
  if (state !== "SUCCESS") {
    dom.calendarDownload.hidden = true;
  }
  showCancel(UNFINISHED_STATES.has(state));
  showProgress(null);
}

function showCancel(visible) {
  if (!visible && document.activeElement === dom.calendarCancel) {
    // the button goes away under the keyboard: focus goes to the calendar's own button
    dom.calendarButton.focus();
  }
  dom.calendarCancel.hidden = !visible;
}

// a large calendar's status says how many of its todos are written: { done, total }
function showProgress(progress) {
  const total = Number(progress?.total);
  const shown = Number.isInteger(total) && total > 0 && Number.isInteger(progress.done);
  dom.calendarProgress.hidden = !shown;
  if (!shown) {
    return;
  }
  const done = Math.min(Math.max(progress.done, 0), total);
  dom.calendarProgressBar.max = total;
  dom.calendarProgressBar.value = done;
  dom.calendarProgressText.textContent = `${countFormat.format(done)} of ${countFormat.format(total)} todos`;
}

function setCalendarBusy(busy) {
  dom.calendarButton.setAttribute("aria-disabled", String(busy));
  dom.calendarButton.textContent = busy ? "Generating…" : "Generate calendar";
}

// --- subscribing ----------------------------------------------------------------------

// webcal:// is the address calendar apps open as a subscription; the http(s) one is the same file
function showFeedLinks() {
  const feed = new URL(FEED_PATH, location.href);
  dom.subscribeLink.href = `webcal://${feed.host}${feed.pathname}`;
  dom.feedLink.href = feed.href;
  dom.feedLink.textContent = feed.href;
}

// --- recent calendars -----------------------------------------------------------------

async function loadHistory(more = false) {
  const request = ++historyRequest;
  const query = new URLSearchParams({ limit: String(HISTORY_PAGE) });
  if (more && historyCursor) {
    query.set("cursor", historyCursor);
  }
  dom.historyList.setAttribute("aria-busy", "true");
  try {
    const page = await api("GET", `${API}/todos/ical?${query}`);
    // a refresh started meanwhile wins over an older page
    if (request === historyRequest) {
      renderHistory(page, more);
    }
  } catch (error) {
    if (request === historyRequest) {
      showError("Could not load the recent calendars", error);
    }
  } finally {
    if (request === historyRequest) {
      dom.historyList.setAttribute("aria-busy", "false");
    }
  }
}

function renderHistory(page, more) {
  const items = page.jobs.map(renderHistoryItem);
  if (more) {
    dom.historyList.append(...items);
  } else {
    dom.historyList.replaceChildren(...items);
  }
  historyCursor = page.next_cursor;
  dom.historyMore.hidden = !historyCursor;
  dom.historyEmpty.hidden = dom.historyList.children.length > 0;
  // keyboard and screen reader users go on reading from the first calendar added
  if (more && items.length) {
    items[0].focus();
  }
}


function renderHistoryItem(job) {
  const item = dom.historyTemplate.content.firstElementChild.cloneNode(true);
  item.dataset.taskId = job.task_id;
  item.dataset.state = job.task_status;
  const requested = jobTime(job.requested_at);
  const badge = document.createElement("span");
  badge.className = `badge state-${job.task_status.toLowerCase()}`;
  badge.textContent = job.task_status;
  $(".history-title", item).replaceChildren(badge, " Requested ", requested);
  $(".history-detail", item).textContent = historyDetail(job);
  const note = $(".history-note", item);
  note.textContent = historyNote(job);
  note.hidden = !note.textContent;
  const link = $(".history-download", item);
  if (job.result_url) {
    downloadsWithCredential(link);
    link.href = job.result_url;
    link.download = `taskoverflow-${job.requested_at.slice(0, 10)}.ics`;
    link.setAttribute(
      "aria-label",
      `Download (.ics) of the calendar requested ${requested.textContent}`,
    );
  } else {
    link.remove();
  }
  return item;
}

function jobDate(apiValue) {
  // a job's times are naive UTC; at most milliseconds, which every Date parser reads
  return new Date(`${apiValue.slice(0, 23)}Z`);
}

function jobTime(apiValue) {
  const date = jobDate(apiValue);
  const time = document.createElement("time");
  time.dateTime = date.toISOString();
  time.textContent = jobTimeFormat.format(date);
  return time;
}

function historyDetail(job) {
  const parts = [CALENDAR_STATES[job.task_status] ?? job.task_status];
  if (job.todo_count !== null) {
    parts.push(job.todo_count === 1 ? "1 todo" : `${job.todo_count} todos`);
  }
  if (job.size_bytes !== null) {
    parts.push(fileSize(job.size_bytes));
  }
  if (job.finished_at) {
    const requested = jobDate(job.requested_at);
    const finished = jobDate(job.finished_at);
    // the day only when it is not the day of the request
    const sameDay = requested.toDateString() === finished.toDateString();
    parts.push(`finished ${(sameDay ? jobClockFormat : jobTimeFormat).format(finished)}`);
  }
  return parts.join(" · ");
}

function historyNote(job) {
  if (job.expired) {
    return "Expired: the file is no longer kept.";
  }
  if (job.task_status === "FAILURE") {
    return `Failed: ${job.error ? sentence(job.error) : "no reason was given."}`;
  }
  return "";
}

function fileSize(bytes) {
  if (bytes < 1024) {
    return bytes === 1 ? "1 byte" : `${bytes} bytes`;
  }
  const units = ["KB", "MB", "GB"];
  let value = bytes / 1024;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return `${value.toFixed(1)} ${units[unit]}`;
}

// --- start ----------------------------------------------------------------------------

dom.createForm.addEventListener("submit", createTodo);
dom.filterForm.addEventListener("submit", applyFiltersNow);
dom.filterForm.elements.completed.addEventListener("change", applyFiltersNow);
dom.filterForm.elements.window.addEventListener("input", applyFiltersSoon);
dom.filterReset.addEventListener("click", () => {
  dom.filterForm.reset();
  applyFiltersNow();
});
dom.calendarButton.addEventListener("click", generateCalendar);
downloadsWithCredential(dom.calendarLink);
dom.calendarCancel.addEventListener("click", cancelCalendar);
dom.historyRefresh.addEventListener("click", () => {
  clearError();
  loadHistory();
});
dom.historyMore.addEventListener("click", () => loadHistory(true));
filtersFromAddress();
showFeedLinks();
startSignedIn(() => {
  loadTodos();
  loadHistory();
});
