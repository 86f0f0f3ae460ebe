// slog ui: the page. It reads events through /api/recent (slog ui signs the API calls) and shows them.
// Every string an event holds is someone's log content: it only ever reaches the page as text
// (textContent, createTextNode, attribute values of our own choosing), never as markup, a URL or code.
"use strict";

const LEVELS = ["TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL"];
const WINDOWS = { "15m": 15 * 60e3, "1h": 3600e3, "24h": 86400e3 };
const DEFAULT_WINDOW = "1h";
const DEFAULT_LIMIT = "100";
const MAX_ATTRS = 4;
// As `slog tail` polls: every 2 s, rereading the last minute (at least 3 intervals), up to 1000 events a poll.
const TAIL_INTERVAL_MS = 2000;
const TAIL_LOOKBACK_MS = Math.max(60e3, 3 * TAIL_INTERVAL_MS);
const TAIL_MAX_EVENTS = 1000;
const SEEN_MAX = 10000;
// A row shows this much of a message; the event's view shows all of it.
const ROW_CHARS = 400;
const HISTOGRAM_BUCKETS = 60;
const SVG = "http://www.w3.org/2000/svg";
const TRACE_ID = /^[0-9a-fA-F]{32}$/;
// What a reader cannot see or a renderer may act on: controls, format characters (bidi overrides,
// zero-width), line and paragraph separators, lone surrogates. Shown as escapes, as `slog` shows them.
const HIDDEN = /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}\p{Cs}]/gu;
// JSON.stringify escapes C0 controls and lone surrogates itself; the rest of HIDDEN, as JSON escapes.
const HIDDEN_IN_JSON = /[\u007f-\u009f\p{Cf}\p{Zl}\p{Zp}]/gu;
const ESCAPES = { "\n": "\\n", "\r": "\\r", "\t": "\\t" };

const $ = (id) => document.getElementById(id);

const state = {
  filters: null,
  events: [],        // shown, newest first
  seen: new Set(),   // log ids shown or already stored when the tail started
  seenOrder: [],
  cursor: null,
  start: 0,          // the window, in epoch ms, for the histogram
  end: 0,
  scanned: { requests: 0, events: 0, bytes: 0, last: null },
  generation: 0,     // a new view makes answers to an older one stale
  tailTimer: null,
  retry: null,
  detailTrace: null, // the trace id of the event shown, checked
};
const rowEvent = new WeakMap();

// --- text ------------------------------------------------------------------------------------

function escapeOf(char) {
  return ESCAPES[char] || "\\u" + char.codePointAt(0).toString(16).padStart(4, "0");
}

function visible(text) {
  return String(text).replace(HIDDEN, escapeOf);
}

function jsonText(value) {
  return JSON.stringify(value, null, 2).replace(HIDDEN_IN_JSON, escapeOf);
}

function cut(text, chars) {
  if (text.length <= chars) return text;
  const end = /[\ud800-\udbff]/.test(text[chars - 1]) ? chars - 1 : chars;
  return text.slice(0, end);
}

function pad(number, width = 2) {
  return String(number).padStart(width, "0");
}

function localTime(timestamp) {
  const moment = new Date(timestamp);
  if (Number.isNaN(moment.getTime())) return visible(timestamp);
  return `${moment.getFullYear()}-${pad(moment.getMonth() + 1)}-${pad(moment.getDate())} ` +
    `${pad(moment.getHours())}:${pad(moment.getMinutes())}:${pad(moment.getSeconds())}.${pad(moment.getMilliseconds(), 3)}`;
}

function localInput(iso) {
  const moment = new Date(iso);
  if (!iso || Number.isNaN(moment.getTime())) return "";
  return localTime(moment).slice(0, 19).replace(" ", "T");
}

function isoOfInput(value) {
  const moment = new Date(value);
  return value && !Number.isNaN(moment.getTime()) ? moment.toISOString() : "";
}

