// Move focus to the new step's heading after htmx swaps it in, so screen readers announce it.
document.addEventListener("htmx:afterSettle", function (event) {
  var heading = document.querySelector("#step h1");
  if (heading && event.detail && event.detail.target && event.detail.target.id === "step") {
    heading.focus();
  }
});

// Tell the server the browser's time zone, so that dates are shown in it: a hidden field on
// every form (plain posts) and a header on htmx requests. Without JavaScript the merchant's
// time zone setting stands (and the page names the zone either way).
(function () {
  var zone;
  try {
    zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
  } catch (error) {
    return;
  }
  if (!zone) {
    return;
  }
  function addZoneFields(root) {
    var forms = (root || document).querySelectorAll("form[method=post]");
    for (var i = 0; i < forms.length; i++) {
      if (!forms[i].querySelector("input[name=tz]")) {
        var field = document.createElement("input");
        field.type = "hidden";
        field.name = "tz";
        field.value = zone;
        forms[i].appendChild(field);
      }
    }
  }
  document.addEventListener("DOMContentLoaded", function () { addZoneFields(document); });
  document.addEventListener("htmx:afterSettle", function () { addZoneFields(document); });
  document.addEventListener("htmx:configRequest", function (event) {
    event.detail.headers["X-Time-Zone"] = zone;
  });
})();
