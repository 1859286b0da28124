// Train page: POST /datasets (upload) or GET /datasets/{id}, GET /algorithms for the
// parameters and their defaults, POST /models/{name}/train, then GET /jobs/{id} until
// the job ends.
"use strict";

(() => {
  const { api, el, showError, clearError } = UI;
  const STAGES = ["queued", "claimed", "loading", "fitting", "evaluating", "saving", "done"];
  const POLL_MS = 700;
  let algorithms = [];
  let dataset = null;

  const $ = (id) => document.getElementById(id);

  function showDataset(info) {
    dataset = info;
    $("dataset-info").hidden = false;
    $("dataset-summary").textContent = `Dataset ${info.id} (${info.name}): ${info.n_rows} rows, sha256 ${info.sha256.slice(0, 12)}…`;
    $("columns-table").querySelector("tbody").replaceChildren(...info.columns.map((c) =>
      el("tr", { dataset: { column: c.name } }, el("td", {}, c.name), el("td", { class: "type" }, c.type),
        el("td", {}, c.dtype || ""), el("td", { class: "num" }, c.n_unique ?? ""),
        el("td", { class: "num" }, c.n_missing ?? ""))));
    $("target").replaceChildren(...info.columns.map((c) => el("option", { value: c.name }, c.name)));
    $("target").value = info.target || info.columns[info.columns.length - 1].name;
    showParams();
  }

  // the header row, read in the browser, gives the target choices before the upload
  async function previewFile() {
    const file = $("dataset-file").files[0];
    const select = $("upload-target");
    if (!file) return;
    const head = await file.slice(0, 64 * 1024).text();
    const fields = Papa.parse(head, { header: true, preview: 1 }).meta.fields || [];
    select.replaceChildren(...fields.map((f) => el("option", { value: f }, f)));
    select.value = fields[fields.length - 1] || "";
    select.disabled = fields.length === 0;
  }

  async function upload() {
    clearError("data-error");
    const file = $("dataset-file").files[0];
    if (!file) return showError("data-error", new Error("Choose a CSV file first."));
    const form = new FormData();
    form.append("file", file, file.name);
    form.append("target", $("upload-target").value);
    try {
      const { data } = await api("/datasets", { method: "POST", body: form });
      showDataset(data);
      await loadDatasets(data.id);
    } catch (err) {
      showError("data-error", err);
    }
  }

  async function loadDatasets(selected) {
    try {
      const { data } = await api("/datasets");
      $("dataset-select").replaceChildren(el("option", { value: "" }, "choose…"),
        ...data.map((d) => el("option", { value: d.id }, `${d.name} (${d.source}, ${d.n_rows} rows)`)));
      if (selected) $("dataset-select").value = selected;
    } catch (err) {
      showError("data-error", err);
    }
  }

  async function pickDataset() {
    clearError("data-error");
    const id = $("dataset-select").value;
    if (!id) return;
    try {
      showDataset((await api(`/datasets/${encodeURIComponent(id)}`)).data);
    } catch (err) {
      showError("data-error", err);
    }
  }

  // which task's parameters to show: the chosen one, else a guess from the target column
  function taskShown(algo) {
    if ($("task").value) return $("task").value;
    const column = dataset && dataset.columns.find((c) => c.name === $("target").value);
    const guess = !column || column.type === "categorical" || (column.n_unique || 0) <= 20 ? "classification" : "regression";
    return algo.tasks.includes(guess) ? guess : algo.tasks[0];
  }

  function showParams() {
    const algo = algorithms.find((a) => a.name === $("algorithm").value);
    if (!algo) return;
    $("algorithm-hint").textContent = `${algo.description}; tasks: ${algo.tasks.join(", ")}`;
    const task = taskShown(algo);
    const defaults = (algo.defaults || {})[task] || {};
    $("params").replaceChildren(...(algo.params[task] || []).map((p) => {
      const shown = p in defaults ? JSON.stringify(defaults[p]) : "";
      return el("div", { class: "field" },
        el("label", { for: `param-${p}` }, p),
        el("input", { id: `param-${p}`, type: "text", value: shown, dataset: { param: p, initial: shown },
                      "aria-describedby": `err-params-${p}` }),
        el("p", { id: `err-params-${p}`, class: "field-error", hidden: true }));
    }));
  }

  // a parameter text is JSON when it parses (3, 0.5, null, true, "x"), else a string
  function paramValue(text) {
    try { return JSON.parse(text); } catch (_) { return text; }
  }

  function spec() {
    const params = {};
    $("params").querySelectorAll("input[data-param]").forEach((input) => {
      if (input.value !== input.dataset.initial) params[input.dataset.param] = paramValue(input.value.trim());
    });
    const body = {
      dataset: dataset ? dataset.id : "", target: $("target").value, algorithm: $("algorithm").value,
      params, test_size: Number($("test_size").value), cv_folds: Number($("cv_folds").value),
      random_state: Number($("random_state").value), promote: $("promote").checked,
    };
    if ($("task").value) body.task = $("task").value;
    return body;
  }

  function clearFieldErrors() {
    document.querySelectorAll("#train-form .field-error").forEach((p) => { p.hidden = true; p.textContent = ""; });
    clearError("train-error");
  }

  function showFieldErrors(err) {
    let placed = 0;
    for (const [key, message] of Object.entries(err.errors)) {
      const target = $(`err-${key.replace(".", "-")}`) || $(`err-${key.split(".")[0]}`);
      if (target) { target.textContent = message; target.hidden = false; placed++; }
    }
    showError("train-error", err);
    return placed;
  }

  async function follow(job) {
    $("job").hidden = false;
    $("job-id").textContent = `#${job.id}`;
    for (;;) {
      $("job-status").textContent = job.status;
      $("job-stage").textContent = job.stage ? `(${job.stage})` : "";
      const step = job.status === "succeeded" ? STAGES.length - 1 : Math.max(0, STAGES.indexOf(job.stage || job.status));
      $("job-progress").value = step;
      if (["succeeded", "failed", "cancelled"].includes(job.status)) break;
      await new Promise((resolve) => setTimeout(resolve, POLL_MS));
      job = (await api(`/jobs/${job.id}`)).data;
    }
    if (job.status === "succeeded") {
      const link = $("job-link");
      link.href = `${UI.PAGES}/models/${encodeURIComponent(job.model)}?version=${job.result_version}`;
      link.textContent = `Open ${job.model} v${job.result_version}`;
      $("job-done").hidden = false;
      link.focus();
    } else {
      $("job-error").textContent = job.error || `the job was ${job.status}`;
      $("job-error").hidden = false;
    }
  }

  async function start(event) {
    event.preventDefault();
    clearFieldErrors();
    $("job-done").hidden = true;
    $("job-error").hidden = true;
    const name = $("model-name").value.trim();
    if (!dataset) return showError("train-error", new Error("Upload or choose a dataset first."));
    $("train-button").disabled = true;
    try {
      const { data: job } = await api(`/models/${encodeURIComponent(name || "-")}/train`,
                                      { method: "POST", json: spec() });
      await follow(job);
    } catch (err) {
      if (err instanceof UI.ApiError && err.status === 400) showFieldErrors(err);
      else showError("train-error", err);
    } finally {
      $("train-button").disabled = false;
    }
  }

  async function loadAlgorithms() {
    try {
      ({ data: algorithms } = await api("/algorithms"));
      $("algorithm").replaceChildren(...algorithms.map((a) => el("option", { value: a.name }, a.name)));
      showParams();
    } catch (err) {
      showError("train-error", err);
    }
  }

  document.querySelectorAll('input[name="source"]').forEach((radio) => radio.addEventListener("change", () => {
    const upload = document.querySelector('input[name="source"]:checked').value === "upload";
    $("upload-part").hidden = !upload;
    $("existing-part").hidden = upload;
  }));
  $("dataset-file").addEventListener("change", previewFile);
  $("upload-button").addEventListener("click", upload);
  $("dataset-select").addEventListener("change", pickDataset);
  $("algorithm").addEventListener("change", showParams);
  $("task").addEventListener("change", showParams);
  $("target").addEventListener("change", showParams);
  $("train-form").addEventListener("submit", start);
  loadAlgorithms();
  loadDatasets();
})();
