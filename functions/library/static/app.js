// Shared by the pages: JSON calls with the session cookie, and DOM building that only ever
// sets text (never HTML) from data: names, notes, tags and descriptions are not ours.
"use strict";

class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

async function api(path, options = {}) {
  const response = await fetch(path, { credentials: "same-origin", ...options });
  let data = null;
  try {
    data = await response.json();
  } catch (err) {
    data = null;
  }
  if (response.status === 401) {
    location.assign("/signin?next=" + encodeURIComponent(location.pathname + location.search));
  }
  if (!response.ok) {
    const message = data && typeof data.error === "string" ? data.error : response.statusText;
    throw new ApiError(response.status, message);
  }
  return data;
}

// h("a", {href: "/x", className: "c"}, "text", child): attributes as properties, children
// as nodes or text.
function h(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(props)) {
    if (value === null || value === undefined) continue;
    if (name.startsWith("data-") || name.startsWith("aria-")) node.setAttribute(name, value);
    else node[name] = value;
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

// An image over its blurhash placeholder; the placeholder hides once the image has loaded.
function picture(src, blurhash, alt) {
  const box = h("div", { className: "picture" });
  const canvas = blurhash ? blurhashCanvas(blurhash) : null;
  if (canvas) box.append(canvas);
  if (src) {
    const img = h("img", { src, alt: alt || "", loading: "lazy", decoding: "async" });
    img.addEventListener("load", () => box.classList.add("loaded"));
    box.append(img);
  }
  return box;
}

function formatBytes(bytes) {
  if (typeof bytes !== "number" || !isFinite(bytes)) return "";
  const units = ["B", "KB", "MB", "GB", "TB"];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return (unit === 0 ? value : value.toFixed(1)) + " " + units[unit];
}

function formatCount(n) {
  return typeof n === "number" ? n.toLocaleString("en-US") : "0";
}

function showStatus(element, message, kind) {
  element.textContent = message || "";
  element.className = "status" + (kind ? " " + kind : "");
}
