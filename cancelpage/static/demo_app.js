// The demo merchant app: show the outcome the embed reports.
document.addEventListener("cancelpage:outcome", function (event) {
  document.getElementById("outcome").textContent = JSON.stringify(event.detail);
});