function count(n, word) {
  return `${n.toLocaleString("en")} ${word}${n === 1 ? "" : "s"}`;
}

function levelOf(event) {
  return LEVELS.includes(event.level) ? event.level : "other";
}

// --- the filters: the form, the address and the API's parameters -------------------------------

function filtersFromAddress() {
  const params = new URLSearchParams(location.search);
  const window = params.get("window") || (params.get("since") ? "custom" : DEFAULT_WINDOW);
  return {
    service_name: params.get("service_name") || "",
    level: params.get("level") || (params.get("min_level") ? "min:" + params.get("min_level") : ""),
    log_type: params.get("log_type") || "",
    window: window in WINDOWS || window === "custom" ? window : DEFAULT_WINDOW,
    since: params.get("since") || "",
    until: params.get("until") || "",
    q: params.get("q") || "",
    trace_id: params.get("trace_id") || "",
    attr: params.getAll("attr").slice(0, MAX_ATTRS),
    limit: params.get("limit") || DEFAULT_LIMIT,
    tail: params.get("tail") === "1",
  };
}

function address(filters) {
  const params = new URLSearchParams();
  for (const name of ["service_name", "log_type", "q", "trace_id"]) {
    if (filters[name]) params.set(name, filters[name]);
  }
  if (filters.level.startsWith("min:")) params.set("min_level", filters.level.slice(4));
  else if (filters.level) params.set("level", filters.level);
  if (filters.window === "custom") {
    if (filters.since) params.set("since", filters.since);
    if (filters.until) params.set("until", filters.until);
  } else {
    params.set("window", filters.window);
  }
  for (const attr of filters.attr) params.append("attr", attr);
  params.set("limit", filters.limit);
  if (filters.tail) params.set("tail", "1");
  return "?" + params.toString();
}

// The query for GET /logs/recent: the address's filters, the window as since/until of now.
function apiParams(filters, now) {
  const params = new URLSearchParams(address({ ...filters, tail: false, window: "custom", since: "", until: "" }));
  if (filters.window === "custom") {
    if (filters.since) params.set("since", filters.since);
    if (filters.until) params.set("until", filters.until);
  } else {
    params.set("since", new Date(now - WINDOWS[filters.window]).toISOString());
  }
  return params;
}

function addAttrInput(value) {
  const box = $("attrs");
  if (box.children.length >= MAX_ATTRS) return null;
  const label = document.createElement("label");
  const input = document.createElement("input");
  input.className = "attr";
  input.placeholder = "key=value";
  input.spellcheck = false;
  input.value = value;
  label.append("Attribute ", input);
  box.append(label);
  $("add-attr").hidden = box.children.length >= MAX_ATTRS;
  return input;
}

function writeForm(filters) {
  for (const name of ["service_name", "log_type", "q", "trace_id", "level", "window", "limit"]) {
    $(name).value = filters[name];
  }
  if ($("limit").value !== filters.limit) $("limit").value = DEFAULT_LIMIT;
  $("since").value = localInput(filters.since);
  $("until").value = localInput(filters.until);
  $("custom").hidden = filters.window !== "custom";
  $("attrs").replaceChildren();
  for (const attr of filters.attr) addAttrInput(attr);
  if (!filters.attr.length) addAttrInput("");
  $("tail").checked = filters.tail;
}

function readForm() {
  return {
    service_name: $("service_name").value.trim(),
    level: $("level").value,
    log_type: $("log_type").value.trim(),
    window: $("window").value,
    since: isoOfInput($("since").value),
    until: isoOfInput($("until").value),
    q: $("q").value.trim(),
    trace_id: $("trace_id").value.trim(),
    attr: [...document.querySelectorAll("input.attr")].map((input) => input.value.trim()).filter(Boolean),
    limit: $("limit").value,
    tail: $("tail").checked,
  };
}

// --- the API --------------------------------------------------------------------------------

