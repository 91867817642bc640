/* The graph page: draws an entity's neighbourhood with vis-network (vendored in
   static/vendor/vis-network) from GET /api/v1/graph/neighbourhood. Double-click a node to centre
   on it; click a node or an edge to see its provenance. No inline script: the CSP forbids it. */
(function () {
  "use strict";
  var canvas = document.getElementById("graph-canvas");
  if (!canvas || typeof vis === "undefined") return;
  var form = document.getElementById("graph-form");
  var status = document.getElementById("graph-status");
  var selection = document.getElementById("graph-selection");
  var suggestions = document.getElementById("entity-suggestions");
  var taskUrl = canvas.dataset.taskUrl;
  var data = { nodes: new vis.DataSet(), edges: new vis.DataSet() };
  var byId = {};
  var network = new vis.Network(canvas, data, {
    nodes: { shape: "dot", size: 14, font: { size: 13 } },
    edges: { arrows: "to", font: { size: 11, align: "middle" }, smooth: { type: "dynamic" } },
    physics: { stabilization: { iterations: 150 } },
    interaction: { hover: true, tooltipDelay: 150 },
  });

  function text(tag, value, cls) {
    var el = document.createElement(tag);
    el.textContent = value;
    if (cls) el.className = cls;
    return el;
  }

  function taskLink(id) {
    var a = text("a", id.slice(0, 8));
    a.href = taskUrl.replace("00000000-0000-0000-0000-000000000000", id);
    return a;
  }

  function showProvenance(title, item, provenance) {
    selection.replaceChildren(text("h2", title));
    var meta = text("p", "seen " + item.count + "× · first " + item.first_seen.slice(0, 10) + " · last " + item.last_seen.slice(0, 10), "muted");
    selection.appendChild(meta);
    var attrs = Object.keys(item.attributes || {});
    if (attrs.length) {
      var dl = document.createElement("dl");
      attrs.forEach(function (k) {
        dl.appendChild(text("dt", k));
        dl.appendChild(text("dd", JSON.stringify(item.attributes[k])));
      });
      selection.appendChild(dl);
    }
    if (provenance && provenance.length) {
      var ul = document.createElement("ul");
      provenance.forEach(function (p) {
        var li = document.createElement("li");
        li.appendChild(text("span", p.agent + (p.model ? " (" + p.model + ")" : "") + " in task "));
        li.appendChild(taskLink(p.task_id));
        li.appendChild(text("span", " · " + p.count + "× · " + p.last_seen.slice(0, 10), "muted"));
        ul.appendChild(li);
      });
      selection.appendChild(ul);
    }
  }

  function load(kind, value, depth) {
    status.textContent = "Loading…";
    var params = new URLSearchParams({ kind: kind, value: value, depth: depth });
    fetch(canvas.dataset.neighbourhoodUrl + "?" + params, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (r) {
        return r.json().then(function (body) { return { ok: r.ok, body: body }; });
      })
      .then(function (res) {
        if (!res.ok) {
          status.textContent = res.body.detail || "Could not load the graph.";
          data.nodes.clear();
          data.edges.clear();
          return;
        }
        var g = res.body;
        byId = {};
        data.nodes.clear();
        data.edges.clear();
        data.nodes.add(g.nodes.map(function (n) {
          byId[n.id] = n;
          return { id: n.id, label: n.value, title: n.kind + ": " + n.value, group: n.kind, size: n.depth === 0 ? 22 : 14 };
        }));
        data.edges.add(g.edges.map(function (e, i) {
          byId["edge-" + i] = e;
          return { id: "edge-" + i, from: e.source, to: e.target, label: e.type, title: e.type + " (" + e.count + "×)" };
        }));
        status.textContent = g.nodes.length + " entities, " + g.edges.length + " relations" + (g.truncated ? " (limited: narrow the depth)" : "");
        history.replaceState(null, "", canvas.dataset.pageUrl + "?" + params);
      })
      .catch(function () { status.textContent = "Could not load the graph."; });
  }

  network.on("click", function (ev) {
    if (ev.nodes.length) {
      var n = byId[ev.nodes[0]];
      showProvenance(n.kind + ": " + n.value, n, null);
    } else if (ev.edges.length) {
      var e = byId[ev.edges[0]];
      showProvenance(e.source + " " + e.type + " " + e.target, e, e.provenance);
    }
  });
  network.on("doubleClick", function (ev) {
    if (!ev.nodes.length) return;
    var n = byId[ev.nodes[0]];
    form.kind.value = n.kind;
    form.value.value = n.value;
    load(n.kind, n.value, form.depth.value);
  });

  form.addEventListener("submit", function (ev) {
    ev.preventDefault();
    load(form.kind.value.trim(), form.value.value.trim(), form.depth.value);
  });

  var pending;
  form.value.addEventListener("input", function () {
    clearTimeout(pending);
    var prefix = form.value.value.trim();
    if (prefix.length < 2) return;
    pending = setTimeout(function () {
      var params = new URLSearchParams({ prefix: prefix, limit: 10 });
      if (form.kind.value.trim()) params.set("kind", form.kind.value.trim());
      fetch(canvas.dataset.entitiesUrl + "?" + params, { credentials: "same-origin" })
        .then(function (r) { return r.ok ? r.json() : []; })
        .then(function (items) {
          suggestions.replaceChildren.apply(suggestions, items.map(function (e) {
            var o = document.createElement("option");
            o.value = e.value;
            o.label = e.kind;
            return o;
          }));
        });
    }, 250);
  });

  if (form.kind.value && form.value.value) load(form.kind.value, form.value.value, form.depth.value);
})();
