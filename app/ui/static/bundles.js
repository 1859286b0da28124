// Bundles page (admin): POST /bundles with the chosen models and parts; each file of the
// answer is a card (path, size, first lines from GET /bundles/{id}/files/{path}, fetched
// when the card comes into view); the zip from GET /bundles/{id}/archive.
"use strict";

(() => {
  const { api, el, showError, clearError } = UI;
  const COMPONENTS = ["api", "swagger", "ui", "training", "database", "nginx", "supervisor", "docker", "tests"];
  const DEFAULTS = new Set(["api", "swagger", "database", "tests"]);
  const FIRST_LINES = 6;
  const REBUILD_MS = 400;
  let bundle = null;
  let timer = null;
  let build = 0;
  const $ = (id) => document.getElementById(id);

  function size(bytes) {
    return bytes < 1024 ? `${bytes} B` : bytes < 1048576 ? `${(bytes / 1024).toFixed(1)} kB` : `${(bytes / 1048576).toFixed(1)} MB`;
  }

  async function fileText(path) {
    const { blob } = await api(`/bundles/${bundle.id}/files/${path.split("/").map(encodeURIComponent).join("/")}`, { raw: true });
    return blob.type.startsWith("text/") ? blob.text() : `(binary, ${size(blob.size)})`;
  }

  const previews = new IntersectionObserver((entries) => {
    for (const entry of entries) {
      if (!entry.isIntersecting) continue;
      previews.unobserve(entry.target);
      const card = entry.target;
      const forBundle = bundle.id;
      fileText(card.dataset.path).then((text) => {
        if (bundle.id === forBundle) card.querySelector("pre").textContent = text.split("\n").slice(0, FIRST_LINES).join("\n");
      }).catch((err) => { card.querySelector("pre").textContent = err.message; });
    }
  });

  async function openFile(path) {
    $("file-dialog-title").textContent = path;
    $("file-dialog-text").textContent = "Loading…";
    $("file-dialog").showModal();
    try {
      $("file-dialog-text").textContent = await fileText(path);
    } catch (err) {
      $("file-dialog-text").textContent = err.message;
    }
  }

  function cards() {
    previews.disconnect();
    $("bundle-cards").replaceChildren(...bundle.files.map((f) => {
      const card = el("li", { dataset: { path: f.path } },
        el("button", { type: "button", class: "open", "aria-label": `${f.path}: show the whole file`,
                       onclick: () => openFile(f.path) },
          el("div", { class: "path" }, f.path),
          el("div", { class: "muted" }, `${size(f.bytes)} · sha256 ${f.sha256.slice(0, 12)}…`),
          el("pre", { "aria-hidden": "true" }, "…")));
      previews.observe(card);
      return card;
    }));
    $("bundle-cards").dataset.bundle = bundle.id;
    const total = bundle.files.reduce((n, f) => n + f.bytes, 0);
    $("bundle-summary").textContent = `${bundle.name}: ${bundle.files.length} files, ${size(total)}`;
    $("bundle-download").disabled = false;
  }

  function choices() {
    const models = [...document.querySelectorAll("#bundle-models input[type=checkbox]:checked")].map((box) => {
      const version = $(`version-${box.value}`).value;
      return version ? `${box.value}@${version}` : box.value;
    });
    const components = [...document.querySelectorAll("#bundle-components input:checked")].map((c) => c.value);
    return { models, components, database: $("bundle-database").value };
  }

  async function rebuild() {
    clearError("bundle-error");
    const body = choices();
    $("bundle-download").disabled = true;
    if (!body.models.length) {
      $("bundle-summary").textContent = "Choose at least one model.";
      $("bundle-cards").replaceChildren();
      return;
    }
    const mine = ++build;
    $("bundle-summary").textContent = "Building…";
    try {
      const { data } = await api("/bundles", { method: "POST", json: body });
      if (mine !== build) return;  // a newer choice is being built
      bundle = data;
      cards();
    } catch (err) {
      if (mine !== build) return;
      $("bundle-summary").textContent = "";
      $("bundle-cards").replaceChildren();
      showError("bundle-error", err);
    }
  }

  function later() {
    clearTimeout(timer);
    timer = setTimeout(rebuild, REBUILD_MS);
  }

  async function loadModels() {
    try {
      const { data } = await api("/models");
      const details = await Promise.all(data.map((m) => api(`/models/${encodeURIComponent(m.name)}`)));
      $("bundle-models").replaceChildren(...details.map(({ data: m }, i) => el("div", { class: "field" },
        el("label", {}, el("input", { type: "checkbox", value: m.name, checked: i === 0, onchange: later }), ` ${m.name}`),
        el("label", { for: `version-${m.name}`, class: "visually-hidden" }, `${m.name} version`),
        el("select", { id: `version-${m.name}`, onchange: later },
          el("option", { value: "" }, `production (v${m.production_version})`),
          m.versions.map((v) => el("option", { value: String(v.version) }, `v${v.version}`))))));
      if (details.length) rebuild();
    } catch (err) {
      showError("bundle-error", err);
    }
  }

  $("bundle-components").replaceChildren(...COMPONENTS.map((c) => el("label", {},
    el("input", { type: "checkbox", value: c, checked: DEFAULTS.has(c), onchange: later }), ` ${c}`)));
  $("bundle-database").addEventListener("change", later);
  $("bundle-download").addEventListener("click", async () => {
    try {
      const { blob } = await api(`/bundles/${bundle.id}/archive`, { raw: true });
      UI.downloadText(`${bundle.name}.zip`, blob);
    } catch (err) {
      showError("bundle-error", err);
    }
  });
  const start = () => { if (UI.isAdmin() && !bundle && !start.done) { start.done = true; loadModels(); } };
  document.addEventListener("mlstack:admin", start);
  start();
})();
