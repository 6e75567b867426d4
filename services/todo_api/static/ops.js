// The operations page: GET /api/v1/ops every few seconds, drawn into the page's tables and an
// inline SVG chart. Every value is written as text (textContent), never as markup. With
// AUTH_MODE=required the page signs in first (sign_in.js) and needs an operator's credentials.

import { refreshDeadLetters } from "./ops_dead_letters.js";
import { apiFetch, startSignedIn } from "./sign_in.js";

const REPORT_URL = "/api/v1/ops";
const REFRESH_MS = 5000;
const SVG_NS = "http://www.w3.org/2000/svg";
const CHART = { width: 640, height: 180, left: 44, right: 8, top: 10, bottom: 24 };
const UNKNOWN = "Unknown while the job figures cannot be had.";

const $ = (selector) => document.querySelector(selector);

const dom = {
  alert: $("#alert"),
  updated: $("#updated"),
  pause: $("#pause"),
  services: $("#services tbody"),
  jobsError: $("#jobs-error"),
  jobStates: $("#job-states"),
  chart: $("#chart-svg"),
  chartSummary: $("#chart-summary"),
  queues: $("#queues tbody"),
  recent: $("#recent-jobs tbody"),
  recentTable: $("#recent-jobs"),
  recentEmpty: $("#recent-empty"),
  failures: $("#failures tbody"),
  failuresTable: $("#failures"),
  failuresEmpty: $("#failures-empty"),
};

const timeFormat = new Intl.DateTimeFormat(undefined, { timeStyle: "medium" });
const dateTimeFormat = new Intl.DateTimeFormat(undefined, {
  dateStyle: "short",
  timeStyle: "medium",
});
const rateFormat = new Intl.NumberFormat(undefined, { maximumFractionDigits: 2 });

let timer = 0;
let paused = false;
let loading = false;

// --- fetching ---------------------------------------------------------------------------

async function refresh() {
  clearTimeout(timer);
  if (loading) return;
  loading = true;
  try {
    const report = await fetchReport();
    if (report !== null) render(report);
    // after the depths (a look at a DLQ holds its messages in flight while it lasts), and not
    // waited for: the figures keep their pace however long the look takes
    refreshDeadLetters();
  } finally {
    loading = false;
    schedule();
  }
}

// the report, or null after saying in the alert region why there is none
async function fetchReport() {
  let response;
  let data;
  try {
    response = await apiFetch(REPORT_URL, { headers: { Accept: "application/json" } });
    data = await response.json().catch(() => null);
  } catch {
    showAlert("The TaskOverflow server could not be reached; the last figures are shown.");
    return null;
  }
  if (!response.ok || data === null) {
    const reason = typeof data?.error === "string" ? data.error : `HTTP ${response.status}`;
    showAlert(`The figures could not be loaded (${reason}); the last ones are shown.`);
    return null;
  }
  showAlert("");
  return data;
}

function schedule() {
  clearTimeout(timer);
  if (!paused && !document.hidden) timer = setTimeout(refresh, REFRESH_MS);
}

function showAlert(text) {
  if (dom.alert.textContent !== text) dom.alert.textContent = text;
}

// --- drawing ------------------------------------------------------------------------------

function render(report) {
  renderServices(report.services);
  renderJobs(report.jobs, report.jobs_error);
  renderQueues(report.queues);
  dom.updated.textContent = `Updated ${timeFormat.format(fromApi(report.generated_at))}, every ${
    REFRESH_MS / 1000
  } s.`;
}

function renderServices(services) {
  dom.services.replaceChildren(
    ...services.map((service) => {
      const checks = Object.entries(service.checks).map(([name, value]) => `${name}: ${value}`);
      const detail = [checks.join(", "), service.error].filter(Boolean).join(" · ");
      const row = tableRow([
        service.service,
        badge(service.status, `status-${service.status.replace(" ", "-")}`),
        detail || "–",
        service.outbox_backlog === null ? "–" : String(service.outbox_backlog),
      ]);
      row.dataset.service = service.service;
      row.dataset.status = service.status;
      return row;
    }),
  );
}

function renderJobs(jobs, error) {
  dom.jobsError.hidden = jobs !== null;
  dom.jobsError.textContent = jobs === null ? `Job figures unknown: ${error}` : "";
  if (jobs === null) {
    dom.jobStates.replaceChildren();
    drawChart([], 10);
    renderRecent([], UNKNOWN);
    renderFailures([], UNKNOWN);
    return;
  }
  dom.jobStates.replaceChildren(
    ...Object.entries(jobs.by_state).map(([state, count]) => {
      const tile = document.createElement("li");
      tile.className = `tile state-${state.toLowerCase()}`;
      tile.dataset.state = state;
      const figure = document.createElement("strong");
      figure.textContent = String(count);
      tile.append(figure, document.createTextNode(` ${state}`));
      return tile;
    }),
  );
  drawChart(jobs.throughput, jobs.bucket_s);
  renderRecent(jobs.recent, "No jobs yet.");
  renderFailures(jobs.failures, "No failed jobs.");
}

function renderRecent(recent, emptyText) {
  showEmpty(dom.recentTable, dom.recentEmpty, recent.length === 0, emptyText);
  dom.recent.replaceChildren(
    ...recent.map((job) => {
      const row = tableRow([
        code(job.task_id),
        badge(job.task_status, `state-${job.task_status.toLowerCase()}`),
        job.todo_count === null ? "–" : String(job.todo_count),
        dateTimeFormat.format(fromApi(job.updated_at)),
      ]);
      row.dataset.taskId = job.task_id;
      return row;
    }),
  );
}

