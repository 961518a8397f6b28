// The model page: GET /api/v1/models/:id (details, versions, files, images), the user's
// images from GET /api/models/:id/images, notes saved by PATCH /api/models/:id, uploads by
// multipart POST /api/models/:id/images. Descriptions are Civitai HTML: shown as text only.
"use strict";
const MODEL_ID = location.pathname.split("/").filter(Boolean)[1];

// The description's text: parsed into an inert document (no scripts run, nothing loads),
// then only its text is kept.
function descriptionText(html) {
  if (!html) return "";
  const doc = new DOMParser().parseFromString(String(html), "text/html");
  doc.querySelectorAll("script, style, template, noscript").forEach((node) => node.remove());
  return (doc.body.textContent || "").trim();
}

function imageTile(image) {
  return h(
    "figure",
    { className: "tile", "data-image-id": String(image.id) },
    h("a", { href: image.localPath || image.thumbPath || "#", target: "_blank", rel: "noopener" },
      picture(image.thumbPath, image.blurhash, image.prompt || "")),
    image.prompt ? h("figcaption", {}, image.prompt) : null
  );
}

function fileRow(file) {
  return h(
    "tr",
    {},
    h("td", {}, file.fileName || ""),
    h("td", {}, typeof file.sizeKb === "number" ? formatBytes(file.sizeKb * 1024) : ""),
    h("td", {}, file.format || ""),
    h("td", {}, file.precision || "")
  );
}

function version(v) {
  const images = (v.images || []).filter((image) => !image.isUserUpload);
  return h(
    "article",
    { className: "version" },
    h("h3", {}, v.name || "(version)"),
    h("p", { className: "meta" },
      [v.baseModel, v.publishedAt ? "published " + v.publishedAt.slice(0, 10) : null]
        .filter(Boolean).join(" · ")),
    v.description ? h("p", {}, descriptionText(v.description)) : null,
    h("table", { className: "files" },
      h("thead", {}, h("tr", {}, h("th", {}, "File"), h("th", {}, "Size"),
        h("th", {}, "Format"), h("th", {}, "Precision"))),
      h("tbody", {}, (v.files || []).map(fileRow))),
    h("div", { className: "gallery" }, images.map(imageTile))
  );
}

function render(model) {
  document.title = (model.name || "Model") + " · Relay Library";
  document.getElementById("name").textContent = model.name || "(unnamed)";
  const stats = model.stats || {};
  document.getElementById("meta").textContent = [
    model.type, model.baseModel, model.category, model.subcategory,
    model.creatorName ? "by " + model.creatorName : null,
    "↓ " + formatCount(stats.downloadCount), "♥ " + formatCount(stats.thumbsUpCount),
  ].filter(Boolean).join(" · ");
  const download = document.getElementById("download");
  download.href = "/api/v1/models/" + MODEL_ID + "/download";
  document.getElementById("size").textContent = formatBytes(model.fileSize);
  document.getElementById("tags").replaceChildren(
    ...(model.tags || []).map((tag) => h("li", {}, tag)));
  document.getElementById("description").textContent = descriptionText(model.description);
  const words = model.trainedWords || [];
  document.getElementById("trained").textContent =
    words.length ? "Trained words: " + words.join(", ") : "";
  document.getElementById("notes").value = model.notes || "";
  document.getElementById("versions").replaceChildren(...(model.versions || []).map(version));
}

async function loadUserImages() {
  const images = await api("/api/models/" + MODEL_ID + "/images");
  document.getElementById("user-images").replaceChildren(...images.map(imageTile));
}

async function saveNotes(event) {
  event.preventDefault();
  const status = document.getElementById("notes-status");
  showStatus(status, "Saving…");
  try {
    const model = await api("/api/models/" + MODEL_ID, {
      method: "PATCH",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ notes: document.getElementById("notes").value }),
    });
    if (model && typeof model.notes === "string") {
      document.getElementById("notes").value = model.notes;
    }
    showStatus(status, "Saved", "ok");
  } catch (err) {
    showStatus(status, err.message, "error");
  }
}

async function upload(event) {
  event.preventDefault();
  const form = event.target;
  const status = document.getElementById("upload-status");
  const data = new FormData();
  const file = document.getElementById("upload-file").files[0];
  if (!file) return showStatus(status, "Choose an image first", "error");
  data.append("file", file);
  const prompt = document.getElementById("upload-prompt").value.trim();
  if (prompt) data.append("prompt", prompt);
  showStatus(status, "Uploading…");
  try {
    const image = await api("/api/models/" + MODEL_ID + "/images", { method: "POST", body: data });
    document.getElementById("user-images").append(imageTile(image));
    form.reset();
    showStatus(status, "Uploaded", "ok");
  } catch (err) {
    showStatus(status, err.message, "error");
  }
}

document.addEventListener("DOMContentLoaded", async () => {
  const status = document.getElementById("status");
  document.getElementById("notes-form").addEventListener("submit", saveNotes);
  document.getElementById("upload-form").addEventListener("submit", upload);
  try {
    render(await api("/api/v1/models/" + MODEL_ID));
    document.getElementById("content").hidden = false;
    showStatus(status, "");
    await loadUserImages();
  } catch (err) {
    showStatus(status, err.message, "error");
  }
});
