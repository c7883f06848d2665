// gbrules care-plan workbench: progressive enhancement of server-rendered pages.
// Without this file every page still works (forms post, the page comes back). With it:
// the draft follows the form as the clinician types, decisions apply in place, questionnaire
// totals are computed live, and an idle page clears itself. No inline script anywhere (CSP).
"use strict";

(function () {
  const body = document.body;
  const base = body.dataset.base || "/";
  const csrf = body.dataset.csrf || "";

  // --- talking to the server -----------------------------------------------------------------

  let sequence = 0;
  let inFlight = 0; // posts waiting for their answer
  let timer = null; // a form change waiting to be posted

  // The draft says when it is about to change (aria-busy), so assistive technology waits for
  // the new one instead of reading a stale one, and tests know when it has settled.
  function markBusy() {
    const draft = document.getElementById("draft");
    if (draft) {
      draft.setAttribute("aria-busy", inFlight > 0 || timer !== null ? "true" : "false");
    }
  }

  async function post(form, submitter) {
    inFlight += 1;
    markBusy();
    try {
      await send(form, submitter);
    } finally {
      inFlight -= 1;
      markBusy();
    }
  }

  async function send(form, submitter) {
    const data = new FormData(form, submitter || undefined);
    const mine = ++sequence;
    let response;
    try {
      // getAttribute: a control named "action" shadows the form.action property
      response = await fetch(form.getAttribute("action"), {
        method: "POST",
        body: new URLSearchParams(data),
        headers: { "X-Workbench": "fetch", "X-CSRF-Token": csrf },
        credentials: "same-origin",
        cache: "no-store",
      });
    } catch (err) {
      showStatus("The server could not be reached; your last change was not saved.");
      return;
    }
    if (response.status === 401) {
      const body401 = await response.json();
      window.location.assign(body401.ended || base + "ended");
      return;
    }
    if (!response.ok) {
      showStatus("The server refused the change (" + response.status + ").");
      return;
    }
    const update = await response.json();
    if (mine !== sequence && !submitter) {
      return; // a newer edit of the form is on its way
    }
    apply(update);
  }

  function showStatus(text) {
    let status = document.getElementById("connection-status");
    if (!status) {
      status = document.createElement("p");
      status.id = "connection-status";
      status.className = "item-error";
      status.setAttribute("role", "alert");
      document.getElementById("main").prepend(status);
    }
    status.textContent = text;
  }

  function apply(update) {
    const old = document.getElementById("connection-status");
    if (old) {
      old.remove();
    }
    const crisis = document.getElementById("crisis");
    if (crisis && typeof update.crisis === "string") {
      crisis.innerHTML = update.crisis;
    }
    const draft = document.getElementById("draft");
    if (draft && typeof update.draft === "string") {
      draft.innerHTML = update.draft;
    }
    if (Array.isArray(update.errors)) {
      showErrors(update.errors);
    }
    if (update.focus) {
      const target = document.getElementById(update.focus);
      if (target) {
        target.focus();
      }
    }
  }

  function showErrors(errors) {
    const form = document.getElementById("intake-form");
    if (!form) {
      return;
    }
    form.querySelectorAll(".field-error").forEach((slot) => {
      slot.textContent = "";
      slot.hidden = true;
    });
    form.querySelectorAll("[aria-invalid]").forEach((el) => el.removeAttribute("aria-invalid"));
    form.querySelectorAll(".has-error").forEach((el) => el.classList.remove("has-error"));
    errors.forEach((error) => {
      const slot = document.getElementById(error.target + "-error");
      const target = document.getElementById(error.target);
      if (slot) {
        slot.textContent = slot.textContent ? slot.textContent + "; " + error.text : error.text;
        slot.hidden = false;
      }
      if (target) {
        if (target.matches("input, select, textarea")) {
          target.setAttribute("aria-invalid", "true");
          const wrap = target.closest(".field");
          if (wrap) {
            wrap.classList.add("has-error");
          }
        } else {
          target.classList.add("has-error");
        }
      }
    });
  }

  // --- the intake form -----------------------------------------------------------------------

  const intake = document.getElementById("intake-form");

  function scheduleUpdate() {
    window.clearTimeout(timer);
    timer = window.setTimeout(() => {
      timer = null;
      post(intake);
    }, 300);
    markBusy();
  }

  // A pre-filled value shows its source resource only while the input still holds it.
  function updateSource(input) {
    const holder = input.closest(".field, fieldset.tri, li.item");
    const badge = holder && holder.querySelector(".source");
    if (!badge) {
      return;
    }
    let value = input.value;
    if (input.type === "radio") {
      const checked = holder.querySelector("input[type=radio]:checked");
      value = checked ? checked.value : "";
    }
    badge.hidden = value !== badge.dataset.value;
  }

  if (intake) {
    intake.addEventListener("input", (event) => updateSource(event.target));
    intake.addEventListener("change", (event) => updateSource(event.target));
    intake.addEventListener("input", (event) => {
      if (event.target.matches("[data-item]")) {
        updateInstrument(event.target.closest("[data-instrument]"));
      }
      scheduleUpdate();
    });
    intake.addEventListener("change", (event) => {
      if (event.target.matches("[data-item]")) {
        updateInstrument(event.target.closest("[data-instrument]"));
      }
      scheduleUpdate();
    });
    intake.addEventListener("submit", (event) => {
      event.preventDefault();
      window.clearTimeout(timer);
      timer = null;
      post(intake);
    });
    intake.querySelectorAll("[data-instrument]").forEach(updateInstrument);
  }

  // A questionnaire's total follows its items: with every item entered the total is their sum
  // (read-only); with some entered, the partial sum is shown; with none, the total is typed.
  function updateInstrument(fieldset) {
    if (!fieldset) {
      return;
    }
    const count = Number(fieldset.dataset.instrument);
    const items = Array.from(fieldset.querySelectorAll("[data-item]"));
    const entered = items.filter((s) => s.value !== "");
    const sum = entered.reduce((acc, s) => acc + Number(s.value), 0);
    const total = fieldset.querySelector('input[name$=".total"]');
    const output = document.getElementById(fieldset.id + "-sum");
    if (entered.length === count) {
      if (total) {
        total.value = String(sum);
        total.readOnly = true;
        total.dataset.computed = "true";
      }
      if (output) {
        output.textContent = "Total " + sum + " (all " + count + " items)";
      }
      return;
    }
    if (total && total.dataset.computed === "true") {
      total.readOnly = false;
      total.value = "";
      delete total.dataset.computed;
    }
    if (output) {
      output.textContent = entered.length
        ? "Sum of the " + entered.length + " item(s) entered: " + sum + " of " + count + " items"
        : "";
    }
  }

  // --- decisions, own items and notes (forms inside the draft) -------------------------------

  document.addEventListener("submit", (event) => {
    const form = event.target;
    if (!(form instanceof HTMLFormElement) || !form.matches("[data-ajax]")) {
      return;
    }
    event.preventDefault();
    post(form, event.submitter);
  });

  // --- printing ------------------------------------------------------------------------------

  const printButton = document.getElementById("print-button");
  if (printButton) {
    printButton.addEventListener("click", () => window.print());
  }

  // --- idle timeout: the page clears itself ----------------------------------------------------

  const idle = Number(body.dataset.idleSeconds || 0);
  if (idle > 0) {
    let idleTimer = null;
    const restart = () => {
      window.clearTimeout(idleTimer);
      idleTimer = window.setTimeout(() => window.location.assign(base + "ended"), idle * 1000);
    };
    ["keydown", "pointerdown", "input", "wheel"].forEach((name) =>
      document.addEventListener(name, restart, { passive: true })
    );
    restart();
  }
})();
