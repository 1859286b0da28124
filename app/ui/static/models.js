// Models page: GET /models, each model's detail for its production version, and the
// prediction counters from /metrics.
"use strict";

(() => {
  const { api, el, keyMetric, showError } = UI;
  const body = document.querySelector("#models-table tbody");

  // mlstack_prediction_requests_total{model="iris",version="2"} 5.0 -> {iris: 5}
  async function servedCounts() {
    const counts = {};
    try {
      const res = await fetch(document.body.dataset.api.replace(/\/api\/v1$/, "") + "/metrics",
                              { credentials: "omit" });
      const text = await res.text();
      const line = /^mlstack_prediction_requests_total\{([^}]*)\}\s+([0-9.eE+-]+)$/;
      for (const row of text.split("\n")) {
        const m = row.match(line);
        if (!m) continue;
        const model = (m[1].match(/model="([^"]*)"/) || [])[1];
        if (model) counts[model] = (counts[model] || 0) + Number(m[2]);
      }
    } catch (_) { /* the counters are optional: the list shows without them */ }
    return counts;
  }

  function row(detail, served) {
    const prod = detail.versions.find((v) => v.version === detail.production_version);
    const link = el("a", { href: `${UI.PAGES}/models/${encodeURIComponent(detail.name)}` }, detail.name);
    return el("tr", { dataset: { model: detail.name } },
      el("td", {}, link, detail.description ? el("div", { class: "muted" }, detail.description) : null),
      el("td", {}, prod ? `v${prod.version}` : "none"),
      el("td", {}, prod ? prod.task : ""),
      el("td", {}, prod ? prod.algorithm : ""),
      el("td", {}, keyMetric(prod)),
      el("td", { class: "num" }, String(Math.round(served[detail.name] || 0))));
  }

  function filter() {
    const needle = document.getElementById("model-search").value.trim().toLowerCase();
    body.querySelectorAll("tr[data-model]").forEach((tr) => {
      tr.hidden = needle !== "" && !tr.dataset.model.includes(needle);
    });
  }

  async function load() {
    try {
      const [{ data: models }, served] = await Promise.all([api("/models"), servedCounts()]);
      const details = await Promise.all(models.map((m) => api(`/models/${encodeURIComponent(m.name)}`)));
      body.replaceChildren(...details.map(({ data }) => row(data, served)));
      document.getElementById("models-empty").hidden = models.length > 0;
      filter();
    } catch (err) {
      body.replaceChildren();
      showError("page-error", err);
    }
  }

  document.getElementById("model-search").addEventListener("input", filter);
  load();
})();
