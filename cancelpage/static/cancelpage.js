// Move focus to the new step's heading after htmx swaps it in, so screen readers announce it.
document.addEventListener("htmx:afterSettle", function (event) {
  var heading = document.querySelector("#step h1");
  if (heading && event.detail && event.detail.target && event.detail.target.id === "step") {
    heading.focus();
  }
});
