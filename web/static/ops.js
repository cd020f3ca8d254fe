// The operations page: polls /ops/data with the admin token and draws it.
// The token is given once (the form, or /ops#token=...) and kept in this
// tab's sessionStorage; the page itself holds no data and needs none.
"use strict";

const EVERY_MS = 3000;
const KEPT_POINTS = 240; // twelve minutes of readings
const RATE_WINDOW_S = 60;
const WINDOW_S = 60;
const TOKEN_KEY = "shop-ops-token";
const COLOURS = ["#2f6fdb", "#d9822b", "#1f9d6b", "#b8336a", "#6c4fc4", "#7a8a99", "#c9a227", "#0f8b8d"];

const $ = (selector, within = document) => within.querySelector(selector);

function cell(text, className) {
  const td = document.createElement("td");
  td.textContent = text;
  if (className) td.className = className;
  return td;
}

function row(...cells) {
  const tr = document.createElement("tr");
  tr.append(...cells);
  return tr;
}

function fixed(value, digits = 1) {
  return value === null || value === undefined ? "—" : Number(value).toFixed(digits);
}

// --- the token -----------------------------------------------------------------

function tokenFromFragment() {
  const given = new URLSearchParams(location.hash.slice(1)).get("token");
  if (given) {
    sessionStorage.setItem(TOKEN_KEY, given);
    // Off the address bar and the history: the token stays in this tab only.
    history.replaceState(null, "", location.pathname + location.search);
  }
}

function token() {
  return sessionStorage.getItem(TOKEN_KEY);
}

function authorised(headers = {}) {
  const held = token();
  return held ? { ...headers, Authorization: `Bearer ${held}` } : headers;
}

function askForToken(why) {
  sessionStorage.removeItem(TOKEN_KEY);
  $("#token-form").hidden = false;
  $("#forget").hidden = true;
  say(why);
}

function say(text) {
  $("#status").textContent = text;
}

// --- a chart that takes one point per reading ------------------------------------

class LiveChart {
  // ``units``: the y axes, each {scale, label}; a series names its scale.
  constructor(element, units) {
    this.element = element;
    this.units = units;
    this.times = [];
    this.series = new Map(); // label -> {scale, values}
    this.plot = null;
  }

  push(time, points) {
    this.times.push(time);
    for (const [label, point] of points) {
      if (!this.series.has(label)) {
        this.series.set(label, { scale: point.scale, values: this.times.slice(0, -1).map(() => null) });
        this.drop();
      }
    }
    for (const [label, line] of this.series) {
      const point = points.get(label);
      line.values.push(point === undefined ? null : point.value);
    }
    if (this.times.length > KEPT_POINTS) {
      this.times.shift();
      for (const line of this.series.values()) line.values.shift();
    }
    this.draw();
  }

  data() {
    return [this.times, ...[...this.series.values()].map((line) => line.values)];
  }

  draw() {
    // Hidden, or one point (uPlot spreads a lone point over years): drawn later.
    if (this.element.offsetParent === null || this.times.length < 2) return;
    if (this.plot === null) {
      const lines = [...this.series].map(([label, line], i) => ({
        label, scale: line.scale, stroke: COLOURS[i % COLOURS.length], width: 2, spanGaps: true,
      }));
      const axes = [{}, ...this.units.map((unit, i) => ({
        scale: unit.scale, label: unit.label, side: i === 0 ? 3 : 1, grid: { show: i === 0 },
      }))];
      const scales = {
        // At least the last minute, so that the first readings do not stretch over the axis.
        x: { time: true, range: (u, min, max) => [Math.min(min, max - WINDOW_S), max] },
        ...Object.fromEntries(this.units.map((unit) => [unit.scale, { range: (u, min, max) => [0, Math.max(1, max)] }])),
      };
      const options = { width: this.width(), height: 200, series: [{}, ...lines], axes, scales, legend: { live: false } };
      this.plot = new uPlot(options, this.data(), this.element);
    } else {
      this.plot.setData(this.data());
    }
  }

  drop() {
    if (this.plot !== null) {
      this.plot.destroy();
      this.plot = null;
    }
  }

  width() {
    return Math.max(300, this.element.clientWidth || this.element.parentElement.clientWidth - 32);
  }

  resize() {
    if (this.plot !== null) this.plot.setSize({ width: this.width(), height: 200 });
  }
}

