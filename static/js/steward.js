// Keyboard shortcuts for the steward workbench. Queue: j/k select a pair, Enter opens it,
// m/n/d open it at that action. Compare: j/k next/previous pair, m focuses the merge
// button (Enter confirms), s switches the survivor, n/d focus the reason/comment box
// (Enter confirms). Every action stays an ordinary form post: nothing acts on one key.
(function () {
  "use strict";

  var ACTIONS = { m: "merge", n: "not-a-match", d: "defer" };

  function isTyping(el) {
    return el && (el.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(el.tagName));
  }

  function queueRows() {
    return Array.prototype.slice.call(document.querySelectorAll("[data-queue-row]"));
  }

  function selectedIndex(rows) {
    for (var i = 0; i < rows.length; i++) {
      if (rows[i].getAttribute("aria-current") === "true") return i;
    }
    return -1;
  }

  function selectRow(rows, index) {
    if (!rows.length) return;
    index = Math.max(0, Math.min(rows.length - 1, index));
    rows.forEach(function (row) { row.removeAttribute("aria-current"); });
    var row = rows[index];
    row.setAttribute("aria-current", "true");
    var link = row.querySelector("[data-row-link]");
    if (link) link.focus({ preventScroll: true });
    row.scrollIntoView({ block: "nearest" });
  }

  function focusAction(name) {
    var form = document.getElementById(name);
    if (!form) return false;
    var target =
      form.querySelector("[data-action]") || form.querySelector("button[type=submit]");
    form.scrollIntoView({ block: "nearest" });
    target.focus();
    return true;
  }

  function switchSurvivor() {
    var radios = document.querySelectorAll("#merge input[name=survivor]");
    if (radios.length < 2) return;
    var next = radios[0].checked ? radios[1] : radios[0];
    next.checked = true;
    next.dispatchEvent(new Event("change", { bubbles: true }));
  }

  function toggleHelp(force) {
    var help = document.getElementById("shortcut-help");
    if (!help) return;
    help.hidden = force === undefined ? !help.hidden : !force;
  }

  function follow(selector) {
    var link = document.querySelector(selector);
    if (link) window.location.href = link.href;
  }

  function onQueueKey(key) {
    var rows = queueRows();
    var index = selectedIndex(rows);
    if (key === "j") return selectRow(rows, index + 1), true;
    if (key === "k") return selectRow(rows, index < 0 ? 0 : index - 1), true;
    if (ACTIONS[key] && rows.length) {
      var row = rows[index < 0 ? 0 : index];
      // Not "#merge": a hash naming an element makes the browser scroll to it after
      // load, which takes the focus away again.
      window.location.href = row.dataset.href + "#action=" + ACTIONS[key];
      return true;
    }
    return false;
  }

  function onCompareKey(key) {
    if (key === "j") return follow("[data-shortcut-next]"), true;
    if (key === "k") return follow("[data-shortcut-prev]"), true;
    if (key === "s") return switchSurvivor(), true;
    if (ACTIONS[key]) return focusAction(ACTIONS[key]);
    return false;
  }

  document.addEventListener("keydown", function (event) {
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    var active = document.activeElement;
    if (event.key === "Escape") {
      toggleHelp(false);
      if (isTyping(active)) active.blur();
      return;
    }
    if (isTyping(active)) return;
    var key = event.key;
    var handled = false;
    if (key === "?") {
      toggleHelp();
      handled = true;
    } else if (key === "/") {
      // The page's own search box (on the search page) wins over the one in the menu.
      var boxes = document.querySelectorAll("[data-search-box]");
      var box = boxes[boxes.length - 1];
      if (box) box.focus();
      handled = Boolean(box);
    } else if (document.querySelector("[data-queue]")) {
      handled = onQueueKey(key);
    } else if (document.querySelector("[data-compare]")) {
      handled = onCompareKey(key);
    }
    if (handled) event.preventDefault();
  });

  // Arriving from the queue with #action=merge, =not-a-match or =defer: focus that action.
  document.addEventListener("DOMContentLoaded", function () {
    var match = /^#action=([a-z-]+)$/.exec(window.location.hash);
    if (match && document.querySelector("[data-compare]")) focusAction(match[1]);
  });
})();