async function recent(params) {
  let response;
  try {
    response = await fetch("/api/recent?" + params.toString(), { credentials: "same-origin", cache: "no-store" });
  } catch (error) {
    return { status: 0, body: null, retryAfter: null };
  }
  let body = null;
  try {
    body = await response.json();
  } catch (error) {
    body = null;
  }
  const retryAfter = Number.parseFloat(response.headers.get("Retry-After"));
  return { status: response.status, body, retryAfter: Number.isFinite(retryAfter) ? retryAfter : null };
}

function isPage(answer) {
  return answer.status === 200 && answer.body && Array.isArray(answer.body.logs);
}

function describeError(answer) {
  const body = answer.body && typeof answer.body === "object" ? answer.body : {};
  const code = visible(body.Code || body.__type || "");
  const status = code ? `${answer.status} ${code}` : String(answer.status);
  const message = visible(body.Message || body.message || "no message");
  const wait = answer.retryAfter !== null ? ` The service asks to wait ${answer.retryAfter} s (Retry-After).` : "";
  switch (answer.status) {
    case 0:
      return "slog ui does not answer: is it still running? Start it again and open the address it prints.";
    case 400:
      return `The API refused these filters (${status}): ${message}`;
    case 403:
      if (!answer.body) return "slog ui refused this browser (403): open the address slog ui printed, with its token.";
      return `The API refused the request (${status}): ${message}. slog ui signs with the profile or role it ` +
        "was started with: that caller may not be allowed to read logs, or its credentials have expired.";
    case 429:
    case 503:
      return `The service is busy (${status}): ${message}.${wait}`;
    case 502:
      return `slog ui got no usable answer from the API: ${message}`;
    default:
      return `The API answered ${status}: ${message}`;
  }
}

function showError(answer, again) {
  $("error-text").textContent = describeError(answer);
  $("error").hidden = false;
  const retry = $("retry");
  clearTimeout(state.retry);
  retry.hidden = !again;
  retry.onclick = again;
  if (again && answer.retryAfter) {
    retry.disabled = true;
    state.retry = setTimeout(() => { retry.disabled = false; }, answer.retryAfter * 1000);
  } else {
    retry.disabled = false;
  }
}

function clearError() {
  $("error").hidden = true;
}

function countScanned(page) {
  const scanned = page.scanned || { events: 0, bytes: 0 };
  state.scanned.requests += 1;
  state.scanned.events += scanned.events;
  state.scanned.bytes += scanned.bytes;
  state.scanned.last = scanned;
}

// --- the view -------------------------------------------------------------------------------

function remember(logId) {
  if (state.seen.has(logId)) return;
  state.seen.add(logId);
  state.seenOrder.push(logId);
  while (state.seenOrder.length > SEEN_MAX) state.seen.delete(state.seenOrder.shift());
}

function newer(a, b) {
  if (a.timestamp !== b.timestamp) return a.timestamp > b.timestamp;
  return a.log_id > b.log_id;
}

function cell(text, className) {
  const td = document.createElement("td");
  td.className = className;
  td.textContent = text;
  return td;
}

function row(event) {
  const tr = document.createElement("tr");
  const level = levelOf(event);
  tr.className = `event level-${level}`;
  tr.tabIndex = 0;
  const when = cell(localTime(event.timestamp), "time");
  when.title = visible(event.timestamp);
  const badge = document.createElement("span");
  badge.className = "badge";
  badge.textContent = visible(event.level);
  const levelCell = document.createElement("td");
  levelCell.className = "level";
  levelCell.append(badge);
  const message = String(event.message);
  const shown = cut(message, ROW_CHARS);
  const text = cell(visible(shown), "message");
  text.dir = "auto";
  if (shown.length < message.length) {
    const more = document.createElement("span");
    more.className = "truncated";
    more.textContent = ` … ${count(message.length - shown.length, "more character")}: open the event`;
    text.append(more);
  }
  tr.append(when, levelCell, cell(visible(event.service_name), "service"), cell(visible(event.log_type || ""), "type"),
    text);
  for (const td of tr.children) td.dir = "auto";
  rowEvent.set(tr, event);
  return tr;
}

