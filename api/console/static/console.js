// piivault console: progressive niceties only. Every page works without this file.
(function () {
  "use strict";

  // Mark a form's submit button busy once the form is on its way (prevents double submits).
  // The button is disabled a tick later so its own name/value is still sent.
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!(form instanceof HTMLFormElement) || (form.getAttribute("method") || "").toLowerCase() !== "post") {
      return;
    }
    var button = event.submitter || form.querySelector("button[type=submit]");
    if (!button) {
      return;
    }
    button.setAttribute("aria-busy", "true");
    if (button.dataset.busyText) {
      button.textContent = button.dataset.busyText;
    }
    window.setTimeout(function () { button.disabled = true; }, 0);
  });

  // On the subject search, the field type only matters when searching by value.
  function syncFieldType() {
    var search = document.getElementById("subject-search");
    var select = document.getElementById("field_type");
    if (!search || !select) {
      return;
    }
    var chosen = search.querySelector("input[name=by]:checked");
    var byValue = chosen && chosen.value === "value";
    var field = select.closest(".field");
    if (field) {
      field.hidden = !byValue;
    }
    select.required = !!byValue;
  }

  document.addEventListener("change", function (event) {
    if (event.target && event.target.name === "by") {
      syncFieldType();
    }
  });

  // Bring the first field with an error into view and focus it.
  function focusFirstError() {
    var invalid = document.querySelector("[aria-invalid=true]");
    if (invalid && typeof invalid.focus === "function") {
      invalid.focus();
    }
  }

  function ready() {
    syncFieldType();
    focusFirstError();
  }

  // Pages restored from the back-forward cache get their buttons back.
  window.addEventListener("pageshow", function (event) {
    if (!event.persisted) {
      return;
    }
    document.querySelectorAll("button[aria-busy=true]").forEach(function (button) {
      button.disabled = false;
      button.removeAttribute("aria-busy");
    });
  });

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", ready);
  } else {
    ready();
  }
  // Wide tables: scroll inside a box, with a cue when there is more to the side.
  function wrapTables() {
    var cue = document.documentElement.lang === "en" ? "Scroll sideways for more \u2192" : "\u5de6\u53f3\u6ed1\u52a8\u67e5\u770b\u66f4\u591a \u2192";
    Array.prototype.forEach.call(document.querySelectorAll("table.table"), function (table) {
      if (table.parentElement.classList.contains("table-wrap")) {
        return;
      }
      var wrap = document.createElement("div");
      wrap.className = "table-wrap";
      wrap.tabIndex = 0;
      table.parentNode.insertBefore(wrap, table);
      wrap.appendChild(table);
      var hint = document.createElement("p");
      hint.className = "scroll-cue";
      hint.setAttribute("aria-hidden", "true");
      hint.textContent = cue;
      wrap.parentNode.insertBefore(hint, wrap.nextSibling);
    });
    markScrolling();
  }

  function markScrolling() {
    Array.prototype.forEach.call(document.querySelectorAll(".table-wrap"), function (wrap) {
      wrap.classList.toggle("scrolls", wrap.scrollWidth > wrap.clientWidth + 1);
    });
    markMenu();
  }

  // On a phone the menu scrolls sideways: an edge fades while there is more of it that way.
  function markMenu() {
    var nav = document.getElementById("nav");
    if (nav) {
      nav.classList.toggle("more", nav.scrollLeft + nav.clientWidth < nav.scrollWidth - 1);
      nav.classList.toggle("back", nav.scrollLeft > 1);
    }
  }

  // The current page's menu item is scrolled into the menu's view.
  function showCurrentMenuItem() {
    var nav = document.getElementById("nav");
    if (!nav) {
      return;
    }
    var current = nav.querySelector("a[aria-current=page]");
    if (current && nav.scrollWidth > nav.clientWidth) {
      nav.scrollLeft = Math.max(0, current.offsetLeft - nav.offsetLeft - 16);
    }
    nav.addEventListener("scroll", markMenu, { passive: true });
  }

  // A link to a folded part (the subject page's actions: #grant, #place-hold...) opens it, and
  // every fold around it, so the browser can scroll to it.
  function openTarget() {
    var id = decodeURIComponent(location.hash.slice(1));
    for (var node = id && document.getElementById(id); node; node = node.parentElement) {
      if (node.tagName === "DETAILS") {
        node.open = true;
      }
    }
    if (id && document.getElementById(id)) {
      document.getElementById(id).scrollIntoView();
    }
  }

  document.addEventListener("DOMContentLoaded", openTarget);
  window.addEventListener("hashchange", openTarget);
  document.addEventListener("DOMContentLoaded", showCurrentMenuItem);
  document.addEventListener("DOMContentLoaded", wrapTables);
  window.addEventListener("resize", markScrolling);
  document.addEventListener("toggle", markScrolling, true);
})();
