// Shared by every page: the API client (with the admin token of this tab), the
// admin switch, small DOM helpers and the probability chart.
"use strict";

const UI = (() => {
  const API = document.body.dataset.api;
  const PAGES = document.body.dataset.ui;
  const TOKEN_KEY = "mlstack.adminToken";

  class ApiError extends Error {
    constructor(status, body) {
      super((body && body.message) || `HTTP ${status}`);
      this.status = status;
      this.body = body || {};
      this.errors = (body && body.errors) || {};
    }
  }

  const token = () => sessionStorage.getItem(TOKEN_KEY) || "";
  const isAdmin = () => token() !== "";

  // Admin controls carry class "admin-only"; the token form's parts "when-viewer".
  function applyAdmin() {
    const admin = isAdmin();
    document.querySelectorAll(".admin-only").forEach((node) => { node.hidden = !admin; });
    document.querySelectorAll(".when-viewer").forEach((node) => { node.hidden = admin; });
    document.getElementById("token-state").textContent = admin ? "Admin" : "Viewer";
    document.dispatchEvent(new CustomEvent("mlstack:admin", { detail: admin }));
  }

  // The API answers JSON; an error body is {message, request_id, errors?}.
  // raw: answer {blob, res} instead of parsed JSON (file previews, archives)
  async function api(path, { method = "GET", json, body, headers = {}, raw = false } = {}) {
    const sent = { Accept: "application/json", ...headers };
    if (isAdmin()) sent.Authorization = `Bearer ${token()}`;
    if (json !== undefined) {
      sent["Content-Type"] = "application/json";
      body = JSON.stringify(json);
    }
    const res = await fetch(API + path, { method, headers: sent, body, credentials: "omit" });
    if (raw && res.ok) return { blob: await res.blob(), res };
    const text = await res.text();
    let data = null;
    try {
      data = text ? JSON.parse(text) : null;
    } catch (_) {
      data = { message: text.slice(0, 300) };
    }
    if (!res.ok) throw new ApiError(res.status, data || { message: res.statusText });
    return { data, res };
  }

  // el("a", {href: "..", class: "x"}, "text", child) -> element
  function el(tag, attrs = {}, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs)) {
      if (value === undefined || value === null || value === false) continue;
      if (key === "class") node.className = value;
      else if (key === "text") node.textContent = value;
      else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
      else if (key === "dataset") Object.assign(node.dataset, value);
      else node.setAttribute(key, value === true ? "" : value);
    }
    for (const child of children.flat()) {
      if (child === null || child === undefined) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  function number(value, digits = 4) {
    if (typeof value !== "number") return value === null || value === undefined ? "" : String(value);
    if (Number.isInteger(value)) return String(value);
    return String(Number(value.toPrecision(digits)));
  }

  function when(iso) {
    if (!iso) return "";
    const date = new Date(iso);
    return Number.isNaN(date.getTime()) ? iso : date.toLocaleString();
  }

  // The metric a list shows: accuracy for classifiers, r2 for regressors, else the first.
  function keyMetric(version) {
    if (!version || !version.metrics) return "";
    const metrics = version.metrics.test || version.metrics;
    for (const key of ["accuracy", "r2", "rmse"]) {
      if (typeof metrics[key] === "number") return `${key} ${number(metrics[key], 3)}`;
    }
    const first = Object.entries(metrics).find(([, v]) => typeof v === "number");
    return first ? `${first[0]} ${number(first[1], 3)}` : "";
  }

  function showError(target, err) {
    const box = typeof target === "string" ? document.getElementById(target) : target;
    box.hidden = false;
    box.textContent = err instanceof ApiError ? `${err.message} (HTTP ${err.status})` : String(err.message || err);
  }

  function clearError(target) {
    const box = typeof target === "string" ? document.getElementById(target) : target;
    box.hidden = true;
    box.textContent = "";
  }

  // Probability bars as SVG (no network fetch): one <g data-class="label"> per class,
  // holding the label and the probability as text.
  function probabilityChart(classes, probabilities) {
    const NS = "http://www.w3.org/2000/svg";
    const rowHeight = 28;
    const svg = document.createElementNS(NS, "svg");
    svg.setAttribute("viewBox", `0 0 320 ${rowHeight * classes.length}`);
    svg.setAttribute("role", "img");
    svg.setAttribute("aria-label", "Class probabilities: " + classes
      .map((c, i) => `${c} ${number(probabilities[i], 3)}`).join(", "));
    svg.classList.add("proba-chart");
    classes.forEach((label, i) => {
      const p = probabilities[i];
      const g = document.createElementNS(NS, "g");
      g.setAttribute("data-class", String(label));
      g.setAttribute("data-probability", String(p));
      g.setAttribute("transform", `translate(0 ${i * rowHeight})`);
      const name = document.createElementNS(NS, "text");
      name.setAttribute("x", "0");
      name.setAttribute("y", "18");
      name.setAttribute("class", "proba-label");
      name.textContent = String(label);
      const track = document.createElementNS(NS, "rect");
      Object.entries({ x: 90, y: 5, width: 170, height: 16, class: "proba-track" })
        .forEach(([k, v]) => track.setAttribute(k, v));
      const bar = document.createElementNS(NS, "rect");
      Object.entries({ x: 90, y: 5, width: Math.max(0, 170 * p), height: 16, class: "proba-bar" })
        .forEach(([k, v]) => bar.setAttribute(k, v));
      const value = document.createElementNS(NS, "text");
      value.setAttribute("x", "266");
      value.setAttribute("y", "18");
      value.setAttribute("class", "proba-value");
      value.textContent = number(p, 4);
      g.append(name, track, bar, value);
      svg.append(g);
    });
    return svg;
  }

  function downloadText(filename, text, type = "text/csv") {
    const url = URL.createObjectURL(text instanceof Blob ? text : new Blob([text], { type }));
    const link = el("a", { href: url, download: filename });
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(url), 1000);
  }

  document.getElementById("token-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const input = document.getElementById("token-input");
    if (!input.value.trim()) return;
    sessionStorage.setItem(TOKEN_KEY, input.value.trim());
    input.value = "";
    applyAdmin();
  });
  document.getElementById("token-forget").addEventListener("click", () => {
    sessionStorage.removeItem(TOKEN_KEY);
    applyAdmin();
  });
  document.addEventListener("DOMContentLoaded", applyAdmin);

  return { API, PAGES, ApiError, api, el, number, when, keyMetric, showError, clearError,
           probabilityChart, downloadText, isAdmin, applyAdmin };
})();
