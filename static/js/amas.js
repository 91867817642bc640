/* AMAS live updates. Pages work without this file; it only adds what the websockets tell us.
 *
 * The htmx ws extension owns the connections (ws-connect, reconnect with backoff). Our consumers
 * speak JSON, not HTML, so every message is taken here (htmx:wsBeforeMessage, default prevented)
 * and re-dispatched as an `amas:ws` DOM event on the connecting element. Page sections that should
 * simply re-render listen with hx-trigger="amas:task-event from:body" and fetch their partial. */
(function () {
  "use strict";

  var TASK_STATUS = {
    "task.queued": "queued", "task.started": "running", "task.completed": "completed",
    "task.failed": "failed", "task.cancelled": "cancelled", "task.timed_out": "timed_out"
  };
  var STEP_STATUS = {
    "step.queued": "queued", "step.started": "running", "step.progress": "running",
    "step.completed": "completed", "step.failed": "failed", "step.retrying": "retrying",
    "step.cancelled": "cancelled", "step.timed_out": "timed_out"
  };
  var TERMINAL = ["completed", "failed", "cancelled", "timed_out"];

  function label(status) { return String(status).replace(/_/g, " "); }

  function setStatus(el, status) {
    Array.prototype.slice.call(el.classList).forEach(function (c) {
      if (c.indexOf("s-") === 0) { el.classList.remove(c); }
    });
    el.classList.add("s-" + status);
    el.textContent = label(status);
    el.setAttribute("data-status", status);
  }

  function utcTime(iso) {
    var d = new Date(iso);
    return isNaN(d) ? "" : d.toISOString().slice(11, 19);
  }

  /* Must say the same as apps/tasks/dashboard/presenters.py:event_detail. */
  function describe(ev) {
    var p = ev.payload || {};
    var parts = [];
    if (p.title) { parts.push(p.title); }
    if (p.agent) { parts.push(p.agent); }
    if (ev.type === "step.progress" && p.progress !== undefined) { parts.push(p.progress + "%"); }
    if (p.message) { parts.push(p.message); }
    if (p.retry !== undefined) { parts.push("retry #" + p.retry); }
    if (p.retry_in_seconds !== undefined) { parts.push("retry in " + p.retry_in_seconds + " s"); }
    if (p.reason) { parts.push(p.reason); }
    if (typeof p.summary === "string" && p.summary) { parts.push(p.summary); }
    if (p.error) { parts.push("error: " + p.error); }
    if (p.by) { parts.push("by " + p.by); }
    return parts.join(" · ");
  }

  /* Task titles seen on this page (server-rendered rows, task.created events), so live rows name
   * their task instead of showing its id. */
  var titles = {};
  function rememberTitles(root) {
    (root || document).querySelectorAll("[data-task-id] a[data-task-title]").forEach(function (a) {
      titles[a.closest("[data-task-id]").getAttribute("data-task-id")] = a.textContent;
    });
  }

  function feedItem(ev, withTask) {
    var li = document.createElement("li");
    li.className = "new";
    li.setAttribute("data-seq", ev.seq);
    li.setAttribute("data-type", ev.type);
    li.setAttribute("data-task-id", ev.task_id);
    var when = document.createElement("time");
    when.className = "when";
    when.setAttribute("datetime", ev.created_at);
    when.textContent = utcTime(ev.created_at);
    var what = document.createElement("span");
    what.className = "what";
    what.textContent = ev.type;
    li.appendChild(when);
    li.appendChild(what);
    if (withTask) {
      var task = document.createElement("a");
      task.href = "/tasks/" + ev.task_id + "/";
      task.className = "mono";
      if (ev.payload && ev.payload.title) { titles[ev.task_id] = ev.payload.title; }
      task.setAttribute("data-task-title", "");
      task.textContent = titles[ev.task_id] || ev.task_id.slice(0, 8);
      li.appendChild(task);
    }
    var detail = document.createElement("span");
    detail.className = "detail";
    detail.textContent = describe(ev);
    li.appendChild(detail);
    return li;
  }

  /* Everywhere: status badges and task progress of any task on the page. */
  function applyToBadges(ev) {
    var status = TASK_STATUS[ev.type];
    if (status) {
      document.querySelectorAll('[data-task-badge="' + ev.task_id + '"]').forEach(function (el) {
        setStatus(el, status);
      });
    }
    var pct = ev.payload && ev.payload.task_progress;
    if (status === "completed") { pct = 100; }
    if (pct !== undefined) {
      document.querySelectorAll('[data-task-progress="' + ev.task_id + '"]').forEach(function (el) {
        el.value = pct;
        el.textContent = pct + "%";
      });
    }
  }

  /* Task detail: steps, timeline, status; sections re-render when the task changes status. */
  function addToTimeline(ev) {
    var timeline = document.getElementById("timeline");
    if (!timeline || timeline.querySelector('li[data-seq="' + ev.seq + '"]')) { return; }
    var empty = timeline.querySelector(".empty");
    if (empty) { empty.remove(); }
    var item = feedItem(ev, false);
    var later = Array.prototype.find.call(timeline.children, function (li) {
      return Number(li.getAttribute("data-seq")) > ev.seq;
    });
    timeline.insertBefore(item, later || null);
    if (!later) { timeline.scrollTop = timeline.scrollHeight; }
  }

  /* Events between what the page shows and a (re)connection's snapshot come from the REST API. */
  function fillGap(root, taskId, after, upTo) {
    fetch("/api/v1/tasks/" + taskId + "/events?after=" + after, { credentials: "same-origin" })
      .then(function (r) { return r.ok ? r.json() : []; })
      .then(function (events) {
        events.forEach(function (ev) {
          if (ev.seq <= upTo) { ev.task_id = taskId; addToTimeline(ev); }
        });
      })
      .catch(function () { /* the timeline stays as it is; the sections still re-render */ });
  }

  function onTaskMessage(root, msg) {
    var shown = Number(root.getAttribute("data-seq") || 0);
    if (msg.type === "snapshot") {
      var t = msg.task;
      document.querySelectorAll('[data-task-badge="' + t.id + '"]').forEach(function (el) { setStatus(el, t.status); });
      document.querySelectorAll('[data-task-progress="' + t.id + '"]').forEach(function (el) { el.value = t.progress; });
      t.steps.forEach(function (s) { applyStep(s.step_id, s.status, s.progress, s.message); });
      if (t.seq > shown) {
        fillGap(root, t.id, shown, t.seq);
        root.setAttribute("data-seq", t.seq);
        htmx.trigger(document.body, "amas:task-changed", { type: "snapshot" });
      }
      return;
    }
    if (msg.type !== "event") { return; }
    var ev = msg.event;
    addToTimeline(ev);
    if (ev.seq > shown) { root.setAttribute("data-seq", ev.seq); }
    var p = ev.payload || {};
    if (p.step_id !== undefined) {
      var known = applyStep(p.step_id, STEP_STATUS[ev.type], p.progress, p.message);
      if (!known) { htmx.trigger(document.body, "amas:task-changed"); }
    }
    if (TASK_STATUS[ev.type] || ev.type === "step.completed" || ev.type === "step.failed") {
      htmx.trigger(document.body, "amas:task-changed", { type: ev.type });
    }
  }

  function applyStep(stepId, status, progress, message) {
    var row = document.querySelector('[data-step-id="' + stepId + '"]');
    if (!row) { return false; }
    if (status) {
      var badge = row.querySelector("[data-step-status]");
      if (badge) { setStatus(badge, status); }
    }
    if (progress !== undefined && progress !== null) {
      var bar = row.querySelector("progress");
      if (bar) { bar.value = progress; bar.textContent = progress + "%"; }
      var pct = row.querySelector("[data-step-pct]");
      if (pct) { pct.textContent = progress + "%"; }
    }
    if (status === "completed") {
      var done = row.querySelector("progress");
      if (done) { done.value = 100; }
      var donePct = row.querySelector("[data-step-pct]");
      if (donePct) { donePct.textContent = "100%"; }
    }
    if (message) {
      var m = row.querySelector("[data-step-message]");
      if (m) { m.textContent = message; }
    }
    return true;
  }

  /* Monitor: a pausable, filterable feed of the organisation's events. */
  var monitorBuffer = [];
  function monitorMatches(ev, item) {
    var form = document.getElementById("monitor-filters");
    if (!form) { return true; }
    var kind = form.elements.kind.value;
    var text = form.elements.text.value.trim().toLowerCase();
    if (kind && ev.type.indexOf(kind + ".") !== 0 && ev.type !== kind) { return false; }
    if (text) {
      var hay = (ev.type + " " + ev.task_id + " " + (titles[ev.task_id] || "") + " " +
                 (item ? item.textContent : describe(ev))).toLowerCase();
      if (hay.indexOf(text) === -1) { return false; }
    }
    return true;
  }
  function monitorPaused() {
    var button = document.getElementById("monitor-pause");
    return button && button.getAttribute("aria-pressed") === "true";
  }
  function monitorShow(ev) {
    var feed = document.getElementById("monitor-feed");
    if (!feed) { return; }
    var empty = feed.querySelector(".empty");
    if (empty) { empty.remove(); }
    var item = feedItem(ev, true);
    /* Matched on what the row shows, task title included: later events of a task carry no
     * title, so matching the event alone would hide them under a title filter. */
    item.hidden = !monitorMatches(ev, item);
    feed.insertBefore(item, feed.firstChild);
    while (feed.children.length > 500) { feed.removeChild(feed.lastChild); }
    var count = document.getElementById("monitor-count");
    if (count) { count.textContent = String(Number(count.textContent || 0) + 1); }
  }
  function onMonitorMessage(msg) {
    if (msg.type !== "event") { return; }
    if (monitorPaused()) {
      monitorBuffer.push(msg.event);
      var held = document.getElementById("monitor-held");
      if (held) { held.textContent = monitorBuffer.length + " held while paused"; }
      return;
    }
    monitorShow(msg.event);
  }
  function refilterMonitor() {
    document.querySelectorAll("#monitor-feed li[data-type]").forEach(function (li) {
      var ev = { type: li.getAttribute("data-type"), task_id: li.getAttribute("data-task-id") || "", payload: {} };
      var form = document.getElementById("monitor-filters");
      var text = form.elements.text.value.trim().toLowerCase();
      var kind = form.elements.kind.value;
      var hidden = (kind && ev.type.indexOf(kind + ".") !== 0) ||
        (text && li.textContent.toLowerCase().indexOf(text) === -1);
      li.hidden = Boolean(hidden);
    });
  }

  document.addEventListener("htmx:wsBeforeMessage", function (e) {
    var msg;
    try { msg = JSON.parse(e.detail.message); } catch (err) { return; }
    e.preventDefault();
    var root = e.target;
    if (msg.type === "event") {
      applyToBadges(msg.event);
      htmx.trigger(document.body, "amas:task-event", { type: msg.event.type });
      if (msg.event.type.indexOf("task.") === 0) {
        htmx.trigger(document.body, "amas:task-status", { type: msg.event.type });
      }
      if (msg.event.type === "task.created") { htmx.trigger(document.body, "amas:task-created"); }
    }
    var kind = root.getAttribute("data-live");
    if (kind === "task") { onTaskMessage(root, msg); }
    if (kind === "monitor") { onMonitorMessage(msg); }
  });

  function setLiveState(root, state, text) {
    var el = root.querySelector("[data-live-state]");
    if (!el) { return; }
    el.setAttribute("data-state", state);
    el.textContent = text;
  }
  /* Sections that cannot replay missed events re-render on every (re)connection instead
   * (hx-trigger="amas:live-open from:body"): events between render and connection are not lost. */
  document.addEventListener("htmx:wsOpen", function (e) {
    setLiveState(e.target, "open", "● live");
    htmx.trigger(document.body, "amas:live-open");
  });
  document.addEventListener("htmx:wsClose", function (e) { setLiveState(e.target, "closed", "reconnecting…"); });

  /* Copy buttons (hashes, tokens): data-copy holds the text; the button says it worked. */
  document.addEventListener("click", function (e) {
    var button = e.target.closest && e.target.closest("[data-copy]");
    if (!button) { return; }
    var text = button.getAttribute("data-copy");
    var done = function () {
      var was = button.textContent;
      button.textContent = "Copied";
      setTimeout(function () { button.textContent = was; }, 1500);
    };
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(text).then(done, function () { selectText(button); });
    } else {
      selectText(button);
    }
  });

  /* Without the clipboard API (plain http): select the text so Ctrl+C copies it. */
  function selectText(button) {
    var target = button.parentNode.querySelector("code, input");
    if (!target) { return; }
    if (target.select) { target.select(); return; }
    var range = document.createRange();
    range.selectNodeContents(target);
    var selection = window.getSelection();
    selection.removeAllRanges();
    selection.addRange(range);
  }

  document.addEventListener("click", function (e) {
    var pause = e.target.closest("#monitor-pause");
    if (pause) {
      var paused = pause.getAttribute("aria-pressed") === "true";
      pause.setAttribute("aria-pressed", paused ? "false" : "true");
      pause.textContent = paused ? "Pause" : "Resume";
      if (paused) {
        monitorBuffer.splice(0).forEach(monitorShow);
        var held = document.getElementById("monitor-held");
        if (held) { held.textContent = ""; }
      }
      return;
    }
    var all = e.target.closest("[data-select-all]");
    if (all) {
      document.querySelectorAll('input[name="' + all.getAttribute("data-select-all") + '"]').forEach(function (box) {
        box.checked = all.checked;
        if (box.checked) { selectedTasks[box.value] = true; } else { delete selectedTasks[box.value]; }
      });
      allMatching = false;
      showSelection();
    }
    var matching = e.target.closest("[data-select-matching]");
    if (matching) {
      allMatching = true;
      document.querySelectorAll('#task-results input[name="ids"], #task-results [data-select-all]').forEach(function (box) {
        box.checked = true;
      });
      showSelection();
    }
    var clear = e.target.closest("#monitor-clear");
    if (clear) {
      var feed = document.getElementById("monitor-feed");
      if (feed) { feed.innerHTML = ""; }
    }
  });

  document.addEventListener("input", function (e) {
    if (e.target.closest("#monitor-filters")) { refilterMonitor(); }
  });
  document.addEventListener("change", function (e) {
    if (e.target.closest("#monitor-filters")) { refilterMonitor(); }
    /* New task: show only the inputs of the chosen schedule and agent mode. */
    var form = e.target.closest("form[data-task-form]");
    if (form) { syncTaskForm(form); }
  });

  /* New task: a file attached is a file task at once (the plan preview asks with has_files). */
  document.addEventListener("change", function (e) {
    if (e.target.type !== "file" || !e.target.form) { return; }
    var flag = e.target.form.querySelector("[data-has-files]");
    if (flag) { flag.value = e.target.files && e.target.files.length ? "1" : ""; }
  }, true);

  /* A form's error summary takes the focus; its links move the focus to the field. */
  function focusErrorSummary(root) {
    var summary = (root || document).querySelector("[data-error-summary]");
    if (summary) { summary.focus(); }
  }
  document.addEventListener("click", function (e) {
    var link = e.target.closest && e.target.closest("[data-error-summary] a[href^='#']");
    if (!link) { return; }
    var field = document.getElementById(link.getAttribute("href").slice(1));
    if (!field) { return; }
    e.preventDefault();
    var details = field.closest("details");
    if (details) { details.open = true; }
    field.scrollIntoView({block: "center"});
    field.focus();
  });

  /* Task list: the ticked tasks survive the list re-rendering (live inserts, reconnects);
   * "select all N matching" acts on the filter, not on one page; bulk actions ask first. */
  var selectedTasks = {};
  var allMatching = false;
  function selectedCount() {
    var results = document.getElementById("task-results");
    if (allMatching && results) { return Number(results.getAttribute("data-total") || 0); }
    return Object.keys(selectedTasks).length;
  }
  function showSelection() {
    var results = document.getElementById("task-results");
    if (!results) { return; }
    results.querySelectorAll('input[name="ids"]').forEach(function (box) {
      box.checked = allMatching || Boolean(selectedTasks[box.value]);
    });
    var boxes = results.querySelectorAll('input[name="ids"]');
    var pageAll = results.querySelector("[data-select-all]");
    var allOnPage = boxes.length > 0 && Array.prototype.every.call(boxes, function (b) { return b.checked; });
    if (pageAll) { pageAll.checked = allOnPage; }
    var flag = results.querySelector("[data-all-matching]");
    if (flag) { flag.value = allMatching ? "1" : ""; }
    var more = results.querySelector("[data-select-matching]");
    if (more) { more.hidden = !allOnPage || allMatching; }
    var count = results.querySelector("[data-selected-count]");
    if (count) {
      var n = selectedCount();
      count.textContent = n ? (allMatching ? "All " + n + " matching selected:" : n + " selected:") : "Selected:";
    }
  }
  document.addEventListener("change", function (e) {
    if (e.target.name !== "ids" || !e.target.closest("#task-results")) { return; }
    if (e.target.checked) { selectedTasks[e.target.value] = true; } else { delete selectedTasks[e.target.value]; }
    allMatching = false;
    showSelection();
  });
  document.addEventListener("htmx:afterSettle", function () { showSelection(); });
  document.addEventListener("submit", function (e) {
    var form = e.target.closest && e.target.closest("[data-bulk-form]");
    if (!form) { return; }
    var action = e.submitter && e.submitter.value;
    var n = selectedCount();
    /* Ticks kept from earlier renders are sent too, not only the boxes on this page. */
    form.querySelectorAll("input[data-kept-id]").forEach(function (el) { el.remove(); });
    Object.keys(selectedTasks).forEach(function (id) {
      if (!form.querySelector('input[name="ids"][value="' + id + '"]')) {
        var kept = document.createElement("input");
        kept.type = "hidden"; kept.name = "ids"; kept.value = id; kept.setAttribute("data-kept-id", "");
        form.appendChild(kept);
      }
    });
    if (!n) { return; }
    var verb = action === "cancel" ? "Cancel" : "Retry";
    if (!window.confirm(verb + " " + n + " task" + (n === 1 ? "" : "s") + "?")) { e.preventDefault(); }
  });

  function syncTaskForm(form) {
    var schedule = form.querySelector('input[name="schedule"]:checked');
    form.querySelectorAll("[data-schedule]").forEach(function (el) {
      el.hidden = !schedule || el.getAttribute("data-schedule") !== schedule.value;
    });
    var mode = form.querySelector('input[name="agent_mode"]:checked');
    form.querySelectorAll("[data-agent-mode]").forEach(function (el) {
      el.hidden = !mode || el.getAttribute("data-agent-mode") !== mode.value;
    });
    var files = form.querySelector('input[type="file"]');
    var flag = form.querySelector('input[name="has_files"]');
    if (files && flag) { flag.value = files.files && files.files.length ? "1" : ""; }
  }

  /* Upload progress for htmx-posted forms (htmx:xhr:progress carries loaded/total). */
  document.addEventListener("htmx:xhr:progress", function (e) {
    /* Only the form's own submission: the plan preview posts from inside the form too. */
    var form = e.target.matches && e.target.matches("form[data-task-form]") ? e.target : null;
    if (!form || !e.detail.lengthComputable) { return; }
    var box = form.querySelector(".upload-progress");
    if (!box) { return; }
    box.classList.add("active");
    var pct = Math.round((e.detail.loaded / e.detail.total) * 100);
    var bar = box.querySelector("progress");
    bar.value = pct;
    bar.textContent = pct + "%";
    box.querySelector("[data-upload-pct]").textContent = pct + "%";
  });

  /* A request that failed leaves the page as it was and says so (htmx does not swap errors). */
  function showRequestError(text) {
    var box = document.getElementById("request-error");
    if (!box) { return; }
    box.textContent = text;
    box.hidden = false;
  }
  document.addEventListener("htmx:responseError", function (e) {
    var status = e.detail.xhr ? e.detail.xhr.status : 0;
    var text = status === 403 ? "Not allowed (403). Your session or role may have changed: reload the page."
      : "The server could not do that (HTTP " + status + "). Nothing was changed on this page.";
    showRequestError(text);
  });
  document.addEventListener("htmx:sendError", function () {
    showRequestError("The server did not answer. Check the connection and try again.");
  });
  document.addEventListener("htmx:afterRequest", function (e) {
    var box = document.getElementById("request-error");
    if (box && e.detail.successful) { box.hidden = true; }
  });

  /* The Menu button of small screens. */
  document.addEventListener("DOMContentLoaded", function () {
    var button = document.querySelector("[data-nav-button]");
    if (!button) { return; }
    var header = button.closest(".site-header");
    header.classList.add("js-nav");
    button.hidden = false;
    button.addEventListener("click", function () {
      var open = header.classList.toggle("nav-open");
      button.setAttribute("aria-expanded", open ? "true" : "false");
    });
  });
  document.addEventListener("DOMContentLoaded", function () { focusErrorSummary(document); });
  document.addEventListener("htmx:afterSettle", function (e) {
    if (e.detail && e.detail.elt) { focusErrorSummary(e.detail.elt.parentNode || document); }
  });
  document.addEventListener("DOMContentLoaded", function () {
    rememberTitles();
    document.querySelectorAll("form[data-task-form]").forEach(syncTaskForm);
  });
  document.addEventListener("htmx:afterSettle", function (e) {
    if (e.target.querySelectorAll) {
      e.target.querySelectorAll("form[data-task-form]").forEach(syncTaskForm);
      if (e.target.matches && e.target.matches("form[data-task-form]")) { syncTaskForm(e.target); }
    }
  });
})();