// --- the panels ----------------------------------------------------------------------

function panel(id) {
  const section = document.getElementById(id);
  return { section, body: $("tbody", section), chart: $(".chart", section) };
}

function show(p, state, emptyText) {
  p.section.dataset.state = state;
  if (emptyText) $(".empty", p.section).textContent = emptyText;
}

const queues = panel("queues");
const outcomes = panel("outcomes");
const lag = panel("lag");
const letters = panel("dead-letters");
const rebuilds = panel("rebuilds");
const charts = {
  queues: new LiveChart(queues.chart, [{ scale: "n", label: "waiting" }, { scale: "s", label: "oldest (s)" }]),
  outcomes: new LiveChart(outcomes.chart, [{ scale: "n", label: "per minute" }]),
  lag: new LiveChart(lag.chart, [{ scale: "n", label: "versions" }, { scale: "s", label: "seconds" }]),
};
// Outcome counters as read, newest last, for rates over the last minute.
const counted = [];
// Dead letters whose retry was queued from this page.
const retried = new Set();
// What the dead-letter table shows: it is redrawn only when that changes,
// so that a button is not replaced under a click.
let lettersShown = "";

function drawQueues(data) {
  if (data.queues === null) return show(queues, "unavailable", "Redis did not answer.");
  show(queues, "data");
  queues.body.replaceChildren(...data.queues.map((q) => row(
    cell(q.queue), cell(q.depth, "number"), cell(fixed(q.oldest_age_s), "number"),
    cell(q.retries, "number"), cell(q.dead, "number"),
  )));
  const points = new Map();
  for (const q of data.queues) {
    points.set(`${q.queue} waiting`, { scale: "n", value: q.depth });
    points.set(`${q.queue} oldest (s)`, { scale: "s", value: q.oldest_age_s });
  }
  charts.queues.push(data.at, points);
}

function perMinute(data) {
  counted.push({ at: data.at, counts: new Map(data.outcomes.map((o) => [`${o.type} ${o.outcome}`, o.count])) });
  while (counted.length > 2 && data.at - counted[1].at >= RATE_WINDOW_S) counted.shift();
  const first = counted[0];
  const elapsed = data.at - first.at;
  const rates = new Map();
  if (elapsed <= 0) return rates;
  for (const [key, count] of counted[counted.length - 1].counts) {
    rates.set(key, Math.max(0, count - (first.counts.get(key) || 0)) * 60 / elapsed);
  }
  return rates;
}

function drawOutcomes(data) {
  if (data.outcomes === null) return show(outcomes, "unavailable", "Redis did not answer.");
  const rates = perMinute(data);
  if (data.outcomes.length === 0) return show(outcomes, "empty", "No command has finished yet.");
  show(outcomes, "data");
  outcomes.body.replaceChildren(...data.outcomes.map((o) => row(
    cell(o.type), cell(o.outcome), cell(fixed(rates.get(`${o.type} ${o.outcome}`)), "number"),
    cell(o.count, "number"),
  )));
  if (rates.size) {
    const points = new Map([...rates].map(([key, rate]) => [key, { scale: "n", value: rate }]));
    charts.outcomes.push(data.at, points);
  }
}

function drawLag(data) {
  if (data.lag === null) return show(lag, "unavailable", "Redis did not answer.");
  show(lag, "data");
  lag.body.replaceChildren(...data.lag.map((l) => row(
    cell(l.read_model), cell(l.versions, "number"), cell(fixed(l.seconds), "number"),
  )));
  $(".measured", lag.section).textContent = data.lag_measured_age_s === null
    ? "Not measured yet: the catch-up has not run."
    : `Measured by the catch-up ${fixed(data.lag_measured_age_s, 0)} s ago.`;
  const points = new Map();
  for (const l of data.lag) {
    points.set(`${l.read_model} versions`, { scale: "n", value: l.versions });
    points.set(`${l.read_model} seconds`, { scale: "s", value: l.seconds });
  }
  charts.lag.push(data.at, points);
}

function retryButton(letter) {
  const button = document.createElement("button");
  button.type = "button";
  button.className = "retry";
  button.dataset.letter = letter.id;
  button.textContent = retried.has(letter.id) ? "Queued…" : "Retry";
  button.disabled = retried.has(letter.id);
  button.addEventListener("click", () => retry(letter.id, button));
  const td = document.createElement("td");
  td.append(button);
  return td;
}

