// A model's page: its versions (promote / roll back for admins), the version picker
// the prediction and batch forms follow, and the chosen version's lineage.
"use strict";

const ModelPage = (() => {
  const { api, el, number, when, keyMetric, showError } = UI;
  const name = document.getElementById("model-page").dataset.model;
  const picker = document.getElementById("version-select");
  let detail = null;

  const chosen = () => (picker.value === "" ? null : Number(picker.value));
  const query = () => (chosen() === null ? "" : `?version=${chosen()}`);
  const chosenVersion = () => detail && detail.versions.find(
    (v) => v.version === (chosen() === null ? detail.production_version : chosen()));

  function metricsText(metrics) {
    const flat = metrics && (metrics.test || metrics);
    if (!flat) return "";
    return Object.entries(flat).filter(([, v]) => typeof v === "number")
      .map(([k, v]) => `${k} ${number(v, 3)}`).join(", ");
  }

  async function promote(version, verb) {
    const status = document.getElementById("promote-status");
    status.textContent = `${verb} v${version}…`;
    try {
      await api(`/models/${encodeURIComponent(name)}/versions/${version}/promote`, { method: "POST" });
      status.textContent = `v${version} is now production.`;
      await load();
    } catch (err) {
      status.textContent = "";
      showError("page-error", err);
    }
  }

  function versionRow(v) {
    const production = v.version === detail.production_version;
    const verb = v.version < detail.production_version ? "Roll back to" : "Promote";
    const action = production ? "serving" : el("button", {
      type: "button", class: "promote", dataset: { version: String(v.version) },
      onclick: () => promote(v.version, verb === "Promote" ? "Promoting" : "Rolling back to"),
    }, `${verb} v${v.version}`);
    return el("tr", { dataset: { version: String(v.version), stage: v.stage } },
      el("td", {}, `v${v.version}`),
      el("td", {}, el("span", { class: `stage stage-${v.stage}` }, v.stage)),
      el("td", {}, v.algorithm, el("div", { class: "muted" }, v.task)),
      el("td", {}, metricsText(v.metrics)),
      el("td", {}, when(v.created_at)),
      el("td", { class: "admin-only" }, action));
  }

  function lineage() {
    const v = chosenVersion();
    const list = document.getElementById("lineage");
    document.getElementById("lineage-version").textContent = v ? `v${v.version}` : "";
    if (!v) return list.replaceChildren();
    const training = v.training || {};
    const dataset = training.dataset || {};
    const items = [
      ["Engine", v.runtime && v.runtime.engine !== "sklearn"
        ? `${v.runtime.engine}: ${v.runtime.reason} (scikit-learn ${v.sklearn_version}, ${v.artifact_format} artifact)`
        : `scikit-learn ${v.sklearn_version} (${v.artifact_format} artifact)${v.runtime ? `; ${v.runtime.reason}` : ""}`],
      ["Estimator", training.estimator || v.algorithm],
      ["Dataset", typeof dataset === "string" ? dataset : [dataset.id, dataset.n_rows && `${dataset.n_rows} rows`].filter(Boolean).join(", ")],
      ["Dataset sha256", dataset.sha256 || "not recorded (uploaded artifact)"],
      ["Artifact sha256", v.artifact_sha256],
      ["Libraries", training.libraries ? Object.entries(training.libraries).map(([k, x]) => `${k} ${x}`).join(", ") : ""],
      ["Key metric", keyMetric(v)],
    ];
    const nodes = [];
    for (const [term, value] of items) {
      if (!value) continue;
      nodes.push(el("dt", {}, term), el("dd", {}, el("code", {}, String(value))));
    }
    if (training.spec) {
      nodes.push(el("dt", {}, "Training spec"),
        el("dd", {}, el("pre", { class: "spec" }, JSON.stringify(training.spec, null, 2))));
    }
    list.replaceChildren(...nodes);
  }

  function fillPicker() {
    const keep = picker.value;
    picker.replaceChildren(el("option", { value: "" }, `production (v${detail.production_version})`),
      ...detail.versions.map((v) => el("option", { value: String(v.version) }, `v${v.version} (${v.stage})`)));
    const wanted = keep || (fillPicker.first ? "" : new URLSearchParams(location.search).get("version") || "");
    fillPicker.first = true;
    picker.value = [...picker.options].some((o) => o.value === wanted) ? wanted : "";
  }

  async function load() {
    try {
      ({ data: detail } = await api(`/models/${encodeURIComponent(name)}`));
    } catch (err) {
      showError("page-error", err);
      return;
    }
    document.getElementById("model-description").textContent = detail.description || "";
    document.querySelector("#versions-table tbody").replaceChildren(
      ...[...detail.versions].sort((a, b) => b.version - a.version).map(versionRow));
    fillPicker();
    lineage();
    UI.applyAdmin();
    document.dispatchEvent(new CustomEvent("mlstack:version"));
  }

  picker.addEventListener("change", () => {
    lineage();
    document.dispatchEvent(new CustomEvent("mlstack:version"));
  });
  load();
  return { name, query, chosenVersion };
})();