// Inserts events at their places, newest first; returns how many were new.
function addEvents(events, mark) {
  const rows = $("rows");
  let added = 0;
  for (const event of events) {
    if (!event || typeof event.log_id !== "string" || state.seen.has(event.log_id)) continue;
    remember(event.log_id);
    let index = state.events.length;
    if (index && newer(event, state.events[index - 1])) {
      let low = 0;
      let high = index - 1;
      while (low < high) {
        const middle = (low + high) >> 1;
        if (newer(event, state.events[middle])) high = middle; else low = middle + 1;
      }
      index = low;
    }
    const tr = row(event);
    if (mark) tr.classList.add("new");
    rows.insertBefore(tr, rows.children[index] || null);
    state.events.splice(index, 0, event);
    added += 1;
  }
  return added;
}

function showSummary() {
  const last = state.scanned.last;
  const parts = [`${count(state.events.length, "event")} shown`];
  if (last) {
    parts.push(`last request scanned ${count(last.events, "event")} (${last.bytes.toLocaleString("en")} bytes)`);
    parts.push(`${count(state.scanned.requests, "request")} scanned ${count(state.scanned.events, "event")} ` +
      `(${state.scanned.bytes.toLocaleString("en")} bytes) in all`);
  }
  $("summary").textContent = parts.join(" · ");
  $("empty").hidden = state.events.length > 0 || !last;
  drawHistogram();
}

function showPage(page, asked) {
  countScanned(page);
  addEvents(page.logs, false);
  state.cursor = page.next_cursor || null;
  $("more").hidden = !state.cursor;
  const notice = $("notice");
  if (state.cursor && page.logs.length < asked) {
    notice.textContent = `This page stopped at the service's read budget: ${count(page.logs.length, "event")} of ` +
      `the ${asked} asked for, after scanning ${count(page.scanned ? page.scanned.events : 0, "event")}. ` +
      "More may match: Load more continues where it stopped.";
    notice.hidden = false;
  } else {
    notice.hidden = true;
  }
  showSummary();
}

async function load(filters) {
  const generation = ++state.generation;
  stopTail();
  state.filters = filters;
  state.events = [];
  state.seen = new Set();
  state.seenOrder = [];
  state.cursor = null;
  state.scanned = { requests: 0, events: 0, bytes: 0, last: null };
  const now = Date.now();
  state.start = filters.window === "custom" ? Date.parse(filters.since) || now - WINDOWS["24h"] : now - WINDOWS[filters.window];
  state.end = filters.window === "custom" && filters.until ? Date.parse(filters.until) || now : now;
  $("rows").replaceChildren();
  $("more").hidden = true;
  $("notice").hidden = true;
  closeDetail();
  clearError();
  $("summary").textContent = "loading…";
  const params = apiParams(filters, now);
  const answer = await recent(params);
  if (generation !== state.generation) return;
  if (isPage(answer)) {
    showPage(answer.body, Number(filters.limit));
  } else {
    $("summary").textContent = "";
    showError(answer, () => load(filters));
    drawHistogram();
  }
  if (filters.tail) startTail(generation);
}

async function loadMore() {
  const generation = state.generation;
  const asked = Number(state.filters.limit);
  $("more").disabled = true;
  const answer = await recent(new URLSearchParams({ limit: String(asked), cursor: state.cursor }));
  $("more").disabled = false;
  if (generation !== state.generation) return;
  if (isPage(answer)) {
    clearError();
    showPage(answer.body, asked);
  } else {
    showError(answer, loadMore);
  }
}

// --- live tail, as `slog tail` does it ----------------------------------------------------------

