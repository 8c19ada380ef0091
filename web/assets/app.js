// Small enhancements; every page works without them.
// - [data-copy="<id>"] buttons copy the text of the element with that id.
// - <time data-countdown datetime="…"> shows the minutes and seconds left.
"use strict";

document.addEventListener("DOMContentLoaded", () => {
  for (const button of document.querySelectorAll("button[data-copy]")) {
    const source = document.getElementById(button.dataset.copy);
    if (!source || !navigator.clipboard) continue;
    button.hidden = false;
    button.addEventListener("click", async () => {
      try {
        await navigator.clipboard.writeText(source.textContent.trim());
        button.textContent = "Copied";
      } catch (_) {
        button.textContent = "Select and copy it by hand";
      }
    });
  }

  for (const time of document.querySelectorAll("time[data-countdown]")) {
    const end = Date.parse(time.getAttribute("datetime"));
    if (Number.isNaN(end)) continue;
    const label = document.createElement("span");
    label.className = "countdown";
    label.setAttribute("aria-live", "polite");
    time.after(label);
    const tick = () => {
      const left = Math.max(0, Math.round((end - Date.now()) / 1000));
      const minutes = Math.floor(left / 60);
      const seconds = String(left % 60).padStart(2, "0");
      label.textContent = left > 0 ? ` (${minutes}:${seconds} left)` : " (expired: get a new one)";
      // Announce only every minute, not every second.
      label.setAttribute("aria-live", left % 60 === 0 ? "polite" : "off");
      if (left > 0) setTimeout(tick, 1000);
    };
    tick();
  }
});