function renderFailures(failures, emptyText) {
  showEmpty(dom.failuresTable, dom.failuresEmpty, failures.length === 0, emptyText);
  dom.failures.replaceChildren(
    ...failures.map((job) => {
      const row = tableRow([
        code(job.task_id),
        job.error ?? "–",
        String(job.attempts),
        dateTimeFormat.format(fromApi(job.failed_at)),
      ]);
      row.dataset.taskId = job.task_id;
      return row;
    }),
  );
}

function showEmpty(table, message, isEmpty, text) {
  table.hidden = isEmpty;
  message.hidden = !isEmpty;
  message.textContent = text;
}

function renderQueues(queues) {
  dom.queues.replaceChildren(
    ...queues.map((queue) => {
      const name = document.createElement("span");
      name.textContent = queue.queue;
      if (queue.dead_letter) name.append(" ", badge("DLQ", "dlq"));
      const unread = queue.error ? `unknown (${queue.error})` : null;
      const row = tableRow([
        name,
        unread ?? String(queue.visible),
        unread === null ? String(queue.in_flight) : "–",
      ]);
      row.dataset.queue = queue.queue;
      if (queue.dead_letter && queue.visible > 0) row.classList.add("attention");
      return row;
    }),
  );
}

// Stacked bars per bucket: succeeded below, failed above, in jobs per second.
function drawChart(buckets, bucketSeconds) {
  const rates = buckets.map((bucket) => ({
    succeeded: bucket.succeeded / bucket.seconds,
    failed: bucket.failed / bucket.seconds,
  }));
  const peak = Math.max(0, ...rates.map((rate) => rate.succeeded + rate.failed));
  const top = niceCeiling(peak);
  const plotWidth = CHART.width - CHART.left - CHART.right;
  const plotHeight = CHART.height - CHART.top - CHART.bottom;
  const y = (value) => CHART.top + plotHeight - (value / top) * plotHeight;
  const slot = plotWidth / Math.max(1, rates.length);
  const parts = [];
  for (const value of [0, top / 2, top]) {
    const x2 = CHART.width - CHART.right;
    parts.push(svg("line", { class: "grid", x1: CHART.left, x2, y1: y(value), y2: y(value) }));
    const label = { x: CHART.left - 6, y: y(value) + 4, "text-anchor": "end" };
    parts.push(svgText(rateFormat.format(value), label));
  }
  rates.forEach((rate, index) => {
    const x = CHART.left + index * slot + 1;
    const width = Math.max(1, slot - 2);
    const okTop = y(rate.succeeded);
    parts.push(svg("rect", { class: "bar-ok", x, width, y: okTop, height: y(0) - okTop }));
    const failTop = y(rate.succeeded + rate.failed);
    parts.push(svg("rect", { class: "bar-failed", x, width, y: failTop, height: okTop - failTop }));
  });
  const minutes = Math.round((rates.length * bucketSeconds) / 60);
  const axisY = CHART.height - 6;
  parts.push(svgText(`${minutes} min ago`, { x: CHART.left, y: axisY, "text-anchor": "start" }));
  parts.push(svgText("now", { x: CHART.width - CHART.right, y: axisY, "text-anchor": "end" }));
  dom.chart.replaceChildren(...parts);
  dom.chartSummary.textContent = chartSummary(rates, bucketSeconds, peak);
}

function chartSummary(rates, bucketSeconds, peak) {
  if (rates.length === 0) return "No figures.";
  const lastMinute = rates.slice(-Math.max(1, Math.round(60 / bucketSeconds)));
  const perSecond =
    lastMinute.reduce((sum, rate) => sum + rate.succeeded + rate.failed, 0) / lastMinute.length;
  return `Last minute: ${rateFormat.format(perSecond)} jobs/s; peak ${rateFormat.format(
    peak,
  )} jobs/s. Green: succeeded, red: failed.`;
}

function niceCeiling(value) {
  if (value <= 0) return 1;
  const magnitude = 10 ** Math.floor(Math.log10(value));
  const step = [1, 2, 5, 10].find((factor) => factor * magnitude >= value);
  return step * magnitude;
}

// --- small builders ---------------------------------------------------------------------

function tableRow(cells) {
  const row = document.createElement("tr");
  for (const content of cells) {
    const cell = document.createElement("td");
    cell.append(content);
    row.append(cell);
  }
  return row;
}

function badge(text, modifier) {
  const span = document.createElement("span");
  span.className = `badge ${modifier}`;
  span.textContent = text;
  return span;
}

function code(text) {
  const element = document.createElement("code");
  element.textContent = text;
  return element;
}

function svg(name, attributes) {
  const element = document.createElementNS(SVG_NS, name);
  for (const [key, value] of Object.entries(attributes)) element.setAttribute(key, String(value));
  return element;
}

function svgText(text, attributes) {
  const element = svg("text", attributes);
  element.textContent = text;
  return element;
}

// the API's datetimes are naive UTC
function fromApi(text) {
  return new Date(`${text}Z`);
}

// --- start ------------------------------------------------------------------------------

dom.pause.addEventListener("click", () => {
  paused = !paused;
  dom.pause.setAttribute("aria-pressed", String(paused));
  dom.pause.textContent = paused ? "Resume updates" : "Pause updates";
  if (paused) clearTimeout(timer);
  else refresh();
});

// a hidden tab asks for nothing; it catches up as soon as it is shown again
document.addEventListener("visibilitychange", () => {
  if (!document.hidden && !paused) refresh();
});

startSignedIn(refresh);
