/* cancelpage embed: a link with data-cancelpage opens the hosted cancel flow in a dialog.
   Without this script the same link simply navigates to the hosted page. No dependencies, no
   eval, no inline styles (embed.css beside this file), so it runs under a strict CSP. */
(function () {
  "use strict";
  var script = document.currentScript;
  if (!script || typeof HTMLDialogElement !== "function" || window.Cancelpage) return;
  var base = new URL(script.src, location.href);
  var ORIGIN = base.origin;
  var current = null;

  function stylesheet() {
    if (document.querySelector("link[data-cancelpage]")) return;
    var link = document.createElement("link");
    link.rel = "stylesheet";
    link.href = new URL("embed.css", base).href;
    link.setAttribute("data-cancelpage", "");
    document.head.appendChild(link);
  }

  function element(tag, className) {
    var node = document.createElement(tag);
    node.className = className;
    return node;
  }

  function open(url, trigger) {
    var target = new URL(url, location.href);
    if (target.origin !== ORIGIN) {
      return Promise.reject(new Error("cancelpage: not a link to " + ORIGIN));
    }
    if (current) return current;
    stylesheet();
    var label = (trigger && trigger.textContent.trim()) || "Cancel subscription";
    var dialog = element("dialog", "cancelpage-dialog");
    dialog.setAttribute("aria-label", label);
    var bar = element("div", "cancelpage-bar");
    var close = element("button", "cancelpage-close");
    close.type = "button";
    close.textContent = (trigger && trigger.getAttribute("data-cancelpage-close")) || "Close";
    var frame = element("iframe", "cancelpage-frame");
    frame.title = label;
    // The hosted page reads the parent's origin from here where location.ancestorOrigins is missing.
    frame.name = "cancelpage:" + location.origin;
    frame.src = target.href;
    bar.appendChild(close);
    dialog.appendChild(bar);
    dialog.appendChild(frame);
    document.body.appendChild(dialog);

    current = new Promise(function (resolve) {
      var result = null;
      function settle(message) {
        result = {
          outcome: message.outcome,
          offer: message.offer || null,
          ends_at: message.ends_at || null
        };
        resolve(result);
        (trigger || document).dispatchEvent(
          new CustomEvent("cancelpage:outcome", { bubbles: true, detail: result })
        );
      }
      function onMessage(event) {
        var data = event.data;
        if (event.origin !== ORIGIN || event.source !== frame.contentWindow) return;
        if (!data || typeof data !== "object") return;
        if (data.type === "cancelpage:close") dialog.close();
        if (data.type !== "cancelpage:outcome" || result) return;
        settle(data);
        // Heard: the frame may now leave for a page that cannot be framed (Stripe's portal).
        event.source.postMessage({ type: "cancelpage:ack" }, ORIGIN);
      }
      window.addEventListener("message", onMessage);
      close.addEventListener("click", function () {
        dialog.close();
      });
      dialog.addEventListener("close", function () {
        window.removeEventListener("message", onMessage);
        dialog.remove();
        current = null;
        if (!result) settle({ outcome: "closed" });
        if (trigger && trigger.focus) trigger.focus();
      });
      dialog.showModal();
      frame.focus();
    });
    return current;
  }

  document.addEventListener("click", function (event) {
    var link = event.target.closest && event.target.closest("a[data-cancelpage]");
    if (!link || event.defaultPrevented || event.button !== 0) return;
    if (event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
    if (new URL(link.href, location.href).origin !== ORIGIN) return;
    event.preventDefault();
    open(link.href, link);
  });

  window.Cancelpage = {
    open: function (url) {
      return open(url, null);
    }
  };
})();
