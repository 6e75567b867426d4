// The documentation page: the OpenAPI document in Swagger UI (served from /static/swagger-ui/),
// and the AsyncAPI document drawn here as channels, operations and messages. Both documents
// come from this origin; nothing is loaded from another host.

const OPENAPI_URL = "/api/v1/openapi.json";
const ASYNCAPI_URL = "/api/asyncapi.json";
const TABS = ["openapi", "asyncapi"];

function element(tag, text, className) {
  const node = document.createElement(tag);
  if (text !== undefined) node.textContent = text;
  if (className) node.className = className;
  return node;
}

function showAlert(message) {
  document.getElementById("alert").textContent = message;
}

function selectTab(name, focus) {
  for (const tab of TABS) {
    const button = document.getElementById(`tab-${tab}`);
    const selected = tab === name;
    button.setAttribute("aria-selected", String(selected));
    button.tabIndex = selected ? 0 : -1;
    document.getElementById(tab).hidden = !selected;
    if (selected && focus) button.focus();
  }
}

function wireTabs() {
  for (const tab of TABS) {
    const button = document.getElementById(`tab-${tab}`);
    button.addEventListener("click", () => {
      selectTab(tab, false);
      history.replaceState(null, "", `#${tab}`);
    });
    button.addEventListener("keydown", (event) => {
      if (event.key !== "ArrowRight" && event.key !== "ArrowLeft") return;
      const step = event.key === "ArrowRight" ? 1 : TABS.length - 1;
      selectTab(TABS[(TABS.indexOf(tab) + step) % TABS.length], true);
    });
  }
  selectTab(TABS.includes(location.hash.slice(1)) ? location.hash.slice(1) : "openapi", false);
}

function showOpenApi() {
  const mount = document.getElementById("swagger-ui");
  if (typeof window.SwaggerUIBundle !== "function") {
    showAlert("Swagger UI did not load.");
    return;
  }
  window.SwaggerUIBundle({
    url: OPENAPI_URL,
    domNode: mount,
    deepLinking: false,
    // no "try it out": the page documents; and no badge from the public validator's host
    supportedSubmitMethods: [],
    validatorUrl: null,
    presets: [window.SwaggerUIBundle.presets.apis],
    onComplete: () => mount.setAttribute("aria-busy", "false"),
  });
}

function refName(ref) {
  return ref.slice(ref.lastIndexOf("/") + 1);
}

function messageLinks(names) {
  const list = element("ul");
  for (const name of names) {
    const item = element("li");
    const link = element("a", name);
    link.href = `#message-${name}`;
    link.addEventListener("click", () => {
      document.getElementById(`message-${name}`).open = true;
    });
    item.append(link);
    list.append(item);
  }
  return list;
}

function json(value) {
  return element("pre", JSON.stringify(value, null, 2));
}

function subscriptionsOf(doc) {
  const found = new Map();
  for (const operation of Object.values(doc.operations)) {
    for (const consumer of operation.bindings?.sns?.consumers ?? []) {
      found.set(consumer.endpoint.name, consumer);
    }
  }
  return found;
}

function renderChannel(id, channel, subscriptions) {
  const box = element("article", undefined, "channel");
  box.id = `channel-${id}`;
  box.dataset.address = channel.address;
  const heading = element("h4", channel.title ?? id);
  heading.append(" ", element("code", channel.address, "address"));
  box.append(heading);
  if (channel.description) box.append(element("p", channel.description));
  box.append(messageLinks(Object.keys(channel.messages ?? {})));
  const subscription = subscriptions.get(channel.address);
  if (subscription) {
    box.append(element("p", "Subscription filter policy:"), json(subscription.filterPolicy));
  }
  const queue = channel.bindings?.sqs;
  if (queue) box.append(element("p", "SQS binding:"), json(queue));
  return box;
}

function renderOperations(doc) {
  const rows = document.getElementById("asyncapi-operations");
  for (const [id, operation] of Object.entries(doc.operations)) {
    const row = element("tr");
    row.dataset.operation = id;
    const channel = doc.channels[refName(operation.channel.$ref)];
    row.append(
      element("td", id),
      element("td", operation.action),
      element("td", channel.address),
      element("td", (operation.messages ?? []).map((m) => refName(m.$ref)).join(", ")),
    );
    rows.append(row);
  }
}

function renderMessage(name, message, schemas, carriers) {
  const box = element("details", undefined, "message");
  box.id = `message-${name}`;
  box.append(element("summary", name));
  box.append(element("p", message.summary));
  box.append(element("p", message.description, carriers.length ? "" : "stored-only"));
  if (carriers.length) box.append(element("p", `Channels: ${carriers.join(", ")}`));
  box.append(element("p", "Event (the envelope's data):"), json(schemas[name]));
  box.append(element("p", "Message attributes:"), json(message.headers));
  return box;
}

function renderAsyncApi(doc) {
  document.getElementById("asyncapi-title").textContent =
    `${doc.info.title} (AsyncAPI ${doc.asyncapi}, version ${doc.info.version})`;
  document.getElementById("asyncapi-description").textContent = doc.info.description ?? "";
  const subscriptions = subscriptionsOf(doc);
  const channels = document.getElementById("asyncapi-channels");
  for (const [id, channel] of Object.entries(doc.channels)) {
    channels.append(renderChannel(id, channel, subscriptions));
  }
  renderOperations(doc);
  const messages = document.getElementById("asyncapi-messages");
  const schemas = doc.components.schemas;
  for (const [name, message] of Object.entries(doc.components.messages)) {
    const carriers = Object.values(doc.channels)
      .filter((channel) => name in (channel.messages ?? {}))
      .map((channel) => channel.address);
    messages.append(renderMessage(name, message, schemas, carriers));
  }
  const envelope = element("details", undefined, "message");
  envelope.id = "message-Envelope";
  envelope.append(element("summary", "Envelope (every message's payload)"), json(schemas.Envelope));
  messages.append(envelope);
}

async function showAsyncApi() {
  const panel = document.getElementById("asyncapi");
  try {
    const response = await fetch(ASYNCAPI_URL, { headers: { Accept: "application/json" } });
    if (!response.ok) throw new Error(`${ASYNCAPI_URL} answered ${response.status}`);
    renderAsyncApi(await response.json());
  } catch (error) {
    showAlert(`The events document could not be shown: ${error.message}`);
  } finally {
    panel.setAttribute("aria-busy", "false");
  }
}

wireTabs();
showOpenApi();
showAsyncApi();