function tailParams(filters) {
  const params = apiParams({ ...filters, window: "custom", since: "", until: "" }, Date.now());
  params.set("since", new Date(Date.now() - TAIL_LOOKBACK_MS).toISOString());
  params.set("limit", String(TAIL_MAX_EVENTS));
  return params;
}

// One poll: the last minute's events, every page of them up to TAIL_MAX_EVENTS; what is new is shown.
async function poll(generation) {
  let params = tailParams(state.filters);
  let found = 0;
  for (;;) {
    const answer = await recent(params);
    if (generation !== state.generation || !state.tailTimer) return null;
    if (!isPage(answer)) return answer;
    countScanned(answer.body);
    const added = addEvents(answer.body.logs, true);
    if (added) state.end = Math.max(state.end, Date.now());
    found += answer.body.logs.length;
    if (!answer.body.next_cursor || found >= TAIL_MAX_EVENTS) break;
    params = new URLSearchParams({ limit: String(TAIL_MAX_EVENTS - found), cursor: answer.body.next_cursor });
  }
  state.end = Math.max(state.end, Date.now());
  showSummary();
  return null;
}

function startTail(generation) {
  stopTail();
  const tick = async () => {
    const failed = await poll(generation);
    if (generation !== state.generation || !state.tailTimer) return;
    let delay = TAIL_INTERVAL_MS;
    if (failed) {
      showError(failed, null);
      if (failed.retryAfter) delay = Math.max(delay, failed.retryAfter * 1000);
    } else if (!$("error").hidden && $("retry").hidden) {
      clearError();
    }
    state.tailTimer = setTimeout(tick, delay);
  };
  state.tailTimer = setTimeout(tick, 0);
  document.body.classList.add("tailing");
}

function stopTail() {
  clearTimeout(state.tailTimer);
  state.tailTimer = null;
  document.body.classList.remove("tailing");
}

// --- the histogram of the events shown, by level, over the window ------------------------------

function svg(name, attributes) {
  const element = document.createElementNS(SVG, name);
  for (const [key, value] of Object.entries(attributes)) element.setAttribute(key, String(value));
  return element;
}

function drawHistogram() {
  const box = $("histogram");
  box.replaceChildren();
  $("legend").replaceChildren();
  const times = state.events.map((event) => Date.parse(event.timestamp)).filter(Number.isFinite);
  const start = Math.min(state.start, ...times);
  const end = Math.max(state.end, ...times, start + 1);
  const span = (end - start) / HISTOGRAM_BUCKETS;
  const buckets = Array.from({ length: HISTOGRAM_BUCKETS }, () => ({}));
  const totals = {};
  state.events.forEach((event) => {
    const time = Date.parse(event.timestamp);
    if (!Number.isFinite(time)) return;
    const bucket = buckets[Math.min(HISTOGRAM_BUCKETS - 1, Math.floor((time - start) / span))];
    const level = levelOf(event);
    bucket[level] = (bucket[level] || 0) + 1;
    totals[level] = (totals[level] || 0) + 1;
  });
  const highest = Math.max(1, ...buckets.map((bucket) => Object.values(bucket).reduce((a, b) => a + b, 0)));
  const width = 1000;
  const height = 120;
  const plot = height - 18;
  const chart = svg("svg", { viewBox: `0 0 ${width} ${height}`, role: "img", class: "histogram",
    preserveAspectRatio: "none" });
  const title = svg("title", {});
  title.textContent = `events shown by level, ${localTime(start)} to ${localTime(end)}`;
  chart.append(title);
  const barWidth = width / HISTOGRAM_BUCKETS;
  buckets.forEach((bucket, index) => {
    let base = plot;
    for (const level of [...LEVELS, "other"]) {
      const n = bucket[level];
      if (!n) continue;
      const barHeight = Math.max(1, (n / highest) * (plot - 4));
      base -= barHeight;
      const bar = svg("rect", { x: index * barWidth + 1, y: base, width: barWidth - 2, height: barHeight,
        class: `bar level-${level}` });
      const tip = svg("title", {});
      tip.textContent = `${localTime(start + index * span)}: ${n} ${level}`;
      bar.append(tip);
      chart.append(bar);
    }
  });
  for (const [x, anchor, time] of [[2, "start", start], [width - 2, "end", end]]) {
    const label = svg("text", { x, y: height - 4, "text-anchor": anchor, class: "axis" });
    label.textContent = localTime(time).slice(0, 16);
    chart.append(label);
  }
  const top = svg("text", { x: 2, y: 12, class: "axis" });
  top.textContent = `${highest} per ${Math.max(1, Math.round(span / 60e3))} min`;
  chart.append(top);
  box.append(chart);
  for (const level of [...LEVELS, "other"]) {
    if (!totals[level]) continue;
    const item = document.createElement("span");
    item.className = `key level-${level}`;
    item.textContent = `${level} ${totals[level]}`;
    $("legend").append(item);
  }
}

