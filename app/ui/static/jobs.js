// Jobs page: GET /jobs every few seconds; cancel (admin) is POST /jobs/{id}/cancel.
"use strict";

(() => {
  const { api, el, when, showError, clearError } = UI;
  const REFRESH_MS = 2000;

  function seconds(from, to) {
    if (!from) return "";
    const end = to ? new Date(to) : new Date();
    return `${Math.max(0, (end - new Date(from)) / 1000).toFixed(1)} s`;
  }

  // a running job is stopped by its worker; until then it shows cancel_requested_at
  const cancellable = (job) =>
    job.status === "queued" || (job.status === "running" && !job.cancel_requested_at);

  async function cancel(id) {
    try {
      await api(`/jobs/${id}/cancel`, { method: "POST" });
      await load();
    } catch (err) {
      showError("page-error", err);
    }
  }

  function row(job) {
    const result = job.result_version
      ? el("a", { href: `${UI.PAGES}/models/${encodeURIComponent(job.model)}` }, `${job.model} v${job.result_version}`)
      : (job.error ? el("span", { class: "field-error" }, job.error) : "");
    return el("tr", { dataset: { job: String(job.id), status: job.status } },
      el("td", {}, `#${job.id}`),
      el("td", {}, el("a", { href: `${UI.PAGES}/models/${encodeURIComponent(job.model)}` }, job.model),
        el("div", { class: "muted" }, job.algorithm || (job.spec && job.spec.algorithm))),
      el("td", {}, el("span", { class: `stage status-${job.status}` }, job.status)),
      el("td", {}, job.stage || ""),
      el("td", {}, `${job.attempts} / ${job.max_attempts}`),
      el("td", {}, when(job.created_at)),
      el("td", {}, when(job.started_at)),
      el("td", {}, seconds(job.started_at, job.finished_at)),
      el("td", {}, result),
      el("td", { class: "admin-only" }, cancellable(job)
        ? el("button", { type: "button", class: "cancel", onclick: () => cancel(job.id) }, `Cancel #${job.id}`) : ""));
  }

  async function load() {
    const status = document.getElementById("status-filter").value;
    try {
      const { data, res } = await api(`/jobs?limit=100${status ? `&status=${status}` : ""}`);
      document.querySelector("#jobs-table tbody").replaceChildren(...data.map(row));
      const total = res.headers.get("X-Total-Count");
      document.getElementById("jobs-total").textContent = `${data.length} shown of ${total || data.length} jobs`;
      clearError("page-error");
      UI.applyAdmin();
    } catch (err) {
      showError("page-error", err);
    }
  }

  document.getElementById("status-filter").addEventListener("change", load);
  load();
  setInterval(() => { if (!document.hidden) load(); }, REFRESH_MS);
})();
