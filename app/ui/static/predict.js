// The prediction form, generated from GET /models/{name}/schema: one field per feature
// named as the feature; the API validates, and its messages are shown by the field.
"use strict";

(() => {
  const { api, el, number, showError, clearError } = UI;
  const fields = document.getElementById("fields");
  const form = document.getElementById("predict-form");
  const MISSING = "";
  const OTHER = "__other__";
  let schema = null;

  const fieldId = (i) => `feature-${i}`;

  function rangeHint(f) {
    const s = f.statistics || {};
    if (typeof s.min !== "number") return null;
    return `Training range ${number(s.min)} to ${number(s.max)}, median ${number(s.median)}`;
  }

  function checkRange(input, f) {
    const warn = input.closest(".field").querySelector(".range-warning");
    const s = f.statistics || {};
    const value = input.value === "" ? NaN : Number(input.value);
    const outside = typeof s.min === "number" && !Number.isNaN(value) && (value < s.min || value > s.max);
    warn.hidden = !outside;
    warn.textContent = outside ? `${input.value} is outside the training range (${number(s.min)} to ${number(s.max)}): the prediction may be unreliable.` : "";
  }

  function numericInput(f, id, describedBy) {
    const input = el("input", {
      id, name: f.name, type: "number", step: "any", inputmode: "decimal",
      placeholder: f.nullable ? "empty = missing" : "",
      "aria-describedby": describedBy,
    });
    input.addEventListener("input", () => checkRange(input, f));
    return input;
  }

  function categoricalInput(f, id, describedBy) {
    const freq = new Map(((f.statistics || {}).frequencies || []).map((x) => [String(x.value), x.frequency]));
    const select = el("select", { id, name: f.name, "aria-describedby": describedBy });
    if (f.nullable) select.append(el("option", { value: MISSING }, "missing"));
    f.categories.forEach((c, i) => {
      const share = freq.has(String(c)) ? ` (${Math.round(freq.get(String(c)) * 100)}% of training rows)` : "";
      select.append(el("option", { value: String(i) }, `${c}${share}`));
    });
    if (!f.allow_unknown) return [select];
    select.append(el("option", { value: OTHER }, "other (type it)…"));
    const other = el("input", { type: "text", id: `${id}-other`, hidden: true,
                                "aria-label": `${f.name}: another category` });
    select.addEventListener("change", () => { other.hidden = select.value !== OTHER; });
    return [select, other];
  }

  function buildField(f, i) {
    const id = fieldId(i);
    const hint = f.type === "numeric" ? rangeHint(f) : null;
    const notes = [`${id}-error`, hint ? `${id}-hint` : null].filter(Boolean).join(" ");
    const control = f.type === "numeric" ? [numericInput(f, id, notes)] : categoricalInput(f, id, notes);
    const kind = f.type === "numeric" ? "number" : "category";
    return el("div", { class: "field", dataset: { feature: f.name } },
      el("label", { for: id }, f.name, el("span", { class: "muted" }, ` ${kind}${f.nullable ? ", optional" : ""}`)),
      ...control,
      hint ? el("small", { id: `${id}-hint`, class: "hint" }, hint) : null,
      el("p", { class: "range-warning", role: "status", hidden: true }),
      el("p", { id: `${id}-error`, class: "field-error", hidden: true }));
  }

  function valueOf(f, i) {
    const node = document.getElementById(fieldId(i));
    if (f.type === "numeric") return node.value === "" ? null : Number(node.value);
    if (node.value === MISSING) return null;
    if (node.value === OTHER) {
      const text = document.getElementById(`${fieldId(i)}-other`).value;
      return text === "" ? null : text;
    }
    return f.categories[Number(node.value)];
  }

  function setValue(f, i, value) {
    const node = document.getElementById(fieldId(i));
    if (f.type === "numeric") {
      node.value = value === null || value === undefined ? "" : String(value);
      checkRange(node, f);
      return;
    }
    const index = f.categories.findIndex((c) => c === value);
    if (index >= 0) node.value = String(index);
    else if (value === null || value === undefined) node.value = f.nullable ? MISSING : "0";
    else if (f.allow_unknown) {
      node.value = OTHER;
      document.getElementById(`${fieldId(i)}-other`).value = String(value);
    }
    node.dispatchEvent(new Event("change"));
  }

  function clearMessages() {
    clearError("form-error");
    fields.querySelectorAll(".field-error").forEach((p) => { p.hidden = true; p.textContent = ""; });
    fields.querySelectorAll("[aria-invalid]").forEach((n) => n.removeAttribute("aria-invalid"));
  }

  // errors keyed "instances[0].<feature>" go by their field; anything else above the buttons
  function showApiErrors(err) {
    const rest = [];
    for (const [key, message] of Object.entries(err.errors)) {
      const name = key.replace(/^instances\[0\]\./, "");
      const i = schema.features.findIndex((f) => f.name === name);
      if (!key.startsWith("instances[0].") || i < 0) {
        rest.push(`${key}: ${message}`);
        continue;
      }
      const p = document.getElementById(`${fieldId(i)}-error`);
      p.textContent = message;
      p.hidden = false;
      document.getElementById(fieldId(i)).setAttribute("aria-invalid", "true");
    }
    if (rest.length || !Object.keys(err.errors).length) {
      showError("form-error", err);
      if (rest.length) document.getElementById("form-error").append(el("ul", {}, rest.map((r) => el("li", {}, r))));
    }
  }

  async function predict(event) {
    event.preventDefault();
    if (!schema) return;
    clearMessages();
    const row = Object.fromEntries(schema.features.map((f, i) => [f.name, valueOf(f, i)]));
    const body = { instances: [row], return_proba: Boolean(schema.example.return_proba) };
    const result = document.getElementById("result");
    try {
      const { data } = await api(`/models/${encodeURIComponent(ModelPage.name)}/predict${ModelPage.query()}`,
                                 { method: "POST", json: body });
      const out = document.getElementById("prediction");
      const value = data.predictions[0];
      out.textContent = typeof value === "number" && !Number.isInteger(value) ? number(value, 6) : String(value);
      out.dataset.version = String(data.version);
      const chart = document.getElementById("probabilities");
      chart.replaceChildren(data.probabilities
        ? UI.probabilityChart(data.classes, data.probabilities[0]) : "");
      result.hidden = false;
    } catch (err) {
      result.hidden = true;
      if (err instanceof UI.ApiError && err.status === 400) showApiErrors(err);
      else showError("form-error", err);
    }
  }

  async function loadSchema() {
    clearMessages();
    document.getElementById("result").hidden = true;
    try {
      ({ data: schema } = await api(`/models/${encodeURIComponent(ModelPage.name)}/schema${ModelPage.query()}`));
    } catch (err) {
      schema = null;
      fields.replaceChildren();
      showError("form-error", err);
      return;
    }
    fields.replaceChildren(...schema.features.map(buildField));
  }

  document.getElementById("example-button").addEventListener("click", () => {
    if (!schema) return;
    const example = schema.example.instances[0];
    schema.features.forEach((f, i) => setValue(f, i, Array.isArray(example) ? example[i] : example[f.name]));
  });
  form.addEventListener("submit", predict);
  document.addEventListener("mlstack:version", loadSchema);
})();
