// Batch scoring: the CSV goes to the predict endpoint as text/csv. When the API names
// bad rows, they are listed and the other rows are sent again without them, so every
// valid row is scored. Papa Parse (vendored) reads the rows to show and writes the
// predictions CSV.
"use strict";

(() => {
  const { api, el, number, showError, clearError } = UI;
  const SHOWN_ROWS = 20;
  const MAX_ROUNDS = 50;  // the API names at most 20 problems per answer
  let download = null;

  function rowErrors(errors) {
    const byRow = new Map();
    const other = [];
    for (const [key, message] of Object.entries(errors)) {
      const m = key.match(/^instances\[(\d+)\](?:\.(.*))?$/);
      if (!m) { other.push(`${key}: ${message}`); continue; }
      const i = Number(m[1]);
      if (!byRow.has(i)) byRow.set(i, []);
      byRow.get(i).push([m[2] || "", message]);
    }
    return { byRow, other };
  }

  // POST rows (indices into `rows`) until the API accepts what is left: index -> answer
  async function score(fieldsOrder, rows, withProba) {
    let pending = rows.map((_, i) => i);
    const bad = new Map();
    for (let round = 0; round < MAX_ROUNDS && pending.length; round++) {
      const csv = Papa.unparse({ fields: fieldsOrder, data: pending.map((i) => fieldsOrder.map((f) => rows[i][f])) });
      const params = new URLSearchParams(ModelPage.query().slice(1));
      if (withProba) params.set("return_proba", "true");
      try {
        const { data } = await api(`/models/${encodeURIComponent(ModelPage.name)}/predict?${params}`,
          { method: "POST", body: csv, headers: { "Content-Type": "text/csv" } });
        return { answer: data, scored: pending, bad };
      } catch (err) {
        if (!(err instanceof UI.ApiError) || err.status !== 400) throw err;
        const { byRow, other } = rowErrors(err.errors);
        if (other.length || !byRow.size) throw err;  // the file itself is wrong (header, empty)
        byRow.forEach((problems, j) => bad.set(pending[j], problems));
        pending = pending.filter((_, j) => !byRow.has(j));
      }
    }
    return { answer: null, scored: [], bad };
  }

  function showRows(fieldsOrder, rows, result) {
    const table = document.getElementById("batch-table");
    const { answer, scored } = result;
    const classes = answer && answer.classes;
    const head = el("tr", {}, el("th", { scope: "col" }, "Row"),
      fieldsOrder.map((f) => el("th", { scope: "col" }, f)),
      el("th", { scope: "col" }, "prediction"),
      classes ? el("th", { scope: "col" }, "probability") : null);
    const body = scored.slice(0, SHOWN_ROWS).map((i, j) => {
      const p = answer.probabilities ? Math.max(...answer.probabilities[j]) : null;
      return el("tr", { dataset: { row: String(i + 1) } }, el("td", {}, String(i + 1)),
        fieldsOrder.map((f) => el("td", {}, rows[i][f])),
        el("td", { class: "prediction" }, String(typeof answer.predictions[j] === "number"
          ? number(answer.predictions[j], 6) : answer.predictions[j])),
        classes ? el("td", {}, number(p, 3)) : null);
    });
    table.replaceChildren(el("caption", {}, `First ${Math.min(SHOWN_ROWS, scored.length)} scored rows`),
      el("thead", {}, head), el("tbody", {}, body));
    table.hidden = scored.length === 0;
  }

  function showBad(bad) {
    const table = document.getElementById("batch-errors");
    const rows = [...bad.entries()].sort((a, b) => a[0] - b[0]).flatMap(([i, problems]) =>
      problems.map(([feature, message]) => el("tr", { dataset: { row: String(i + 1) } },
        el("td", {}, String(i + 1)), el("td", {}, feature), el("td", {}, message))));
    table.querySelector("tbody").replaceChildren(...rows);
    table.hidden = bad.size === 0;
  }

  function predictionsCsv(fieldsOrder, rows, result) {
    const { answer, scored, bad } = result;
    const classes = (answer && answer.probabilities && answer.classes) || [];
    const header = [...fieldsOrder, "prediction", ...classes.map((c) => `proba_${c}`), "error"];
    const byIndex = new Map(scored.map((i, j) => [i, j]));
    const data = rows.map((row, i) => {
      const j = byIndex.get(i);
      const problems = bad.get(i);
      return [...fieldsOrder.map((f) => row[f]),
        j === undefined ? "" : answer.predictions[j],
        ...classes.map((_, k) => (j === undefined ? "" : answer.probabilities[j][k])),
        problems ? problems.map(([f, m]) => (f ? `${f}: ${m}` : m)).join("; ") : ""];
    });
    return Papa.unparse({ fields: header, data });
  }

  async function onSubmit(event) {
    event.preventDefault();
    clearError("batch-error");
    const summary = document.getElementById("batch-summary");
    const file = document.getElementById("batch-csv").files[0];
    document.getElementById("batch-download").hidden = true;
    if (!file) {
      showError("batch-error", new Error("Choose a CSV file first."));
      return;
    }
    summary.textContent = "Scoring…";
    const text = await file.text();
    const parsed = Papa.parse(text, { header: true, skipEmptyLines: "greedy" });
    const fieldsOrder = parsed.meta.fields || [];
    const rows = parsed.data;
    try {
      const { data: schema } = await api(`/models/${encodeURIComponent(ModelPage.name)}/schema${ModelPage.query()}`);
      const result = await score(fieldsOrder, rows, Boolean(schema.example.return_proba));
      showRows(fieldsOrder, rows, result);
      showBad(result.bad);
      summary.textContent = `${result.scored.length} of ${rows.length} rows scored` +
        (result.bad.size ? `, ${result.bad.size} with errors (listed below).` : ".") +
        (result.answer ? ` Model version ${result.answer.version}.` : "");
      download = { name: file.name.replace(/\.csv$/i, "") + "-predictions.csv",
                   text: predictionsCsv(fieldsOrder, rows, result) };
      document.getElementById("batch-download").hidden = false;
    } catch (err) {
      summary.textContent = "";
      document.getElementById("batch-table").hidden = true;
      document.getElementById("batch-errors").hidden = true;
      showError("batch-error", err);
      if (err.errors && Object.keys(err.errors).length) {
        document.getElementById("batch-error").append(el("ul", {},
          Object.entries(err.errors).map(([k, m]) => el("li", {}, `${k}: ${m}`))));
      }
    }
  }

  document.getElementById("batch-form").addEventListener("submit", onSubmit);
  document.getElementById("batch-download").addEventListener("click", () => {
    if (download) UI.downloadText(download.name, download.text);
  });
})();
