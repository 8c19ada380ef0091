// The live log: follows /live/stream (server-sent events) and appends each event to the list the
// server rendered, in the same structure (web/src/pages/live.rs, `entry`). The page works
// without this script; it only adds the live part and pause/resume.
// - Every event's SSE id is its log position. The browser's own reconnect sends it back as
//   Last-Event-ID, and the server resumes right after it.
// - Pause closes the stream; resume opens it after the last event shown, so the events that
//   arrived meanwhile come, in order, from the log.
// - Text goes in with textContent only: nothing from an event is ever parsed as HTML.
"use strict";

document.addEventListener("DOMContentLoaded", () => {
  const list = document.getElementById("live-log");
  const status = document.getElementById("live-status");
  const button = document.getElementById("live-pause");
  if (!list || !status || !button || !window.EventSource) return;
  const streamUrl = list.dataset.stream;
  const kept = Number(list.dataset.kept) || 500;
  let after = list.dataset.after || "";
  let source = null;
  let pending = [];
  let flushing = false;

  const say = (text) => {
    status.textContent = text;
  };

  const el = (tag, className, text) => {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  };

  const fact = (facts, term, value, asCode) => {
    facts.append(el("dt", "", term));
    const dd = el("dd");
    if (asCode) dd.append(el("code", "", value));
    else dd.textContent = value;
    facts.append(dd);
    return dd;
  };

  const entry = (e) => {
    const item = el("li", "event");
    item.dataset.position = e.position;
    const details = el("details");
    const summary = el("summary");
    const time = el("time", "", e.time);
    time.setAttribute("datetime", e.recordedAt);
    summary.append(time, " ", el("code", "type", e.type), " ", el("span", "gateway", e.gateway), " ", el("span", "summary", e.summary));
    const facts = el("dl", "facts");
    fact(facts, "Position", e.position, true);
    fact(facts, "Recorded", e.recordedAt, false);
    fact(facts, "Stream", e.stream, true).append(` (version ${e.streamVersion})`);
    fact(facts, "Event id", e.id, true);
    fact(facts, "Actor", e.actor, true);
    fact(facts, "Gateway", e.gateway, false);
    fact(facts, "Correlation", e.correlationId, true);
    if (e.causationId) fact(facts, "Causation", e.causationId, true);
    else fact(facts, "Causation", "—", false);
    fact(facts, "Schema version", String(e.schemaVersion), false);
    const payload = el("pre", "payload");
    payload.append(el("code", "", e.payload));
    details.append(summary, facts, payload);
    item.append(details);
    return item;
  };

  // Appends what arrived since the last frame in one go (a busy log sends hundreds a second).
  const flush = () => {
    flushing = false;
    if (pending.length === 0) return;
    const empty = document.getElementById("live-empty");
    if (empty) empty.remove();
    const batch = document.createDocumentFragment();
    for (const e of pending) batch.append(entry(e));
    pending = [];
    list.append(batch);
    while (list.children.length > kept) list.firstElementChild.remove();
  };

  const schedule = () => {
    if (flushing) return;
    flushing = true;
    // Hidden tabs get no animation frames; the timer covers them.
    requestAnimationFrame(flush);
    setTimeout(flush, 250);
  };

  const connect = () => {
    const url = after ? `${streamUrl}&after=${encodeURIComponent(after)}` : streamUrl;
    source = new EventSource(url);
    source.onopen = () => say("Live: new events appear at the end of the list as they happen.");
    source.onmessage = (message) => {
      const e = JSON.parse(message.data);
      after = e.position;
      pending.push(e);
      schedule();
    };
    source.onerror = () => {
      if (source.readyState === EventSource.CLOSED) {
        say("The live stream stopped (signed out, or no longer allowed). Reload the page.");
        button.hidden = true;
      } else {
        say("Reconnecting… no event is lost meanwhile.");
      }
    };
  };

  button.hidden = false;
  button.addEventListener("click", () => {
    if (source) {
      source.close();
      source = null;
      button.textContent = "Resume";
      say("Paused. Events that arrive now are shown, in order, when you resume.");
    } else {
      button.textContent = "Pause";
      say("Resuming…");
      connect();
    }
  });
  connect();
});