async function retry(letterId, button) {
  button.disabled = true;
  button.textContent = "Queued…";
  let answer;
  try {
    answer = await fetch(`/dead-letters/${encodeURIComponent(letterId)}/retry`, {
      method: "POST", headers: authorised(), cache: "no-store",
    });
  } catch (error) {
    button.disabled = false;
    button.textContent = "Retry";
    say(`Retry of ${letterId} not sent: ${error.message}`);
    return;
  }
  if (answer.status === 202 || answer.status === 404) {
    retried.add(letterId); // 404: applied already
  } else {
    button.disabled = false;
    button.textContent = "Retry";
    const problem = await answer.json().catch(() => ({}));
    say(`Retry of ${letterId} refused: ${problem.detail || answer.status}`);
  }
}

function drawLetters(data) {
  const found = data.dead_letters;
  if (found === null) return show(letters, "unavailable", "MongoDB did not answer.");
  $(".count", letters.section).textContent = `(${found.count})`;
  const listed = new Set(found.letters.map((letter) => letter.id));
  for (const id of retried) if (!listed.has(id)) retried.delete(id);
  if (found.letters.length === 0) {
    lettersShown = "";
    return show(letters, "empty", "No dead letters.");
  }
  show(letters, "data");
  const shown = JSON.stringify([found.letters, [...retried]]);
  if (shown === lettersShown) return;
  lettersShown = shown;
  letters.body.replaceChildren(...found.letters.map((letter) => {
    const tr = row(
      cell(new Date(letter.recorded_at).toLocaleString()), cell(letter.handler),
      cell(`${letter.stream_type} ${letter.stream_id} v${letter.version ?? "—"}`),
      cell(letter.error, "error"), cell(letter.attempts, "number"), retryButton(letter),
    );
    tr.dataset.letter = letter.id;
    return tr;
  }));
}

function drawRebuilds(data) {
  if (data.rebuilds === null) return show(rebuilds, "unavailable", "MongoDB did not answer.");
  if (data.rebuilds.length === 0) return show(rebuilds, "empty", "No read models.");
  show(rebuilds, "data");
  rebuilds.body.replaceChildren(...data.rebuilds.map((r) => row(
    cell(r.read_model), cell(r.state, `state-${r.state}`), cell(r.active), cell(r.building ?? "—"),
    cell(fixed(r.lease_left_s, 0), "number"),
  )));
}

// --- polling -------------------------------------------------------------------------

async function poll() {
  let answer;
  try {
    answer = await fetch("/ops/data", { headers: authorised(), cache: "no-store" });
  } catch (error) {
    say(`The service did not answer (${error.message}); trying again.`);
    return true;
  }
  if (answer.status === 401) {
    askForToken(token() ? "That token is not known: give an admin token." : "Give an admin token.");
    return false;
  }
  if (answer.status === 403) {
    askForToken("That token's scope is too small: give an admin token.");
    return false;
  }
  if (!answer.ok) {
    say(`/ops/data answered ${answer.status}; trying again.`);
    return true;
  }
  const data = await answer.json();
  for (const draw of [drawQueues, drawOutcomes, drawLag, drawLetters, drawRebuilds]) draw(data);
  const down = Object.entries(data.sources).filter(([, up]) => !up).map(([source]) => source);
  const at = new Date(data.at * 1000).toLocaleTimeString();
  say(down.length ? `Updated ${at}; ${down.join(" and ")} did not answer.` : `Updated ${at}.`);
  $("#forget").hidden = !token();
  return true;
}

let timer = null;

async function run() {
  clearTimeout(timer);
  if (await poll()) timer = setTimeout(run, EVERY_MS);
}

$("#token-form").addEventListener("submit", (event) => {
  event.preventDefault();
  sessionStorage.setItem(TOKEN_KEY, $("#token").value.trim());
  $("#token").value = "";
  $("#token-form").hidden = true;
  run();
});
$("#forget").addEventListener("click", () => {
  clearTimeout(timer);
  askForToken("Token forgotten.");
});
window.addEventListener("resize", () => Object.values(charts).forEach((chart) => chart.resize()));

tokenFromFragment();
run();