// --- one event ------------------------------------------------------------------------------

function traceOf(event) {
  const metadata = event.metadata && typeof event.metadata === "object" ? event.metadata : {};
  const trace = metadata.trace_id ?? metadata["otel.trace_id"];
  return typeof trace === "string" && TRACE_ID.test(trace) ? trace.toLowerCase() : null;
}

function sameTraceFilters(trace) {
  return { ...state.filters, service_name: "", level: "", log_type: "", q: "", attr: [], trace_id: trace, tail: false };
}

function openDetail(event) {
  $("detail-when").textContent = `${localTime(event.timestamp)} (local) · ${visible(event.timestamp)} (UTC)`;
  $("detail-json").textContent = jsonText(event);
  const link = $("same-trace");
  const trace = traceOf(event);
  state.detailTrace = trace;
  link.hidden = !trace;
  if (trace) {
    link.href = address(sameTraceFilters(trace));  // built from a checked hex id, never from content as such
    link.textContent = `Same trace (${trace})`;
  } else {
    link.removeAttribute("href");
  }
  $("detail").hidden = false;
  document.body.classList.add("with-detail");
}

function closeDetail() {
  $("detail").hidden = true;
  document.body.classList.remove("with-detail");
}

// --- wiring ---------------------------------------------------------------------------------

function show(filters, how) {
  history[how](null, "", address(filters));
  writeForm(filters);
  load(filters);
}

function start() {
  $("filters").addEventListener("submit", (event) => {
    event.preventDefault();
    show(readForm(), "pushState");
  });
  $("window").addEventListener("change", () => {
    $("custom").hidden = $("window").value !== "custom";
  });
  $("add-attr").addEventListener("click", () => {
    const input = addAttrInput("");
    if (input) input.focus();
  });
  $("tail").addEventListener("change", () => {
    const filters = { ...state.filters, tail: $("tail").checked };
    state.filters = filters;
    history.replaceState(null, "", address(filters));
    if (filters.tail) startTail(state.generation); else stopTail();
  });
  $("more").addEventListener("click", loadMore);
  $("rows").addEventListener("click", (event) => {
    const tr = event.target.closest("tr");
    if (tr && rowEvent.has(tr)) openDetail(rowEvent.get(tr));
  });
  $("rows").addEventListener("keydown", (event) => {
    const tr = event.target.closest("tr");
    if (event.key === "Enter" && tr && rowEvent.has(tr)) openDetail(rowEvent.get(tr));
  });
  $("close").addEventListener("click", closeDetail);
  document.addEventListener("keydown", (event) => {
    if (event.key === "Escape") closeDetail();
  });
  $("same-trace").addEventListener("click", (event) => {
    if (!state.detailTrace) return;
    event.preventDefault();
    show(sameTraceFilters(state.detailTrace), "pushState");
  });
  window.addEventListener("popstate", () => {
    const filters = filtersFromAddress();
    writeForm(filters);
    load(filters);
  });
  show(filtersFromAddress(), "replaceState");
}

start();
