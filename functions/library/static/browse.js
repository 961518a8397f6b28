// The browse page: the filter form is a plain GET form to "/", so the filters live in the
// address (shareable, back button works); this script mirrors them into the form and lists
// GET /api/v1/models with the same parameters.
"use strict";
const FILTERS = [
  "search", "category", "subcategory", "baseModel", "type", "tags", "maxNsfwLevel",
  "hasMetadata", "sort",
];

function currentQuery() {
  const params = new URLSearchParams(location.search);
  const query = new URLSearchParams();
  for (const name of [...FILTERS, "page", "limit"]) {
    const value = (params.get(name) || "").trim();
    if (value) query.set(name, value);
  }
  return query;
}

function fillForm(query) {
  const form = document.getElementById("filters");
  for (const name of FILTERS) {
    if (query.has(name)) form.elements[name].value = query.get(name);
  }
}

// Empty fields stay out of the address.
function submitFilters(event) {
  event.preventDefault();
  const form = event.target;
  const query = new URLSearchParams();
  for (const name of FILTERS) {
    const value = form.elements[name].value.trim();
    if (value && !(name === "sort" && value === "newest")) query.set(name, value);
  }
  const text = query.toString();
  location.assign("/" + (text ? "?" + text : ""));
}

function card(model) {
  const hero = model.heroImage || {};
  const stats = model.stats || {};
  return h(
    "a",
    { className: "card", href: "/models/" + model.id, "data-model-id": String(model.id) },
    picture(hero.thumbPath, hero.blurhash, model.name),
    h("div", { className: "card-name" }, model.name || "(unnamed)"),
    h("div", { className: "card-meta" }, [model.type, model.baseModel].filter(Boolean).join(" · ")),
    h(
      "div",
      { className: "card-stats" },
      "↓ " + formatCount(stats.downloadCount) + "  ♥ " + formatCount(stats.thumbsUpCount)
    )
  );
}

function pageLink(element, query, page) {
  const next = new URLSearchParams(query);
  next.set("page", String(page));
  element.href = "/?" + next.toString();
  element.hidden = false;
}

async function load() {
  const query = currentQuery();
  fillForm(query);
  const status = document.getElementById("status");
  const grid = document.getElementById("grid");
  showStatus(status, "Loading…");
  try {
    const data = await api("/api/v1/models?" + query.toString());
    grid.replaceChildren(...data.items.map(card));
    showStatus(status, data.total + (data.total === 1 ? " model" : " models"));
    document.getElementById("page").textContent = "Page " + data.page;
    if (data.page > 1) pageLink(document.getElementById("prev"), query, data.page - 1);
    if (data.hasMore) pageLink(document.getElementById("next"), query, data.page + 1);
  } catch (err) {
    grid.replaceChildren();
    showStatus(status, err.message, "error");
  }
}

document.addEventListener("DOMContentLoaded", () => {
  document.getElementById("filters").addEventListener("submit", submitFilters);
  load();
});
