// Inside the merchant's embed dialog (embed.js): report the outcome to the parent page, close on
// Esc, and leave the frame only for the two exits that cannot be framed: the merchant's return
// URL and Stripe's billing portal, both opened in the top window. Nothing here needs a cookie.
(function () {
  if (window.parent === window) return;
  var PORTAL = "https://billing.stripe.com/";
  var posted = false;
  document.documentElement.classList.add("framed");

  function allowed(origin, pattern) {
    var wildcard = pattern.indexOf("://*.");
    if (wildcard < 0) return origin === pattern;
    var scheme = pattern.slice(0, wildcard + 3);
    var suffix = pattern.slice(wildcard + 4);
    return origin.indexOf(scheme) === 0 && origin.slice(scheme.length).endsWith(suffix);
  }

  // The parent's origin, only when the merchant's allow-list (the page's frame-ancestors) has it.
  function parentOrigin() {
    var holder = document.querySelector("[data-cancelpage-origins]");
    if (!holder) return null;
    var ancestors = window.location.ancestorOrigins;
    var origin = ancestors && ancestors.length ? ancestors[0] : window.name.replace(/^cancelpage:/, "");
    var patterns = holder.getAttribute("data-cancelpage-origins").split(" ");
    return patterns.some(function (pattern) { return allowed(origin, pattern); }) ? origin : null;
  }

  function tell(message) {
    var origin = parentOrigin();
    if (origin) window.parent.postMessage(message, origin);
  }

  function report(outcome) {
    if (posted) return;
    posted = true;
    tell({ type: "cancelpage:outcome", outcome: outcome.outcome, offer: outcome.offer || null, ends_at: outcome.ends_at || null });
  }

  function settle() {
    var done = document.querySelector("[data-cancelpage-outcome]");
    if (done) report(JSON.parse(done.getAttribute("data-cancelpage-outcome")));
    document.querySelectorAll("a[data-cancelpage-return]").forEach(function (link) {
      link.target = "_top";
    });
  }

  document.addEventListener("DOMContentLoaded", settle);
  document.addEventListener("htmx:afterSettle", settle);
  document.addEventListener("keydown", function (event) {
    if (event.key === "Escape") tell({ type: "cancelpage:close" });
  });
  // Stripe's portal refuses to be framed: report the hand-off, then open it in the top window
  // once the parent has heard it (embed.js acknowledges; a second at most otherwise).
  var handoff = null;
  function leave() {
    if (handoff) window.top.location.href = handoff;
    handoff = null;
  }
  window.addEventListener("message", function (event) {
    var data = event.data;
    if (event.source !== window.parent || event.origin !== parentOrigin()) return;
    if (data && data.type === "cancelpage:ack") leave();
  });
  document.addEventListener("htmx:beforeOnLoad", function (event) {
    var url = event.detail.xhr.getResponseHeader("HX-Redirect");
    if (!url || url.indexOf(PORTAL) !== 0) return;
    event.preventDefault();
    handoff = url;
    report({ outcome: "portal" });
    setTimeout(leave, 1000);
  });
})();
