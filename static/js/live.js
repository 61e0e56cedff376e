/* Live dashboard: one WebSocket to /ws/live/ (reconnecting with backoff) whose frames
 * {"kind": K, "organization": id, K: {...}} update the page in place. Server data only ever
 * reaches the page through textContent and attributes, never as HTML. */
(function () {
  "use strict";
  var body = document.body;
  var orgId = body.getAttribute("data-org-id");
  var page = document.querySelector("[data-bot-page]");
  var pageBot = page ? page.getAttribute("data-bot-page") : null;
  var MAX_ROWS = 50;
  var chart = null;
  var chartSource = null;

  // -- formatting ----------------------------------------------------------------------------
  function dec(value) {
    if (value === null || value === undefined || value === "") return "—";
    var s = String(value);
    if (s.indexOf(".") >= 0 && s.indexOf("e") < 0 && s.indexOf("E") < 0) s = s.replace(/0+$/, "").replace(/\.$/, "");
    return s === "-0" ? "0" : s;
  }
  function when(iso) {
    if (!iso) return "—";
    var d = new Date(iso);
    if (isNaN(d)) return String(iso);
    return d.toISOString().replace("T", " ").slice(0, 19);
  }
  function sign(value) {
    var n = Number(value);
    return n > 0 ? "pos" : n < 0 ? "neg" : "";
  }
  function same(a, b) { return a !== null && a !== undefined && String(a) === String(b); }

  function setText(scope, selector, text) {
    scope.querySelectorAll(selector).forEach(function (node) { node.textContent = text; });
  }

  function flash(row) {
    row.classList.remove("flash");
    void row.offsetWidth; // restart the animation
    row.classList.add("flash");
  }

  function makeRow(id, idAttr, cells, className) {
    var tr = document.createElement("tr");
    tr.setAttribute(idAttr, id);
    if (className) tr.className = className;
    cells.forEach(function (cell) {
      var td = document.createElement("td");
      if (cell.field) td.setAttribute("data-field", cell.field);
      if (cell.num) td.className = "num";
      td.textContent = cell.text;
      tr.appendChild(td);
    });
    return tr;
  }

  // Update the row with this id, or add it at the top (dropping the empty-table row and the oldest).
  function upsert(tableId, idAttr, id, cells, className) {
    var table = document.getElementById(tableId);
    if (!table) return null;
    var tbody = table.tBodies[0];
    var row = tbody.querySelector("tr[" + idAttr + '="' + CSS.escape(String(id)) + '"]');
    if (row) {
      cells.forEach(function (cell) {
        if (!cell.field) return;
        var td = row.querySelector('[data-field="' + cell.field + '"]');
        if (td) td.textContent = cell.text;
      });
      if (className) row.className = className;
    } else {
      row = makeRow(id, idAttr, cells, className);
      tbody.querySelectorAll("tr.empty").forEach(function (r) { r.remove(); });
      tbody.insertBefore(row, tbody.firstChild);
      while (tbody.rows.length > MAX_ROWS) tbody.deleteRow(tbody.rows.length - 1);
    }
    flash(row);
    return row;
  }

  // -- frame handlers --------------------------------------------------------------------------
  function applyBot(bot) {
    document.querySelectorAll('[data-bot-id="' + CSS.escape(String(bot.id)) + '"]').forEach(function (scope) {
      if (bot.status) {
        scope.querySelectorAll('[data-bot-field="status"]').forEach(function (badge) {
          badge.textContent = bot.status;
          badge.className = "badge s-" + bot.status;
          badge.title = bot.status_reason || "";
        });
        scope.querySelectorAll("[data-show-when]").forEach(function (node) {
          node.hidden = node.getAttribute("data-show-when").split(" ").indexOf(bot.status) < 0;
        });
      }
      if ("status_reason" in bot) setText(scope, '[data-bot-field="status_reason"]', bot.status_reason || "");
      if ("last_heartbeat_at" in bot) {
        scope.querySelectorAll('[data-bot-field="heartbeat"]').forEach(function (t) {
          t.textContent = when(bot.last_heartbeat_at);
          t.setAttribute("datetime", bot.last_heartbeat_at || "");
        });
      }
      if ("tick_count" in bot) setText(scope, '[data-bot-field="ticks"]', String(bot.tick_count));
      if ("realized_pnl" in bot && bot.realized_pnl !== null) {
        scope.querySelectorAll('[data-bot-field="pnl"]').forEach(function (node) {
          node.textContent = dec(bot.realized_pnl);
          node.classList.remove("pos", "neg");
          if (sign(bot.realized_pnl)) node.classList.add(sign(bot.realized_pnl));
        });
      }
    });
  }

  function applyOrder(o) {
    if (!same(o.bot, pageBot)) return;
    upsert("orders", "data-order-id", o.id, [
      { text: when(o.created_at) },
      { field: "side", text: o.side },
      { field: "type", text: o.type + (o.trigger_kind ? " " + o.trigger_kind + " @ " + dec(o.trigger_price) : "") + (o.reduce_only ? " · reduce-only" : "") },
      { field: "price", text: dec(o.price), num: true },
      { field: "amount", text: dec(o.amount), num: true },
      { field: "filled", text: dec(o.filled), num: true },
      { field: "average", text: dec(o.average), num: true },
      { field: "status", text: o.status },
    ]);
  }

  function applyFill(f) {
    if (!same(f.bot, pageBot)) return;
    upsert("fills", "data-fill-id", f.id, [
      { text: when(f.ts) },
      { text: f.side + (f.liquidation ? " · liquidation" : "") },
      { text: dec(f.price), num: true },
      { text: dec(f.amount), num: true },
      { text: dec(f.fee) + " " + (f.fee_currency || ""), num: true },
    ]);
  }

  function applyPosition(p) {
    if (!same(p.bot, pageBot)) return;
    var table = document.getElementById("positions");
    var perp = table && table.hasAttribute("data-perp");
    var cells = [
      { text: p.symbol },
      { field: "quantity", text: dec(p.quantity), num: true },
      { field: "average_entry_price", text: dec(p.average_entry_price), num: true },
    ];
    if (perp) {
      // A perpetual's live figures: side, mark, unrealized PnL, liquidation price, margin, funding.
      var q = parseFloat(p.quantity);
      cells.push(
        { field: "side", text: q > 0 ? "long" : q < 0 ? "short" : "flat" },
        { field: "mark_price", text: dec(p.mark_price), num: true },
        { field: "unrealized_pnl", text: dec(p.unrealized_pnl), num: true },
        { field: "liquidation_price", text: dec(p.liquidation_price), num: true },
        { field: "margin_used", text: dec(p.margin_used), num: true },
        { field: "funding", text: dec(p.funding), num: true }
      );
    }
    cells.push(
      { field: "realized_pnl", text: dec(p.realized_pnl), num: true },
      { text: "" },
      { field: "closed_at", text: p.closed_at ? when(p.closed_at) : "open" }
    );
    upsert("positions", "data-position-id", p.id, cells);
  }

  function applyEvent(e) {
    if (!same(e.bot, pageBot)) return;
    upsert("events", "data-event-id", e.id, [
      { text: when(e.created_at) },
      { text: e.level },
      { text: e.kind },
      { text: e.message },
    ], "lvl-" + e.level);
  }

  function applyMetric(m) {
    if (!chart || !same(m.bot, pageBot) || m.equity === undefined || m.equity === null) return;
    if (chartSource !== "snapshots") {
      // The first snapshot of a bot charted from its fills: from now on the chart is its equity.
      chartSource = "snapshots";
      chart.setData([], "Equity");
      var title = document.querySelector("[data-chart-title]");
      if (title) title.textContent = "Equity";
    }
    chart.append(Date.parse(m.ts) || Date.now(), m.equity);
  }

  function applyAlert(a) {
    var main = document.querySelector("main");
    if (!main) return;
    var p = document.createElement("p");
    p.className = "msg " + (a.level === "critical" || a.level === "error" ? "error" : "");
    p.textContent = (a.title || "Alert") + (a.message ? ": " + a.message : "");
    main.insertBefore(p, main.firstChild);
  }

  function showInstance(i) {
    var card = document.querySelector('[data-instance-id="' + CSS.escape(String(i.id)) + '"]');
    if (!card) return;
    card.querySelectorAll('[data-field="status"]').forEach(function (badge) {
      badge.textContent = i.status;
      badge.className = "badge h-" + i.status;
    });
    if (i.last_heartbeat_at) setText(card, '[data-field="heartbeat"]', when(i.last_heartbeat_at));
    flash(card);
  }

  // The frame names the instances that changed (ids, or objects carrying their state); for ids,
  // the instance's current state is read from the API with this session.
  function applyHummingbot(h) {
    (h.instances || []).forEach(function (i) {
      if (i !== null && typeof i === "object") return showInstance(i);
      if (!document.querySelector('[data-instance-id="' + CSS.escape(String(i)) + '"]')) return;
      fetch("/api/v1/hummingbot/instances/" + encodeURIComponent(i) + "/", {
        credentials: "same-origin", headers: { Accept: "application/json" },
      }).then(function (r) { return r.ok ? r.json() : null; }).then(function (data) {
        if (data) showInstance(data);
      }).catch(function () {});
    });
  }

  // A new trading signal on the signals page, unless the page's filters leave it out.
  function applySignal(s) {
    var table = document.getElementById("signals");
    if (!table) return;
    var filters = new URLSearchParams(table.getAttribute("data-signal-filters") || "");
    var wanted = { source: s.source, symbol: s.symbol, timeframe: s.timeframe, side: s.side };
    for (var key in wanted) {
      if (filters.get(key) && String(filters.get(key)).toUpperCase() !== String(wanted[key]).toUpperCase()) return;
    }
    var row = upsert("signals", "data-signal-id", s.id, [
      { text: when(s.created_at) },
      { text: s.source_name || String(s.source) },
      { text: (s.exchange ? s.exchange + " " : "") + s.symbol + " " + s.timeframe },
      { field: "side", text: s.side },
      { text: dec(s.confidence), num: true },
      { text: dec(s.price), num: true },
      { text: when(s.valid_until) },
    ]);
    if (row) {
      var sideCell = row.querySelector('[data-field="side"]');
      if (sideCell) {
        var badge = document.createElement("span");
        badge.className = "badge side-" + s.side;
        badge.textContent = s.side.charAt(0).toUpperCase() + s.side.slice(1);
        sideCell.textContent = "";
        sideCell.appendChild(badge);
      }
      var link = document.createElement("a");
      link.href = "/signals/" + encodeURIComponent(s.id) + "/";
      link.textContent = row.cells[0].textContent;
      row.cells[0].textContent = "";
      row.cells[0].appendChild(link);
    }
  }

  var handlers = {
    bot: applyBot, order: applyOrder, fill: applyFill, position: applyPosition,
    event: applyEvent, metric: applyMetric, alert: applyAlert, hummingbot: applyHummingbot,
    signal: applySignal,
  };

  function onFrame(raw) {
    var frame;
    try { frame = JSON.parse(raw); } catch (e) { return; }
    if (!frame || !handlers[frame.kind] || !frame[frame.kind]) return;
    if (frame.organization !== undefined && !same(frame.organization, orgId)) return;
    handlers[frame.kind](frame[frame.kind]);
  }

  // -- connection ------------------------------------------------------------------------------
  var attempts = 0;
  var indicator = document.querySelector("[data-live-state]");
  function showState(on) {
    if (!indicator) return;
    indicator.textContent = on ? "live" : "offline";
    indicator.classList.toggle("on", on);
    body.setAttribute("data-live", on ? "on" : "off");
  }

  function connect() {
    var path = body.getAttribute("data-live-path");
    if (!path || !window.WebSocket) return;
    var scheme = window.location.protocol === "https:" ? "wss://" : "ws://";
    var socket;
    try { socket = new WebSocket(scheme + window.location.host + path); } catch (e) { return retry(); }
    socket.onopen = function () { attempts = 0; showState(true); };
    socket.onmessage = function (ev) { onFrame(ev.data); };
    socket.onclose = function () { showState(false); retry(); };
    socket.onerror = function () { socket.close(); };
  }

  function retry() {
    // Exponential backoff with jitter, capped at 30 s, so a restarting server is not stampeded.
    var delay = Math.min(30000, 1000 * Math.pow(2, attempts)) * (0.5 + Math.random() / 2);
    attempts = Math.min(attempts + 1, 10);
    window.setTimeout(connect, delay);
  }

  // -- page behaviour ----------------------------------------------------------------------------
  function note(text, ok) {
    var main = document.querySelector("main");
    var p = document.createElement("p");
    p.className = "msg" + (ok ? "" : " error");
    p.setAttribute("data-live-message", "");
    p.textContent = text;
    main.insertBefore(p, main.firstChild);
  }

  // Start/stop without leaving the page: the answer carries the bot's new status, and the
  // WebSocket carries every later change.
  document.querySelectorAll("form[data-live-form]").forEach(function (form) {
    form.addEventListener("submit", function (ev) {
      ev.preventDefault();
      var buttons = form.querySelectorAll("button");
      buttons.forEach(function (b) { b.disabled = true; });
      fetch(form.action, {
        method: "POST", body: new FormData(form), credentials: "same-origin",
        headers: { Accept: "application/json" },
      }).then(function (response) {
        var json = (response.headers.get("Content-Type") || "").indexOf("application/json") >= 0;
        if (!json) throw new Error(response.status === 403 ? "Your role does not allow this." : "Request failed (" + response.status + ").");
        return response.json();
      }).then(function (answer) {
        if (answer.bot) applyBot(answer.bot);
        note(answer.message, answer.ok);
      }).catch(function (err) {
        note(err.message, false);
      }).then(function () {
        buttons.forEach(function (b) { b.disabled = false; });
      });
    });
  });

  document.querySelectorAll("form[data-confirm]").forEach(function (form) {
    form.addEventListener("submit", function (ev) {
      if (!window.confirm(form.getAttribute("data-confirm"))) ev.preventDefault();
    });
  });

  document.querySelectorAll("select[data-autosubmit]").forEach(function (select) {
    select.addEventListener("change", function () { select.form.submit(); });
  });

  var chartBox = document.querySelector("[data-chart]");
  if (chartBox && window.MiniChart) {
    var data = JSON.parse(document.getElementById(chartBox.getAttribute("data-chart")).textContent);
    chart = window.MiniChart.create(chartBox, { points: data.points, label: data.label });
    chartSource = data.source;
    window.dashboardChart = chart;
  }

  if (orgId) connect();
})();
