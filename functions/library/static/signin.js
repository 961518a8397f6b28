"use strict";
document.addEventListener("DOMContentLoaded", () => {
  const params = new URLSearchParams(location.search);
  const next = params.get("next");
  if (next && next.startsWith("/") && !next.startsWith("//")) {
    document.getElementById("next").value = next;
  }
  if (params.has("failed")) {
    const status = document.getElementById("status");
    status.textContent = "That key was not accepted.";
    status.className = "status error";
  }
});
